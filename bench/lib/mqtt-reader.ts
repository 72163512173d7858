// Minimal incremental MQTT reader for the load generator: it splits a byte stream into packets and,
// for PUBLISH, only locates the payload and packet id (the topic is skipped, never decoded). Anything
// else is handed over raw. It must stay cheap: at a million messages per second every call counts.
// A packet cut by a chunk boundary is completed in a reused carry buffer, so chunks are never
// concatenated (copying a 64 KB chunk per read would cost more than parsing it). The sink must not
// keep references to `buf` beyond its call: chunks and the carry buffer are reused.

import { PACKET, PROTOCOL, type ProtocolLevel } from "./mqtt-packets.ts";

export interface ReaderSink {
  /** `buf[payloadStart, payloadEnd)` is the application payload; `packetId` is 0 for QoS 0. */
  onPublish(buf: Buffer, payloadStart: number, payloadEnd: number, qos: number, packetId: number): void;
  /** Any other packet; `buf[bodyStart, bodyEnd)` is its variable header + payload. */
  onControl(type: number, flags: number, buf: Buffer, bodyStart: number, bodyEnd: number): void;
}

export class MalformedPacketError extends Error {
  readonly code = "BENCH_MALFORMED";
}

/** Total size of the packet starting at `pos` (fixed header included), or -1 if its header is incomplete. */
function packetSize(buf: Buffer, pos: number, end: number): number {
  let len = 0;
  let mult = 1;
  for (let k = 0; k < 4; k++) {
    const i = pos + 1 + k;
    if (i >= end) return -1;
    const b = buf[i]!;
    len += (b & 0x7f) * mult;
    mult *= 128;
    if ((b & 0x80) === 0) return len + k + 2;
  }
  throw new MalformedPacketError("remaining length longer than 4 bytes"); // MQTT 2.2.3
}

export class PacketReader {
  private carry = Buffer.allocUnsafe(256);
  private carryLen = 0;
  private readonly v5: boolean;

  constructor(
    protocol: ProtocolLevel,
    private readonly sink: ReaderSink,
  ) {
    this.v5 = protocol === PROTOCOL.v5;
  }

  /** Bytes held back because the last packet of the previous chunk was incomplete. */
  get buffered(): number {
    return this.carryLen;
  }

  feed(chunk: Buffer): void {
    let pos = 0;
    const end = chunk.length;
    if (this.carryLen > 0) {
      pos = this.completeCarry(chunk);
      if (pos < 0) return; // still incomplete: the whole chunk went into the carry
    }
    while (pos < end) {
      const size = packetSize(chunk, pos, end);
      if (size < 0 || pos + size > end) break;
      this.dispatch(chunk, pos, pos + size);
      pos += size;
    }
    if (pos < end) this.append(chunk, pos, end);
  }

  /** Tops the carry up from `chunk` and dispatches it once whole; returns bytes of `chunk` used, or -1. */
  private completeCarry(chunk: Buffer): number {
    let used = 0;
    // First make the fixed header complete (at most 5 bytes), then the rest of the packet.
    let size = packetSize(this.carry, 0, this.carryLen);
    while (size < 0 && used < chunk.length) {
      this.append(chunk, used, used + 1);
      used++;
      size = packetSize(this.carry, 0, this.carryLen);
    }
    if (size < 0) return -1;
    const need = Math.min(size - this.carryLen, chunk.length - used);
    this.append(chunk, used, used + need);
    used += need;
    if (this.carryLen < size) return -1;
    this.carryLen = 0;
    this.dispatch(this.carry, 0, size);
    return used;
  }

  private append(src: Buffer, start: number, end: number): void {
    const n = end - start;
    if (this.carryLen + n > this.carry.length) {
      const next = Buffer.allocUnsafe(Math.max(this.carry.length * 2, this.carryLen + n));
      this.carry.copy(next, 0, 0, this.carryLen);
      this.carry = next;
    }
    src.copy(this.carry, this.carryLen, start, end);
    this.carryLen += n;
  }

  private dispatch(buf: Buffer, pos: number, next: number): void {
    const b0 = buf[pos]!;
    let i = pos + 2;
    while ((buf[i - 1]! & 0x80) !== 0) i++; // skip the Remaining Length bytes
    const type = b0 >> 4;
    if (type !== PACKET.publish) {
      this.sink.onControl(type, b0 & 0x0f, buf, i, next);
      return;
    }
    const qos = (b0 >> 1) & 3;
    let p = i + 2 + ((buf[i]! << 8) | buf[i + 1]!); // skip the topic
    let packetId = 0;
    if (qos > 0) {
      packetId = (buf[p]! << 8) | buf[p + 1]!;
      p += 2;
    }
    if (this.v5) {
      let propLen = 0;
      let m = 1;
      for (let k = 0; k < 4; k++) {
        const b = buf[p++]!;
        propLen += (b & 0x7f) * m;
        m *= 128;
        if ((b & 0x80) === 0) break;
      }
      p += propLen;
    }
    if (p > next) throw new MalformedPacketError("PUBLISH header longer than the packet");
    this.sink.onPublish(buf, p, next, qos, packetId);
  }
}

/** Reads a Variable Byte Integer at `pos`; returns [value, bytesUsed]. */
export function readVarint(buf: Buffer, pos: number): [number, number] {
  let value = 0;
  let mult = 1;
  for (let k = 0; k < 4; k++) {
    const b = buf[pos + k];
    if (b === undefined) throw new MalformedPacketError("truncated varint");
    value += (b & 0x7f) * mult;
    mult *= 128;
    if ((b & 0x80) === 0) return [value, k + 1];
  }
  throw new MalformedPacketError("varint longer than 4 bytes");
}
