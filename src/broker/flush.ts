// Write coalescing: packets for a connection are encoded into a per-connection list during an event-loop turn
// and handed to the transport in ONE write() per connection per turn. A single setImmediate per broker (not per
// connection) flushes every connection that has something pending, so a fan-out to 10k subscribers costs one
// scheduled callback plus one write per subscriber.
//
// Except in a light turn: after each of the first EAGER_READS socket reads of a turn that produced deliveries, those
// deliveries are written at once (afterRead), before the next readable socket is handled. A message then leaves as
// soon as its own read is handled instead of waiting for every other socket of the turn: at 10,000 QoS 1 msg/s
// from 4 publishers a turn holds a few reads, and the last of them used to delay the first one's deliveries (issue
// #10, latency). A busy turn (many small reads: a fleet of devices publishing to one subscriber) still coalesces
// everything after its first EAGER_READS such reads into one write per connection, so the extra writes are bounded
// by EAGER_READS per turn, each carrying a whole read's worth of messages. Reads that deliver nothing (a
// subscriber's PUBACKs) cost no write and do not count: at 10,000 msg/s the subscriber's PUBACK reads came between
// the publishers' reads of a turn and used up the count before the 4th publisher's read (stop 15).
//
// Only connections holding a delivery (a PUBLISH to a subscriber: `urgent`) are written after a read; what a
// connection holds besides (the PUBACKs, SUBACKs, PINGRESPs answering its own packets) waits for the end of the
// turn. The latency a client sees is publisher -> subscriber: on loopback a write() also runs the receiver's side
// of TCP in the kernel (~10 us of this VM's CPU, stop 14's profile), so a PUBACK written between two publishers'
// reads delayed the next publisher's deliveries by one write each. The PUBACKs of a light turn leave a few writes
// later in the same turn (one write per publisher, as before), after every delivery of the turn.

export interface Flushable {
  flush(): void;
  /** Holds a delivery for a subscriber (written after the read that produced it, in a light turn). */
  readonly urgent: boolean;
}

/** Socket reads with deliveries per event-loop turn whose deliveries are written at once (see above). */
export const EAGER_READS = 4;

export class FlushScheduler {
  #dirty: Flushable[] = [];
  #scheduled = false;
  /** Reads whose deliveries were written at once since the last end-of-turn flush. */
  #eager = 0;
  /** #flushUrgent's list of connections to write, kept between calls (undefined while one is running). */
  #urgentList: (Flushable | undefined)[] | undefined = [];

  /** Marks a connection as having pending output; the caller ensures it is added once per turn. */
  schedule(c: Flushable): void {
    this.#dirty.push(c);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#run);
    }
  }

  /** Flushes now (used by close paths that must not wait for the next turn). */
  flushAll(): void {
    this.#flushDirty();
  }

  /** A connection handled one socket read: in a light turn the deliveries it produced are written now. */
  afterRead(): void {
    // Pending output means the end-of-turn run is scheduled (schedule()), and that run restarts the count.
    if (this.#eager < EAGER_READS && this.#dirty.length > 0 && this.#flushUrgent()) this.#eager++;
  }

  #flushDirty(): void {
    const dirty = this.#dirty;
    this.#dirty = [];
    for (const c of dirty) c.flush();
  }

  /** Writes the connections holding a delivery (false: none); the others stay pending for the end of the turn. */
  #flushUrgent(): boolean {
    // One path whether none, some or all of the pending connections hold a delivery. It had a shortcut for "all"
    // (#flushDirty): under QoS 1 load every delivering read also leaves its publisher's PUBACK pending, so the
    // shortcut stayed cold while V8 optimised this method and TurboFan compiled it as a deopt exit; the first turn
    // that took it, 5.8 s into 10,000 msg/s, threw the optimised code away and compiled it again: 7.2 ms of the
    // broker's one CPU in the middle of a latency window (`--trace-deopt`, 1 of 7 runs, stop 17). Now that load
    // runs every branch here before the method is optimised.
    //
    // The kept ones stay in #dirty (compacted in place); the urgent ones are flushed from a list kept between calls
    // (slots overwritten and cleared, never truncated: `length = 0` would drop its backing store), so the common
    // light turn (one delivery, one publisher to answer later) allocates nothing per read. A flush may schedule
    // more output (a session's queue drains into another connection): it lands in #dirty after the kept ones. The
    // order between connections does not matter; each one's own output stays in order.
    const dirty = this.#dirty;
    const now = this.#urgentList ?? [];
    this.#urgentList = undefined; // (a flush that re-entered here would take a list of its own)
    let kept = 0;
    let n = 0;
    for (const c of dirty) {
      if (c.urgent) now[n++] = c;
      else dirty[kept++] = c;
    }
    if (kept < dirty.length) dirty.length = kept;
    for (let i = 0; i < n; i++) {
      const c = now[i]!;
      now[i] = undefined;
      c.flush();
    }
    this.#urgentList = now;
    return n > 0;
  }

  // End of the turn (setImmediate runs after the poll phase's I/O callbacks): everything left goes out, and the
  // next turn starts a new count of reads.
  readonly #run = (): void => {
    this.#scheduled = false;
    this.#eager = 0;
    this.#flushDirty();
  };
}
