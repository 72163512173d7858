// Property encoding. The order is fixed: the three per-subscriber PUBLISH properties (Topic
// Alias, Message Expiry Interval, Subscription Identifiers) first, then all others by
// identifier. PreparedPublish relies on this to splice per-subscriber bytes before a cached
// encoding of the message's own properties.
import { MAX_STRING_BYTES, MAX_UINT16 } from "../util/limits.ts";
import { EncodeError } from "./errors.ts";
import type { Properties, UserProperty } from "./types.ts";
import { utf8Write } from "./utf8.ts";

export function varintLength(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4;
}

export function writeVarint(buf: Buffer, off: number, n: number): number {
  while (n >= 0x80) {
    buf[off++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  buf[off++] = n;
  return off;
}

export function writeU16(buf: Buffer, off: number, n: number): number {
  buf[off] = n >>> 8;
  buf[off + 1] = n & 0xff;
  return off + 2;
}

export function writeU32(buf: Buffer, off: number, n: number): number {
  buf[off] = n >>> 24;
  buf[off + 1] = (n >>> 16) & 0xff;
  buf[off + 2] = (n >>> 8) & 0xff;
  buf[off + 3] = n & 0xff;
  return off + 4;
}

/** Encoded size of a UTF-8 string field (two-byte length + bytes) [MQTT-1.5.4]. */
export function stringLength(s: string): number {
  const n = s.length < 0x80 && isAsciiShort(s) ? s.length : Buffer.byteLength(s, "utf8");
  if (n > MAX_STRING_BYTES) throw new EncodeError(`string of ${n} bytes exceeds 65,535`);
  return n + 2;
}

function isAsciiShort(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return false;
  return true;
}

/**
 * Writes the string after a two-byte length prefix. Short ASCII strings (topics, client ids,
 * property names) are copied by a JS loop, cheaper than a call into the UTF-8 encoder; anything
 * else goes through utf8Write and the prefix is filled in from the bytes actually written.
 */
export function writeString(buf: Buffer, off: number, s: string): number {
  const len = s.length;
  if (len <= 64) {
    let i = 0;
    const start = off + 2;
    for (; i < len; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      buf[start + i] = c;
    }
    if (i === len) {
      buf[off] = len >>> 8;
      buf[off + 1] = len & 0xff;
      return start + len;
    }
  }
  const n = utf8Write(buf, s, off + 2);
  buf[off] = n >>> 8;
  buf[off + 1] = n & 0xff;
  return off + 2 + n;
}

export function binaryLength(b: Buffer): number {
  if (b.length > MAX_UINT16) throw new EncodeError(`binary data of ${b.length} bytes exceeds 65,535`);
  return b.length + 2;
}

export function writeBinary(buf: Buffer, off: number, b: Buffer): number {
  buf[off] = b.length >>> 8;
  buf[off + 1] = b.length & 0xff;
  buf.set(b, off + 2);
  return off + 2 + b.length;
}

function userPropertiesLength(list: readonly UserProperty[]): number {
  let n = 0;
  for (let i = 0; i < list.length; i++) {
    const up = list[i]!;
    n += 1 + stringLength(up[0]) + stringLength(up[1]);
  }
  return n;
}

/** Byte length of the encoded properties, without the Property Length prefix. */
export function propertiesLength(p: Properties | undefined): number {
  if (p === undefined) return 0;
  let n = 0;
  if (p.topicAlias !== undefined) n += 3;
  if (p.messageExpiryInterval !== undefined) n += 5;
  if (p.subscriptionIdentifiers !== undefined) {
    const ids = p.subscriptionIdentifiers;
    for (let i = 0; i < ids.length; i++) n += 1 + varintLength(ids[i]!);
  }
  if (p.payloadFormatIndicator !== undefined) n += 2;
  if (p.contentType !== undefined) n += 1 + stringLength(p.contentType);
  if (p.responseTopic !== undefined) n += 1 + stringLength(p.responseTopic);
  if (p.correlationData !== undefined) n += 1 + binaryLength(p.correlationData);
  if (p.sessionExpiryInterval !== undefined) n += 5;
  if (p.assignedClientIdentifier !== undefined) n += 1 + stringLength(p.assignedClientIdentifier);
  if (p.serverKeepAlive !== undefined) n += 3;
  if (p.authenticationMethod !== undefined) n += 1 + stringLength(p.authenticationMethod);
  if (p.authenticationData !== undefined) n += 1 + binaryLength(p.authenticationData);
  if (p.requestProblemInformation !== undefined) n += 2;
  if (p.willDelayInterval !== undefined) n += 5;
  if (p.requestResponseInformation !== undefined) n += 2;
  if (p.responseInformation !== undefined) n += 1 + stringLength(p.responseInformation);
  if (p.serverReference !== undefined) n += 1 + stringLength(p.serverReference);
  if (p.reasonString !== undefined) n += 1 + stringLength(p.reasonString);
  if (p.receiveMaximum !== undefined) n += 3;
  if (p.topicAliasMaximum !== undefined) n += 3;
  if (p.maximumQoS !== undefined) n += 2;
  if (p.retainAvailable !== undefined) n += 2;
  if (p.userProperties !== undefined) n += userPropertiesLength(p.userProperties);
  if (p.maximumPacketSize !== undefined) n += 5;
  if (p.wildcardSubscriptionAvailable !== undefined) n += 2;
  if (p.subscriptionIdentifiersAvailable !== undefined) n += 2;
  if (p.sharedSubscriptionAvailable !== undefined) n += 2;
  return n;
}

function byteProp(buf: Buffer, off: number, id: number, v: number): number {
  buf[off] = id;
  buf[off + 1] = v;
  return off + 2;
}

function u16Prop(buf: Buffer, off: number, id: number, v: number): number {
  buf[off] = id;
  return writeU16(buf, off + 1, v);
}

function u32Prop(buf: Buffer, off: number, id: number, v: number): number {
  buf[off] = id;
  return writeU32(buf, off + 1, v);
}

function strProp(buf: Buffer, off: number, id: number, v: string): number {
  buf[off] = id;
  return writeString(buf, off + 1, v);
}

function binProp(buf: Buffer, off: number, id: number, v: Buffer): number {
  buf[off] = id;
  return writeBinary(buf, off + 1, v);
}

/** Writes the properties (without the Property Length prefix); returns the new offset. */
export function writeProperties(buf: Buffer, off: number, p: Properties | undefined): number {
  if (p === undefined) return off;
  if (p.topicAlias !== undefined) off = u16Prop(buf, off, 0x23, p.topicAlias);
  if (p.messageExpiryInterval !== undefined) off = u32Prop(buf, off, 0x02, p.messageExpiryInterval);
  if (p.subscriptionIdentifiers !== undefined) {
    for (const id of p.subscriptionIdentifiers) {
      buf[off] = 0x0b;
      off = writeVarint(buf, off + 1, id);
    }
  }
  if (p.payloadFormatIndicator !== undefined) off = byteProp(buf, off, 0x01, p.payloadFormatIndicator);
  if (p.contentType !== undefined) off = strProp(buf, off, 0x03, p.contentType);
  if (p.responseTopic !== undefined) off = strProp(buf, off, 0x08, p.responseTopic);
  if (p.correlationData !== undefined) off = binProp(buf, off, 0x09, p.correlationData);
  if (p.sessionExpiryInterval !== undefined) off = u32Prop(buf, off, 0x11, p.sessionExpiryInterval);
  if (p.assignedClientIdentifier !== undefined) off = strProp(buf, off, 0x12, p.assignedClientIdentifier);
  if (p.serverKeepAlive !== undefined) off = u16Prop(buf, off, 0x13, p.serverKeepAlive);
  if (p.authenticationMethod !== undefined) off = strProp(buf, off, 0x15, p.authenticationMethod);
  if (p.authenticationData !== undefined) off = binProp(buf, off, 0x16, p.authenticationData);
  if (p.requestProblemInformation !== undefined) off = byteProp(buf, off, 0x17, p.requestProblemInformation);
  if (p.willDelayInterval !== undefined) off = u32Prop(buf, off, 0x18, p.willDelayInterval);
  if (p.requestResponseInformation !== undefined) off = byteProp(buf, off, 0x19, p.requestResponseInformation);
  if (p.responseInformation !== undefined) off = strProp(buf, off, 0x1a, p.responseInformation);
  if (p.serverReference !== undefined) off = strProp(buf, off, 0x1c, p.serverReference);
  if (p.reasonString !== undefined) off = strProp(buf, off, 0x1f, p.reasonString);
  if (p.receiveMaximum !== undefined) off = u16Prop(buf, off, 0x21, p.receiveMaximum);
  if (p.topicAliasMaximum !== undefined) off = u16Prop(buf, off, 0x22, p.topicAliasMaximum);
  if (p.maximumQoS !== undefined) off = byteProp(buf, off, 0x24, p.maximumQoS);
  if (p.retainAvailable !== undefined) off = byteProp(buf, off, 0x25, p.retainAvailable);
  if (p.userProperties !== undefined) off = writeUserProperties(buf, off, p.userProperties);
  if (p.maximumPacketSize !== undefined) off = u32Prop(buf, off, 0x27, p.maximumPacketSize);
  if (p.wildcardSubscriptionAvailable !== undefined) off = byteProp(buf, off, 0x28, p.wildcardSubscriptionAvailable);
  if (p.subscriptionIdentifiersAvailable !== undefined) {
    off = byteProp(buf, off, 0x29, p.subscriptionIdentifiersAvailable);
  }
  if (p.sharedSubscriptionAvailable !== undefined) off = byteProp(buf, off, 0x2a, p.sharedSubscriptionAvailable);
  return off;
}

function writeUserProperties(buf: Buffer, off: number, list: readonly UserProperty[]): number {
  for (let i = 0; i < list.length; i++) {
    const up = list[i]!;
    buf[off] = 0x26;
    off = writeString(buf, off + 1, up[0]);
    off = writeString(buf, off, up[1]);
  }
  return off;
}

// The properties a server forwards on PUBLISH (src/broker/message.ts forwardedProperties: payload format, content
// type, response topic, correlation data, user properties): every routed message's properties have these keys
// alone. propertiesLength() and writeProperties() look up all 27 fields, at sites that see every packet's
// properties (CONNACK, SUBSCRIBE, DISCONNECT...) and so make each look-up megamorphic: ~300-400 ns for a message
// whose one property is the `traceparent` a traced message forwards (0.3-0.4 µs of a ~3.4 µs trace in the fan-in
// profile at 10 % sampling; a micro-benchmark with such sites: 650-990 against 50-80 ns, docs/benchmarks.md stop 23).
// These read the five fields only, after one pass over the keys says there is nothing else.

/** Whether every enumerable key of `p` is one of the five forwarded properties (then *Forwarded() encode it all). */
export function onlyForwarded(p: Properties): boolean {
  for (const k in p) {
    if (
      k !== "userProperties" &&
      k !== "payloadFormatIndicator" &&
      k !== "contentType" &&
      k !== "responseTopic" &&
      k !== "correlationData"
    )
      return false;
  }
  return true;
}

/** propertiesLength() of `p` when onlyForwarded(p). */
export function forwardedLength(p: Properties): number {
  let n = 0;
  if (p.payloadFormatIndicator !== undefined) n += 2;
  if (p.contentType !== undefined) n += 1 + stringLength(p.contentType);
  if (p.responseTopic !== undefined) n += 1 + stringLength(p.responseTopic);
  if (p.correlationData !== undefined) n += 1 + binaryLength(p.correlationData);
  if (p.userProperties !== undefined) n += userPropertiesLength(p.userProperties);
  return n;
}

/** writeProperties() of `p` when onlyForwarded(p): the same bytes, in the same order. */
export function writeForwarded(buf: Buffer, off: number, p: Properties): number {
  if (p.payloadFormatIndicator !== undefined) off = byteProp(buf, off, 0x01, p.payloadFormatIndicator);
  if (p.contentType !== undefined) off = strProp(buf, off, 0x03, p.contentType);
  if (p.responseTopic !== undefined) off = strProp(buf, off, 0x08, p.responseTopic);
  if (p.correlationData !== undefined) off = binProp(buf, off, 0x09, p.correlationData);
  if (p.userProperties !== undefined) off = writeUserProperties(buf, off, p.userProperties);
  return off;
}
