// Encoder: the exact size is computed first, then the packet is written into one allocation
// (or into a caller-provided buffer). The length pass leaves the property-block sizes in module
// scratch variables for the write pass that immediately follows (encoding is synchronous).
import { EncodeError } from "./errors.ts";
import {
  binaryLength,
  propertiesLength,
  stringLength,
  varintLength,
  writeBinary,
  writeProperties,
  writeString,
  writeU16,
  writeVarint,
} from "./properties-encode.ts";
import { PacketType } from "./types.ts";
import type {
  AckPacket,
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  Packet,
  PacketTypeCode,
  Properties,
  ProtocolVersion,
  PublishPacket,
  SubackPacket,
  SubscribePacket,
  UnsubackPacket,
  UnsubscribePacket,
} from "./types.ts";

/** Largest Remaining Length a Variable Byte Integer can carry [MQTT-1.5.5]. */
import { MAX_PACKET_ID, MAX_REMAINING_LENGTH } from "../util/limits.ts";
export { MAX_REMAINING_LENGTH };

let propsLen = 0;
let willPropsLen = 0;

function propsBlockLength(len: number): number {
  return varintLength(len) + len;
}

function checkPacketId(id: number | undefined): number {
  if (id === undefined || !(id >= 1 && id <= MAX_PACKET_ID) || id !== (id | 0)) {
    throw new EncodeError(`packet identifier ${id} is not in 1..65535`);
  }
  return id;
}

/**
 * Bytes after the packet identifier of 5.0 acks (or the whole body of DISCONNECT and AUTH):
 * nothing for reason code 0 without properties, the reason code alone without properties,
 * otherwise reason code and properties (3.4.2.1, 3.14.2.1, 3.15.2.1).
 */
function shortFormLength(reasonCode: number | undefined, plen: number): number {
  if (plen > 0) return 1 + propsBlockLength(plen);
  return (reasonCode ?? 0) === 0 ? 0 : 1;
}

function remainingLength(p: Packet, v: ProtocolVersion): number {
  switch (p.type) {
    case PacketType.PUBLISH: {
      let n = stringLength(p.topic) + p.payload.length;
      if (p.qos > 0) n += 2;
      if (v === 5) n += propsBlockLength((propsLen = propertiesLength(p.properties)));
      return n;
    }
    case PacketType.CONNECT:
      return connectLength(p, v);
    case PacketType.CONNACK:
      return v === 5 ? 2 + propsBlockLength((propsLen = propertiesLength(p.properties))) : 2;
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
      if (v !== 5) return 2;
      propsLen = propertiesLength(p.properties);
      return 2 + shortFormLength(p.reasonCode, propsLen);
    case PacketType.SUBSCRIBE: {
      let n = 2;
      if (v === 5) n += propsBlockLength((propsLen = propertiesLength(p.properties)));
      for (const s of p.subscriptions) n += stringLength(s.topicFilter) + 1;
      return n;
    }
    case PacketType.SUBACK: {
      let n = 2 + p.reasonCodes.length;
      if (v === 5) n += propsBlockLength((propsLen = propertiesLength(p.properties)));
      return n;
    }
    case PacketType.UNSUBSCRIBE: {
      let n = 2;
      if (v === 5) n += propsBlockLength((propsLen = propertiesLength(p.properties)));
      for (const f of p.topicFilters) n += stringLength(f);
      return n;
    }
    case PacketType.UNSUBACK:
      if (v !== 5) return 2;
      propsLen = propertiesLength(p.properties);
      return 2 + propsBlockLength(propsLen) + (p.reasonCodes?.length ?? 0);
    case PacketType.PINGREQ:
    case PacketType.PINGRESP:
      return 0;
    case PacketType.DISCONNECT:
      if (v !== 5) return 0;
      propsLen = propertiesLength(p.properties);
      return shortFormLength(p.reasonCode, propsLen);
    case PacketType.AUTH:
      if (v !== 5) throw new EncodeError("AUTH exists only in MQTT 5.0");
      propsLen = propertiesLength(p.properties);
      return shortFormLength(p.reasonCode, propsLen);
  }
}

function connectLength(p: ConnectPacket, v: ProtocolVersion): number {
  let n = (v === 3 ? 8 : 6) + 4; // protocol name, level, flags, keep alive
  if (v === 5) n += propsBlockLength((propsLen = propertiesLength(p.properties)));
  n += stringLength(p.clientId);
  if (p.will !== undefined) {
    if (v === 5) n += propsBlockLength((willPropsLen = propertiesLength(p.will.properties)));
    n += stringLength(p.will.topic) + binaryLength(p.will.payload);
  }
  if (p.username !== undefined) n += stringLength(p.username);
  if (p.password !== undefined) n += binaryLength(p.password);
  return n;
}

