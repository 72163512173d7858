// Encode a message once, send its bytes to many subscribers. The topic field and the message's
// own 5.0 properties are encoded once; per subscriber only the fixed header, packet identifier
// and per-subscriber properties (Topic Alias, Message Expiry Interval, Subscription Identifiers)
// are written, and the cached parts are copied. A QoS 0 delivery with nothing per subscriber
// returns one cached Buffer (per version family and retain flag), so fan-out allocates nothing.
import { MAX_PACKET_ID, MAX_STRING_BYTES } from "../util/limits.ts";
import { EncodeError } from "./errors.ts";
import { MAX_REMAINING_LENGTH } from "./encoder.ts";
import {
  forwardedLength,
  onlyForwarded,
  propertiesLength,
  varintLength,
  writeProperties,
  writeString,
  writeU16,
  writeU32,
  writeForwarded,
  writeVarint,
} from "./properties-encode.ts";
import type { Properties, ProtocolVersion, QoS } from "./types.ts";

export interface PublishVariant {
  qos: QoS;
  retain: boolean;
  dup?: boolean;
  /** Required iff qos > 0. */
  packetId?: number;
  /** 5.0: Topic Alias to send; with omitTopic the topic name is sent empty. */
  topicAlias?: number;
  omitTopic?: boolean;
  /** 5.0 Subscription Identifiers of the matching subscriptions. */
  subscriptionIdentifiers?: readonly number[];
  /** 5.0: remaining Message Expiry Interval to send [MQTT-3.3.2-6]; absent = the message's own. */
  messageExpiryInterval?: number;
}

const EMPTY_TOPIC = Buffer.from([0, 0]);
const EMPTY = Buffer.alloc(0);

/**
 * Encoded Topic Name fields (never written to after creation, so shared), keyed by topic: a publisher sends to the
 * same few topics again and again. Bounded: short topics only, at most TOPIC_CACHE_ENTRIES of them.
 */
const topicFields = new Map<string, Buffer>();
const TOPIC_CACHE_ENTRIES = 4096;
const TOPIC_CACHE_MAX_LENGTH = 256;
const TOPIC_CACHE_REFRESH_MISSES = 1 << 20;
let missesWhileFull = 0;

/** The Topic Name field of `topic` (u16 length + UTF-8), cached for short topics: shared, never write into it. */
export function topicFieldOf(topic: string): Buffer {
  const cached = topicFields.get(topic);
  if (cached !== undefined) return cached;
  const topicBytes = Buffer.byteLength(topic, "utf8");
  if (topicBytes > MAX_STRING_BYTES) throw new EncodeError(`topic of ${topicBytes} bytes exceeds 65,535`);
  const field = Buffer.allocUnsafe(2 + topicBytes);
  writeString(field, 0, topic);
  if (topic.length <= TOPIC_CACHE_MAX_LENGTH) {
    if (topicFields.size < TOPIC_CACHE_ENTRIES) topicFields.set(topic, field);
    // Full: keep what is cached (refilling on every miss costs more than it saves when topics outnumber the
    // cache) and start over only now and then, so a changed topic set gets cached eventually.
    else if (++missesWhileFull >= TOPIC_CACHE_REFRESH_MISSES) {
      missesWhileFull = 0;
      topicFields.clear();
    }
  }
  return field;
}

/**
 * A QoS 0 delivery with nothing per subscriber: its bytes depend only on the version family and retain flag.
 * Connection.writePublish (src/broker/connection.ts) makes the same test on its own fields, before any variant
 * object exists, to take the shared Buffer: the two must change together.
 */
function isSimple(v5: boolean, v: PublishVariant): boolean {
  return (
    v.qos === 0 &&
    (!v5 ||
      (v.topicAlias === undefined &&
        v.omitTopic !== true &&
        v.messageExpiryInterval === undefined &&
        (v.subscriptionIdentifiers === undefined || v.subscriptionIdentifiers.length === 0)))
  );
}

export class PreparedPublish {
  readonly topic: string;
  readonly payload: Buffer;
  readonly properties: Properties | undefined;

