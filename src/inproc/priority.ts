// Message priority: integers 0 (lowest) to 9 (highest), default 4. The seed's five named levels map onto it:
// Lowest 0, Low 2, Normal 4, High 6, Highest 9. MQTT has no priority field: it travels as the 5.0 user property
// `priority` (so 5.0 subscribers see it, and a 5.0 publisher can set it); 3.x subscribers do not see it.
import type { Properties, UserProperty } from "../codec/index.ts";
import { DEFAULT_PRIORITY, PRIORITY_LEVELS, PRIORITY_PROPERTY, priorityOf } from "../broker/priority.ts";
import { invalid } from "./errors.ts";

export { DEFAULT_PRIORITY, PRIORITY_LEVELS, PRIORITY_PROPERTY, priorityOf };

export const Priority = { Lowest: 0, Low: 2, Normal: DEFAULT_PRIORITY, High: 6, Highest: 9 } as const;

export function checkPriority(p: number): number {
  if (!Number.isInteger(p) || p < 0 || p >= PRIORITY_LEVELS)
    throw invalid(`priority must be an integer 0..9, got ${p}`);
  return p;
}

/** `userProperties` with the priority set (an existing `priority` pair is replaced). */
export function withPriority(ups: readonly UserProperty[] | undefined, priority: number): UserProperty[] {
  const out: UserProperty[] = ups === undefined ? [] : ups.filter(([k]) => k !== PRIORITY_PROPERTY);
  out.push([PRIORITY_PROPERTY, String(priority)]);
  return out;
}

/**
 * The properties of a message that carries only a priority: one frozen object per level, shared by every such
 * message (the broker never mutates a message's properties), so publishing with a priority allocates nothing more.
 */
const PRIORITY_ONLY: readonly Properties[] = Array.from(
  { length: PRIORITY_LEVELS },
  (_, p) =>
    Object.freeze({ userProperties: Object.freeze([Object.freeze([PRIORITY_PROPERTY, String(p)])]) }) as Properties,
);

/** `properties` with the priority set: shared when there are no other properties. */
export function withPriorityProperties(properties: Properties | undefined, priority: number): Properties {
  if (properties === undefined) return PRIORITY_ONLY[priority]!;
  return { ...properties, userProperties: withPriority(properties.userProperties, priority) };
}
