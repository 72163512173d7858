// A map keyed by dense positive integers (queue seqs): slots in pages of 1,024, found by arithmetic. The queue path
// puts and deletes a handful of entries per message (pending deliveries, unwritten appends, cached bodies) in maps
// that keep about the same size: in a Map each put/delete pair costs a hash, and every few hundred pairs a rehash
// that allocates a new table (sampled: ~60–150 bytes of garbage per message per map, bench:queue-engine --alloc).
// Here a put or a delete is an array store, and a page (8 KB) is allocated per 1,024 seqs and dropped when empty.
//
// Iteration is in ascending key order (not insertion order). Deleting while iterating is allowed. Values may not be
// undefined (an empty slot).

const BITS = 10;
const SIZE = 1 << BITS;
const MASK = SIZE - 1;

class Page<V> {
  readonly slots: (V | undefined)[] = new Array<V | undefined>(SIZE).fill(undefined);
  count = 0;
  constructor(public index: number) {}
}

export class SeqMap<V> {
  readonly #pages = new Map<number, Page<V>>();
  #size = 0;
  /** The page used last (appends and settlements cluster on the newest page). */
  #last: Page<V> | undefined;
  /** An emptied page kept for the next one needed (a map that empties and fills again allocates nothing). */
  #spare: Page<V> | undefined;
  /**
   * The last page that emptied, left in place: a map that keeps few entries (a group's settled seqs above its
   * floor) empties and refills the same page once per message, and dropping and re-adding it each time churned
   * the page index Map at the message rate. At most one empty page stays; it is dropped when another empties.
   */
  #idle: Page<V> | undefined;

  get size(): number {
    return this.#size;
  }

  #page(key: number): Page<V> | undefined {
    const index = Math.floor(key / SIZE);
    const last = this.#last;
    if (last !== undefined && last.index === index) return last;
    const p = this.#pages.get(index);
    if (p !== undefined) this.#last = p;
    return p;
  }

  get(key: number): V | undefined {
    return this.#page(key)?.slots[key & MASK];
  }

  has(key: number): boolean {
    return this.get(key) !== undefined;
  }

  set(key: number, value: V): this {
    if (!Number.isSafeInteger(key) || key < 0) throw new RangeError(`SeqMap key ${key} is not a seq`);
    let p = this.#page(key);
    if (p === undefined) {
      const index = Math.floor(key / SIZE);
      p = this.#spare ?? new Page<V>(index);
      this.#spare = undefined;
      p.index = index;
      this.#pages.set(index, p);
      this.#last = p;
    }
    const i = key & MASK;
    if (p.slots[i] === undefined) {
      if (p.count++ === 0 && p === this.#idle) this.#idle = undefined;
      this.#size++;
    }
    p.slots[i] = value;
    return this;
  }

  delete(key: number): boolean {
    const p = this.#page(key);
    const i = key & MASK;
    if (p === undefined || p.slots[i] === undefined) return false;
    p.slots[i] = undefined;
    this.#size--;
    if (--p.count === 0) {
      const idle = this.#idle;
      this.#idle = p;
      if (idle !== undefined && idle !== p) this.#drop(idle);
    }
    return true;
  }

  #drop(p: Page<V>): void {
    this.#pages.delete(p.index);
    if (this.#last === p) this.#last = undefined;
    this.#spare = p; // all its slots are empty again
  }

  clear(): void {
    if (this.#size === 0) return;
    for (const p of this.#pages.values()) {
      if (this.#spare === undefined && p.count <= SIZE / 8) {
        for (let i = 0; i < SIZE; i++) p.slots[i] = undefined;
        p.count = 0;
        this.#spare = p;
      }
    }
    this.#pages.clear();
    this.#last = undefined;
    this.#idle = undefined;
    this.#size = 0;
  }

  /** The entry with the smallest key (a scan of the lowest page: for timers, not per message), or undefined. */
  first(): [number, V] | undefined {
    let low: Page<V> | undefined;
    for (const p of this.#pages.values()) if (p.count > 0 && (low === undefined || p.index < low.index)) low = p;
    if (low === undefined) return undefined;
    const slots = low.slots;
    for (let i = 0; i < SIZE; i++) {
      const v = slots[i];
      if (v !== undefined) return [low.index * SIZE + i, v];
    }
    return undefined;
  }

  /** Calls `fn` for every entry in ascending key order, without an entry array per call (deleting is allowed). */
  forEach(fn: (value: V, key: number) => void): void {
    const pages = this.#pages;
    if (pages.size === 0) return;
    const indexes = pages.size === 1 ? [this.#pages.keys().next().value!] : [...pages.keys()].sort((a, b) => a - b);
    for (const index of indexes) {
      const p = pages.get(index);
      if (p === undefined) continue;
      const slots = p.slots;
      const base = index * SIZE;
      for (let i = 0; i < SIZE; i++) {
        const v = slots[i];
        if (v !== undefined) fn(v, base + i);
      }
    }
  }

  *entries(): IterableIterator<[number, V]> {
    const indexes = [...this.#pages.keys()].sort((a, b) => a - b);
    for (const index of indexes) {
      const p = this.#pages.get(index);
      if (p === undefined) continue;
      const slots = p.slots;
      const base = index * SIZE;
      for (let i = 0; i < SIZE; i++) {
        const v = slots[i];
        if (v !== undefined) yield [base + i, v];
      }
    }
  }

  *keys(): IterableIterator<number> {
    for (const [k] of this.entries()) yield k;
  }

  *values(): IterableIterator<V> {
    for (const [, v] of this.entries()) yield v;
  }

  [Symbol.iterator](): IterableIterator<[number, V]> {
    return this.entries();
  }
}
