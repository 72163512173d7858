// Body decoders, one per control packet type. Each reads exactly the Remaining Length bytes the
// Reader is bounded to and enforces the rules checkable from the packet alone.
// Decoded packets always carry every field of their type (undefined when absent) so that objects
// of one packet type share one hidden class.
import { ALLOWED_REASON_CODES, REASON_CODE_SPEC_REF, V4_SUBACK_RETURN_CODES } from "./allowed-reason-codes.ts";
import { CodecError } from "./errors.ts";
import { WILL_PROPERTIES } from "./properties.ts";
import type { Reader } from "./reader.ts";
import { PacketType } from "./types.ts";
import type {
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  PacketTypeCode,
  Properties,
  ProtocolVersion,
  PublishPacket,
  QoS,
  SubackPacket,
  SubscribePacket,
  SubscriptionRequest,
  UnsubackPacket,
  UnsubscribePacket,
  Will,
  AckPacket,
  RetainHandling,
} from "./types.ts";

/** Receives the protocol level as soon as CONNECT's level byte is known to be supported. */
export interface VersionSink {
  protocolVersion: ProtocolVersion | undefined;
}

function packetId(r: Reader, v: ProtocolVersion): number {
  const id = r.u16();
  if (id === 0) {
    throw CodecError.protocol("packet identifier 0", v === 5 ? "[MQTT-2.2.1-3]" : "[MQTT-2.3.1-1]");
  }
  return id;
}

function checkReasonCode(type: PacketTypeCode, code: number): number {
  if (ALLOWED_REASON_CODES[type]?.has(code) !== true) {
    throw CodecError.protocol(`reason code 0x${code.toString(16)} not allowed here`, REASON_CODE_SPEC_REF[type]);
  }
  return code;
}

function checkAuthProperties(props: Properties | undefined): void {
  if (props?.authenticationData !== undefined && props.authenticationMethod === undefined) {
    throw CodecError.protocol("authentication data without authentication method", "(3.1.2.11.10)");
  }
}

export function decodeConnect(r: Reader, sink: VersionSink): ConnectPacket {
  const protocolName = r.str();
  const level = r.u8();
  if (protocolName !== "MQTT" && protocolName !== "MQIsdp") {
    throw CodecError.unsupportedVersion(`unknown protocol name ${JSON.stringify(protocolName)}`, "[MQTT-3.1.2-1]");
  }
  if (!((protocolName === "MQTT" && (level === 4 || level === 5)) || (protocolName === "MQIsdp" && level === 3))) {
    throw CodecError.unsupportedVersion(`unsupported protocol ${protocolName} level ${level}`, "[MQTT-3.1.2-2]");
  }
  const v = level;
  // Lets the server answer a CONNECT that fails later in the right CONNACK format.
  sink.protocolVersion ??= v;
  const flags = r.u8();
  if ((flags & 0x01) !== 0) throw CodecError.malformed("CONNECT reserved flag set", "[MQTT-3.1.2-3]");
  const clean = (flags & 0x02) !== 0;
  const willFlag = (flags & 0x04) !== 0;
  const willQoS = (flags >> 3) & 0x03;
  const willRetain = (flags & 0x20) !== 0;
  const passwordFlag = (flags & 0x40) !== 0;
  const usernameFlag = (flags & 0x80) !== 0;
  if (willQoS === 3) throw CodecError.malformed("will QoS 3", v === 5 ? "[MQTT-3.1.2-12]" : "[MQTT-3.1.2-14]");
  if (!willFlag && willQoS !== 0) {
    throw CodecError.malformed("will QoS without will flag", v === 5 ? "[MQTT-3.1.2-11]" : "[MQTT-3.1.2-13]");
  }
  if (!willFlag && willRetain) {
    throw CodecError.malformed("will retain without will flag", v === 5 ? "[MQTT-3.1.2-13]" : "[MQTT-3.1.2-15]");
  }
  if (v !== 5 && passwordFlag && !usernameFlag) {
    throw CodecError.malformed("password flag without user name flag", "[MQTT-3.1.2-22]");
  }
  const keepAlive = r.u16();
  let properties: Properties | undefined;
  if (v === 5) {
    properties = r.properties(PacketType.CONNECT);
    checkAuthProperties(properties);
  }
  const clientId = r.str(); // [MQTT-3.1.3-4]
  let will: Will | undefined;
  if (willFlag) {
    const willProps = v === 5 ? r.properties(WILL_PROPERTIES) : undefined;
    const topic = r.topicName(); // no wildcards [MQTT-3.3.2-2]
    if (topic.length === 0) throw CodecError.topicName("empty will topic", "[MQTT-4.7.3-1]");
    const payload = r.bin();
    will = { topic, payload, qos: willQoS as QoS, retain: willRetain, properties: willProps };
  }
  const username = usernameFlag ? r.str() : undefined;
  const password = passwordFlag ? r.bin() : undefined;
  r.expectEnd("CONNECT");
  return {
    type: PacketType.CONNECT,
    protocolName,
    protocolVersion: v,
    clean,
    keepAlive,
    clientId,
    username,
    password,
    will,
    properties,
  };
}

