// Durations in queue configuration: `250ms`, `5s`, `5m`, `168h`, `7d`, or a plain number of milliseconds.

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/** Milliseconds, or undefined when `input` is not a duration (negative, NaN, unknown unit, empty). */
export function parseDuration(input: unknown): number | undefined {
  if (typeof input === "number") return Number.isFinite(input) && input >= 0 ? Math.round(input) : undefined;
  if (typeof input !== "string") return undefined;
  const m = DURATION_RE.exec(input.trim());
  if (m === null) return undefined;
  const ms = Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  return Number.isFinite(ms) ? Math.round(ms) : undefined;
}

/** The shortest exact rendering of `ms` (`90000` → `90s`, `3600000` → `1h`), for stats and the CLI. */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ["d", UNIT_MS.d],
    ["h", UNIT_MS.h],
    ["m", UNIT_MS.m],
    ["s", UNIT_MS.s],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
