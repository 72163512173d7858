// Message bodies in memory: only the recent ones. A queue's bodies live in storage; the engine holds a body from
// its append until the store has written it (a read before that would not find it) and then only while the
// engine-wide cache is within its budget (`bodyCacheBytes`, default 16 MiB: ~50,000 bodies of 100 bytes, plenty
// for consumers that keep up, who are handed a message right after its append). Past the budget the oldest written
// bodies go first; a delivery of an evicted body reads it back from the store (one LMDB read, a few µs).
import { SeqMap } from "../util/index.ts";
import { SeqList } from "./fifo.ts";
import type { QueueRecord } from "./store.ts";

/** Heap bytes a cached body costs beyond its payload: the record object, the Buffer object, the Map entry. */
const OVERHEAD = 240;

function cost(r: QueueRecord): number {
  return r.payload.length + OVERHEAD;
}

/** The engine-wide budget, and the "written" watermarks it learns from the store. */
export class BodyCache {
  bytes = 0;
  readonly #dirty = new Set<QueueBodies>();
  #waiting = false;

  constructor(
    readonly budget: number,
    /** Resolves once everything the store was given so far is written (readable back). */
    private readonly written: () => Promise<void>,
  ) {}

  get over(): boolean {
    return this.bytes > this.budget;
  }

  /** A body was appended: when the cache is full, learn what is written, then evict it. */
  appended(b: QueueBodies): void {
    this.#dirty.add(b);
    if (!this.over) return;
    b.evict();
    if (!this.#waiting) this.#request();
  }

  #request(): void {
    this.#waiting = true;
    const marks = [...this.#dirty].map((b) => [b, b.top] as const);
    this.#dirty.clear();
    this.written().then(
      () => {
        this.#waiting = false;
        for (const [b, top] of marks) {
          if (top > b.writtenUpTo) b.writtenUpTo = top;
          b.evict();
        }
        if (this.#dirty.size > 0 && this.over) this.#request();
      },
      () => {
        this.#waiting = false; // the store failed: nothing is written any more, bodies stay where they are
      },
    );
  }
}

/** One queue's cached bodies, oldest first. */
export class QueueBodies {
  readonly #map = new SeqMap<QueueRecord>();
  /**
   * Seqs in the order they were cached (ascending; a ring: nothing allocated per message); entries already gone
   * are dropped from its head as they go, and skipped when they went out of order.
   */
  #order = new SeqList();
  /** Highest seq cached by an append. */
  top = 0;
  /** Every append up to this seq is written to the store: its body may be evicted. */
  writtenUpTo = 0;

  constructor(readonly cache: BodyCache) {}

  get size(): number {
    return this.#map.size;
  }

  get(seq: number): QueueRecord | undefined {
    return this.#map.get(seq);
  }

  /** A freshly appended body (not yet written to the store). */
  add(seq: number, r: QueueRecord): void {
    this.#map.set(seq, r);
    this.#order.insert(seq);
    if (seq > this.top) this.top = seq;
    this.cache.bytes += cost(r);
    this.cache.appended(this);
  }

  delete(seq: number): void {
    const r = this.#map.get(seq);
    if (r === undefined) return;
    this.#map.delete(seq);
    this.cache.bytes -= cost(r);
    const order = this.#order;
    for (let head = order.peek(); head !== undefined && !this.#map.has(head); head = order.peek()) order.shift();
    // Bodies deleted far from the head (acks out of order) pile up behind an old one: once the stale entries
    // outnumber the live ones, rebuild from what is held (amortised O(1) per body).
    if (order.length > 2 * this.#map.size + 1024) {
      const fresh = new SeqList();
      this.#map.forEach((_, s) => fresh.insert(s));
      this.#order = fresh;
    }
  }

  /** Evicts written bodies, oldest first, while the cache is over its budget. */
  evict(): void {
    const cache = this.cache;
    const order = this.#order;
    while (cache.over) {
      const seq = order.peek();
      if (seq === undefined || seq > this.writtenUpTo) break;
      order.shift();
      const r = this.#map.get(seq);
      if (r === undefined) continue;
      this.#map.delete(seq);
      cache.bytes -= cost(r);
    }
  }

  clear(): void {
    for (const r of this.#map.values()) this.cache.bytes -= cost(r);
    this.#map.clear();
    this.#order = new SeqList();
  }
}