function firstByte(p: Packet): number {
  switch (p.type) {
    case PacketType.PUBLISH:
      return 0x30 | (p.dup && p.qos > 0 ? 0x08 : 0) | (p.qos << 1) | (p.retain ? 0x01 : 0); // [MQTT-3.3.1-2]
    case PacketType.PUBREL:
    case PacketType.SUBSCRIBE:
    case PacketType.UNSUBSCRIBE:
      return (p.type << 4) | 0x02; // [MQTT-3.6.1-1] [MQTT-3.8.1-1] [MQTT-3.10.1-1]
    default:
      return p.type << 4;
  }
}

function writePropsBlock(buf: Buffer, off: number, len: number, p: Properties | undefined): number {
  off = writeVarint(buf, off, len);
  return writeProperties(buf, off, p);
}

function writeBody(p: Packet, v: ProtocolVersion, buf: Buffer, off: number): number {
  switch (p.type) {
    case PacketType.PUBLISH:
      return writePublish(p, v, buf, off);
    case PacketType.CONNECT:
      return writeConnect(p, v, buf, off);
    case PacketType.CONNACK:
      return writeConnack(p, v, buf, off);
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
      return writeAck(p, v, buf, off);
    case PacketType.SUBSCRIBE:
      return writeSubscribe(p, v, buf, off);
    case PacketType.SUBACK:
      return writeSuback(p, v, buf, off);
    case PacketType.UNSUBSCRIBE:
      return writeUnsubscribe(p, v, buf, off);
    case PacketType.UNSUBACK:
      return writeUnsuback(p, v, buf, off);
    case PacketType.PINGREQ:
    case PacketType.PINGRESP:
      return off;
    case PacketType.DISCONNECT:
      return v === 5 ? writeShortForm(p, buf, off) : off;
    case PacketType.AUTH:
      return writeShortForm(p, buf, off);
  }
}

function writePublish(p: PublishPacket, v: ProtocolVersion, buf: Buffer, off: number): number {
  off = writeString(buf, off, p.topic);
  if (p.qos > 0) off = writeU16(buf, off, checkPacketId(p.packetId));
  if (v === 5) off = writePropsBlock(buf, off, propsLen, p.properties);
  buf.set(p.payload, off);
  return off + p.payload.length;
}

function writeConnect(p: ConnectPacket, v: ProtocolVersion, buf: Buffer, off: number): number {
  off = writeString(buf, off, v === 3 ? "MQIsdp" : "MQTT");
  buf[off++] = v;
  const w = p.will;
  let flags = p.clean ? 0x02 : 0;
  if (w !== undefined) flags |= 0x04 | (w.qos << 3) | (w.retain ? 0x20 : 0);
  if (p.password !== undefined) flags |= 0x40;
  if (p.username !== undefined) flags |= 0x80;
  buf[off++] = flags;
  off = writeU16(buf, off, p.keepAlive);
  if (v === 5) off = writePropsBlock(buf, off, propsLen, p.properties);
  off = writeString(buf, off, p.clientId);
  if (w !== undefined) {
    if (v === 5) off = writePropsBlock(buf, off, willPropsLen, w.properties);
    off = writeString(buf, off, w.topic);
    off = writeBinary(buf, off, w.payload);
  }
  if (p.username !== undefined) off = writeString(buf, off, p.username);
  if (p.password !== undefined) off = writeBinary(buf, off, p.password);
  return off;
}

function writeConnack(p: ConnackPacket, v: ProtocolVersion, buf: Buffer, off: number): number {
  buf[off++] = p.sessionPresent && v !== 3 ? 1 : 0; // reserved in 3.1
  buf[off++] = p.reasonCode;
  if (v === 5) off = writePropsBlock(buf, off, propsLen, p.properties);
  return off;
}

function writeAck(p: AckPacket<PacketTypeCode>, v: ProtocolVersion, buf: Buffer, off: number): number {
  off = writeU16(buf, off, checkPacketId(p.packetId));
  return v === 5 ? writeShortForm(p, buf, off) : off;
}

/** Reason code then properties, trailing parts omitted when they carry nothing (see shortFormLength). */
function writeShortForm(
  p: AckPacket<PacketTypeCode> | DisconnectPacket | AuthPacket,
  buf: Buffer,
  off: number,
): number {
  const rc = p.reasonCode ?? 0;
  if (propsLen > 0) {
    buf[off++] = rc;
    return writePropsBlock(buf, off, propsLen, p.properties);
  }
  if (rc !== 0) buf[off++] = rc;
  return off;
}

