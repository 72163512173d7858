// Typed MQTT control packets for protocol levels 3 (3.1, "MQIsdp"), 4 (3.1.1) and 5 (5.0).
// This file is the contract between the codec and every layer above it.

/** MQTT control packet types, fixed header bits 7-4 [MQTT-2.1.2]. */
export const PacketType = {
  CONNECT: 1,
  CONNACK: 2,
  PUBLISH: 3,
  PUBACK: 4,
  PUBREC: 5,
  PUBREL: 6,
  PUBCOMP: 7,
  SUBSCRIBE: 8,
  SUBACK: 9,
  UNSUBSCRIBE: 10,
  UNSUBACK: 11,
  PINGREQ: 12,
  PINGRESP: 13,
  DISCONNECT: 14,
  AUTH: 15,
} as const;
export type PacketTypeCode = (typeof PacketType)[keyof typeof PacketType];

/** Protocol level byte of CONNECT: 3 = MQTT 3.1 ("MQIsdp"), 4 = 3.1.1, 5 = 5.0. */
export type ProtocolVersion = 3 | 4 | 5;
export type QoS = 0 | 1 | 2;
export type RetainHandling = 0 | 1 | 2;
export type UserProperty = readonly [key: string, value: string];

/**
 * MQTT 5.0 properties [MQTT-2.2.2]. Every property is optional; which ones a packet may carry
 * is enforced by the codec. `userProperties` keeps wire order and may repeat keys.
 * `subscriptionIdentifiers` may hold several values only on PUBLISH (server to client); on
 * SUBSCRIBE at most one.
 */
export interface Properties {
  payloadFormatIndicator?: number; // 0x01 byte
  messageExpiryInterval?: number; // 0x02 four-byte integer
  contentType?: string; // 0x03 UTF-8 string
  responseTopic?: string; // 0x08 UTF-8 string
  correlationData?: Buffer; // 0x09 binary data
  subscriptionIdentifiers?: number[]; // 0x0B variable byte integer
  sessionExpiryInterval?: number; // 0x11 four-byte integer
  assignedClientIdentifier?: string; // 0x12 UTF-8 string
  serverKeepAlive?: number; // 0x13 two-byte integer
  authenticationMethod?: string; // 0x15 UTF-8 string
  authenticationData?: Buffer; // 0x16 binary data
  requestProblemInformation?: number; // 0x17 byte
  willDelayInterval?: number; // 0x18 four-byte integer
  requestResponseInformation?: number; // 0x19 byte
  responseInformation?: string; // 0x1A UTF-8 string
  serverReference?: string; // 0x1C UTF-8 string
  reasonString?: string; // 0x1F UTF-8 string
  receiveMaximum?: number; // 0x21 two-byte integer
  topicAliasMaximum?: number; // 0x22 two-byte integer
  topicAlias?: number; // 0x23 two-byte integer
  maximumQoS?: number; // 0x24 byte
  retainAvailable?: number; // 0x25 byte
  userProperties?: UserProperty[]; // 0x26 UTF-8 string pair
  maximumPacketSize?: number; // 0x27 four-byte integer
  wildcardSubscriptionAvailable?: number; // 0x28 byte
  subscriptionIdentifiersAvailable?: number; // 0x29 byte
  sharedSubscriptionAvailable?: number; // 0x2A byte
}

export interface Will {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  /** MQTT 5 will properties (will delay, expiry, content type, response topic, …). */
  properties?: Properties;
}

export interface ConnectPacket {
  type: typeof PacketType.CONNECT;
  /** "MQTT" for levels 4 and 5, "MQIsdp" for level 3. */
  protocolName: string;
  protocolVersion: ProtocolVersion;
  /** Clean Session (3.1/3.1.1) or Clean Start (5.0). */
  clean: boolean;
  keepAlive: number;
  clientId: string;
  username?: string;
  password?: Buffer;
  will?: Will;
  properties?: Properties;
}

export interface ConnackPacket {
  type: typeof PacketType.CONNACK;
  sessionPresent: boolean;
  /** 3.1.1 return code (0-5) or 5.0 reason code. */
  reasonCode: number;
  properties?: Properties;
}

export interface PublishPacket {
  type: typeof PacketType.PUBLISH;
  dup: boolean;
  qos: QoS;
  retain: boolean;
  /** May be "" in 5.0 when a topic alias is used. */
  topic: string;
  /** Present (1..65535) iff qos > 0. */
  packetId?: number;
  /** Zero-copy slice of the input when the packet sat inside one chunk. */
  payload: Buffer;
  properties?: Properties;
}

/** PUBACK, PUBREC, PUBREL, PUBCOMP share one shape. reasonCode absent means 0x00 Success. */
export interface AckPacket<T extends PacketTypeCode> {
  type: T;
  packetId: number;
  reasonCode?: number;
  properties?: Properties;
}
export type PubackPacket = AckPacket<typeof PacketType.PUBACK>;
export type PubrecPacket = AckPacket<typeof PacketType.PUBREC>;
export type PubrelPacket = AckPacket<typeof PacketType.PUBREL>;
export type PubcompPacket = AckPacket<typeof PacketType.PUBCOMP>;

export interface SubscriptionRequest {
  topicFilter: string;
  qos: QoS;
  /** 5.0 subscription options; absent = false / 0. */
  noLocal?: boolean;
  retainAsPublished?: boolean;
  retainHandling?: RetainHandling;
}

export interface SubscribePacket {
  type: typeof PacketType.SUBSCRIBE;
  packetId: number;
  subscriptions: SubscriptionRequest[];
  properties?: Properties;
}

export interface SubackPacket {
  type: typeof PacketType.SUBACK;
  packetId: number;
  /** Granted QoS (0,1,2) or failure (0x80 in 3.1.1; any 5.0 reason code). */
  reasonCodes: number[];
  properties?: Properties;
}

export interface UnsubscribePacket {
  type: typeof PacketType.UNSUBSCRIBE;
  packetId: number;
  topicFilters: string[];
  properties?: Properties;
}

export interface UnsubackPacket {
  type: typeof PacketType.UNSUBACK;
  packetId: number;
  /** 5.0 only: one reason code per filter. Absent for 3.1/3.1.1. */
  reasonCodes?: number[];
  properties?: Properties;
}

export interface PingreqPacket {
  type: typeof PacketType.PINGREQ;
}
export interface PingrespPacket {
  type: typeof PacketType.PINGRESP;
}

export interface DisconnectPacket {
  type: typeof PacketType.DISCONNECT;
  /** 5.0 only; absent means 0x00 Normal disconnection. */
  reasonCode?: number;
  properties?: Properties;
}

export interface AuthPacket {
  type: typeof PacketType.AUTH;
  /** Absent means 0x00 Success. */
  reasonCode?: number;
  properties?: Properties;
}

export type Packet =
  | ConnectPacket
  | ConnackPacket
  | PublishPacket
  | PubackPacket
  | PubrecPacket
  | PubrelPacket
  | PubcompPacket
  | SubscribePacket
  | SubackPacket
  | UnsubscribePacket
  | UnsubackPacket
  | PingreqPacket
  | PingrespPacket
  | DisconnectPacket
  | AuthPacket;
