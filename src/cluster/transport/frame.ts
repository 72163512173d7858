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

/** Writes the header of a frame whose body is `bodyBytes` long into the first FRAME_HEADER_BYTES of `b`. */
export function writeFrameHeader(b: Buffer, type: number, bodyBytes: number): void {
  b.writeUInt32BE(bodyBytes + 1, 0);
  b.writeUInt8(type, 4);
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
    let buf = chunk;
    if (this.#pendingBytes > 0) {
      this.#pending.push(chunk);
      this.#pendingBytes += chunk.length;
      if (this.#pendingBytes < FRAME_HEADER_BYTES) return;
      const need = this.#pending[0]!.length >= 4 ? this.#pending[0]!.readUInt32BE(0) : -1;
      // Join only once the frame in progress is complete (or its length is unknown): no quadratic copying.
      if (need >= 0 && this.#pendingBytes < need + 4) {
        this.#check(need);
        return;
      }
      buf = Buffer.concat(this.#pending, this.#pendingBytes);
      this.#pending = [];
      this.#pendingBytes = 0;
    }
    let off = 0;
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
