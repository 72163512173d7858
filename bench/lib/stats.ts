// Percentiles and number formatting for bench reports.

/**
 * Nearest-rank percentile of an ascending-sorted array: the smallest value such that at least
 * p% of the samples are <= it. p = 0 gives the minimum, p = 100 the maximum; NaN when empty.
 */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile out of range: ${p}`);
  if (p === 0) return sorted[0]!;
  // The epsilon keeps binary floating point from pushing an exact rank up by one (99.9% of 1000 is 999, not 1000).
  const rank = Math.ceil((p * n) / 100 - 1e-9);
  return sorted[Math.min(n, Math.max(1, rank)) - 1]!;
}

export interface LatencySummary {
  samples: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** Sorts `samples` in place (a typed array sorts numerically) and summarises it. */
export function summarizeLatency(samples: Float64Array): LatencySummary {
  samples.sort();
  let sum = 0;
  for (const v of samples) sum += v;
  return {
    samples: samples.length,
    p50: percentileSorted(samples, 50),
    p99: percentileSorted(samples, 99),
    p999: percentileSorted(samples, 99.9),
    max: percentileSorted(samples, 100),
    mean: samples.length === 0 ? Number.NaN : sum / samples.length,
  };
}

/** Three significant digits: 1234567 -> "1.23M", 45678 -> "45.7k", 9999.6 -> "10k", 512 -> "512". */
export function formatRate(n: number): string {
  if (!Number.isFinite(n)) return "–";
  const a = Math.abs(n);
  const sig = (x: number): string => String(Number(x.toPrecision(3)));
  if (a >= 999_500) return `${sig(n / 1e6)}M`;
  if (a >= 999.5) return `${sig(n / 1e3)}k`;
  return n.toFixed(0);
}

/** Milliseconds with a precision that suits the magnitude. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return "–";
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

export function formatRatio(r: number | null): string {
  if (r === null || !Number.isFinite(r)) return "–";
  return `${r.toFixed(2)}×`;
}

export function ratio(a: number | undefined, b: number | undefined): number | null {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null;
  return a / b;
}
