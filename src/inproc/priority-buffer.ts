// A subscription's buffer: one FIFO per priority level (0..9), taken highest level first, so priority costs O(1)
// per message and nothing when every message has the same priority. FIFO within a level.
//
// Each level is a ring that keeps its storage when it empties, unlike the shared Fifo (src/util/fifo.ts), which
// drops its array then: a subscription's buffer fills and empties once per microtask turn (every publish burst),
// and re-growing the array each time cost 12 ns per push + shift against 7.5 ns for the ring (10 buffers, bursts
// of 256). A ring larger than RING_KEEP is released when it empties, so a burst does not pin its memory.
import { PRIORITY_LEVELS } from "./priority.ts";

const RING_MIN = 16;
/** Slots a ring may keep while empty (a 1024-message buffer's worth: 8 KiB of pointers). */
const RING_KEEP = 1024;

class Ring<T> {
  #items: (T | undefined)[] = new Array<T | undefined>(RING_MIN).fill(undefined);
  #mask = RING_MIN - 1;
  #head = 0;
  length = 0;

  push(item: T): void {
    if (this.length > this.#mask) this.#grow();
    this.#items[(this.#head + this.length) & this.#mask] = item;
    this.length++;
  }

  shift(): T | undefined {
    if (this.length === 0) return undefined;
    const items = this.#items;
    const item = items[this.#head];
    items[this.#head] = undefined;
    this.#head = (this.#head + 1) & this.#mask;
    if (--this.length === 0) {
      this.#head = 0;
      if (this.#mask >= RING_KEEP) this.#reset();
    }
    return item;
  }

  #grow(): void {
    const old = this.#items;
    const n = old.length;
    const items = new Array<T | undefined>(n * 2).fill(undefined);
    for (let i = 0; i < n; i++) items[i] = old[(this.#head + i) & this.#mask];
    this.#items = items;
    this.#mask = n * 2 - 1;
    this.#head = 0;
  }

  #reset(): void {
    this.#items = new Array<T | undefined>(RING_MIN).fill(undefined);
    this.#mask = RING_MIN - 1;
    this.#head = 0;
  }
}

export class PriorityBuffer<T> {
  readonly #levels: Ring<T>[] = [];
  #length = 0;
  /** Highest level that may hold items (an upper bound; levels above it are empty). */
  #top = -1;

  constructor() {
    // Rings are made on first use of their level: most subscriptions see one priority.
    for (let p = 0; p < PRIORITY_LEVELS; p++) this.#levels.push(EMPTY);
  }

  get length(): number {
    return this.#length;
  }

  push(item: T, priority: number): void {
    let level = this.#levels[priority]!;
    if (level === EMPTY) level = this.#levels[priority] = new Ring<T>();
    level.push(item);
    this.#length++;
    if (priority > this.#top) this.#top = priority;
  }

  /** The oldest item of the highest non-empty level. */
  shift(): T | undefined {
    while (this.#top >= 0) {
      const level = this.#levels[this.#top]!;
      if (level.length > 0) {
        this.#length--;
        return level.shift();
      }
      this.#top--;
    }
    return undefined;
  }

  /** The oldest item of the lowest non-empty level (what "drop oldest" evicts: the least urgent first). */
  shiftLowest(): T | undefined {
    for (let p = 0; p <= this.#top; p++) {
      const level = this.#levels[p]!;
      if (level.length > 0) {
        this.#length--;
        return level.shift();
      }
    }
    return undefined;
  }

  /** Removes and returns everything, highest level first. */
  *drain(): Generator<T> {
    for (let p = this.#top; p >= 0; p--) {
      const level = this.#levels[p]!;
      while (level.length > 0) {
        this.#length--;
        yield level.shift()!;
      }
    }
    this.#top = -1;
  }
}

/** The placeholder of a level never used (shared, always empty: never pushed to). */
const EMPTY = new Ring<never>();
