// A binary min-heap of (deadline, item): the engine's and each group's timers without scans. Entries are never
// removed from the middle: a caller re-checks a popped entry against its own state and skips it when stale (the
// item was settled, or rescheduled — which pushed a fresh entry). Push and pop are O(log n).

export class DeadlineHeap<T> {
  #at: number[] = [];
  #items: T[] = [];

  get size(): number {
    return this.#at.length;
  }

  /** The earliest deadline (Infinity when empty). */
  peekAt(): number {
    return this.#at.length === 0 ? Number.POSITIVE_INFINITY : this.#at[0]!;
  }

  peek(): T | undefined {
    return this.#items[0];
  }

  push(at: number, item: T): void {
    const at_ = this.#at;
    const items = this.#items;
    let i = at_.length;
    at_.push(at);
    items.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (at_[parent]! <= at) break;
      at_[i] = at_[parent]!;
      items[i] = items[parent]!;
      i = parent;
    }
    at_[i] = at;
    items[i] = item;
  }

  /** Removes and returns the entry with the earliest deadline. */
  pop(): T | undefined {
    const at_ = this.#at;
    const items = this.#items;
    const n = at_.length;
    if (n === 0) return undefined;
    const top = items[0];
    const lastAt = at_.pop()!;
    const lastItem = items.pop()!;
    if (n > 1) {
      let i = 0;
      const m = n - 1;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && at_[c + 1]! < at_[c]!) c++;
        if (at_[c]! >= lastAt) break;
        at_[i] = at_[c]!;
        items[i] = items[c]!;
        i = c;
      }
      at_[i] = lastAt;
      items[i] = lastItem;
    }
    return top;
  }

  clear(): void {
    this.#at = [];
    this.#items = [];
  }
}
