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

// The acknowledgements of a light turn wait for one more poll of the sockets when the turn wrote deliveries (at most
// ACK_DEFERRALS turns in a row): the 4 publishers of a 1 ms tick write one after another, so their reads are spread
// over 1-4 turns (stop 16, 4 s at 10k msg/s: 1,043 turns with one delivering read, 1,512 with two, 1,031 with three,
// 801 with four), and the PUBACK writes at the end of the first turns came before the next publishers' reads: each
// a loopback write (~10-20 us) in front of their deliveries. Now the end of such a turn queues itself once more: the
// event loop polls the sockets without blocking (an immediate is pending), handles what arrived meanwhile (its
// deliveries leave after their reads), and the acknowledgements go out at the end of the first turn that wrote no
// delivery, or after ACK_DEFERRALS turns. A busy turn (more than EAGER_READS delivering reads), a connection holding
// ACK_DEFER_MAX_PENDING packets or more (a publisher sending many per turn: QoS 1 fan-in) and a turn without socket
// reads (in-process publishers) write everything at once, as before.

export interface Flushable {
  flush(): void;
  /** Holds a delivery for a subscriber (written after the read that produced it, in a light turn). */
  readonly urgent: boolean;
  /** Packets waiting to be written (a turn's acknowledgements are deferred only while every connection has few). */
  readonly pending: number;
}

/** Socket reads with deliveries per event-loop turn whose deliveries are written at once (see above). */
export const EAGER_READS = 4;

/** Light turns in a row whose acknowledgements wait for one more poll of the sockets (see above). */
export const ACK_DEFERRALS = 3;
/**
 * A connection holding this many packets or more is written at the end of the turn, never deferred: its client is
 * sending faster than a latency-bound one (2-3 messages per publisher per 1 ms tick at 10k msg/s) and waits for
 * these acknowledgements to send more (QoS 1 fan-in: a window of 64-100 messages per publisher).
 */
export const ACK_DEFER_MAX_PENDING = 8;

export class FlushScheduler {
  #dirty: Flushable[] = [];
  #scheduled = false;
  /** Reads whose deliveries were written at once since the last end-of-turn flush. */
  #eager = 0;
  /** A read's deliveries were left for the end of the turn (more than EAGER_READS delivering reads: a busy turn). */
  #busy = false;
  /** Turns in a row whose end left the acknowledgements for the next one (at most ACK_DEFERRALS). */
  #deferred = 0;
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
    if (this.#dirty.length === 0) return;
    if (this.#eager < EAGER_READS) {
      if (this.#flushUrgent()) this.#eager++;
    } else if (!this.#busy && this.#hasUrgent()) this.#busy = true;
  }

  #hasUrgent(): boolean {
    for (const c of this.#dirty) if (c.urgent) return true;
    return false;
  }

  /** Whether the pending output is only a few acknowledgements per connection (deferrable, see above). */
  #fewAcks(): boolean {
    for (const c of this.#dirty) if (c.urgent || c.pending >= ACK_DEFER_MAX_PENDING) return false;
    return true;
  }

  #flushDirty(): void {
    const dirty = this.#dirty;
    this.#dirty = [];
    for (const c of dirty) c.flush();
  }

  /** Writes the connections holding a delivery (false: none); the others stay pending for the end of the turn. */
  #flushUrgent(): boolean {
    const dirty = this.#dirty;
    let urgent = 0;
    for (const c of dirty) if (c.urgent) urgent++;
    if (urgent === 0) return false;
    if (urgent === dirty.length) {
      this.#flushDirty();
      return true;
    }
    // The kept ones stay in #dirty (compacted in place); the urgent ones are flushed from a list kept between calls
    // (slots overwritten and cleared, never truncated: `length = 0` would drop its backing store), so the common
    // light turn (one delivery, one publisher to answer later) allocates nothing per read. A flush may schedule
    // more output (a session's queue drains into another connection): it lands in #dirty after the kept ones. The
    // order between connections does not matter; each one's own output stays in order.
    const now = this.#urgentList ?? [];
    this.#urgentList = undefined; // (a flush that re-entered here would take a list of its own)
    let kept = 0;
    let n = 0;
    for (const c of dirty) {
      if (c.urgent) now[n++] = c;
      else dirty[kept++] = c;
    }
    dirty.length = kept;
    for (let i = 0; i < n; i++) {
      const c = now[i]!;
      now[i] = undefined;
      c.flush();
    }
    this.#urgentList = now;
    return true;
  }

  // End of the turn (setImmediate runs after the poll phase's I/O callbacks): everything left goes out, and the
  // next turn starts a new count of reads.
  // A light turn that wrote deliveries leaves what is left (acknowledgements) for the end of the next turn, at most
  // ACK_DEFERRALS times in a row (see above); a delivery still pending is written now, with everything else.
  readonly #run = (): void => {
    const defer =
      this.#eager > 0 && !this.#busy && this.#deferred < ACK_DEFERRALS && this.#dirty.length > 0 && this.#fewAcks();
    this.#eager = 0;
    this.#busy = false;
    if (defer) {
      this.#deferred++;
      setImmediate(this.#run); // #scheduled stays true: what is scheduled meanwhile waits for this run
      return;
    }
    this.#scheduled = false;
    this.#deferred = 0;
    this.#flushDirty();
  };
}
