// Deadlines of one fixed duration for many objects, on ONE clock timer: the CONNECT timeout and the first keepalive
// period of every connection (src/broker/connection.ts), the grace after a TCP end() (src/transport/tcp).
//
// A connection storm makes thousands of connections a second, and each used to arm its own timers: a Node
// Timeout, a handle and a closure each (~250 B and a timer-list insert and removal per timer, issue #10). With one
// duration, deadlines are added in time order, so an intrusive doubly linked list through the entries is sorted by
// construction: add and remove are O(1), nothing is allocated per entry, and a removed entry is unlinked at once
// (nothing of a closed connection is kept until its deadline). The one timer is armed for the head's deadline and
// re-armed when it fires; removing the head does not re-arm it (the early wake-up finds nothing due and re-arms),
// and the timer is cancelled when the list runs empty.
// Each duration gets its own list, so a reconfigured timeout keeps every list sorted.
import type { Clock, TimerHandle } from "./clock.ts";

/** An object with a deadline: the list's links live in it (no wrapper per entry). */
export interface DeadlineEntry {
  deadlineAt: number;
  deadlinePrev: DeadlineEntry | undefined;
  deadlineNext: DeadlineEntry | undefined;
  /** The list holding this entry, undefined when in none. */
  deadlineList: DeadlineList | undefined;
  /** Called once when the deadline passes (the entry is already removed). */
  onDeadline(): void;
}

export class DeadlineList {
  #head: DeadlineEntry | undefined = undefined;
  #tail: DeadlineEntry | undefined = undefined;
  #timer: TimerHandle | undefined = undefined;
  #firing = false;
  #size = 0;

  constructor(
    private readonly clock: Clock,
    readonly ms: number,
    /** Called when the list runs empty (Deadlines forgets it: durations chosen by clients must not pile up). */
    private readonly onEmpty?: (list: DeadlineList) => void,
  ) {}

  get size(): number {
    return this.#size;
  }

  /** Adds `e` (not in any list) with deadline now + ms. */
  add(e: DeadlineEntry, now: number): void {
    e.deadlineAt = now + this.ms;
    e.deadlineList = this;
    e.deadlinePrev = this.#tail;
    e.deadlineNext = undefined;
    if (this.#tail === undefined) this.#head = e;
    else this.#tail.deadlineNext = e;
    this.#tail = e;
    this.#size++;
    if (this.#timer === undefined && !this.#firing) this.#arm(this.ms);
  }

  remove(e: DeadlineEntry): void {
    if (e.deadlineList !== this) return;
    const prev = e.deadlinePrev;
    const next = e.deadlineNext;
    if (prev === undefined) this.#head = next;
    else prev.deadlineNext = next;
    if (next === undefined) this.#tail = prev;
    else next.deadlinePrev = prev;
    e.deadlinePrev = e.deadlineNext = e.deadlineList = undefined;
    if (--this.#size === 0) {
      // Nothing left to wait for: no timer stays armed (at a low connect rate that is one timer per connection, as
      // before; in a storm the list rarely runs empty).
      this.#timer?.cancel();
      this.#timer = undefined;
      this.onEmpty?.(this);
    }
  }

  /** Shutdown: no deadline fires any more. */
  clear(): void {
    while (this.#head !== undefined) this.remove(this.#head);
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  #arm(ms: number): void {
    this.#timer = this.clock.setTimeout(this.#fire, ms);
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    const now = this.clock.now();
    let e = this.#head;
    this.#firing = true; // an entry added by onDeadline() must not arm a second timer
    try {
      while (e !== undefined && e.deadlineAt <= now) {
        this.remove(e);
        e.onDeadline();
        e = this.#head;
      }
    } finally {
      this.#firing = false;
    }
    if (e !== undefined) this.#arm(e.deadlineAt - now);
  };
}

/**
 * One DeadlineList per duration, made on first use and forgotten when it runs empty (keepalive durations are the
 * clients' choice: up to 65,535 of them). Add to the list at once: `deadlines.list(ms).add(entry, now)`.
 */
export class Deadlines {
  readonly #lists = new Map<number, DeadlineList>();
  readonly #forget = (l: DeadlineList): void => {
    if (this.#lists.get(l.ms) === l) this.#lists.delete(l.ms);
  };

  constructor(private readonly clock: Clock) {}

  list(ms: number): DeadlineList {
    let l = this.#lists.get(ms);
    if (l === undefined) {
      l = new DeadlineList(this.clock, ms, this.#forget);
      this.#lists.set(ms, l);
    }
    return l;
  }

  /** How many durations have a list now (lists are forgotten when they run empty). */
  get durations(): number {
    return this.#lists.size;
  }

  clear(): void {
    for (const l of this.#lists.values()) l.clear();
  }
}
