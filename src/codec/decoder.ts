// Incremental MQTT decoder: push chunks of any size, pull whole packets in order.
//
// Buffering: `head` is the chunk being read (from `pos`), `queue` holds later chunks. A packet
// that lies inside `head` is decoded in place (payload and binary fields are zero-copy views);
// only a packet spanning chunks is assembled, and only its own bytes are copied. Tiny chunks
// (under SMALL_CHUNK bytes) arriving while a packet is incomplete are gathered into a shared
// `tail` buffer, so a peer trickling bytes one at a time cannot make us hold one Buffer object
// per byte, and assembling stays linear. The packet size
// announced by the fixed header is checked against maxPacketSize before any byte of the body
// is waited for, so a header announcing 256 MB costs nothing.
import {
  decodeAck,
  decodeAuth,
  decodeConnack,
  decodeConnect,
  decodePublish,
  decodeSuback,
  decodeSubscribe,
  decodeUnsuback,
  decodeUnsubscribe,
  decodeDisconnect,
} from "./decode-packets.ts";
import { CodecError, CodecErrorCode } from "./errors.ts";
import { Reader } from "./reader.ts";
import { PacketType } from "./types.ts";
import type { Packet, ProtocolVersion } from "./types.ts";

/** Largest packet MQTT can express (src/util/limits.ts) [MQTT-2.1.4]. */
import { MAX_PACKET_SIZE } from "../util/limits.ts";
export { MAX_PACKET_SIZE };

export interface DecoderOptions {
  /** Whole-packet size limit in bytes; larger packets raise CodecError 0x95 from the fixed header alone. */
  maxPacketSize?: number;
  /** Set on client-side decoders; a server-side decoder learns it from the CONNECT it decodes. */
  protocolVersion?: ProtocolVersion;
}

const EMPTY = Buffer.alloc(0);
/**
 * One Reader for every Decoder: a body is decoded synchronously from reset() to the reset(EMPTY) after it, so no two
 * decodes overlap, and an idle connection (a storm holds thousands) does not carry a Reader of its own.
 */
const READER = new Reader();
const SMALL_CHUNK = 64;
const TAIL_SIZE = 4096;

/** Fixed header flags (low nibble) each non-PUBLISH packet type must carry [MQTT-2.1.3-1]. */
const REQUIRED_FLAGS = [-1, 0, 0, -1, 0, 0, 2, 0, 2, 0, 2, 0, 0, 0, 0, 0];
const FLAG_SPEC_REF: Partial<Record<number, string>> = {
  [PacketType.PUBREL]: "[MQTT-3.6.1-1]",
  [PacketType.SUBSCRIBE]: "[MQTT-3.8.1-1]",
  [PacketType.UNSUBSCRIBE]: "[MQTT-3.10.1-1]",
};

export class Decoder {
  protocolVersion: ProtocolVersion | undefined;
  maxPacketSize: number;

  private head: Buffer = EMPTY;
  private pos = 0;
  /** Chunks after head, from index qHead (an index, not shift(), keeps draining linear). */
  private queue: Buffer[] = [];
  private qHead = 0;
  /** Tiny chunks gathered after the queue: tail[0, tailLen). */
  private tail: Buffer | undefined = undefined;
  private tailLen = 0;
  /** Bytes in queue and tail. */
  private queued = 0;
  private failure: CodecError | undefined = undefined;

  constructor(opts?: DecoderOptions) {
    this.protocolVersion = opts?.protocolVersion;
    this.maxPacketSize = opts?.maxPacketSize ?? MAX_PACKET_SIZE;
  }

  /** Bytes pushed and not yet returned as packets. */
  get bufferedBytes(): number {
    return this.head.length - this.pos + this.queued;
  }

  /** Appends bytes. Invariant: `head` is exhausted only when nothing is queued. */
  push(chunk: Buffer): void {
    const n = chunk.length;
    if (this.failure !== undefined || n === 0) return;
    if (this.pos >= this.head.length) {
      this.head = chunk;
      this.pos = 0;
      return;
    }
    this.queued += n;
    if (n < SMALL_CHUNK) {
      if (this.tail === undefined || this.tailLen + n > this.tail.length) {
        this.flushTail();
        this.tail = Buffer.allocUnsafe(TAIL_SIZE);
      }
      this.tail.set(chunk, this.tailLen);
      this.tailLen += n;
    } else {
      this.flushTail();
      this.queue.push(chunk);
    }
  }

