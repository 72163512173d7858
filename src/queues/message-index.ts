// The compact in-memory index of one queue's messages: what the engine decides with (which seqs exist, their
// partition, size, append time, expiry, dead-letter flag), without the bodies, which stay in storage (bodies.ts
// keeps the recent ones). A struct of arrays in chunks of 1024 seqs, 15 bytes per seq slot (23 once a message of
// the chunk has an expiry), where a Map entry + message object + record + Buffer cost ~400 bytes of heap for a
// 100-byte message (bench/queues/backlog.ts measures it; docs/benchmarks.md has the figures).
//
// Seqs are dense (1, 2, 3 … per queue, never reused), so a seq's slot is arithmetic; a chunk goes with its last
// message. Chunks are only ever created for the newest seq (appends; recovery restores in seq order), so the Map's
// insertion order is seq order and iteration is ascending.

const CHUNK_BITS = 10;
const CHUNK = 1 << CHUNK_BITS;
const MASK = CHUNK - 1;

const PRESENT = 1;
const DEAD_LETTER = 2;

class Chunk {
  readonly enqueuedAt = new Float64Array(CHUNK);
  /** Allocated with the chunk's first message that expires (NaN = no expiry). */
  expiresAt: Float64Array | undefined;
  readonly size = new Uint32Array(CHUNK);
  readonly partition = new Uint16Array(CHUNK);
  readonly flags = new Uint8Array(CHUNK);
  count = 0;
  /** No slot below it is present (the oldest messages leave first, usually). */
  lo = 0;
}

/** What the index records about one message. */
export interface IndexedMessage {
  readonly seq: number;
  readonly partition: number;
  readonly size: number;
  readonly enqueuedAt: number;
  readonly expiresAt: number | undefined;
  readonly deadLetter: boolean;
}

export class MessageIndex {
  readonly #chunks = new Map<number, Chunk>();
  #count = 0;
  /**
   * The last chunk that emptied, left in place, and a chunk kept for reuse. A queue whose consumers keep up empties
   * its newest chunk again and again (at 10k msg/s paced, nearly after every message): deleting it and allocating
   * a fresh one at the next append cost four typed arrays (15 KB of zeroed off-heap memory) per message.
   */
  #idle: Chunk | undefined;
  #idleIndex = 0;
  #spare: Chunk | undefined;

  get count(): number {
    return this.#count;
  }

  /** The chunk holding `seq` when `seq` is present (no allocation: the slot is `seq & MASK`). */
  #chunk(seq: number): Chunk | undefined {
    const c = this.#chunks.get(Math.floor(seq / CHUNK));
    return c === undefined || (c.flags[seq & MASK]! & PRESENT) === 0 ? undefined : c;
  }

  add(m: IndexedMessage): void {
    this.put(m.seq, m.partition, m.size, m.enqueuedAt, m.expiresAt, m.deadLetter);
  }

  /** add() without the object (once per appended message). */
  put(
    seq: number,
    partition: number,
    size: number,
    enqueuedAt: number,
    expiresAt: number | undefined,
    deadLetter: boolean,
  ): void {
    const n = Math.floor(seq / CHUNK);
    let c = this.#chunks.get(n);
    if (c === undefined) {
      c = this.#spare ?? new Chunk(); // a spare's flags are all clear (it emptied); its other slots are rewritten
      this.#spare = undefined;
      c.lo = seq & MASK;
      this.#chunks.set(n, c);
    }
    const i = seq & MASK;
    if ((c.flags[i]! & PRESENT) !== 0) return;
    if (c === this.#idle) this.#idle = undefined;
    if (i < c.lo) c.lo = i;
    c.flags[i] = PRESENT | (deadLetter ? DEAD_LETTER : 0);
    c.enqueuedAt[i] = enqueuedAt;
    c.size[i] = size;
    c.partition[i] = partition;
    if (expiresAt !== undefined) {
      c.expiresAt ??= new Float64Array(CHUNK).fill(Number.NaN);
      c.expiresAt[i] = expiresAt;
    } else if (c.expiresAt !== undefined) c.expiresAt[i] = Number.NaN;
    c.count++;
    this.#count++;
  }

  has(seq: number): boolean {
    const c = this.#chunks.get(Math.floor(seq / CHUNK));
    return c !== undefined && (c.flags[seq & MASK]! & PRESENT) !== 0;
  }

  /** Removes `seq`; its size (bytes), or -1 when it was not there. */
  delete(seq: number): number {
    const n = Math.floor(seq / CHUNK);
    const c = this.#chunks.get(n);
    if (c === undefined) return -1;
    const i = seq & MASK;
    if ((c.flags[i]! & PRESENT) === 0) return -1;
    c.flags[i] = 0;
    this.#count--;
    if (--c.count === 0) {
      const idle = this.#idle;
      if (idle !== undefined && idle !== c) {
        this.#chunks.delete(this.#idleIndex);
        this.#spare = idle;
      }
      this.#idle = c;
      this.#idleIndex = n;
      c.lo = 0;
    }
    return c.size[i]!;
  }

  /** The message at `seq`, or undefined. */
  get(seq: number): IndexedMessage | undefined {
    const c = this.#chunk(seq);
    if (c === undefined) return undefined;
    const i = seq & MASK;
    const x = c.expiresAt?.[i];
    return {
      seq,
      partition: c.partition[i]!,
      size: c.size[i]!,
      enqueuedAt: c.enqueuedAt[i]!,
      expiresAt: x === undefined || Number.isNaN(x) ? undefined : x,
      deadLetter: (c.flags[i]! & DEAD_LETTER) !== 0,
    };
  }

  partitionOf(seq: number): number {
    return this.#chunk(seq)?.partition[seq & MASK] ?? 0;
  }

  sizeOf(seq: number): number {
    return this.#chunk(seq)?.size[seq & MASK] ?? 0;
  }

  /** Append time (ms), or NaN when `seq` is not held. */
  enqueuedAt(seq: number): number {
    return this.#chunk(seq)?.enqueuedAt[seq & MASK] ?? Number.NaN;
  }

  expiresAt(seq: number): number | undefined {
    const x = this.#chunk(seq)?.expiresAt?.[seq & MASK];
    return x === undefined || Number.isNaN(x) ? undefined : x;
  }

  isDeadLetter(seq: number): boolean {
    const c = this.#chunk(seq);
    return c !== undefined && (c.flags[seq & MASK]! & DEAD_LETTER) !== 0;
  }

  /** The smallest seq held, or undefined. */
  first(): number | undefined {
    for (const [n, c] of this.#chunks) {
      if (c.count === 0) continue;
      for (let i = c.lo; i < CHUNK; i++) {
        if ((c.flags[i]! & PRESENT) !== 0) {
          c.lo = i;
          return n * CHUNK + i;
        }
      }
    }
    return undefined;
  }

  /** Seqs held, ascending. Deleting the current (or any) seq while iterating is allowed. */
  *seqs(): Generator<number, void, undefined> {
    for (const [n, c] of this.#chunks) {
      if (c.count === 0) continue;
      const base = n * CHUNK;
      for (let i = c.lo; i < CHUNK; i++) if ((c.flags[i]! & PRESENT) !== 0) yield base + i;
    }
  }

  clear(): void {
    this.#chunks.clear();
    this.#count = 0;
    this.#idle = undefined;
  }
}
