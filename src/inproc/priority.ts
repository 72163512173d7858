// Message priority: integers 0 (lowest) to 9 (highest), default 4. The seed's five named levels map onto it:
// Lowest 0, Low 2, Normal 4, High 6, Highest 9. MQTT has no priority field: it travels as the 5.0 user property
// `priority` (so 5.0 subscribers see it, and a 5.0 publisher can set it); 3.x subscribers do not see it.
import type { Properties, UserProperty } from "../codec/index.ts";
import { invalid } from "./errors.ts";

export const Priority = { Lowest: 0, Low: 2, Normal: 4, High: 6, Highest: 9 } as const;
export const DEFAULT_PRIORITY = Priority.Normal;
export const PRIORITY_LEVELS = 10;
/** The 5.0 user property that carries it. */
export const PRIORITY_PROPERTY = "priority";

export function checkPriority(p: number): number {
  if (!Number.isInteger(p) || p < 0 || p >= PRIORITY_LEVELS)
    throw invalid(`priority must be an integer 0..9, got ${p}`);
  return p;
}

/** The priority a message carries in its properties (a 5.0 publisher's user property), default 4. */
export function priorityOf(properties: Properties | undefined): number {
  const ups = properties?.userProperties;
  if (ups === undefined) return DEFAULT_PRIORITY;
  for (const [k, v] of ups) {
    if (k === PRIORITY_PROPERTY) {
      const n = Number(v);
      return Number.isInteger(n) && n >= 0 && n < PRIORITY_LEVELS ? n : DEFAULT_PRIORITY;
    }
  }
  return DEFAULT_PRIORITY;
}

/** `userProperties` with the priority set (an existing `priority` pair is replaced). */
export function withPriority(ups: readonly UserProperty[] | undefined, priority: number): UserProperty[] {
  const out: UserProperty[] = ups === undefined ? [] : ups.filter(([k]) => k !== PRIORITY_PROPERTY);
  out.push([PRIORITY_PROPERTY, String(priority)]);
  return out;
}