  /** Moves the gathered tiny chunks to the queue (the tail buffer is not reused: views may remain). */
  private flushTail(): void {
    if (this.tailLen > 0) {
      this.queue.push(this.tail!.subarray(0, this.tailLen));
      this.tail = undefined;
      this.tailLen = 0;
    }
  }

  /** The next whole packet, or undefined when more bytes are needed. Throws only CodecError; then the decoder is dead. */
  next(): Packet | undefined {
    if (this.failure !== undefined) throw this.failure;
    try {
      return this.decodeNext();
    } catch (e) {
      const err =
        e instanceof CodecError
          ? e
          : new CodecError(CodecErrorCode.MalformedPacket, 0x81, `internal decoder error: ${String(e)}`, undefined);
      if (!(e instanceof CodecError)) (err as { cause?: unknown }).cause = e;
      this.failure = err;
      this.head = EMPTY;
      this.pos = 0;
      this.queue = [];
      this.qHead = 0;
      this.tail = undefined;
      this.tailLen = 0;
      this.queued = 0;
      throw err;
    }
  }

  private decodeNext(): Packet | undefined {
    const head = this.head;
    const pos = this.pos;
    const avail = head.length - pos;
    if (avail === 0) return undefined;

    // Fixed header: type/flags byte (checked at once), then Remaining Length (1-4 bytes) [MQTT-2.1.4].
    const b0 = head[pos]!;
    const type = b0 >> 4;
    const flags = b0 & 0x0f;
    const version = this.checkFixedHeader(type, flags);
    let remaining = 0;
    let headerLen = 0;
    if (avail >= 2 && head[pos + 1]! < 0x80) {
      remaining = head[pos + 1]!;
      headerLen = 2;
    } else {
      let mult = 1;
      for (let i = 1; ; i++) {
        if (i > 4) throw CodecError.malformed("remaining length longer than 4 bytes", "[MQTT-1.5.5-1]");
        const b = this.byteAt(i);
        if (b < 0) {
          // Header incomplete. A continuation bit already announces at least `mult` more bytes:
          // refuse now rather than buffer towards a packet that is too large anyway.
          const minTotal = i + 1 + remaining + (i > 1 ? mult : 0);
          if (minTotal > this.maxPacketSize) throw CodecError.tooLarge(minTotal, this.maxPacketSize);
          return undefined;
        }
        remaining += (b & 0x7f) * mult;
        if (b < 0x80) {
          if (b === 0 && i > 1) throw CodecError.malformed("remaining length not minimally encoded", "[MQTT-1.5.5-1]");
          headerLen = i + 1;
          break;
        }
        mult *= 128;
      }
    }
    const total = headerLen + remaining;
    if (total > this.maxPacketSize) throw CodecError.tooLarge(total, this.maxPacketSize);

    const r = READER;
    if (avail >= total) {
      // Fast path: the whole packet sits in the current chunk.
      r.reset(head, pos + headerLen, pos + total);
      if (avail === total) {
        this.head = EMPTY;
        this.pos = 0;
        if (this.queued > 0) this.shiftQueue();
      } else {
        this.pos = pos + total;
      }
    } else {
      if (avail + this.queued < total) return undefined;
      const packet = this.take(total);
      r.reset(packet, headerLen, total);
    }
    const decoded = this.decodeBody(type, flags, version);
    // Let go of the chunk: an idle connection would otherwise keep its last read buffer alive (docs/benchmarks.md).
    r.reset(EMPTY, 0, 0);
    return decoded;
  }

  /** Byte at offset i from the read position across chunks, or -1 when not yet pushed. */
  private byteAt(i: number): number {
    const inHead = this.head.length - this.pos;
    if (i < inHead) return this.head[this.pos + i]!;
    let off = i - inHead;
    for (let q = this.qHead; q < this.queue.length; q++) {
      const c = this.queue[q]!;
      if (off < c.length) return c[off]!;
      off -= c.length;
    }
    return off < this.tailLen ? this.tail![off]! : -1;
  }

