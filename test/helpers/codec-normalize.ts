// Canonical form of a packet for comparisons: what our decoder yields for `version`, with
// undefined fields dropped and defaults filled (5.0 reason code 0, subscription options).
import type { Packet, Properties, ProtocolVersion } from "../../src/codec/types.ts";

function cleanProps(p: Properties | undefined): Properties | undefined {
  if (p === undefined) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p)) {
    if (v === undefined) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    out[k] = Buffer.isBuffer(v) ? Buffer.from(v) : Array.isArray(v) ? v.map((x) => (Array.isArray(x) ? [...x] : x)) : v;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

function dropUndefined<T extends object>(o: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as T;
}

/** Plain-object canonical form (Buffers copied so zero-copy slices compare by content only). */
export function normalizePacket(p: Packet, version: ProtocolVersion): Packet {
  const v5 = version === 5;
  const props = v5 && "properties" in p ? cleanProps(p.properties) : undefined;
  switch (p.type) {
    case 1:
      return dropUndefined({
        ...p,
        protocolName: version === 3 ? "MQIsdp" : "MQTT",
        protocolVersion: version,
        password: p.password === undefined ? undefined : Buffer.from(p.password),
        will:
          p.will === undefined
            ? undefined
            : dropUndefined({
                ...p.will,
                payload: Buffer.from(p.will.payload),
                properties: v5 ? cleanProps(p.will.properties) : undefined,
              }),
        properties: props,
      });
    case 2:
      return dropUndefined({ ...p, sessionPresent: version === 3 ? false : p.sessionPresent, properties: props });
    case 3:
      return dropUndefined({
        ...p,
        packetId: p.qos > 0 ? p.packetId : undefined,
        payload: Buffer.from(p.payload),
        properties: props,
      });
    case 4:
    case 5:
    case 6:
    case 7:
    case 14:
    case 15:
      return dropUndefined({ ...p, reasonCode: v5 ? (p.reasonCode ?? 0) : undefined, properties: props });
    case 8:
      return dropUndefined({
        ...p,
        subscriptions: p.subscriptions.map((s) => ({
          topicFilter: s.topicFilter,
          qos: s.qos,
          noLocal: v5 ? (s.noLocal ?? false) : false,
          retainAsPublished: v5 ? (s.retainAsPublished ?? false) : false,
          retainHandling: v5 ? (s.retainHandling ?? 0) : 0,
        })),
        properties: props,
      });
    case 11:
      return dropUndefined({ ...p, reasonCodes: v5 ? (p.reasonCodes ?? []) : undefined, properties: props });
    case 9:
    case 10:
      return dropUndefined({ ...p, properties: props });
    default:
      return { ...p };
  }
}
