// Token buckets for rate limits (connections per IP, CONNECT attempts per user name, publishes and bytes per
// client). Time comes from the injectable clock: tests move a FakeClock instead of sleeping.
import type { Clock } from "./clock.ts";

/** `rate` tokens per second, at most `burst` saved up. A bucket starts full. */
export interface TokenBucketSpec {
  readonly rate: number;
  readonly burst: number;
}

export class TokenBucket {
  #tokens: number;
  #at: number;

  constructor(
    readonly spec: TokenBucketSpec,
    private readonly now: () => number,
  ) {
    this.#tokens = spec.burst;
    this.#at = now();
  }

  #refill(): void {
    const t = this.now();
    if (t > this.#at) {
      this.#tokens = Math.min(this.spec.burst, this.#tokens + ((t - this.#at) / 1000) * this.spec.rate);
    }
    this.#at = t;
  }

  /** Takes `n` tokens if there are that many; false (nothing taken) otherwise. */
  take(n = 1): boolean {
    this.#refill();
    if (this.#tokens < n) return false;
    this.#tokens -= n;
    return true;
  }

  /** Takes `n` tokens even if that goes below zero (debt paid back by later refills); true when none was owed. */
  charge(n: number): boolean {
    this.#refill();
    this.#tokens -= n;
    return this.#tokens >= 0;
  }

  /** Gives tokens back (e.g. an attempt that turned out to be legitimate), never above the burst. */
  refund(n = 1): void {
    this.#tokens = Math.min(this.spec.burst, this.#tokens + n);
  }

  /** True when the bucket is full (it then carries no information and can be forgotten). */
  get full(): boolean {
    this.#refill();
    return this.#tokens >= this.spec.burst;
  }
}

/**
 * One bucket per key (IP address, user name) with a bounded number of keys, so that an attacker varying keys
 * cannot grow memory: full buckets are forgotten first (they hold no state worth keeping); when every tracked key
 * is busy, the oldest is dropped, which only ever errs towards letting a client through.
 */
export class KeyedTokenBuckets {
  readonly #buckets = new Map<string, TokenBucket>();
  readonly #now: () => number;

  constructor(
    readonly spec: TokenBucketSpec,
    clock: Pick<Clock, "now">,
    readonly maxKeys = 100_000,
  ) {
    this.#now = () => clock.now();
  }

  get size(): number {
    return this.#buckets.size;
  }

  #get(key: string): TokenBucket {
    let b = this.#buckets.get(key);
    if (b === undefined) {
      if (this.#buckets.size >= this.maxKeys) this.#evict();
      b = new TokenBucket(this.spec, this.#now);
      this.#buckets.set(key, b);
    }
    return b;
  }

  #evict(): void {
    // Scan a bounded prefix for full buckets (at most 64: O(1) per insertion); else drop the oldest.
    let scanned = 0;
    for (const [k, b] of this.#buckets) {
      if (b.full) {
        this.#buckets.delete(k);
        return;
      }
      if (++scanned >= 64) break;
    }
    const oldest = this.#buckets.keys().next();
    if (oldest.done !== true) this.#buckets.delete(oldest.value);
  }

  take(key: string, n = 1): boolean {
    return this.#get(key).take(n);
  }

  refund(key: string, n = 1): void {
    this.#buckets.get(key)?.refund(n);
  }
}