  /** Topic Name field: two-byte length + UTF-8 bytes. */
  private readonly topicField: Buffer;
  /** 5.0 properties other than the per-subscriber ones, encoded without length prefix. */
  private readonly staticProps: Buffer;
  private readonly expiry: number | undefined;
  /**
   * QoS 0 encodings: [v3/v4 retain=0, v3/v4 retain=1, v5 retain=0, v5 retain=1], allocated on first use: a message
   * delivered only at QoS 1 (every durable-queue delivery: one PreparedPublish per delivery) never needs them.
   */
  private qos0: (Buffer | undefined)[] | undefined = undefined;
  /** The same slots for encodeHead(), allocated on first use. */
  private qos0Heads: (Buffer | undefined)[] | undefined = undefined;

  /**
   * `v4Qos0`: the message's 3.1/3.1.1 QoS 0 PUBLISH without retain (`0x30 | length | topic | payload`) when the
   * caller holds those exact bytes already (a message forwarded by another node carries them), so encode() hands
   * them out instead of building a copy.
   */
  constructor(
    msg: { topic: string; payload: Buffer; properties?: Properties | undefined },
    v4Qos0?: Buffer,
    /**
     * `msg.properties` already encoded as staticPropertiesOf() would (no Property Length, none of the per-subscriber
     * ones), by whoever made them: a traced message's `traceparent` (src/admin/light-span.ts), written with its value.
     */
    encodedProperties?: Buffer,
  ) {
    this.topic = msg.topic;
    this.payload = msg.payload;
    this.properties = msg.properties;
    this.topicField = topicFieldOf(msg.topic);
    if (v4Qos0 !== undefined) this.qos0 = [v4Qos0, undefined, undefined, undefined];
    // The properties are encoded by a call of its own: where most messages have none (a traced 1 % carries a
    // `traceparent`), the optimising compiler then keeps a call here instead of compiling the encoding into this
    // constructor, which grew it past the budget for inlining it into the delivery path (docs/benchmarks.md, #15).
    const p = msg.properties;
    this.staticProps = p === undefined ? EMPTY : (encodedProperties ?? staticPropertiesOf(p));
    this.expiry = p?.messageExpiryInterval;
  }

  /** Bytes of one PUBLISH for one subscriber; equal to encode() of the equivalent PublishPacket. */
  encode(version: ProtocolVersion, v: PublishVariant): Buffer {
    const v5 = version === 5;
    if (isSimple(v5, v)) {
      const slot = (v5 ? 2 : 0) + (v.retain ? 1 : 0);
      const encoded = (this.qos0 ??= [undefined, undefined, undefined, undefined]);
      return (encoded[slot] ??= this.build(v5, v, true));
    }
    return this.build(v5, v, true);
  }

  /**
   * The bytes of encode() without the payload: a large payload is then written as a second chunk of the same
   * writev instead of being copied into a fresh (unpooled) buffer per message. head + payload == encode().
   */
  encodeHead(version: ProtocolVersion, v: PublishVariant): Buffer {
    const v5 = version === 5;
    if (isSimple(v5, v)) {
      const slot = (v5 ? 2 : 0) + (v.retain ? 1 : 0);
      const heads = (this.qos0Heads ??= [undefined, undefined, undefined, undefined]);
      return (heads[slot] ??= this.build(v5, v, false));
    }
    return this.build(v5, v, false);
  }

  /**
   * Bytes of the whole PUBLISH for one subscriber (payload included), without encoding it: a connection checks it
   * against the client's Maximum Packet Size and reserves its output with it, then encodes at its flush
   * (encodeInto), so a delivery allocates no Buffer of its own.
   */
  encodedLength(version: ProtocolVersion, v: PublishVariant): number {
    const rl = this.remainingLength(version === 5, v);
    return 1 + varintLength(rl) + rl;
  }

  /**
   * Writes the PUBLISH for one subscriber into `buf` at `off` (room checked by the caller with encodedLength);
   * returns the offset after it. Without the payload when `withPayload` is false (the caller writes it apart).
   * Same bytes as encode().
   */
  encodeInto(buf: Buffer, off: number, version: ProtocolVersion, v: PublishVariant, withPayload: boolean): number {
    const v5 = version === 5;
    return this.writeInto(buf, off, v5, v, this.remainingLength(v5, v), withPayload);
  }

  /** Whether the payload is at least `bytes` long (such a payload is written as a chunk of its own, uncopied). */
  payloadAtLeast(bytes: number): boolean {
    return this.payload.length >= bytes;
  }

