// Inter-node frames: `u32 length (big endian) | u8 type | body`, where length counts the type byte and the body.
// The decoder is incremental (any chunking of the stream gives the same frames) and zero-copy when a frame lies in
// one chunk (the body is a subarray of it; a handler that keeps it past the call should copy it).
import { ClusterError, ClusterErrorCode } from "../errors.ts";

export const FRAME_HEADER_BYTES = 5;
/** Largest frame accepted (type + body): one MQTT packet is at most 256 MiB; inter-node frames stay far smaller. */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;

/** The 5-byte header of a frame whose body is `bodyBytes` long. */
export function frameHeader(type: number, bodyBytes: number): Buffer {
  const h = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  h.writeUInt32BE(bodyBytes + 1, 0);
  h.writeUInt8(type, 4);
  return h;
}

/** One frame as a single buffer (tests, small control frames). */
export function encodeFrame(type: number, body: Buffer): Buffer {
  return Buffer.concat([frameHeader(type, body.length), body]);
}

export class FrameDecoder {
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  constructor(
    private readonly onFrame: (type: number, body: Buffer) => void,
    private readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES,
  ) {}

  /** Feeds bytes; calls onFrame for each complete frame. Throws CLUSTER_BAD_FRAME on an impossible length. */
  push(chunk: Buffer): void {
    let off = 0;
    if (this.#pendingBytes > 0) {
      // A frame in progress takes only the bytes it still needs from this chunk (one copy of that frame); the rest
      // of the chunk decodes in place. (Joining the whole chunk to the remainder copied every byte received once
      // more: a chunk nearly always ends inside a frame.)
      if (this.#pendingBytes < 4) {
        off = Math.min(4 - this.#pendingBytes, chunk.length);
        this.#pending.push(chunk.subarray(0, off));
        this.#pendingBytes += off;
        if (this.#pendingBytes < 4) return;
        this.#pending = [Buffer.concat(this.#pending, this.#pendingBytes)];
      }
      // Invariant: with 4 bytes or more pending, the first pending buffer holds the whole length.
      const len = this.#pending[0]!.readUInt32BE(0);
      this.#check(len);
      const total = 4 + len;
      const take = Math.min(total - this.#pendingBytes, chunk.length - off);
      this.#pending.push(chunk.subarray(off, off + take));
      this.#pendingBytes += take;
      off += take;
      if (this.#pendingBytes < total) return;
      const frame = Buffer.concat(this.#pending, total);
      this.#pending = [];
      this.#pendingBytes = 0;
      this.onFrame(frame[4]!, frame.subarray(FRAME_HEADER_BYTES));
    }
    const buf = chunk;
    while (buf.length - off >= 4) {
      const len = buf.readUInt32BE(off);
      this.#check(len);
      if (buf.length - off - 4 < len) break;
      const type = buf[off + 4]!;
      const body = buf.subarray(off + FRAME_HEADER_BYTES, off + 4 + len);
      off += 4 + len;
      this.onFrame(type, body);
    }
    if (off < buf.length) {
      this.#pending = [buf.subarray(off)];
      this.#pendingBytes = buf.length - off;
    }
  }

  /** Bytes of an incomplete frame held. */
  get buffered(): number {
    return this.#pendingBytes;
  }

  #check(len: number): void {
    if (len < 1 || len > this.maxFrameBytes) {
      throw new ClusterError(
        ClusterErrorCode.BadFrame,
        `frame length ${len} outside 1..${this.maxFrameBytes}: not a Wharf inter-node stream`,
      );
    }
  }
}
