// A partition's ready seqs, ascending: a ring of seqs in a Float64Array (seqs go past 2^32), grown by doubling.
// Appends (the newest seq) and shifts (the oldest) are O(1) and allocate nothing; an insert in the middle (a
// message given back by a consumer that left, a retry coming due) and a removal (purge, a DLQ move) shift part of
// the ring. As an array with a head index (util/fifo.ts) this list re-allocated its backing store as it grew and
// sliced it when its consumed prefix passed 1,024 entries: ~140 B of garbage per message (bench:queue-engine
// --alloc).

const MIN_CAPACITY = 16;
/** An emptied ring bigger than this (32 KB) is given back. */
const SHRINK_ABOVE = 4096;

export class SeqList {
  #ring = new Float64Array(MIN_CAPACITY);
  /** Index of the oldest entry. */
  #head = 0;
  #length = 0;

  get length(): number {
    return this.#length;
  }

  /** The seq at position `i` (0 = oldest). */
  #at(i: number): number {
    return this.#ring[(this.#head + i) & (this.#ring.length - 1)]!;
  }

  #set(i: number, seq: number): void {
    this.#ring[(this.#head + i) & (this.#ring.length - 1)] = seq;
  }

  /** The oldest seq, or undefined when empty. */
  peek(): number | undefined {
    return this.#length === 0 ? undefined : this.#ring[this.#head];
  }

  shift(): number | undefined {
    if (this.#length === 0) return undefined;
    const seq = this.#ring[this.#head]!;
    this.#head = (this.#head + 1) & (this.#ring.length - 1);
    if (--this.#length === 0 && this.#ring.length > SHRINK_ABOVE) {
      this.#ring = new Float64Array(MIN_CAPACITY); // a drained backlog does not keep its ring
      this.#head = 0;
    }
    return seq;
  }

  /** Inserts `seq` keeping the list ascending (O(1) when it is the largest or the smallest); no duplicates. */
  insert(seq: number): void {
    const n = this.#length;
    if (n === this.#ring.length) this.#grow();
    if (n === 0 || this.#at(n - 1) < seq) {
      this.#set(n, seq);
      this.#length++;
      return;
    }
    const lo = this.#lowerBound(seq);
    if (lo < n && this.#at(lo) === seq) return;
    if (lo === 0) {
      this.#head = (this.#head - 1) & (this.#ring.length - 1);
      this.#ring[this.#head] = seq;
      this.#length++;
      return;
    }
    for (let i = n; i > lo; i--) this.#set(i, this.#at(i - 1));
    this.#set(lo, seq);
    this.#length++;
  }

  /** Removes `seq` if present (purge, DLQ move of a message that was waiting). */
  remove(seq: number): boolean {
    const n = this.#length;
    if (n === 0) return false;
    const lo = this.#lowerBound(seq);
    if (lo >= n || this.#at(lo) !== seq) return false;
    if (lo === 0) {
      this.shift();
      return true;
    }
    for (let i = lo; i < n - 1; i++) this.#set(i, this.#at(i + 1));
    this.#length--;
    return true;
  }

  /** The seqs, oldest first (a copy). */
  toArray(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.#length; i++) out.push(this.#at(i));
    return out;
  }

  /** Position of the first seq >= `seq` (length if none). */
  #lowerBound(seq: number): number {
    let lo = 0;
    let hi = this.#length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#at(mid) < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #grow(): void {
    const next = new Float64Array(this.#ring.length * 2);
    for (let i = 0; i < this.#length; i++) next[i] = this.#at(i);
    this.#ring = next;
    this.#head = 0;
  }
}