  /** Remaining Length of the PUBLISH for `v` (validates the packet identifier and the size). */
  private remainingLength(v5: boolean, v: PublishVariant): number {
    const topicField = v5 && v.omitTopic === true ? EMPTY_TOPIC : this.topicField;
    let rl = topicField.length + this.payload.length;
    if (v.qos > 0) {
      const id = v.packetId;
      if (id === undefined || id < 1 || id > MAX_PACKET_ID)
        throw new EncodeError(`packet identifier ${id} is not in 1..65535`);
      rl += 2;
    }
    if (v5) {
      const plen = this.propertiesLength(v);
      rl += varintLength(plen) + plen;
    }
    if (rl > MAX_REMAINING_LENGTH) throw new EncodeError(`remaining length ${rl} exceeds ${MAX_REMAINING_LENGTH}`);
    return rl;
  }

  /** 5.0 Property Length for `v`: the static properties plus the per-subscriber ones. */
  private propertiesLength(v: PublishVariant): number {
    let plen = this.staticProps.length;
    if (v.topicAlias !== undefined) plen += 3;
    if ((v.messageExpiryInterval ?? this.expiry) !== undefined) plen += 5;
    const ids = v.subscriptionIdentifiers;
    if (ids !== undefined) {
      for (const id of ids) plen += 1 + varintLength(id);
    }
    return plen;
  }

  private build(v5: boolean, v: PublishVariant, withPayload: boolean): Buffer {
    const rl = this.remainingLength(v5, v);
    const buf = Buffer.allocUnsafe(1 + varintLength(rl) + rl - (withPayload ? 0 : this.payload.length));
    this.writeInto(buf, 0, v5, v, rl, withPayload);
    return buf;
  }

  private writeInto(buf: Buffer, at: number, v5: boolean, v: PublishVariant, rl: number, withPayload: boolean): number {
    const topicField = v5 && v.omitTopic === true ? EMPTY_TOPIC : this.topicField;
    buf[at] = 0x30 | (v.qos > 0 && v.dup === true ? 0x08 : 0) | (v.qos << 1) | (v.retain ? 0x01 : 0);
    let off = writeVarint(buf, at + 1, rl);
    off += topicField.copy(buf, off);
    if (v.qos > 0) off = writeU16(buf, off, v.packetId!);
    if (v5) {
      // Same order as writeProperties: Topic Alias, Message Expiry Interval, Subscription Identifiers, then the rest.
      off = writeVarint(buf, off, this.propertiesLength(v));
      if (v.topicAlias !== undefined) {
        buf[off] = 0x23;
        off = writeU16(buf, off + 1, v.topicAlias);
      }
      const expiry = v.messageExpiryInterval ?? this.expiry;
      if (expiry !== undefined) {
        buf[off] = 0x02;
        off = writeU32(buf, off + 1, expiry);
      }
      if (v.subscriptionIdentifiers !== undefined) {
        for (const id of v.subscriptionIdentifiers) {
          buf[off] = 0x0b;
          off = writeVarint(buf, off + 1, id);
        }
      }
      off += this.staticProps.copy(buf, off);
    }
    if (withPayload) off += this.payload.copy(buf, off);
    return off;
  }
}

/** The encoded properties of a message (without length prefix), less the ones written per subscriber. */
function staticPropertiesOf(p: Properties): Buffer {
  // A routed message's properties are the forwarded ones alone (createMessage): encoded by reading those five
  // fields only (properties-encode.ts says why).
  if (onlyForwarded(p)) {
    const buf = Buffer.allocUnsafe(forwardedLength(p));
    writeForwarded(buf, 0, p);
    return buf;
  }
  // Any other properties (a stored or forwarded message's): a copy without the per-subscriber ones, when they hold
  // any.
  const rest =
    p.topicAlias === undefined && p.subscriptionIdentifiers === undefined && p.messageExpiryInterval === undefined
      ? p
      : perMessage(p);
  const buf = Buffer.allocUnsafe(propertiesLength(rest));
  writeProperties(buf, 0, rest);
  return buf;
}

/** `p` without the properties that are set per subscriber (Topic Alias, Subscription Identifiers, Message Expiry). */
function perMessage(p: Properties): Properties {
  const { topicAlias: _a, subscriptionIdentifiers: _s, messageExpiryInterval: _e, ...rest } = p;
  return rest;
}