function writeSubscribe(p: SubscribePacket, v: ProtocolVersion, buf: Buffer, off: number): number {
  off = writeU16(buf, off, checkPacketId(p.packetId));
  if (v === 5) off = writePropsBlock(buf, off, propsLen, p.properties);
  for (const s of p.subscriptions) {
    off = writeString(buf, off, s.topicFilter);
    let opts: number = s.qos;
    if (v === 5) {
      if (s.noLocal === true) opts |= 0x04;
      if (s.retainAsPublished === true) opts |= 0x08;
      opts |= (s.retainHandling ?? 0) << 4;
    }
    buf[off++] = opts;
  }
  return off;
}

function writeSuback(p: SubackPacket, v: ProtocolVersion, buf: Buffer, off: number): number {
  off = writeU16(buf, off, checkPacketId(p.packetId));
  if (v === 5) off = writePropsBlock(buf, off, propsLen, p.properties);
  for (const c of p.reasonCodes) buf[off++] = c;
  return off;
}

function writeUnsubscribe(p: UnsubscribePacket, v: ProtocolVersion, buf: Buffer, off: number): number {
  off = writeU16(buf, off, checkPacketId(p.packetId));
  if (v === 5) off = writePropsBlock(buf, off, propsLen, p.properties);
  for (const f of p.topicFilters) off = writeString(buf, off, f);
  return off;
}

function writeUnsuback(p: UnsubackPacket, v: ProtocolVersion, buf: Buffer, off: number): number {
  off = writeU16(buf, off, checkPacketId(p.packetId));
  if (v !== 5) return off;
  off = writePropsBlock(buf, off, propsLen, p.properties);
  if (p.reasonCodes !== undefined) for (const c of p.reasonCodes) buf[off++] = c;
  return off;
}

function checkedRemainingLength(packet: Packet, version: ProtocolVersion): number {
  const rl = remainingLength(packet, version);
  if (rl > MAX_REMAINING_LENGTH) throw new EncodeError(`remaining length ${rl} exceeds ${MAX_REMAINING_LENGTH}`);
  return rl;
}

/** Total encoded size in bytes of `packet` for protocol `version`. */
export function encodedLength(packet: Packet, version: ProtocolVersion): number {
  const rl = checkedRemainingLength(packet, version);
  return 1 + varintLength(rl) + rl;
}

/** Encodes `packet` into `buf` at `offset`; returns the number of bytes written. */
export function encodeInto(packet: Packet, version: ProtocolVersion, buf: Buffer, offset: number): number {
  const rl = checkedRemainingLength(packet, version);
  const total = 1 + varintLength(rl) + rl;
  if (offset < 0 || offset + total > buf.length) {
    throw new RangeError(`encodeInto needs ${total} bytes at offset ${offset}, buffer has ${buf.length}`);
  }
  buf[offset] = firstByte(packet);
  const end = writeBody(packet, version, buf, writeVarint(buf, offset + 1, rl));
  return end - offset;
}

/** PUBLISH without the generic dispatch: the hot path of every broker. */
function encodePublish(p: PublishPacket, v: ProtocolVersion): Buffer {
  const payload = p.payload;
  let rl = stringLength(p.topic) + payload.length;
  if (p.qos > 0) rl += 2;
  let plen = 0;
  if (v === 5) {
    plen = propertiesLength(p.properties);
    rl += varintLength(plen) + plen;
  }
  if (rl > MAX_REMAINING_LENGTH) throw new EncodeError(`remaining length ${rl} exceeds ${MAX_REMAINING_LENGTH}`);
  const buf = Buffer.allocUnsafe(1 + varintLength(rl) + rl);
  buf[0] = 0x30 | (p.dup && p.qos > 0 ? 0x08 : 0) | (p.qos << 1) | (p.retain ? 0x01 : 0); // [MQTT-3.3.1-2]
  let off = rl < 0x80 ? ((buf[1] = rl), 2) : writeVarint(buf, 1, rl);
  off = writeString(buf, off, p.topic);
  if (p.qos > 0) off = writeU16(buf, off, checkPacketId(p.packetId));
  if (v === 5) {
    off = writeVarint(buf, off, plen);
    off = writeProperties(buf, off, p.properties);
  }
  buf.set(payload, off);
  return buf;
}

/** Encodes `packet` into a new Buffer of exactly its size (one allocation). */
export function encode(packet: Packet, version: ProtocolVersion): Buffer {
  if (packet.type === PacketType.PUBLISH) return encodePublish(packet, version);
  const rl = checkedRemainingLength(packet, version);
  const buf = Buffer.allocUnsafe(1 + varintLength(rl) + rl);
  buf[0] = firstByte(packet);
  writeBody(packet, version, buf, writeVarint(buf, 1, rl));
  return buf;
}
