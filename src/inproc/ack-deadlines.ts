// Ack timeouts of one manual-ack subscription with one timer, not one per message. Every message gets the same
// timeout and the broker clock only moves forward, so deadlines come due in hand-out order: a FIFO of outstanding
// messages with one timer armed at the oldest one's deadline. A settled message is dropped from the head at once
// (acks in order keep the FIFO as short as what is outstanding) or skipped when the timer reaches it. Creating and
// cancelling a timer per message was most of the cost of a manual ack.
import { Fifo, type Clock, type TimerHandle } from "../util/index.ts";

export interface Deadlined {
  readonly settled: boolean;
  deadline: number;
}

export class AckDeadlines<T extends Deadlined> {
  readonly #fifo = new Fifo<T>();
  #timer: TimerHandle | undefined = undefined;
  #firing = false;

  constructor(
    private readonly clock: Clock,
    private readonly timeout: number,
    /** `item` was not settled within the timeout. */
    private readonly expired: (item: T) => void,
  ) {}

  /** Messages tracked (settled ones not yet dropped included). */
  get length(): number {
    return this.#fifo.length;
  }

  add(item: T): void {
    item.deadline = this.clock.now() + this.timeout;
    this.#fifo.push(item);
    if (this.#timer === undefined && !this.#firing) this.#arm(item.deadline);
  }

  /** Something was settled: drop the settled messages at the head. */
  settled(): void {
    const f = this.#fifo;
    while (f.peek()?.settled === true) f.shift();
    // The timer stays armed when the FIFO empties: cancelling and re-arming it for the next message would bring back
    // a timer per message; it fires at most once per timeout with nothing to do.
  }

  clear(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#fifo.clear();
  }

  #arm(at: number): void {
    this.#timer = this.clock.setTimeout(() => this.#fire(), Math.max(0, at - this.clock.now()));
  }

  #fire(): void {
    this.#timer = undefined;
    this.#firing = true;
    const now = this.clock.now();
    const f = this.#fifo;
    try {
      for (let head = f.peek(); head !== undefined; head = f.peek()) {
        if (head.settled) f.shift();
        else if (head.deadline > now) break;
        else {
          f.shift();
          this.expired(head);
        }
      }
    } finally {
      this.#firing = false;
    }
    this.settled();
    const head = f.peek();
    if (head !== undefined && this.#timer === undefined) this.#arm(head.deadline);
  }
}
