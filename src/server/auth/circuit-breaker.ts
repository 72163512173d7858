// A circuit breaker for a remote dependency (the HTTP auth callout): after `threshold` consecutive failures it
// opens for `cooldownMs`, during which calls fail at once instead of each waiting for a timeout (a dead auth
// service would otherwise hold every CONNECT for the full timeout and pile connections up). After the cooldown
// one trial call is let through (half-open): success closes the breaker, failure opens it again.
import type { Clock } from "../../util/index.ts";

export const BreakerState = { Closed: "closed", Open: "open", HalfOpen: "half-open" } as const;
export type BreakerStateValue = (typeof BreakerState)[keyof typeof BreakerState];

export class CircuitBreaker {
  #failures = 0;
  #openedAt = 0;
  #state: BreakerStateValue = BreakerState.Closed;
  #trial = false;

  constructor(
    private readonly clock: Pick<Clock, "now">,
    readonly threshold: number,
    readonly cooldownMs: number,
  ) {}

  get state(): BreakerStateValue {
    if (this.#state === BreakerState.Open && this.clock.now() - this.#openedAt >= this.cooldownMs) {
      this.#state = BreakerState.HalfOpen;
      this.#trial = false;
    }
    return this.#state;
  }

  /** Whether a call may go out now (in half-open state: only the one trial). */
  allow(): boolean {
    const s = this.state;
    if (s === BreakerState.Closed) return true;
    if (s === BreakerState.HalfOpen && !this.#trial) {
      this.#trial = true;
      return true;
    }
    return false;
  }

  success(): void {
    this.#failures = 0;
    this.#state = BreakerState.Closed;
  }

  failure(): void {
    this.#failures++;
    if (this.#state === BreakerState.HalfOpen || this.#failures >= this.threshold) {
      this.#state = BreakerState.Open;
      this.#openedAt = this.clock.now();
    }
  }
}
