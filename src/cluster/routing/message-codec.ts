// A broker Message as a frame body (forwarded publishes, replicated retained messages):
//   u16 topic length | topic | u8 flags | [f64 expiresAt] | [u16 + origin] | [u32 + properties JSON] | payload
// flags: bits 0-1 QoS, 2 retain, 3 expiresAt, 4 origin, 5 properties. The payload is the rest of the body, so the
// receiver's Message payload is a zero-copy slice of the frame. Properties (rare: 5.0 only) travel as JSON with the
// binary correlation data in base64. `expiresAt` is absolute (ms since the epoch): nodes' clocks must agree
// (NTP) for Message Expiry across nodes.
import { trustedString } from "../../codec/index.ts";
import type { Properties, QoS } from "../../codec/index.ts";
import type { Message } from "../../broker/index.ts";
import { ClusterError, ClusterErrorCode } from "../errors.ts";

export const F_RETAIN = 4;
export const F_EXPIRES = 8;
export const F_ORIGIN = 16;
export const F_PROPS = 32;

/** The encoded header (everything before the payload); send it with the payload as a second part. */
export function encodeMessageHead(msg: Message, prefix?: Buffer): Buffer {
  const props = propsOf(msg);
  const pre = prefix?.length ?? 0;
  const b = Buffer.allocUnsafe(pre + headBytes(msg, props));
  if (prefix !== undefined) prefix.copy(b, 0);
  writeHead(msg, props, b, pre);
  return b;
}

/** A message's 5.0 properties as the JSON bytes frames carry (undefined when it has none). */
export function propsOf(msg: Message): Buffer | undefined {
  return msg.properties === undefined ? undefined : Buffer.from(JSON.stringify(propsToJson(msg.properties)));
}

function headBytes(msg: Message, props: Buffer | undefined): number {
  let size = 2 + Buffer.byteLength(msg.topic) + 1;
  if (msg.expiresAt !== undefined) size += 8;
  if (msg.origin !== undefined) size += 2 + Buffer.byteLength(msg.origin);
  if (props !== undefined) size += 4 + props.length;
  return size;
}

function writeHead(msg: Message, props: Buffer | undefined, b: Buffer, at: number): void {
  let flags: number = msg.qos;
  if (msg.retain) flags |= F_RETAIN;
  if (msg.expiresAt !== undefined) flags |= F_EXPIRES;
  if (msg.origin !== undefined) flags |= F_ORIGIN;
  if (props !== undefined) flags |= F_PROPS;
  let o = at + 2;
  const topicLen = b.write(msg.topic, o);
  b.writeUInt16BE(topicLen, at);
  o += topicLen;
  o = b.writeUInt8(flags, o);
  if (msg.expiresAt !== undefined) o = b.writeDoubleBE(msg.expiresAt, o);
  if (msg.origin !== undefined) {
    const n = b.write(msg.origin, o + 2);
    b.writeUInt16BE(n, o);
    o += 2 + n;
  }
  if (props !== undefined) {
    o = b.writeUInt32BE(props.length, o);
    props.copy(b, o);
  }
}

/** A short string prefix (u16 length + utf8), e.g. the shared group of a forwarded message. */
export function encodeString(s: string): Buffer {
  const v = Buffer.from(s);
  const b = Buffer.allocUnsafe(2 + v.length);
  b.writeUInt16BE(v.length, 0);
  v.copy(b, 2);
  return b;
}

export class BodyReader {
  off = 0;
  constructor(readonly b: Buffer) {}

  string(): string {
    const n = this.#need(2).readUInt16BE(this.off);
    this.off += 2;
    const s = this.#need(n).toString("utf8", this.off, this.off + n);
    this.off += n;
    return s;
  }

  /** A topic name (interned when ASCII: the route cache then finds it by identity). */
  topic(): string {
    const n = this.#need(2).readUInt16BE(this.off);
    this.off += 2;
    const s = trustedString(this.#need(n), this.off, this.off + n);
    this.off += n;
    return s;
  }

  message(): Message {
    const topic = this.topic();
    const flags = this.#need(1).readUInt8(this.off++);
    let expiresAt: number | undefined;
    let origin: string | undefined;
    let properties: Properties | undefined;
    if (flags & F_EXPIRES) {
      expiresAt = this.#need(8).readDoubleBE(this.off);
      this.off += 8;
    }
    if (flags & F_ORIGIN) origin = this.string();
    if (flags & F_PROPS) {
      const n = this.#need(4).readUInt32BE(this.off);
      this.off += 4;
      properties = propsFromBytes(this.#need(n), this.off, this.off + n);
      this.off += n;
    }
    const qos = flags & 3;
    if (qos === 3) throw bad("QoS 3");
    return {
      topic,
      payload: this.b.subarray(this.off),
      qos: qos as QoS,
      retain: (flags & F_RETAIN) !== 0,
      properties,
      expiresAt,
      origin,
      prepared: undefined,
      receivedAt: undefined, // latency sampling is per node: a forwarded message is not timed here
      trace: undefined, // tracing does not cross nodes (docs/cluster.md)
    };
  }

  #need(n: number): Buffer {
    if (this.off + n > this.b.length) throw bad("truncated body");
    return this.b;
  }
}

/** The properties propsOf() encoded, from `b[start, end)`. */
export function propsFromBytes(b: Buffer, start: number, end: number): Properties {
  return propsFromJson(JSON.parse(b.toString("utf8", start, end)) as JsonProps);
}

export function bad(what: string): ClusterError {
  return new ClusterError(ClusterErrorCode.BadFrame, `invalid forwarded message: ${what}`);
}

type JsonProps = Record<string, unknown>;

function propsToJson(p: Properties): JsonProps {
  const out: JsonProps = {};
  for (const [k, v] of Object.entries(p)) {
    if (v === undefined) continue;
    out[k] = Buffer.isBuffer(v) ? { b64: v.toString("base64") } : v;
  }
  return out;
}

function propsFromJson(o: JsonProps): Properties {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    const b64 = typeof v === "object" && v !== null && !Array.isArray(v) ? (v as { b64?: unknown }).b64 : undefined;
    out[k] = typeof b64 === "string" ? Buffer.from(b64, "base64") : v;
  }
  return out;
}
