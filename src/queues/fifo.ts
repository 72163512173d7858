// Ascending list of message seqs ready for delivery, with O(1) push/shift at the ends and an ordered insert for the
// (rare) message that comes back from a retry or a lost consumer, so a partition's order is kept.

export class SeqList {
  #items: number[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  peek(): number | undefined {
    return this.#head < this.#items.length ? this.#items[this.#head] : undefined;
  }

  shift(): number | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const v = this.#items[this.#head++]!;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return v;
  }

  /** Inserts `seq` keeping the list ascending (appends in O(1) when it is the largest). */
  insert(seq: number): void {
    const items = this.#items;
    if (items.length === this.#head || items[items.length - 1]! < seq) {
      items.push(seq);
      return;
    }
    const lo = this.#lowerBound(seq);
    if (items[lo] === seq) return;
    if (lo === this.#head && this.#head > 0) {
      items[--this.#head] = seq;
      return;
    }
    items.splice(lo, 0, seq);
  }

  /** Removes `seq` if present (purge, DLQ move of a message that was waiting). */
  remove(seq: number): boolean {
    // Binary search (the list is ascending): a removal is usually of a seq that is not here (settled messages
    // are in flight, not ready), and an indexOf over a backlog of 1 M per settlement made draining quadratic.
    const items = this.#items;
    const lo = this.#lowerBound(seq);
    if (lo >= items.length || items[lo] !== seq) return false;
    if (lo === this.#head) this.#head++;
    else items.splice(lo, 1);
    return true;
  }

  /** Index of the first item >= seq (items.length if none). */
  #lowerBound(seq: number): number {
    const items = this.#items;
    let lo = this.#head;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (items[mid]! < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  clear(): void {
    this.#items = [];
    this.#head = 0;
  }

  toArray(): number[] {
    return this.#items.slice(this.#head);
  }
}