export function decodeConnack(r: Reader, v: ProtocolVersion): ConnackPacket {
  const ackFlags = r.u8();
  if (v !== 3 && (ackFlags & 0xfe) !== 0) throw CodecError.malformed("CONNACK reserved flags set", "[MQTT-3.2.2-1]");
  const sessionPresent = v !== 3 && (ackFlags & 0x01) !== 0;
  const reasonCode = r.u8();
  let properties: Properties | undefined;
  if (v === 5) {
    checkReasonCode(PacketType.CONNACK, reasonCode);
    properties = r.properties(PacketType.CONNACK);
    checkAuthProperties(properties);
  } else if (reasonCode > 5) {
    throw CodecError.protocol(`CONNACK return code ${reasonCode} is reserved`, "(3.2.2.3)");
  }
  if (sessionPresent && reasonCode !== 0) {
    throw CodecError.protocol("session present with a failure code", v === 5 ? "[MQTT-3.2.2-6]" : "[MQTT-3.2.2-4]");
  }
  r.expectEnd("CONNACK");
  return { type: PacketType.CONNACK, sessionPresent, reasonCode, properties };
}

export function decodePublish(r: Reader, flags: number, v: ProtocolVersion): PublishPacket {
  const qos = ((flags >> 1) & 0x03) as QoS; // QoS 3 and DUP on QoS 0 were rejected from the fixed header
  const topic = r.topicName(); // [MQTT-3.3.2-2]
  const id = qos > 0 ? packetId(r, v) : undefined;
  let properties: Properties | undefined;
  if (v === 5) {
    properties = r.properties(PacketType.PUBLISH);
    if (topic.length === 0 && properties?.topicAlias === undefined) {
      throw CodecError.protocol("empty topic name without topic alias", "(3.3.2.3.4)");
    }
  } else if (topic.length === 0) {
    throw CodecError.topicName("empty topic name", "[MQTT-4.7.3-1]");
  }
  return {
    type: PacketType.PUBLISH,
    dup: (flags & 0x08) !== 0,
    qos,
    retain: (flags & 0x01) !== 0,
    topic,
    packetId: id,
    payload: r.rest(),
    properties,
  };
}

type AckType =
  | typeof PacketType.PUBACK
  | typeof PacketType.PUBREC
  | typeof PacketType.PUBREL
  | typeof PacketType.PUBCOMP;

/** PUBACK, PUBREC, PUBREL, PUBCOMP. 5.0 may omit reason code (= 0) and properties. */
export function decodeAck<T extends AckType>(r: Reader, type: T, v: ProtocolVersion): AckPacket<T> {
  const id = packetId(r, v);
  let reasonCode: number | undefined;
  let properties: Properties | undefined;
  if (v === 5) {
    reasonCode = r.remaining > 0 ? checkReasonCode(type, r.u8()) : 0;
    if (r.remaining > 0) properties = r.properties(type);
  }
  r.expectEnd("acknowledgement");
  return { type, packetId: id, reasonCode, properties };
}

