// Builds batches of pre-encoded PUBLISH packets: per message, copy a ready header (topic, flags),
// patch the packet id, copy the payload template and stamp stream id / sequence / send time.

import type { Writable } from "node:stream";
import { PAYLOAD_HEADER, encodePublishHeader, type ProtocolLevel, type PublishHeader } from "./mqtt-packets.ts";

const WHOLE_PACKET_TEMPLATES_BYTES = 4 * 1024 * 1024;

export interface PublisherTopic {
  topic: string;
  streamId: number;
  /** How many subscribers receive each message on this topic. */
  fanout: number;
}

export class PublishBuilder {
  private readonly headers: PublishHeader[];
  private readonly streamIds: Int32Array;
  private readonly fanouts: Int32Array;
  private readonly payload: Buffer;
  private readonly maxPacket: number;
  private readonly packets: Buffer[] | null = null;
  private readonly pool: Buffer[] = [];
  private idx = 0;
  private packetId = 0;
  /** Messages built so far. */
  built = 0;
  /** Deliveries those messages should cause (sum of fan-outs). */
  expectedDeliveries = 0;

  constructor(
    topics: readonly PublisherTopic[],
    readonly qos: 0 | 1,
    protocol: ProtocolLevel,
    readonly payloadSize: number,
    /** Per stream id: the next sequence number, i.e. messages sent so far (shared by all publishers). */
    private readonly seqs: Uint32Array,
  ) {
    if (topics.length === 0) throw new Error("a publisher needs at least one topic");
    if (payloadSize < PAYLOAD_HEADER.size) throw new Error(`payload must be >= ${PAYLOAD_HEADER.size} bytes`);
    this.headers = topics.map((t) => encodePublishHeader(t.topic, qos, protocol, payloadSize));
    this.streamIds = Int32Array.from(topics, (t) => t.streamId);
    this.fanouts = Int32Array.from(topics, (t) => t.fanout);
    this.maxPacket = Math.max(...this.headers.map((h) => h.packetSize));
    // Filler is a readable pattern, so a packet capture of a bench run is easy to inspect.
    this.payload = Buffer.alloc(payloadSize, "wharf-bench ");
    // Whole-packet templates (one copy per message instead of two) when they fit in a few MB.
    if (topics.length * this.maxPacket <= WHOLE_PACKET_TEMPLATES_BYTES) {
      this.packets = this.headers.map((h) => Buffer.concat([h.bytes, this.payload]));
    }
  }

  /** Packets per batch so that one write carries about `targetBytes`. */
  batchCount(targetBytes: number): number {
    return Math.max(1, Math.floor(targetBytes / this.maxPacket));
  }

  /**
   * Builds `n` messages into a pooled buffer and writes them; the buffer returns to the pool when the
   * socket is done with it. Fresh 32 KB buffers per write would cost page faults and GC work that a
   * generator pushing a million messages per second cannot afford. Returns socket.write's result.
   */
  writeTo(socket: Writable, n: number, sentAt: number): boolean {
    const bytes = n * this.maxPacket;
    let backing = this.pool.pop();
    if (backing === undefined || backing.length < bytes) backing = Buffer.allocUnsafe(Math.max(bytes, 16 * 1024));
    const view = this.fill(backing, n, sentAt);
    const done = backing;
    return socket.write(view, () => {
      if (this.pool.length < 8) this.pool.push(done);
    });
  }

  /** `n` consecutive PUBLISH packets in a new buffer, stamped with `sentAt` (performance.now()). */
  build(n: number, sentAt: number): Buffer {
    return this.fill(Buffer.allocUnsafe(n * this.maxPacket), n, sentAt);
  }

  private fill(buf: Buffer, n: number, sentAt: number): Buffer {
    const headers = this.headers;
    const count = headers.length;
    const payload = this.payload;
    const packets = this.packets;
    let off = 0;
    let idx = this.idx;
    for (let k = 0; k < n; k++) {
      const h = headers[idx]!;
      if (packets !== null) buf.set(packets[idx]!, off);
      else buf.set(h.bytes, off);
      if (h.packetIdOffset >= 0) {
        const pid = (this.packetId = this.packetId === 0xffff ? 1 : this.packetId + 1);
        buf[off + h.packetIdOffset] = pid >> 8;
        buf[off + h.packetIdOffset + 1] = pid & 0xff;
      }
      off += h.bytes.length;
      if (packets === null) buf.set(payload, off);
      const stream = this.streamIds[idx]!;
      buf.writeUInt32LE(stream, off + PAYLOAD_HEADER.streamId);
      buf.writeUInt32LE(this.seqs[stream]!++, off + PAYLOAD_HEADER.seq);
      buf.writeDoubleLE(sentAt, off + PAYLOAD_HEADER.sentAt);
      off += payload.length;
      this.expectedDeliveries += this.fanouts[idx]!;
      idx = idx + 1 === count ? 0 : idx + 1;
    }
    this.idx = idx;
    this.built += n;
    return buf.subarray(0, off);
  }
}
