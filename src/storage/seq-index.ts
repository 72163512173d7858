// A queue log's entries, seq → message id, for a million entries without a million Map entries. Seqs are assigned
// densely in increasing order and never reused, so the live ones sit in few ranges: pages of 4,096 slots in a
// Float64Array (NaN: no entry), freed once empty. 1 M entries take ~8 MB instead of a ~40 MB Map, inserting them
// at open costs a store instead of a hash insertion with rehashing, and iteration is in seq order (what the
// log's readers rely on: first entry, deletion up to a seq).
import type { MessageId } from "./types.ts";

const PAGE = 4096;

interface Page {
  readonly index: number;
  readonly ids: Float64Array;
  count: number;
}

export class SeqIndex implements Iterable<[number, MessageId]> {
  /** Pages by index, in ascending index order (new pages come last: seqs only grow; see #insertPage). */
  #pages = new Map<number, Page>();
  #maxIndex = -1;
  #size = 0;
  /** The page last used (appends and acks walk seqs in order). */
  #last: Page | undefined;

  get size(): number {
    return this.#size;
  }

  get(seq: number): MessageId | undefined {
    const page = this.#page(seq);
    if (page === undefined) return undefined;
    const id = page.ids[seq - page.index * PAGE]!;
    return Number.isNaN(id) ? undefined : id;
  }

  has(seq: number): boolean {
    return this.get(seq) !== undefined;
  }

  set(seq: number, id: MessageId): void {
    if (!Number.isSafeInteger(seq) || seq < 0) throw new RangeError(`seq ${seq} is not a safe integer`);
    let page = this.#page(seq);
    if (page === undefined) page = this.#insertPage(Math.floor(seq / PAGE));
    const o = seq - page.index * PAGE;
    if (Number.isNaN(page.ids[o]!)) {
      page.count++;
      this.#size++;
    }
    page.ids[o] = id;
  }

  delete(seq: number): boolean {
    const page = this.#page(seq);
    if (page === undefined) return false;
    const o = seq - page.index * PAGE;
    if (Number.isNaN(page.ids[o]!)) return false;
    page.ids[o] = NaN;
    this.#size--;
    if (--page.count === 0) {
      this.#pages.delete(page.index);
      if (this.#last === page) this.#last = undefined;
    }
    return true;
  }

  /** Seqs in ascending order. Deleting the seq just returned while iterating is allowed. */
  *keys(): IterableIterator<number> {
    for (const [seq] of this) yield seq;
  }

  *[Symbol.iterator](): Iterator<[number, MessageId]> {
    for (const page of [...this.#pages.values()]) {
      const base = page.index * PAGE;
      const ids = page.ids;
      for (let o = 0; o < PAGE; o++) {
        const id = ids[o]!;
        if (!Number.isNaN(id)) yield [base + o, id];
      }
    }
  }

  #page(seq: number): Page | undefined {
    const last = this.#last;
    const index = Math.floor(seq / PAGE);
    if (last !== undefined && last.index === index) return last;
    const page = this.#pages.get(index);
    if (page !== undefined) this.#last = page;
    return page;
  }

  #insertPage(index: number): Page {
    const page: Page = { index, ids: new Float64Array(PAGE).fill(NaN), count: 0 };
    this.#pages.set(index, page);
    if (index < this.#maxIndex) {
      // Out of order (not how a log grows, but kept correct): re-sort the pages once.
      this.#pages = new Map([...this.#pages].sort((a, b) => a[0] - b[0]));
    } else this.#maxIndex = index;
    this.#last = page;
    return page;
  }
}
