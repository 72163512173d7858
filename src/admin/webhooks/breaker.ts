// Circuit breaker of one webhook endpoint: `threshold` consecutive failed attempts open it; while open no request
// is made (events keep buffering, bounded); after `resetMs` one trial request is allowed (half-open): success
// closes it, failure opens it for another `resetMs`.

export const BreakerState = { Closed: "closed", Open: "open", HalfOpen: "half-open" } as const;
export type BreakerStateValue = (typeof BreakerState)[keyof typeof BreakerState];

export class CircuitBreaker {
  #state: BreakerStateValue = BreakerState.Closed;
  #failures = 0;
  #openedAt = 0;

  constructor(
    private readonly threshold: number,
    private readonly resetMs: number,
    private readonly onChange: (state: BreakerStateValue) => void = () => undefined,
  ) {}

  get state(): BreakerStateValue {
    return this.#state;
  }

  get consecutiveFailures(): number {
    return this.#failures;
  }

  /** When an open breaker lets the next trial through (ms since epoch); 0 when not open. */
  reopensAt(): number {
    return this.#state === BreakerState.Open ? this.#openedAt + this.resetMs : 0;
  }

  /** May a request go out at `now`? Moves open → half-open once resetMs has passed. */
  allow(now: number): boolean {
    if (this.#state === BreakerState.Open && now >= this.#openedAt + this.resetMs) this.#set(BreakerState.HalfOpen);
    return this.#state !== BreakerState.Open;
  }

  success(): void {
    this.#failures = 0;
    if (this.#state !== BreakerState.Closed) this.#set(BreakerState.Closed);
  }

  failure(now: number): void {
    this.#failures++;
    if (this.#state === BreakerState.HalfOpen || this.#failures >= this.threshold) {
      this.#openedAt = now;
      if (this.#state !== BreakerState.Open) this.#set(BreakerState.Open);
    }
  }

  #set(state: BreakerStateValue): void {
    this.#state = state;
    this.onChange(state);
  }
}
