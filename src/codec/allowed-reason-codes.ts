// MQTT 5.0 reason codes each packet may carry [MQTT-2.4], and MQTT 3.1.1 return codes.
import { PacketType } from "./types.ts";

/** 5.0 reason codes permitted per packet type (packets without a reason code are absent). */
export const ALLOWED_REASON_CODES: Readonly<Partial<Record<number, ReadonlySet<number>>>> = Object.freeze({
  [PacketType.CONNACK]: new Set([
    0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90, 0x95, 0x97, 0x99, 0x9a, 0x9b,
    0x9c, 0x9d, 0x9f,
  ]),
  [PacketType.PUBACK]: new Set([0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]),
  [PacketType.PUBREC]: new Set([0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]),
  [PacketType.PUBREL]: new Set([0x00, 0x92]),
  [PacketType.PUBCOMP]: new Set([0x00, 0x92]),
  [PacketType.SUBACK]: new Set([0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2]),
  [PacketType.UNSUBACK]: new Set([0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91]),
  [PacketType.DISCONNECT]: new Set([
    0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98,
    0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2,
  ]),
  [PacketType.AUTH]: new Set([0x00, 0x18, 0x19]),
});

/** Spec statement requiring the sender to use one of the listed reason codes, per packet type. */
export const REASON_CODE_SPEC_REF: Readonly<Partial<Record<number, string>>> = Object.freeze({
  [PacketType.CONNACK]: "[MQTT-3.2.2-8]",
  [PacketType.PUBACK]: "[MQTT-3.4.2-1]",
  [PacketType.PUBREC]: "[MQTT-3.5.2-1]",
  [PacketType.PUBREL]: "[MQTT-3.6.2-1]",
  [PacketType.PUBCOMP]: "[MQTT-3.7.2-1]",
  [PacketType.SUBACK]: "[MQTT-3.9.3-2]",
  [PacketType.UNSUBACK]: "[MQTT-3.11.3-2]",
  [PacketType.DISCONNECT]: "[MQTT-3.14.2-1]",
  [PacketType.AUTH]: "[MQTT-3.15.2-1]",
});

/** 3.1.1 SUBACK return codes: granted QoS 0..2 or 0x80 failure [MQTT-3.9.3-2]. */
export const V4_SUBACK_RETURN_CODES: ReadonlySet<number> = new Set([0x00, 0x01, 0x02, 0x80]);

/** True when `code` is a valid 5.0 reason code for packet `type`. */
export function isReasonCodeAllowed(type: number, code: number): boolean {
  return ALLOWED_REASON_CODES[type]?.has(code) ?? false;
}
