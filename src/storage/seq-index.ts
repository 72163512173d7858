// A queue log's entries, seq → (message id, append time, meta), for a million entries without a million Map
// entries or objects. Seqs are assigned densely in increasing order and never reused, so the live ones sit in few
// ranges: pages of 4,096 slots in typed arrays (NaN id: no entry), freed once empty. The meta a queue layer keeps
// with an entry (a few numbers: size, key hash, expiry) is held in per-page columns, one per meta key, so 1 M
// entries with two numeric meta fields take ~32 MB of typed arrays instead of ~1 M objects (~150 MB of heap).
// Iteration is in seq order (what the log's readers rely on: first entry, deletion up to a seq). The pages are
// also what a clean close writes as the index snapshot (snapshot.ts) and what an open restores from it.
import type { MessageId, QueueEntryMeta } from "./types.ts";

export const PAGE = 4096;

/**
 * The id of an entry whose body is inside it (appendMessage: no shared body, no reference to count). Message ids
 * are never negative.
 */
export const BODY_INSIDE = -1;

/** A numeric meta column (NaN: absent in that slot) or a boolean one (0 absent, 1 false, 2 true). */
export type MetaColumn =
  | { readonly kind: "num"; readonly data: Float64Array }
  | { readonly kind: "bool"; readonly data: Uint8Array };

export interface SeqPage {
  readonly index: number;
  readonly ids: Float64Array;
  /** Append times (ms since the epoch). */
  readonly at: Float64Array;
  /** Meta columns by key. */
  readonly cols: Map<string, MetaColumn>;
  /** Metas the columns cannot hold (a string or NaN value): slot → meta, whole. Rare: never for the queue engine's. */
  readonly odd: Map<number, QueueEntryMeta>;
  count: number;
}

export function newPage(index: number): SeqPage {
  return {
    index,
    ids: new Float64Array(PAGE).fill(NaN),
    at: new Float64Array(PAGE),
    cols: new Map(),
    odd: new Map(),
    count: 0,
  };
}

export class SeqIndex implements Iterable<[number, MessageId]> {
  /** Pages by index, in ascending index order (new pages come last: seqs only grow; see #insertPage). */
  #pages = new Map<number, SeqPage>();
  #maxIndex = -1;
  #size = 0;
  /** The page last used (appends and acks walk seqs in order). */
  #last: SeqPage | undefined;
  /**
   * The last page that emptied, left in place (count 0; at most one): a log whose consumers keep up empties its
   * newest page again and again, and dropping it cost a fresh page at the next append (two 32 KB Float64Arrays, a
   * meta column, two Maps: ~100 KB of zeroed memory, per message when the queue keeps draining to empty).
   */
  #idle: SeqPage | undefined;

