// The FIFO of the code base for objects: O(1) push and shift over an array with a head index. The array is compacted when
// the head passes 1024 entries and half of it (so a long-lived queue neither leaks its consumed prefix nor copies
// on every shift), and dropped when it empties. Used by session queues (src/broker/queue.ts), in-process
// subscription buffers (src/inproc/priority-buffer.ts) and ack deadlines (src/inproc/ack-deadlines.ts). (Queue
// partitions' seq lists are rings of their own: src/queues/fifo.ts.)

/** Entries consumed at the head before a compaction is considered. */
const COMPACT_AFTER = 1024;

export class Fifo<T> {
  /** Entries [head, items.length) are live. */
  protected items: (T | undefined)[] = [];
  protected head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  /** The oldest entry, or undefined when empty. */
  peek(): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > COMPACT_AFTER && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Removes and returns the oldest entry matching `pred` (O(n): for rare evictions), or undefined. */
  removeFirst(pred: (item: T) => boolean): T | undefined {
    for (let i = this.head; i < this.items.length; i++) {
      const item = this.items[i] as T;
      if (!pred(item)) continue;
      if (i === this.head) return this.shift();
      this.items.splice(i, 1);
      return item;
    }
    return undefined;
  }

  /** Removes the entries matching `pred` and returns them in order; the others keep their order. */
  removeWhere(pred: (item: T) => boolean): T[] {
    const removed: T[] = [];
    const kept: T[] = [];
    for (let i = this.head; i < this.items.length; i++) {
      const item = this.items[i] as T;
      if (pred(item)) removed.push(item);
      else kept.push(item);
    }
    if (removed.length > 0) {
      this.items = kept;
      this.head = 0;
    }
    return removed;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }

  /** Snapshot, oldest first. */
  toArray(): T[] {
    return this.items.slice(this.head) as T[];
  }

  /** Removes and yields every entry, oldest first. */
  *drain(): Generator<T> {
    while (this.head < this.items.length) yield this.shift() as T;
  }
}
