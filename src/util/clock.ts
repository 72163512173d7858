// Injectable clock: every timer-driven feature (keepalive, expiry, will delay, retry backoff,
// leases, $SYS) takes one, so tests drive time with FakeClock instead of sleeping.

export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Run `fn` once after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Run `fn` every `ms` milliseconds until cancelled. */
  setInterval(fn: () => void, ms: number): TimerHandle;
}

/**
 * Longest delay Node's setTimeout takes: a larger one (e.g. a 30-day 5.0 Session Expiry Interval) triggers a
 * TimeoutOverflowWarning and fires after 1 ms, so systemClock waits longer delays in chunks of at most this.
 */
export const MAX_TIMER_DELAY_MS = 2_147_483_647;

/** A handle without a closure: connections arm two timers each (connect timeout, keepalive), so storms make many. */
class NodeTimer implements TimerHandle {
  constructor(private readonly t: NodeJS.Timeout) {}
  cancel(): void {
    clearTimeout(this.t); // clears intervals too (one timer list in Node)
  }
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    if (!(ms > MAX_TIMER_DELAY_MS)) return new NodeTimer(setTimeout(fn, ms).unref());
    const due = Date.now() + ms;
    let t: NodeJS.Timeout;
    const arm = (left: number): void => {
      t = setTimeout(
        () => {
          const rest = due - Date.now();
          if (rest > 0) arm(rest);
          else fn();
        },
        Math.min(left, MAX_TIMER_DELAY_MS),
      );
      t.unref();
    };
    arm(ms);
    return { cancel: () => clearTimeout(t) };
  },
  setInterval(fn, ms) {
    return new NodeTimer(setInterval(fn, ms).unref());
  },
};

interface FakeTimer {
  at: number;
  seq: number;
  fn: () => void;
  every: number; // 0 = one-shot
  cancelled: boolean;
}

/** A clock that only moves when told to. Timers fire in deadline order during advance(). */
export class FakeClock implements Clock {
  private current: number;
  private seq = 0;
  private timers: FakeTimer[] = [];

  constructor(start = 1_700_000_000_000) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, 0);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, Math.max(1, ms));
  }

  /** Number of timers still armed. */
  get pending(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }

  /** Move time forward by `ms`, firing due timers in order (timers armed meanwhile included). */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      let next: FakeTimer | undefined;
      for (const t of this.timers) {
        if (t.cancelled || t.at > target) continue;
        if (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq)) next = t;
      }
      if (!next) break;
      this.current = Math.max(this.current, next.at);
      if (next.every > 0) next.at += next.every;
      else next.cancelled = true;
      next.fn();
    }
    this.timers = this.timers.filter((t) => !t.cancelled);
    this.current = target;
  }

  private add(fn: () => void, ms: number, every: number): TimerHandle {
    const timer: FakeTimer = { at: this.current + Math.max(0, ms), seq: this.seq++, fn, every, cancelled: false };
    this.timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }
}
