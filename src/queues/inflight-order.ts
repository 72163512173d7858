// A group's deliveries in flight, in delivery order (delivery timeouts are monotonic: one deliveryTimeout per queue,
// so the first delivered is the first due), and each consumer's share of them as a read-only set of seqs.
//
// Why not a Map<seq, entry> (delete + set per delivery) and a Set<seq> per consumer, as before: at ~150k deliveries
// per second both are churned at the message rate, and a V8 Map that stays the same size under put/delete rehashes
// into a new table every few hundred pairs. An old table that was promoted keeps its successor and its entries
// reachable for the scavenger until the next mark-compact, so every scavenge promoted what the tables held (the GC
// mode #15 found in the session's in-flight window; here 3–6 ms scavenges, ~2 MB promoted each, 20 → 80 MB of old
// space between mark-compacts at 85k msg/s). Keyed by a delivery serial instead, an entry is a slot in a page of
// 1,024 (util/seq-map.ts): set and delete are array stores, a page is reused once empty, nothing is rehashed.
import { SeqMap } from "../util/index.ts";

/** What the order needs of an entry (the group's Pending). */
export interface InflightEntry {
  readonly seq: number;
  /** The delivery serial of its current delivery (0: not in flight). */
  serial: number;
  /** The holder while in flight. */
  consumer: object | undefined;
}

export class InflightOrder<E extends InflightEntry> {
  readonly #bySerial = new SeqMap<E>();
  #next = 1;

  get size(): number {
    return this.#bySerial.size;
  }

  /** `e` was delivered (again): it goes to the end of the order. */
  add(e: E): void {
    if (e.serial !== 0) this.#bySerial.delete(e.serial);
    e.serial = this.#next++;
    this.#bySerial.set(e.serial, e);
  }

  /** `e` is no longer in flight (settled, given back, timed out). */
  delete(e: E): void {
    if (e.serial === 0) return;
    this.#bySerial.delete(e.serial);
    e.serial = 0;
  }

  /** The entry delivered first of those in flight (timers: not per message). */
  first(): E | undefined {
    return this.#bySerial.first()?.[1];
  }

  /** Entries in delivery order; deleting while iterating is allowed. */
  forEach(fn: (e: E) => void): void {
    this.#bySerial.forEach(fn);
  }

  /** Entries in delivery order (a generator: stop early at the first not due); deleting while iterating is allowed. */
  *values(): IterableIterator<E> {
    for (const [, e] of this.#bySerial.entries()) yield e;
  }

  /** The seqs `holder` has in flight, in delivery order. */
  *heldBy(holder: object): IterableIterator<number> {
    for (const e of this.values()) if (e.consumer === holder) yield e.seq;
  }
}

/**
 * A consumer's deliveries in flight as a ReadonlySet of seqs (QueueMembership.inflight: the 3.1.1 "oldest
 * unsettled" settle and in-process ownership checks), without a Set of its own: `has` is one lookup of the group's
 * entry, iteration walks the group's order (rare paths), `size` is the consumer's count.
 */
export class HeldSeqs implements ReadonlySet<number> {
  constructor(
    private readonly holder: object,
    private readonly order: InflightOrder<InflightEntry>,
    private readonly lookup: (seq: number) => InflightEntry | undefined,
    private readonly count: () => number,
  ) {}

  get size(): number {
    return this.count();
  }

  has(seq: number): boolean {
    const e = this.lookup(seq);
    return e !== undefined && e.serial !== 0 && e.consumer === this.holder;
  }

  values(): SetIterator<number> {
    return this.order.heldBy(this.holder) as SetIterator<number>;
  }

  keys(): SetIterator<number> {
    return this.values();
  }

  *entries(): SetIterator<[number, number]> {
    for (const seq of this.values()) yield [seq, seq];
  }

  forEach(fn: (value: number, key: number, set: ReadonlySet<number>) => void): void {
    for (const seq of this.values()) fn(seq, seq, this);
  }

  [Symbol.iterator](): SetIterator<number> {
    return this.values();
  }
}
