// A counting semaphore with a bounded wait queue: at most `limit` holders, at most `maxWaiting` callers queued.
// Used to keep expensive work (argon2id verifications, ~20 MB and ~20-50 ms each) from piling up without bound
// when a brute-force attacker opens connections faster than the hashes complete.
import { WharfError } from "./errors.ts";

export class SemaphoreFullError extends WharfError<"UTIL_SEMAPHORE_FULL"> {
  override readonly name = "SemaphoreFullError";
  constructor() {
    super("UTIL_SEMAPHORE_FULL", "too many operations waiting");
  }
}

export class Semaphore {
  #active = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(
    readonly limit: number,
    readonly maxWaiting: number,
  ) {}

  get active(): number {
    return this.#active;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  /** Runs `fn` once a slot is free. Rejects with SemaphoreFullError (without running fn) when the queue is full. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#active >= this.limit) {
      if (this.#waiting.length >= this.maxWaiting) throw new SemaphoreFullError();
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#active++;
    }
    try {
      return await fn();
    } finally {
      const next = this.#waiting.shift();
      if (next !== undefined) next(); // the slot passes straight to the next waiter
      else this.#active--;
    }
  }
}
