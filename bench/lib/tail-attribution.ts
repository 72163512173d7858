// Which of a latency round's slowest messages were in flight while the broker was paused in garbage collection:
// the share of samples at or above a threshold (the round's p99, p99.9) whose [send, receive] interval overlaps a
// GC pause of the broker. Needs the send times and the pauses on one clock (CLOCK_MONOTONIC ms: the C generator's
// stamps and bench/tools/loop-stats.mjs's `pauses`).

/** Share (0..1) of samples with latency >= `threshold` overlapping one of `pauses` ([start, duration] ms); NaN if none. */
export function shareInPauses(
  latency: ArrayLike<number>,
  sentAt: ArrayLike<number>,
  pauses: readonly (readonly [number, number])[],
  threshold: number,
): number {
  const sorted = [...pauses].sort((a, b) => a[0] - b[0]);
  let tail = 0;
  let hit = 0;
  for (let i = 0; i < latency.length; i++) {
    const l = latency[i]!;
    if (!(l >= threshold)) continue;
    tail++;
    const from = sentAt[i]!;
    const to = from + l;
    for (const [start, d] of sorted) {
      if (start > to) break;
      if (start + d >= from) {
        hit++;
        break;
      }
    }
  }
  return tail === 0 ? Number.NaN : hit / tail;
}