  /** Makes the next queued chunk the head. Only called when queued > 0. */
  private shiftQueue(): void {
    if (this.qHead >= this.queue.length) this.flushTail();
    const next = this.queue[this.qHead]!;
    this.queue[this.qHead++] = EMPTY; // drop the reference
    if (this.qHead === this.queue.length) {
      this.queue.length = 0;
      this.qHead = 0;
    }
    this.queued -= next.length;
    this.head = next;
    this.pos = 0;
  }

  /** Copies the next n bytes (spanning chunks) into one new buffer and consumes them. */
  private take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      if (this.pos >= this.head.length) this.shiftQueue();
      const want = n - filled;
      const have = this.head.length - this.pos;
      const k = have < want ? have : want;
      this.head.copy(out, filled, this.pos, this.pos + k);
      filled += k;
      this.pos += k;
    }
    if (this.pos >= this.head.length) {
      this.head = EMPTY;
      this.pos = 0;
      if (this.queued > 0) this.shiftQueue();
    }
    return out;
  }

  /** Rules decidable from the first byte alone, checked before waiting for the body. */
  private checkFixedHeader(type: number, flags: number): ProtocolVersion {
    const v = this.protocolVersion;
    if (type === 0) throw CodecError.malformed("reserved packet type 0", "(2.1.2)");
    if (type === PacketType.CONNECT) {
      if (flags !== 0) throw CodecError.malformed("reserved fixed header flags set on CONNECT", "[MQTT-2.1.3-1]");
      return v ?? 4;
    }
    if (v === undefined) throw CodecError.protocol("first packet must be CONNECT", "[MQTT-3.1.0-1]");
    if (type === PacketType.PUBLISH) {
      if ((flags & 0x06) === 0x06) throw CodecError.malformed("PUBLISH with QoS 3", "[MQTT-3.3.1-4]");
      if ((flags & 0x0e) === 0x08) throw CodecError.malformed("DUP set on a QoS 0 PUBLISH", "[MQTT-3.3.1-2]");
      return v;
    }
    if (type === PacketType.AUTH && v !== 5) throw CodecError.malformed("AUTH is reserved before MQTT 5", "(2.1.2)");
    const required = REQUIRED_FLAGS[type]!;
    // MQTT 3.1 clients set DUP on retried PUBREL/SUBSCRIBE/UNSUBSCRIBE.
    if (flags !== required && !(v === 3 && required === 2 && flags === 0x0a)) {
      throw CodecError.malformed(
        `invalid fixed header flags 0x${flags.toString(16)} for packet type ${type}`,
        FLAG_SPEC_REF[type] ?? (v === 5 ? "[MQTT-2.1.3-1]" : "[MQTT-2.2.2-1]"),
      );
    }
    return v;
  }

  private decodeBody(type: number, flags: number, v: ProtocolVersion): Packet {
    const r = READER;
    switch (type) {
      case PacketType.PUBLISH:
        return decodePublish(r, flags, v);
      case PacketType.CONNECT:
        return decodeConnect(r, this);
      case PacketType.CONNACK:
        return decodeConnack(r, v);
      case PacketType.PUBACK:
        return decodeAck(r, PacketType.PUBACK, v);
      case PacketType.PUBREC:
        return decodeAck(r, PacketType.PUBREC, v);
      case PacketType.PUBREL:
        return decodeAck(r, PacketType.PUBREL, v);
      case PacketType.PUBCOMP:
        return decodeAck(r, PacketType.PUBCOMP, v);
      case PacketType.SUBSCRIBE:
        return decodeSubscribe(r, v);
      case PacketType.SUBACK:
        return decodeSuback(r, v);
      case PacketType.UNSUBSCRIBE:
        return decodeUnsubscribe(r, v);
      case PacketType.UNSUBACK:
        return decodeUnsuback(r, v);
      case PacketType.PINGREQ:
        r.expectEnd("PINGREQ");
        return { type: PacketType.PINGREQ };
      case PacketType.PINGRESP:
        r.expectEnd("PINGRESP");
        return { type: PacketType.PINGRESP };
      case PacketType.DISCONNECT:
        return decodeDisconnect(r, v);
      default:
        return decodeAuth(r);
    }
  }
}
