// Retry delay after a nack or a delivery timeout: exponential backoff with "equal jitter".
//
// base = initial × multiplier^(n−1) for the n-th retry, capped at maxBackoff; the delay is base/2 + random × base/2,
// so it never exceeds the cap, never drops below half of the base (retries stay spread out), and consumers that
// failed together do not come back together. With initial 1 s, multiplier 2, cap 60 s: 0.5–1 s, 1–2 s, 2–4 s, …,
// 30–60 s from the 7th retry on.

export interface BackoffPolicy {
  initialBackoff: number;
  maxBackoff: number;
  multiplier: number;
}

/** Delay in ms before retry number `retry` (1 = first retry). `random` is uniform in [0, 1). */
export function backoffDelay(policy: BackoffPolicy, retry: number, random: () => number): number {
  const exp = Math.max(0, retry - 1);
  const raw = policy.initialBackoff * Math.pow(policy.multiplier, exp);
  const base = Math.min(policy.maxBackoff, Number.isFinite(raw) ? raw : policy.maxBackoff);
  const half = base / 2;
  return Math.round(half + random() * half);
}
