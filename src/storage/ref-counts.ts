// Reference counts by message id, for a million messages without a million Map entries. Nearly every body has
// exactly one reference (a queue log entry, one session's queue entry), and ids are assigned in increasing order,
// so the live ids of a backlog are dense: a count of 1 is one bit in a paged bitset (65,536 ids per 8 KiB page,
// freed once empty); other counts (fan-out to several sessions, a retained message also queued) are Map entries.
// At 1 M queued messages this is ~128 KiB instead of a ~40 MB Map, and rebuilding it at open costs bit operations
// instead of a million Map insertions with rehashing (measured: ~0.7 s of CPU of a 3 s open).
import type { MessageId } from "./types.ts";

const PAGE_IDS = 65_536;

interface Page {
  readonly bits: Uint32Array;
  /** Bits set. */
  count: number;
}

export class RefCounts implements Iterable<[MessageId, number]> {
  readonly #pages = new Map<number, Page>();
  /** Counts other than 1, and ids the bitset cannot hold (not a non-negative safe integer: corrupt input). */
  readonly #other = new Map<MessageId, number>();
  #ones = 0;
  /** The page last used: appends and acks walk ids in order, so most lookups hit it. */
  #lastIndex = -1;
  #last: Page | undefined;

  /** Ids with a count. */
  get size(): number {
    return this.#ones + this.#other.size;
  }

  get(id: MessageId): number | undefined {
    return this.#bit(id) ? 1 : this.#other.get(id);
  }

  has(id: MessageId): boolean {
    return this.#bit(id) || this.#other.has(id);
  }

  /** Sets the count of `id` (>= 1). */
  set(id: MessageId, n: number): void {
    if (n === 1 && dense(id)) {
      this.#other.delete(id);
      this.#setBit(id);
    } else {
      this.#clearBit(id);
      this.#other.set(id, n);
    }
  }

  /** Adds one reference to `id` (from none: 1). */
  increment(id: MessageId): void {
    const n = this.get(id);
    this.set(id, n === undefined ? 1 : n + 1);
  }

  delete(id: MessageId): boolean {
    return this.#clearBit(id) || this.#other.delete(id);
  }

  /** The ids whose count is not 1 (few: kept in a Map), with their counts. */
  multiples(): IterableIterator<[MessageId, number]> {
    return this.#other.entries();
  }

  *[Symbol.iterator](): Iterator<[MessageId, number]> {
    for (const [index, page] of this.#pages) {
      const base = index * PAGE_IDS;
      const bits = page.bits;
      for (let w = 0; w < bits.length; w++) {
        let word = bits[w]!;
        while (word !== 0) {
          const b = 31 - Math.clz32(word & -word); // lowest set bit
          word &= word - 1;
          yield [base + w * 32 + b, 1];
        }
      }
    }
    yield* this.#other;
  }

  #page(id: number, create: boolean): Page | undefined {
    const index = Math.floor(id / PAGE_IDS);
    if (index === this.#lastIndex) return this.#last;
    let page = this.#pages.get(index);
    if (page === undefined) {
      if (!create) return undefined;
      this.#pages.set(index, (page = { bits: new Uint32Array(PAGE_IDS / 32), count: 0 }));
    }
    this.#lastIndex = index;
    this.#last = page;
    return page;
  }

  #bit(id: MessageId): boolean {
    if (!dense(id)) return false;
    const page = this.#page(id, false);
    if (page === undefined) return false;
    const o = id % PAGE_IDS;
    return (page.bits[o >>> 5]! & (1 << (o & 31))) !== 0;
  }

  #setBit(id: number): void {
    const page = this.#page(id, true)!;
    const o = id % PAGE_IDS;
    const mask = 1 << (o & 31);
    const w = page.bits[o >>> 5]!;
    if ((w & mask) !== 0) return;
    page.bits[o >>> 5] = w | mask;
    page.count++;
    this.#ones++;
  }

  #clearBit(id: MessageId): boolean {
    if (!dense(id)) return false;
    const page = this.#page(id, false);
    if (page === undefined) return false;
    const o = id % PAGE_IDS;
    const mask = 1 << (o & 31);
    const w = page.bits[o >>> 5]!;
    if ((w & mask) === 0) return false;
    page.bits[o >>> 5] = w & ~mask;
    this.#ones--;
    if (--page.count === 0) {
      const index = Math.floor(id / PAGE_IDS);
      this.#pages.delete(index);
      if (this.#lastIndex === index) {
        this.#lastIndex = -1;
        this.#last = undefined;
      }
    }
    return true;
  }
}

function dense(id: MessageId): boolean {
  return Number.isSafeInteger(id) && id >= 0;
}