export function decodeSubscribe(r: Reader, v: ProtocolVersion): SubscribePacket {
  const id = packetId(r, v);
  const properties = v === 5 ? r.properties(PacketType.SUBSCRIBE) : undefined;
  const subscriptions: SubscriptionRequest[] = [];
  while (r.remaining > 0) {
    const topicFilter = r.str();
    const opts = r.u8();
    const qos = opts & 0x03;
    if (v === 5) {
      if ((opts & 0xc0) !== 0) throw CodecError.malformed("reserved subscription option bits set", "[MQTT-3.8.3-5]");
      if (qos === 3) throw CodecError.protocol("subscription QoS 3", "(3.8.3.1)");
      const retainHandling = (opts >> 4) & 0x03;
      if (retainHandling === 3) throw CodecError.protocol("retain handling 3", "(3.8.3.1)");
      const noLocal = (opts & 0x04) !== 0;
      if (noLocal && topicFilter.startsWith("$share/")) {
        throw CodecError.protocol("no local on a shared subscription", "[MQTT-3.8.3-4]");
      }
      subscriptions.push({
        topicFilter,
        qos: qos as QoS,
        noLocal,
        retainAsPublished: (opts & 0x08) !== 0,
        retainHandling: retainHandling as RetainHandling,
      });
    } else {
      if ((opts & 0xfc) !== 0 || qos === 3) {
        throw CodecError.malformed("reserved bits set or QoS 3 in SUBSCRIBE payload", "[MQTT-3-8.3-4]");
      }
      subscriptions.push({ topicFilter, qos: qos as QoS, noLocal: false, retainAsPublished: false, retainHandling: 0 });
    }
  }
  if (subscriptions.length === 0) {
    throw CodecError.protocol("SUBSCRIBE without topic filters", v === 5 ? "[MQTT-3.8.3-2]" : "[MQTT-3.8.3-3]");
  }
  return { type: PacketType.SUBSCRIBE, packetId: id, subscriptions, properties };
}

export function decodeSuback(r: Reader, v: ProtocolVersion): SubackPacket {
  const id = packetId(r, v);
  const properties = v === 5 ? r.properties(PacketType.SUBACK) : undefined;
  const reasonCodes: number[] = [];
  while (r.remaining > 0) {
    const code = r.u8();
    if (v === 5) checkReasonCode(PacketType.SUBACK, code);
    else if (!V4_SUBACK_RETURN_CODES.has(code)) {
      throw CodecError.protocol(`SUBACK return code 0x${code.toString(16)} is reserved`, "[MQTT-3.9.3-2]");
    }
    reasonCodes.push(code);
  }
  return { type: PacketType.SUBACK, packetId: id, reasonCodes, properties };
}

export function decodeUnsubscribe(r: Reader, v: ProtocolVersion): UnsubscribePacket {
  const id = packetId(r, v);
  const properties = v === 5 ? r.properties(PacketType.UNSUBSCRIBE) : undefined;
  const topicFilters: string[] = [];
  while (r.remaining > 0) topicFilters.push(r.str());
  if (topicFilters.length === 0) throw CodecError.protocol("UNSUBSCRIBE without topic filters", "[MQTT-3.10.3-2]");
  return { type: PacketType.UNSUBSCRIBE, packetId: id, topicFilters, properties };
}

export function decodeUnsuback(r: Reader, v: ProtocolVersion): UnsubackPacket {
  const id = packetId(r, v);
  if (v !== 5) {
    r.expectEnd("UNSUBACK");
    return { type: PacketType.UNSUBACK, packetId: id, reasonCodes: undefined, properties: undefined };
  }
  const properties = r.properties(PacketType.UNSUBACK);
  const reasonCodes: number[] = [];
  while (r.remaining > 0) reasonCodes.push(checkReasonCode(PacketType.UNSUBACK, r.u8()));
  return { type: PacketType.UNSUBACK, packetId: id, reasonCodes, properties };
}

export function decodeDisconnect(r: Reader, v: ProtocolVersion): DisconnectPacket {
  let reasonCode: number | undefined;
  let properties: Properties | undefined;
  if (v === 5) {
    reasonCode = r.remaining > 0 ? checkReasonCode(PacketType.DISCONNECT, r.u8()) : 0;
    if (r.remaining > 0) properties = r.properties(PacketType.DISCONNECT);
  }
  r.expectEnd("DISCONNECT");
  return { type: PacketType.DISCONNECT, reasonCode, properties };
}

export function decodeAuth(r: Reader): AuthPacket {
  const reasonCode = r.remaining > 0 ? checkReasonCode(PacketType.AUTH, r.u8()) : 0;
  const properties = r.remaining > 0 ? r.properties(PacketType.AUTH) : undefined;
  checkAuthProperties(properties);
  r.expectEnd("AUTH");
  return { type: PacketType.AUTH, reasonCode, properties };
}
