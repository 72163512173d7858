// A subscription's buffer: one FIFO per priority level (0..9), taken highest level first, so priority costs O(1)
// per message and nothing when every message has the same priority. FIFO within a level.
import { Fifo } from "../util/index.ts";
import { PRIORITY_LEVELS } from "./priority.ts";

export class PriorityBuffer<T> {
  readonly #levels: Fifo<T>[] = Array.from({ length: PRIORITY_LEVELS }, () => new Fifo<T>());
  #length = 0;
  /** Highest level that may hold items (an upper bound; levels above it are empty). */
  #top = -1;

  get length(): number {
    return this.#length;
  }

  push(item: T, priority: number): void {
    this.#levels[priority]!.push(item);
    this.#length++;
    if (priority > this.#top) this.#top = priority;
  }

  /** The oldest item of the highest non-empty level. */
  shift(): T | undefined {
    while (this.#top >= 0) {
      const item = this.#levels[this.#top]!.shift();
      if (item !== undefined) {
        this.#length--;
        return item;
      }
      this.#top--;
    }
    return undefined;
  }

  /** The oldest item of the lowest non-empty level (what "drop oldest" evicts: the least urgent first). */
  shiftLowest(): T | undefined {
    for (let p = 0; p <= this.#top; p++) {
      const item = this.#levels[p]!.shift();
      if (item !== undefined) {
        this.#length--;
        return item;
      }
    }
    return undefined;
  }

  /** Removes and returns everything, highest level first. */
  *drain(): Generator<T> {
    for (let p = this.#top; p >= 0; p--) {
      for (const item of this.#levels[p]!.drain()) {
        this.#length--;
        yield item;
      }
    }
    this.#top = -1;
  }
}
