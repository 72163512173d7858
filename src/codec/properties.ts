// MQTT 5.0 property table [MQTT-2.2.2]: identifier, wire type, which packets may carry each
// property and whether it may repeat. The decoder and tests are driven by this table.
import { PacketType } from "./types.ts";
import type { Properties } from "./types.ts";

/** Wire data types of properties [MQTT-1.5]. */
export const PropertyWireType = {
  Byte: "byte",
  TwoByteInteger: "two-byte-integer",
  FourByteInteger: "four-byte-integer",
  VariableByteInteger: "variable-byte-integer",
  Utf8String: "utf8-string",
  BinaryData: "binary-data",
  Utf8StringPair: "utf8-string-pair",
} as const;
export type PropertyWireTypeValue = (typeof PropertyWireType)[keyof typeof PropertyWireType];

/** Where properties appear: a packet type (1..15) or the Will Properties of CONNECT. */
export const WILL_PROPERTIES = 16;
export type PropertyContext = (typeof PacketType)[keyof typeof PacketType] | typeof WILL_PROPERTIES;

export interface PropertyDefinition {
  readonly id: number;
  readonly name: keyof Properties;
  readonly type: PropertyWireTypeValue;
  /** Packets (and/or WILL_PROPERTIES) that may carry it; anything else is a Malformed Packet (2.2.2.2). */
  readonly packets: readonly PropertyContext[];
  /** "always": User Property; "publish": Subscription Identifier repeats only in PUBLISH; "never": Protocol Error if repeated. */
  readonly repeat: "always" | "publish" | "never";
  /** Bit mask over contexts (1 << context), derived from `packets`. */
  readonly mask: number;
}

const T = PropertyWireType;
const P = PacketType;
const W = WILL_PROPERTIES;
const ACKS_AND_MORE = [P.CONNACK, P.PUBACK, P.PUBREC, P.PUBREL, P.PUBCOMP, P.SUBACK, P.UNSUBACK, P.DISCONNECT, P.AUTH];
const ALL_WITH_PROPERTIES: readonly PropertyContext[] = [
  P.CONNECT,
  P.CONNACK,
  P.PUBLISH,
  W,
  P.PUBACK,
  P.PUBREC,
  P.PUBREL,
  P.PUBCOMP,
  P.SUBSCRIBE,
  P.SUBACK,
  P.UNSUBSCRIBE,
  P.UNSUBACK,
  P.DISCONNECT,
  P.AUTH,
];

function def(
  id: number,
  name: keyof Properties,
  type: PropertyWireTypeValue,
  packets: readonly PropertyContext[],
  repeat: "always" | "publish" | "never" = "never",
): PropertyDefinition {
  let mask = 0;
  for (const c of packets) mask |= 1 << c;
  return Object.freeze({ id, name, type, packets: Object.freeze([...packets]), repeat, mask });
}

/** Every MQTT 5.0 property, by identifier. */
export const PROPERTY = Object.freeze({
  payloadFormatIndicator: def(0x01, "payloadFormatIndicator", T.Byte, [P.PUBLISH, W]),
  messageExpiryInterval: def(0x02, "messageExpiryInterval", T.FourByteInteger, [P.PUBLISH, W]),
  contentType: def(0x03, "contentType", T.Utf8String, [P.PUBLISH, W]),
  responseTopic: def(0x08, "responseTopic", T.Utf8String, [P.PUBLISH, W]),
  correlationData: def(0x09, "correlationData", T.BinaryData, [P.PUBLISH, W]),
  subscriptionIdentifiers: def(
    0x0b,
    "subscriptionIdentifiers",
    T.VariableByteInteger,
    [P.PUBLISH, P.SUBSCRIBE],
    "publish",
  ),
  sessionExpiryInterval: def(0x11, "sessionExpiryInterval", T.FourByteInteger, [P.CONNECT, P.CONNACK, P.DISCONNECT]),
  assignedClientIdentifier: def(0x12, "assignedClientIdentifier", T.Utf8String, [P.CONNACK]),
  serverKeepAlive: def(0x13, "serverKeepAlive", T.TwoByteInteger, [P.CONNACK]),
  authenticationMethod: def(0x15, "authenticationMethod", T.Utf8String, [P.CONNECT, P.CONNACK, P.AUTH]),
  authenticationData: def(0x16, "authenticationData", T.BinaryData, [P.CONNECT, P.CONNACK, P.AUTH]),
  requestProblemInformation: def(0x17, "requestProblemInformation", T.Byte, [P.CONNECT]),
  willDelayInterval: def(0x18, "willDelayInterval", T.FourByteInteger, [W]),
  requestResponseInformation: def(0x19, "requestResponseInformation", T.Byte, [P.CONNECT]),
  responseInformation: def(0x1a, "responseInformation", T.Utf8String, [P.CONNACK]),
  serverReference: def(0x1c, "serverReference", T.Utf8String, [P.CONNACK, P.DISCONNECT]),
  reasonString: def(0x1f, "reasonString", T.Utf8String, ACKS_AND_MORE),
  receiveMaximum: def(0x21, "receiveMaximum", T.TwoByteInteger, [P.CONNECT, P.CONNACK]),
  topicAliasMaximum: def(0x22, "topicAliasMaximum", T.TwoByteInteger, [P.CONNECT, P.CONNACK]),
  topicAlias: def(0x23, "topicAlias", T.TwoByteInteger, [P.PUBLISH]),
  maximumQoS: def(0x24, "maximumQoS", T.Byte, [P.CONNACK]),
  retainAvailable: def(0x25, "retainAvailable", T.Byte, [P.CONNACK]),
  userProperties: def(0x26, "userProperties", T.Utf8StringPair, ALL_WITH_PROPERTIES, "always"),
  maximumPacketSize: def(0x27, "maximumPacketSize", T.FourByteInteger, [P.CONNECT, P.CONNACK]),
  wildcardSubscriptionAvailable: def(0x28, "wildcardSubscriptionAvailable", T.Byte, [P.CONNACK]),
  subscriptionIdentifiersAvailable: def(0x29, "subscriptionIdentifiersAvailable", T.Byte, [P.CONNACK]),
  sharedSubscriptionAvailable: def(0x2a, "sharedSubscriptionAvailable", T.Byte, [P.CONNACK]),
} satisfies Record<keyof Properties, PropertyDefinition>);

/** Lookup by wire identifier (sparse; undefined for unknown identifiers). */
export const PROPERTY_BY_ID: readonly (PropertyDefinition | undefined)[] = (() => {
  const table: (PropertyDefinition | undefined)[] = new Array<PropertyDefinition | undefined>(0x2b).fill(undefined);
  for (const d of Object.values(PROPERTY)) table[d.id] = d;
  return Object.freeze(table);
})();

/** Byte properties whose only defined values are 0 and 1; anything else is a Protocol Error. */
export const BOOLEAN_BYTE_PROPERTIES: ReadonlySet<number> = new Set([0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2a]);

/** True when property `name` may appear in `context` (packet type or WILL_PROPERTIES). */
export function isPropertyAllowed(name: keyof Properties, context: PropertyContext): boolean {
  return (PROPERTY[name].mask & (1 << context)) !== 0;
}
