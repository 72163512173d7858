// Minimal incremental MQTT reader for the load generator: it splits a byte stream into packets and,
// for PUBLISH, only locates the payload and packet id (the topic is skipped, never decoded). Anything
// else is handed over raw. It must stay cheap: at a million messages per second every call counts.

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

export class PacketReader {
  private pending: Buffer | null = null;

  constructor(
    private readonly protocol: ProtocolLevel,
    private readonly sink: ReaderSink,
  ) {}

  /** Bytes held back because the last packet of the previous chunk was incomplete. */
  get buffered(): number {
    return this.pending?.length ?? 0;
  }

  feed(chunk: Buffer): void {
    let buf = chunk;
    if (this.pending !== null) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    const end = buf.length;
    const v5 = this.protocol === PROTOCOL.v5;
    let pos = 0;
    while (pos + 2 <= end) {
      const b0 = buf[pos]!;
      // Remaining Length: at most 4 bytes (MQTT 2.2.3).
      let len = 0;
      let mult = 1;
      let i = pos + 1;
      let complete = false;
      for (let k = 0; k < 4 && i < end; k++) {
        const b = buf[i++]!;
        len += (b & 0x7f) * mult;
        mult *= 128;
        if ((b & 0x80) === 0) {
          complete = true;
          break;
        }
        if (k === 3) throw new MalformedPacketError("remaining length longer than 4 bytes");
      }
      if (!complete) break;
      const next = i + len;
      if (next > end) break;
      const type = b0 >> 4;
      if (type === PACKET.publish) {
        const qos = (b0 >> 1) & 3;
        let p = i + 2 + ((buf[i]! << 8) | buf[i + 1]!); // skip the topic
        let packetId = 0;
        if (qos > 0) {
          packetId = (buf[p]! << 8) | buf[p + 1]!;
          p += 2;
        }
        if (v5) {
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
      } else {
        this.sink.onControl(type, b0 & 0x0f, buf, i, next);
      }
      pos = next;
    }
    // Keep a private copy of the incomplete tail: `chunk` belongs to the socket.
    if (pos < end) this.pending = Buffer.from(buf.subarray(pos));
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
