// QoS 0 forwards in batches (docs/cluster.md "Routing"): the ordinary QoS 0 messages this node forwards to one peer
// during one synchronous run — typically everything decoded from one read of a publisher's socket — go out as ONE
// ForwardBatch frame, written straight into a per-peer buffer (no buffer per message), and the receiver routes them
// in one loop (one frame dispatch, one producer switch). Each message carries its own 3.1/3.1.1 QoS 0 PUBLISH bytes,
// so the receiving node hands those bytes to its 3.x subscribers as they are instead of building a copy per message
// (PreparedPublish's v4Qos0).
//
//   body  = entry*
//   entry = u8 flags | [f64 expiresAt] | [u16 + origin] | [u32 + properties JSON] | u32 n | PUBLISH (n bytes)
//   PUBLISH = 0x30 | varint remaining length | u16 topic length | topic | payload   (MQTT 3.1.1, QoS 0, no retain)
// flags as message-codec.ts (bit 2 retain: the message's own flag; the packet bytes always say 0).
// Numbers are big endian, as in message-codec.ts and MQTT.
import { PreparedPublish, topicFieldOf, trustedString } from "../../codec/index.ts";
import type { Message } from "../../broker/index.ts";
import { WireWriter } from "../transport/index.ts";
import { F_EXPIRES, F_ORIGIN, F_PROPS, F_RETAIN, bad, propsFromBytes, propsOf } from "./message-codec.ts";

/** A peer's batch is sent at once when it reaches this size (bounds the frame; the rest goes in the next one). */
const BATCH_BYTES = 256 * 1024;

function varintLength(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4;
}

/** Appends one message as a batch entry. */
export function writeBatchEntry(w: WireWriter, msg: Message): void {
  const props = propsOf(msg);
  const topicField = topicFieldOf(msg.topic); // u16 length + topic, cached per topic
  const rl = topicField.length + msg.payload.length;
  const packet = 1 + varintLength(rl) + rl;
  const originBytes = msg.origin === undefined ? 0 : Buffer.byteLength(msg.origin, "utf8");
  const head =
    1 +
    (msg.expiresAt !== undefined ? 8 : 0) +
    (msg.origin !== undefined ? 2 + originBytes : 0) +
    (props !== undefined ? 4 + props.length : 0) +
    4;
  let o = w.raw(head + packet);
  const b = w.buffer;
  let flags = 0;
  if (msg.retain) flags |= F_RETAIN;
  if (msg.expiresAt !== undefined) flags |= F_EXPIRES;
  if (msg.origin !== undefined) flags |= F_ORIGIN;
  if (props !== undefined) flags |= F_PROPS;
  b[o++] = flags;
  if (msg.expiresAt !== undefined) o = b.writeDoubleBE(msg.expiresAt, o);
  if (msg.origin !== undefined) {
    o = b.writeUInt16BE(originBytes, o);
    o += b.write(msg.origin, o, "utf8");
  }
  if (props !== undefined) {
    o = b.writeUInt32BE(props.length, o);
    o += props.copy(b, o);
  }
  o = b.writeUInt32BE(packet, o);
  b[o++] = 0x30;
  let v = rl;
  do {
    let byte = v & 0x7f;
    v = Math.floor(v / 128);
    if (v > 0) byte |= 0x80;
    b[o++] = byte;
  } while (v > 0);
  o += topicField.copy(b, o);
  msg.payload.copy(b, o);
}

/** Calls `fn` with each message of a ForwardBatch body, in order; throws CLUSTER_BAD_FRAME on a malformed one. */
export function readBatch(body: Buffer, fn: (msg: Message) => void): void {
  let o = 0;
  const need = (n: number): void => {
    if (o + n > body.length) throw bad("truncated batch entry");
  };
  while (o < body.length) {
    need(1);
    const flags = body[o++]!;
    let expiresAt: number | undefined;
    let origin: string | undefined;
    let properties: Message["properties"];
    if (flags & F_EXPIRES) {
      need(8);
      expiresAt = body.readDoubleBE(o);
      o += 8;
    }
    if (flags & F_ORIGIN) {
      need(2);
      const n = body.readUInt16BE(o);
      need(2 + n);
      origin = trustedString(body, o + 2, o + 2 + n); // the publisher's client id: the same for many messages
      o += 2 + n;
    }
    if (flags & F_PROPS) {
      need(4);
      const n = body.readUInt32BE(o);
      need(4 + n);
      properties = propsFromBytes(body, o + 4, o + 4 + n);
      o += 4 + n;
    }
    need(4);
    const n = body.readUInt32BE(o);
    o += 4;
    need(n);
    const start = o;
    const end = o + n;
    if (body[o++] !== 0x30) throw bad("batch entry is not a QoS 0 PUBLISH");
    let rl = 0;
    let mul = 1;
    for (let i = 0; ; i++) {
      if (i === 4 || o >= end) throw bad("bad remaining length");
      const byte = body[o++]!;
      rl += (byte & 0x7f) * mul;
      mul *= 128;
      if ((byte & 0x80) === 0) break;
    }
    if (o + rl !== end || rl < 2) throw bad("remaining length does not match the entry");
    const topicEnd = o + 2 + body.readUInt16BE(o);
    if (topicEnd > end) throw bad("topic past the entry");
    const topic = trustedString(body, o + 2, topicEnd);
    const payload = body.subarray(topicEnd, end);
    o = end;
    fn({
      topic,
      payload,
      qos: 0,
      retain: (flags & F_RETAIN) !== 0,
      properties,
      expiresAt,
      origin,
      // The packet bytes as they are for 3.x subscribers (no copy per message).
      prepared: new PreparedPublish({ topic, payload, properties }, body.subarray(start, end)),
      receivedAt: undefined, // latency sampling is per node: a forwarded message is not timed here
      trace: undefined, // tracing does not cross nodes (docs/cluster.md)
    });
  }
}

/** Per peer, the QoS 0 forwards of the current synchronous run; sent as one frame when it ends (a microtask). */
export class Qos0Batches {
  readonly #out = new Map<string, { w: WireWriter; count: number }>();
  #scheduled = false;

  /** `send`: false when the transport refused the frame (its `count` messages are lost, like any QoS 0). */
  constructor(private readonly send: (node: string, body: Buffer, count: number) => void) {}

  add(node: string, msg: Message): void {
    let b = this.#out.get(node);
    if (b === undefined) this.#out.set(node, (b = { w: new WireWriter(64 * 1024), count: 0 }));
    writeBatchEntry(b.w, msg);
    b.count++;
    if (b.w.length >= BATCH_BYTES) this.#send(node, b);
    else if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  flush(): void {
    this.#scheduled = false;
    for (const [node, b] of this.#out) if (b.count > 0) this.#send(node, b);
  }

  /** A peer that left: what was collected for it goes nowhere. */
  drop(node: string): void {
    this.#out.delete(node);
  }

  #send(node: string, b: { w: WireWriter; count: number }): void {
    const count = b.count;
    b.count = 0;
    this.send(node, b.w.take(), count);
  }
}