  /** An index over pages read back from a snapshot (ascending indexes, counts as given). */
  static fromPages(pages: Iterable<SeqPage>): SeqIndex {
    const x = new SeqIndex();
    for (const p of pages) {
      if (p.index <= x.#maxIndex || p.count <= 0)
        throw new RangeError(`snapshot page ${p.index} out of order or empty`);
      x.#pages.set(p.index, p);
      x.#maxIndex = p.index;
      x.#size += p.count;
    }
    return x;
  }

  get size(): number {
    return this.#size;
  }

  /** The live pages, ascending (the snapshot writer's input; not to be modified). */
  *pages(): IterableIterator<SeqPage> {
    for (const p of this.#pages.values()) if (p.count > 0) yield p;
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

  set(seq: number, id: MessageId, appendedAt = 0, meta?: QueueEntryMeta): void {
    if (!Number.isSafeInteger(seq) || seq < 0) throw new RangeError(`seq ${seq} is not a safe integer`);
    let page = this.#page(seq);
    if (page === undefined) page = this.#insertPage(Math.floor(seq / PAGE));
    const o = seq - page.index * PAGE;
    if (Number.isNaN(page.ids[o]!)) {
      if (page.count++ === 0 && page === this.#idle) this.#idle = undefined;
      this.#size++;
    } else clearMeta(page, o);
    page.ids[o] = id;
    page.at[o] = appendedAt;
    if (meta !== undefined) setMeta(page, o, meta);
  }

  delete(seq: number): boolean {
    const page = this.#page(seq);
    if (page === undefined) return false;
    const o = seq - page.index * PAGE;
    if (Number.isNaN(page.ids[o]!)) return false;
    page.ids[o] = NaN;
    clearMeta(page, o);
    this.#size--;
    if (--page.count === 0) {
      const idle = this.#idle;
      this.#idle = page;
      if (idle !== undefined && idle !== page) {
        this.#pages.delete(idle.index);
        if (this.#last === idle) this.#last = undefined;
      }
    }
    return true;
  }

  /** Seqs in ascending order. Deleting the seq just returned while iterating is allowed. */
  *keys(): IterableIterator<number> {
    for (const [seq] of this) yield seq;
  }

  *[Symbol.iterator](): Iterator<[number, MessageId]> {
    for (const page of [...this.#pages.values()]) {
      if (page.count === 0) continue;
      const base = page.index * PAGE;
      const ids = page.ids;
      for (let o = 0; o < PAGE; o++) {
        const id = ids[o]!;
        if (!Number.isNaN(id)) yield [base + o, id];
      }
    }
  }

  /** Up to `limit` entries with seq >= fromSeq, ascending, each with its append time and meta. */
  slice(
    fromSeq: number,
    limit: number,
  ): { seq: number; messageId: MessageId; appendedAt: number; meta: QueueEntryMeta | undefined }[] {
    const out: { seq: number; messageId: MessageId; appendedAt: number; meta: QueueEntryMeta | undefined }[] = [];
    if (limit <= 0) return out;
    const first = Math.floor(Math.max(0, fromSeq) / PAGE);
    for (const page of this.#pages.values()) {
      if (page.index < first || page.count === 0) continue;
      const base = page.index * PAGE;
      for (let o = Math.max(0, fromSeq - base); o < PAGE; o++) {
        const id = page.ids[o]!;
        if (Number.isNaN(id)) continue;
        out.push({ seq: base + o, messageId: id, appendedAt: page.at[o]!, meta: getMeta(page, o) });
        if (out.length >= limit) return out;
      }
    }
    return out;
  }

  #page(seq: number): SeqPage | undefined {
    const last = this.#last;
    const index = Math.floor(seq / PAGE);
    if (last !== undefined && last.index === index) return last;
    const page = this.#pages.get(index);
    if (page !== undefined) this.#last = page;
    return page;
  }

  #insertPage(index: number): SeqPage {
    const page = newPage(index);
    this.#pages.set(index, page);
    if (index < this.#maxIndex) {
      // Out of order (not how a log grows, but kept correct): re-sort the pages once.
      this.#pages = new Map([...this.#pages].sort((a, b) => a[0] - b[0]));
    } else this.#maxIndex = index;
    this.#last = page;
    return page;
  }
}

/**
 * One pass over the meta (this runs once per queue append: a second pass to check the values first cost ~3 % of
 * the broker's main thread in the queue benchmark). A value no column can hold (a string, NaN), a key with numbers
 * and booleans in one page, or an empty meta keeps the meta whole instead, with the slot's columns cleared again.
 */
function setMeta(page: SeqPage, o: number, meta: QueueEntryMeta): void {
  let keys = 0;
  for (const k in meta) {
    const v = meta[k]!;
    const kind = typeof v === "number" ? "num" : typeof v === "boolean" ? "bool" : undefined;
    let col = page.cols.get(k);
    if (kind === undefined || (kind === "num" && Number.isNaN(v)) || (col !== undefined && col.kind !== kind)) {
      keys = 0;
      break;
    }
    if (col === undefined) {
      col =
        kind === "num"
          ? { kind, data: new Float64Array(PAGE).fill(NaN) }
          : { kind: "bool", data: new Uint8Array(PAGE) };
      page.cols.set(k, col);
    }
    if (col.kind === "num") col.data[o] = v as number;
    else col.data[o] = v === true ? 2 : 1;
    keys++;
  }
  if (keys > 0) return;
  page.odd.set(o, meta);
  for (const c of page.cols.values()) clearSlot(c, o);
}

function clearSlot(c: MetaColumn, o: number): void {
  if (c.kind === "num") c.data[o] = NaN;
  else c.data[o] = 0;
}

function clearMeta(page: SeqPage, o: number): void {
  if (page.odd.size > 0) page.odd.delete(o);
  for (const c of page.cols.values()) clearSlot(c, o);
}

function getMeta(page: SeqPage, o: number): QueueEntryMeta | undefined {
  const odd = page.odd.get(o);
  if (odd !== undefined) return odd;
  let meta: Record<string, number | boolean> | undefined;
  for (const [k, c] of page.cols) {
    if (c.kind === "num") {
      const v = c.data[o]!;
      if (!Number.isNaN(v)) (meta ??= {})[k] = v;
    } else {
      const v = c.data[o]!;
      if (v !== 0) (meta ??= {})[k] = v === 2;
    }
  }
  return meta;
}
