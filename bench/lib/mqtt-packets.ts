// A tiny MQTT 3.1.1 / 5.0 encoder for the load generator. It only builds the few packets the bench
// sends (CONNECT, SUBSCRIBE, PUBLISH headers, PUBACK, DISCONNECT) so that the generator does not
// depend on Wharf's own codec: the bench must measure other brokers with the same bytes, and a
// codec bug in Wharf must not be able to hide behind its own encoder.

export const PROTOCOL = { v311: 4, v5: 5 } as const;
export type ProtocolLevel = (typeof PROTOCOL)[keyof typeof PROTOCOL];

export const PACKET = {
  connect: 1,
  connack: 2,
  publish: 3,
  puback: 4,
  subscribe: 8,
  suback: 9,
  pingresp: 13,
  disconnect: 14,
} as const;

/** Bytes of the Variable Byte Integer encoding of `n` (MQTT 1.5.5 / 2.2.3). */
export function varintBytes(n: number): number[] {
  if (!Number.isInteger(n) || n < 0 || n > 268_435_455) throw new RangeError(`varint out of range: ${n}`);
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

function utf8(s: string): Buffer {
  const body = Buffer.from(s, "utf8");
  const len = Buffer.allocUnsafe(2);
  len.writeUInt16BE(body.length, 0);
  return Buffer.concat([len, body]);
}

function packet(firstByte: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([firstByte, ...varintBytes(body.length)]), body]);
}

export interface ConnectOptions {
  clientId: string;
  protocol: ProtocolLevel;
  /** Seconds; 0 disables keep-alive so idle bench connections never need PINGREQ. */
  keepAlive?: number;
  /** MQTT 5 Receive Maximum (property 0x21): how many QoS>0 PUBLISHes the broker may have in flight to us. */
  receiveMaximum?: number;
  /** false: resume / keep a persistent session (3.1.1 clean session 0; 5.0 clean start 0). Default true. */
  cleanStart?: boolean;
  /** MQTT 5 Session Expiry Interval (property 0x11) in seconds; a persistent 5.0 session needs > 0. */
  sessionExpiry?: number;
}

export function encodeConnect(o: ConnectOptions): Buffer {
  const head = Buffer.alloc(10);
  head.writeUInt16BE(4, 0);
  head.write("MQTT", 2, "ascii");
  head[6] = o.protocol;
  head[7] = o.cleanStart === false ? 0x00 : 0x02; // clean session / clean start; no will, no credentials
  head.writeUInt16BE(o.keepAlive ?? 0, 8);
  const parts: Buffer[] = [head];
  if (o.protocol === PROTOCOL.v5) {
    const props: number[] = [];
    if (o.receiveMaximum !== undefined) props.push(0x21, (o.receiveMaximum >> 8) & 0xff, o.receiveMaximum & 0xff);
    if (o.sessionExpiry !== undefined) {
      const e = o.sessionExpiry;
      props.push(0x11, (e >>> 24) & 0xff, (e >>> 16) & 0xff, (e >>> 8) & 0xff, e & 0xff);
    }
    parts.push(Buffer.from([...varintBytes(props.length), ...props]));
  }
  parts.push(utf8(o.clientId));
  return packet(0x10, Buffer.concat(parts));
}

export function encodeSubscribe(
  packetId: number,
  filters: readonly string[],
  qos: 0 | 1,
  protocol: ProtocolLevel,
): Buffer {
  const pid = Buffer.allocUnsafe(2);
  pid.writeUInt16BE(packetId, 0);
  const parts: Buffer[] = [pid];
  if (protocol === PROTOCOL.v5) parts.push(Buffer.from([0])); // no properties
  for (const f of filters) parts.push(utf8(f), Buffer.from([qos])); // options: QoS only
  return packet(0x82, Buffer.concat(parts)); // [MQTT-3.8.1-1] reserved flags 0b0010
}

/** PUBACK is 4 bytes in both versions: in 5.0 a Success reason code and no properties may be omitted (3.4.2.1). */
export const PUBACK_SIZE = 4;

export function writePuback(buf: Buffer, offset: number, packetId: number): void {
  buf[offset] = 0x40;
  buf[offset + 1] = 0x02;
  buf[offset + 2] = (packetId >> 8) & 0xff;
  buf[offset + 3] = packetId & 0xff;
}

export function encodePuback(packetId: number): Buffer {
  const buf = Buffer.allocUnsafe(PUBACK_SIZE);
  writePuback(buf, 0, packetId);
  return buf;
}

export const DISCONNECT = Buffer.from([0xe0, 0x00]);

/**
 * Everything of a PUBLISH packet before its payload, for a fixed topic, QoS and payload size.
 * The generator copies it into a batch buffer, writes the packet id at `packetIdOffset` (QoS 1) and
 * appends the payload, so the per-message cost is two memcpy and a few integer stores.
 */
export interface PublishHeader {
  bytes: Buffer;
  /** Offset of the 2-byte packet identifier inside `bytes`, or -1 for QoS 0. */
  packetIdOffset: number;
  /** Total packet size: bytes.length + payloadSize. */
  packetSize: number;
}

export function encodePublishHeader(
  topic: string,
  qos: 0 | 1,
  protocol: ProtocolLevel,
  payloadSize: number,
): PublishHeader {
  const t = utf8(topic);
  const propsLen = protocol === PROTOCOL.v5 ? 1 : 0;
  const remaining = t.length + (qos > 0 ? 2 : 0) + propsLen + payloadSize;
  const fixed = [0x30 | (qos << 1), ...varintBytes(remaining)];
  const bytes = Buffer.alloc(fixed.length + t.length + (qos > 0 ? 2 : 0) + propsLen);
  Buffer.from(fixed).copy(bytes, 0);
  t.copy(bytes, fixed.length);
  const packetIdOffset = qos > 0 ? fixed.length + t.length : -1;
  // The property length byte (0 = no properties) is already zero from Buffer.alloc.
  return { bytes, packetIdOffset, packetSize: bytes.length + payloadSize };
}

/**
 * Payload layout shared by the generator's publishers and subscribers (little-endian):
 *   [0,4)  stream id   (one stream = one publisher on one topic; ordering is checked per stream)
 *   [4,8)  sequence number within the stream, from 0
 *   [8,16) send time, performance.now() in ms (float64), for the latency scenario
 * The rest is filler up to the configured payload size.
 */
export const PAYLOAD_HEADER = { streamId: 0, seq: 4, sentAt: 8, size: 16 } as const;
