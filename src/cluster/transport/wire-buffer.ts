// Little-endian field-by-field encoding for inter-node frame bodies (cluster queues' wire.ts, routing's batched
// forwards): one growing buffer per frame instead of a buffer (or a serializer call) per value.
import { deserialize, serialize } from "node:v8";

const EMPTY = Buffer.alloc(0);

/** Little-endian writes into a buffer that grows by doubling. */
export class WireWriter {
  #buf: Buffer;
  #off = 0;
  readonly #size: number;

  /** `size`: the first buffer's size (again after each take()). */
  constructor(size = 16 * 1024) {
    this.#size = size;
    this.#buf = Buffer.allocUnsafe(size);
  }

  get length(): number {
    return this.#off;
  }

  /** The bytes written so far; the next write starts a new buffer. */
  take(): Buffer {
    const out = this.#buf.subarray(0, this.#off);
    this.#buf = EMPTY;
    this.#off = 0;
    return out;
  }

  #room(n: number): void {
    if (this.#off + n <= this.#buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#size, this.#off + n));
    this.#buf.copy(next, 0, 0, this.#off);
    this.#buf = next;
  }

  u8(v: number): void {
    this.#room(1);
    this.#buf[this.#off++] = v;
  }

  u32(v: number): void {
    this.#room(4);
    this.#buf.writeUInt32LE(v, this.#off);
    this.#off += 4;
  }

  f64(v: number): void {
    this.#room(8);
    this.#buf.writeDoubleLE(v, this.#off);
    this.#off += 8;
  }

  str(s: string): void {
    this.#room(4 + s.length * 3);
    const n = this.#buf.write(s, this.#off + 4, "utf8");
    this.#buf.writeUInt32LE(n, this.#off);
    this.#off += 4 + n;
  }

  /** Advances by `n` bytes and returns where they start in `buffer` (for the caller to fill). */
  raw(n: number): number {
    this.#room(n);
    const at = this.#off;
    this.#off += n;
    return at;
  }

  /** The buffer being written (valid until the next write; see raw()). */
  get buffer(): Buffer {
    return this.#buf;
  }

  bytes(b: Buffer): void {
    this.#room(4 + b.length);
    this.#buf.writeUInt32LE(b.length, this.#off);
    b.copy(this.#buf, this.#off + 4);
    this.#off += 4 + b.length;
  }

  blob(v: unknown): void {
    this.bytes(serialize(v));
  }
}

export class WireReader {
  readonly #buf: Buffer;
  #off: number;

  constructor(buf: Buffer, off = 0) {
    this.#buf = buf;
    this.#off = off;
  }

  get offset(): number {
    return this.#off;
  }

  /** Moves past `n` bytes and returns where they start (for the caller to read). */
  skip(n: number): number {
    this.#need(n);
    const at = this.#off;
    this.#off += n;
    return at;
  }

  get done(): boolean {
    return this.#off >= this.#buf.length;
  }

  #need(n: number): void {
    if (this.#off + n > this.#buf.length) throw new RangeError("cluster queue frame truncated");
  }

  u8(): number {
    this.#need(1);
    return this.#buf[this.#off++]!;
  }

  u32(): number {
    this.#need(4);
    const v = this.#buf.readUInt32LE(this.#off);
    this.#off += 4;
    return v;
  }

  f64(): number {
    this.#need(8);
    const v = this.#buf.readDoubleLE(this.#off);
    this.#off += 8;
    return v;
  }

  str(): string {
    const n = this.u32();
    this.#need(n);
    const s = this.#buf.toString("utf8", this.#off, this.#off + n);
    this.#off += n;
    return s;
  }

  /** A view of the frame (`copy`: a buffer of its own, for what outlives the frame). */
  bytes(copy: boolean): Buffer {
    const n = this.u32();
    this.#need(n);
    const view = this.#buf.subarray(this.#off, this.#off + n);
    this.#off += n;
    return copy ? Buffer.from(view) : view;
  }

  blob(): unknown {
    return deserialize(this.bytes(false));
  }
}
