// Message priority as the broker core sees it: integers 0 (lowest) to 9 (highest), default 4, carried by the 5.0
// user property `priority` (MQTT has no priority field). Session queues (queue.ts) hand out their backlog highest
// priority first, FIFO within a level; the in-process API (src/inproc/priority.ts) sets and reads it.
import type { Properties } from "../codec/index.ts";

export const DEFAULT_PRIORITY = 4;
export const PRIORITY_LEVELS = 10;
/** The 5.0 user property that carries it. */
export const PRIORITY_PROPERTY = "priority";

/** The priority a message carries in its properties (a 5.0 publisher's user property), default 4. */
export function priorityOf(properties: Properties | undefined): number {
  const ups = properties?.userProperties;
  if (ups === undefined) return DEFAULT_PRIORITY;
  // Indexed, not `for (const [k, v] of ups)`: no iterator per message on the delivery path.
  for (let i = 0; i < ups.length; i++) {
    const up = ups[i]!;
    const k = up[0];
    const v = up[1];
    if (k === PRIORITY_PROPERTY) {
      // "0".."9" only: one character, so no Number() parse of arbitrary client input on the delivery path.
      const c = v.length === 1 ? v.charCodeAt(0) - 48 : -1;
      return c >= 0 && c < PRIORITY_LEVELS ? c : DEFAULT_PRIORITY;
    }
  }
  return DEFAULT_PRIORITY;
}
