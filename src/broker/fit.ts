// Keeping server packets within a 5.0 client's Maximum Packet Size. A Reason String or User Properties MUST NOT be
// sent if they would make the packet larger than the client accepts: CONNACK [MQTT-3.2.2-19] [MQTT-3.2.2-20],
// PUBACK [MQTT-3.4.2-2] [MQTT-3.4.2-3], PUBREC/PUBREL/PUBCOMP (3.5.2 / 3.6.2 / 3.7.2), SUBACK [MQTT-3.9.2-1]
// [MQTT-3.9.2-2], UNSUBACK [MQTT-3.11.2-1] [MQTT-3.11.2-2], DISCONNECT [MQTT-3.14.2-3] [MQTT-3.14.2-4], AUTH
// [MQTT-3.15.2-2] [MQTT-3.15.2-3]. They are optional diagnostics, so they are dropped (Reason String first) rather
// than the packet. PUBLISH is not handled here: an oversized message is skipped for that client instead.
import { encode } from "../codec/index.ts";
import type { Packet, Properties, ProtocolVersion } from "../codec/index.ts";

function withProperties(packet: Packet, properties: Properties): Packet {
  return Object.assign({}, packet, { properties });
}

/** Encodes `packet`; for 5.0, drops its Reason String and then its User Properties when it would exceed `max`. */
export function encodeWithin(packet: Packet, version: ProtocolVersion, max: number): Buffer {
  const buf = encode(packet, version);
  if (buf.length <= max || version !== 5 || !("properties" in packet) || packet.properties === undefined) return buf;
  const { reasonString, userProperties, ...rest } = packet.properties;
  if (reasonString === undefined && userProperties === undefined) return buf;
  if (reasonString !== undefined && userProperties !== undefined) {
    const smaller = encode(withProperties(packet, { ...rest, userProperties }), version);
    if (smaller.length <= max) return smaller;
  }
  return encode(withProperties(packet, rest), version);
}
