// The QoS 1/2 in-flight window toward one client: the entries by packet identifier that Session keeps (iteration in
// insertion order = resend order), counting the payload bytes its entries hold. The window is bounded in messages
// (mqtt.maxInflight, capped by a 5.0 client's Receive Maximum) and in bytes (the session's maxQueuedBytes): with the
// default window of 1,000, a client that reads but never acknowledges could otherwise pin 1,000 x 1 MiB
// (maxPacketSize); with the byte bound it pins at most maxQueuedBytes (16 MiB) plus one message, like its queue.
//
// Why not a Map (it was one): a window is a FIFO churning at the message rate (one set and one delete per QoS 1
// delivery), and a V8 Map under that churn rehashes into a new table every ~capacity/2 operations. The table it
// leaves keeps a pointer to its successor and the entries that were live at the rehash (V8 keeps obsolete tables
// linked for live iterators). Once a mark-compact has moved the current table to the old generation while traffic
// flows, that dead table is a root for every scavenge until the next mark-compact: it keeps its successor alive,
// which keeps the next one alive, and so on, each with ~1,000 deliveries and their messages. Every scavenge then
// copied and promoted everything the window ever held since the mark-compact (~6.5 MB per scavenge in fan-in QoS 1,
// 98.6 % of survivors promoted, scavenges 6-8 ms instead of 0.5 ms), until the next mark-compact, which moved the
// then-current table to the old generation again: the broker stayed in that mode for good (GC 23-38 % of its CPU
// instead of 4-10 %, 30-45 % less throughput; docs/benchmarks.md "GC modes"). This table is open addressing over
// plain arrays that are replaced only when the window grows, and a replaced array links to nothing.

interface HoldsPayload {
  readonly delivery: { readonly msg: { readonly payload: Buffer } };
}

/** Packet identifiers are 1..65535: 0 marks a free slot. */
const FREE = 0;
/** The smallest table (slots); tests rely on a new window having it. */
export const MIN_CAPACITY = 16;

export class InflightWindow<V extends HoldsPayload> {
  /** Payload bytes of the entries (an entry in the PUBREL state still counts: it still references its message). */
  bytes = 0;
  #size = 0;
  /** Slot i: packet id (FREE when empty), its value, its insertion number (iteration order). Power-of-two length. */
  #keys = new Int32Array(MIN_CAPACITY);
  #values: (V | undefined)[] = new Array<V | undefined>(MIN_CAPACITY).fill(undefined);
  #order = new Float64Array(MIN_CAPACITY);
  #nextOrder = 0;

  get size(): number {
    return this.#size;
  }

  /** The slot holding `packetId`, or -1. */
  #find(packetId: number): number {
    const keys = this.#keys;
    const mask = keys.length - 1;
    for (let i = hash(packetId) & mask; ; i = (i + 1) & mask) {
      const k = keys[i]!;
      if (k === packetId) return i;
      if (k === FREE) return -1;
    }
  }

  has(packetId: number): boolean {
    return this.#find(packetId) >= 0;
  }

  get(packetId: number): V | undefined {
    const i = this.#find(packetId);
    return i < 0 ? undefined : this.#values[i];
  }

  /** Adds or replaces (a replaced entry keeps its place in the iteration order, as in a Map). */
  set(packetId: number, out: V): this {
    const i = this.#find(packetId);
    if (i >= 0) {
      this.bytes += out.delivery.msg.payload.length - this.#values[i]!.delivery.msg.payload.length;
      this.#values[i] = out;
      return this;
    }
    if ((this.#size + 1) * 2 > this.#keys.length) this.#resize(this.#keys.length * 2);
    this.#insert(packetId, out, this.#nextOrder++);
    this.#size++;
    this.bytes += out.delivery.msg.payload.length;
    return this;
  }

  #insert(packetId: number, out: V, order: number): void {
    const keys = this.#keys;
    const mask = keys.length - 1;
    let i = hash(packetId) & mask;
    while (keys[i] !== FREE) i = (i + 1) & mask;
    keys[i] = packetId;
    this.#values[i] = out;
    this.#order[i] = order;
  }

  delete(packetId: number): boolean {
    let i = this.#find(packetId);
    if (i < 0) return false;
    this.bytes -= this.#values[i]!.delivery.msg.payload.length;
    this.#size--;
    // Backward-shift deletion (linear probing without tombstones): later entries of the probe run move up into
    // the hole, so lookups stay short however long the churn runs and nothing is ever rehashed.
    const keys = this.#keys;
    const values = this.#values;
    const order = this.#order;
    const mask = keys.length - 1;
    for (let j = (i + 1) & mask; keys[j] !== FREE; j = (j + 1) & mask) {
      const home = hash(keys[j]!) & mask;
      // Entry j may move to i when its home slot is not in the cyclic range (i, j].
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        keys[i] = keys[j]!;
        values[i] = values[j];
        order[i] = order[j]!;
        i = j;
      }
    }
    keys[i] = FREE;
    values[i] = undefined;
    return true;
  }

  clear(): void {
    this.bytes = 0;
    this.#size = 0;
    this.#keys = new Int32Array(MIN_CAPACITY);
    this.#values = new Array<V | undefined>(MIN_CAPACITY).fill(undefined);
    this.#order = new Float64Array(MIN_CAPACITY);
  }

  #resize(capacity: number): void {
    const { keys, values, order } = { keys: this.#keys, values: this.#values, order: this.#order };
    this.#keys = new Int32Array(capacity);
    this.#values = new Array<V | undefined>(capacity).fill(undefined);
    this.#order = new Float64Array(capacity);
    for (let i = 0; i < keys.length; i++) if (keys[i] !== FREE) this.#insert(keys[i]!, values[i]!, order[i]!);
  }

  /** [packet id, entry] in insertion order (resend order [MQTT-4.4.0-1]); a snapshot, safe to delete during. */
  entries(): IterableIterator<[number, V]> {
    const keys = this.#keys;
    const values = this.#values;
    const order = this.#order;
    const slots: number[] = [];
    for (let i = 0; i < keys.length; i++) if (keys[i] !== FREE) slots.push(i);
    slots.sort((a, b) => order[a]! - order[b]!);
    return slots.map((i): [number, V] => [keys[i]!, values[i]!])[Symbol.iterator]();
  }

  values(): IterableIterator<V> {
    return Array.from(this.entries(), ([, v]) => v)[Symbol.iterator]();
  }

  [Symbol.iterator](): IterableIterator<[number, V]> {
    return this.entries();
  }

  /** Room for one more: under `limit` messages and, past the first one, under `maxBytes` (0 = no byte bound). */
  hasRoom(limit: number, maxBytes: number): boolean {
    const n = this.#size;
    if (n === 0) return true;
    return n < limit && (maxBytes === 0 || this.bytes < maxBytes);
  }
}

/**
 * Packet ids are mostly consecutive: spread them so that neighbours do not form long probe runs (Fibonacci hash).
 * Exported for the tests, which build probe runs that wrap around the table's end.
 */
export function hash(packetId: number): number {
  return Math.imul(packetId, 0x9e3779b1) >>> 16;
}
