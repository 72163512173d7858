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
    let lo = this.#head;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (items[mid]! < seq) lo = mid + 1;
      else hi = mid;
    }
    if (items[lo] === seq) return;
    if (lo === this.#head && this.#head > 0) {
      items[--this.#head] = seq;
      return;
    }
    items.splice(lo, 0, seq);
  }

  /** Removes `seq` if present (purge, DLQ move of a message that was waiting). */
  remove(seq: number): boolean {
    const i = this.#items.indexOf(seq, this.#head);
    if (i < 0) return false;
    this.#items.splice(i, 1);
    return true;
  }

  clear(): void {
    this.#items = [];
    this.#head = 0;
  }

  toArray(): number[] {
    return this.#items.slice(this.#head);
  }
}
