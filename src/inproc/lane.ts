// The hand-out lane: one per in-process broker, shared by its handler subscriptions. A plain QoS 0 message routed to
// N such subscriptions is one entry here (its shared view, then the N subscriptions), and one microtask hands every
// entry out in publish order, instead of N buffer pushes, N buffer shifts and N pump turns (docs/embedding.md
// "Delivery and ordering"; docs/benchmarks.md, in-process table).
//
// A subscription uses the lane only while that changes nothing it promises: its buffer is empty, every message it
// has in the lane has the same priority, its handler is not busy. Otherwise its lane entries move to its buffer, in
// order, before anything else is buffered (moveOut), so at any time a subscription's pending messages are either
// all in the lane or all in its buffer, and the buffer's rules (priority order, overflow, concurrency) apply as
// before. Moving out scans the lane (O(lane length)); it happens once per change of mode, not per message.

/** A subscription as the lane sees it. */
export interface LaneMember<V> {
  /** Hand `v` out now (the lane has forgotten it). */
  laneTake(v: V): void;
  /** `v` leaves the lane for the member's buffer (moveOut), in order. */
  laneMoved(v: V): void;
}

/**
 * Entries held at most while idle; a larger burst's arrays are released when it has been handed out. 16 384 slots
 * (128 KiB of member references): at 4 096, 20 handler subscriptions of a publisher that yields every 256 messages
 * (5 120 slots a burst) re-grew the arrays every burst, and cost 34 ns per delivery instead of 20.
 */
const KEEP = 16_384;

export class HandOutLane<V, M extends LaneMember<V>> {
  /** Views of the messages in the lane, in publish order; views[k]'s members are members[starts[k] .. starts[k+1]). */
  #views: (V | undefined)[] = [];
  #starts: number[] = [];
  /** Members, grouped by message; undefined once handed out or moved out. */
  #members: (M | undefined)[] = [];
  #nViews = 0;
  #nMembers = 0;
  /**
   * Member slots [0, #used) may still name members of earlier bursts: they are overwritten by the next burst rather
   * than cleared after each (clearing cost ~1.3 ns a slot, 10 slots a message with 10 subscribers); a member that
   * ends is cleared from them (forget()), so the lane keeps no ended subscription alive.
   */
  #used = 0;
  #last: V | undefined = undefined;
  #scheduled = false;
  /** While handing out: the message and the member slot being handed out (moveOut scans after it). */
  #pumping = false;
  #k = 0;
  #at = 0;

  /** Appends `m` as a recipient of `v` (consecutive calls with the same view form one message). */
  add(v: V, m: M): void {
    if (v !== this.#last) {
      this.#last = v;
      this.#views[this.#nViews] = v;
      this.#starts[this.#nViews] = this.#nMembers;
      this.#nViews++;
    }
    this.#members[this.#nMembers++] = m;
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#pump);
    }
  }

  /**
   * `m` ended: no slot keeps it. Called after moveOut(m), so its slots left are handed out or of earlier bursts
   * (O(slots in use), at most KEEP, once per ended member).
   */
  forget(m: M): void {
    const members = this.#members;
    const n = Math.max(this.#used, this.#nMembers);
    for (let i = 0; i < n; i++) if (members[i] === m) members[i] = undefined;
  }

  /** Moves every entry of `m` still in the lane to its buffer (laneMoved), oldest first. */
  moveOut(m: M): void {
    const members = this.#members;
    const starts = this.#starts;
    let k = this.#pumping ? this.#k : 0;
    for (let i = this.#pumping ? this.#at + 1 : 0; i < this.#nMembers; i++) {
      while (k + 1 < this.#nViews && starts[k + 1]! <= i) k++;
      if (members[i] !== m) continue;
      members[i] = undefined;
      m.laneMoved(this.#views[k]!);
    }
  }

  readonly #pump = (): void => {
    this.#scheduled = false;
    this.#pumping = true;
    const members = this.#members;
    const views = this.#views;
    const starts = this.#starts;
    try {
      // Handlers may publish meanwhile: counts are read again on every turn (new messages are handed out too).
      for (let k = 0, i = 0; k < this.#nViews; k++) {
        const v = views[k]!;
        const end = k + 1 < this.#nViews ? starts[k + 1]! : this.#nMembers;
        this.#k = k;
        for (; i < end; i++) {
          const m = members[i];
          if (m === undefined) continue; // moved out
          this.#at = i; // (slots up to here are handed out: moveOut() scans after it)
          m.laneTake(v);
        }
        views[k] = undefined;
      }
    } finally {
      this.#pumping = false;
      this.#reset();
    }
  };

  #reset(): void {
    // Views are cleared as they are handed out; member slots stay for the next burst to overwrite (forget() clears an
    // ended member's); after an exception the rest of the views go with their arrays.
    if (this.#nMembers > KEEP || this.#nViews > KEEP || this.#views[this.#nViews - 1] !== undefined) {
      this.#views = [];
      this.#starts = [];
      this.#members = [];
      this.#used = 0;
    } else if (this.#nMembers > this.#used) this.#used = this.#nMembers;
    this.#nViews = 0;
    this.#nMembers = 0;
    this.#last = undefined;
  }
}
