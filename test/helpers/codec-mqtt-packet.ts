// Mapping between our Packet objects and mqtt-packet's (cmd, messageId, keepalive, protocolId,
// granted, unsubscriptions, nl/rap/rh, userProperties as an object, boolean "byte" properties,
// subscriptionIdentifier as number | number[]), for the differential tests and benchmark.
import mqttPacket from "mqtt-packet";
import type { Packet, Properties, ProtocolVersion, QoS, UserProperty } from "../../src/codec/types.ts";

export type MqttPacketObject = Record<string, unknown>;

const CMDS = [
  "reserved",
  "connect",
  "connack",
  "publish",
  "puback",
  "pubrec",
  "pubrel",
  "pubcomp",
  "subscribe",
  "suback",
  "unsubscribe",
  "unsuback",
  "pingreq",
  "pingresp",
  "disconnect",
  "auth",
] as const;

/** Properties mqtt-packet types as 'byte' (booleans in its objects). */
const BOOLEAN_PROPS = [
  "payloadFormatIndicator",
  "requestProblemInformation",
  "requestResponseInformation",
  "retainAvailable",
  "wildcardSubscriptionAvailable",
  "subscriptionIdentifiersAvailable",
  "sharedSubscriptionAvailable",
] as const;

function propsToMqtt(p: Properties | undefined): MqttPacketObject | undefined {
  if (p === undefined) return undefined;
  const out: MqttPacketObject = {};
  for (const [k, v] of Object.entries(p)) {
    if (v === undefined) continue;
    if (k === "userProperties") {
      const obj: Record<string, string | string[]> = {};
      for (const [key, value] of v as UserProperty[]) {
        const cur = obj[key];
        obj[key] = cur === undefined ? value : Array.isArray(cur) ? [...cur, value] : [cur, value];
      }
      out.userProperties = obj;
    } else if (k === "subscriptionIdentifiers") {
      const ids = v as number[];
      out.subscriptionIdentifier = ids.length === 1 ? ids[0] : ids;
    } else if ((BOOLEAN_PROPS as readonly string[]).includes(k)) {
      out[k] = v === 1;
    } else out[k] = v;
  }
  return out;
}

function propsFromMqtt(p: unknown): Properties | undefined {
  if (p === undefined || p === null) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p as MqttPacketObject)) {
    if (k === "userProperties") {
      const list: UserProperty[] = [];
      for (const [key, value] of Object.entries(v as Record<string, string | string[]>)) {
        for (const x of Array.isArray(value) ? value : [value]) list.push([key, x]);
      }
      out.userProperties = list;
    } else if (k === "subscriptionIdentifier") {
      out.subscriptionIdentifiers = Array.isArray(v) ? v : [v];
    } else if ((BOOLEAN_PROPS as readonly string[]).includes(k)) {
      out[k] = v === true ? 1 : 0;
    } else out[k] = v;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

function strip(o: MqttPacketObject): MqttPacketObject {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

/** Our packet as an mqtt-packet object for `version`. */
export function toMqttPacket(p: Packet, version: ProtocolVersion): MqttPacketObject {
  const cmd = CMDS[p.type];
  const v5 = version === 5;
  const properties = v5 && "properties" in p ? propsToMqtt(p.properties) : undefined;
  switch (p.type) {
    case 1:
      return strip({
        cmd,
        protocolId: version === 3 ? "MQIsdp" : "MQTT",
        protocolVersion: version,
        clean: p.clean,
        keepalive: p.keepAlive,
        clientId: p.clientId,
        username: p.username,
        password: p.password,
        will:
          p.will === undefined
            ? undefined
            : strip({
                topic: p.will.topic,
                payload: p.will.payload,
                qos: p.will.qos,
                retain: p.will.retain,
                properties: v5 ? propsToMqtt(p.will.properties) : undefined,
              }),
        properties,
      });
    case 2:
      return strip({
        cmd,
        sessionPresent: p.sessionPresent,
        [v5 ? "reasonCode" : "returnCode"]: p.reasonCode,
        properties,
      });
    case 3:
      return strip({
        cmd,
        topic: p.topic,
        payload: p.payload,
        qos: p.qos,
        dup: p.dup,
        retain: p.retain,
        messageId: p.packetId,
        properties,
      });
    case 4:
    case 5:
    case 6:
    case 7:
      return strip({ cmd, messageId: p.packetId, reasonCode: v5 ? (p.reasonCode ?? 0) : undefined, properties });
    case 8:
      return strip({
        cmd,
        messageId: p.packetId,
        subscriptions: p.subscriptions.map((s) =>
          v5
            ? {
                topic: s.topicFilter,
                qos: s.qos,
                nl: s.noLocal ?? false,
                rap: s.retainAsPublished ?? false,
                rh: s.retainHandling ?? 0,
              }
            : { topic: s.topicFilter, qos: s.qos },
        ),
        properties,
      });
    case 9:
      return strip({ cmd, messageId: p.packetId, granted: p.reasonCodes, properties });
    case 10:
      return strip({ cmd, messageId: p.packetId, unsubscriptions: p.topicFilters, properties });
    case 11:
      return strip({ cmd, messageId: p.packetId, granted: v5 ? (p.reasonCodes ?? []) : undefined, properties });
    case 12:
    case 13:
      return { cmd };
    case 14:
    case 15:
      return strip({ cmd, reasonCode: v5 ? (p.reasonCode ?? 0) : undefined, properties });
  }
}

/** An mqtt-packet parse result converted to our Packet shape (to be compared after normalizePacket). */
export function fromMqttPacket(o: MqttPacketObject, version: ProtocolVersion): Packet {
  const type = CMDS.indexOf(o.cmd as (typeof CMDS)[number]);
  const properties = propsFromMqtt(o.properties);
  const num = (k: string): number => o[k] as number;
  switch (type) {
    case 1: {
      const w = o.will as MqttPacketObject | undefined;
      return {
        type,
        protocolName: o.protocolId as string,
        protocolVersion: version,
        clean: o.clean as boolean,
        keepAlive: num("keepalive"),
        clientId: o.clientId as string,
        username: o.username as string | undefined,
        password: o.password as Buffer | undefined,
        will:
          w === undefined
            ? undefined
            : {
                topic: w.topic as string,
                payload: w.payload as Buffer,
                qos: w.qos as QoS,
                retain: w.retain as boolean,
                properties: propsFromMqtt(w.properties),
              },
        properties,
      };
    }
    case 2:
      return {
        type,
        sessionPresent: o.sessionPresent as boolean,
        reasonCode: version === 5 ? num("reasonCode") : num("returnCode"),
        properties,
      };
    case 3:
      return {
        type,
        dup: o.dup as boolean,
        qos: o.qos as QoS,
        retain: o.retain as boolean,
        topic: o.topic as string,
        packetId: o.messageId as number | undefined,
        payload: o.payload as Buffer,
        properties,
      };
    case 4:
    case 5:
    case 6:
    case 7:
      return { type, packetId: num("messageId"), reasonCode: o.reasonCode as number | undefined, properties };
    case 8:
      return {
        type,
        packetId: num("messageId"),
        subscriptions: (o.subscriptions as MqttPacketObject[]).map((s) => ({
          topicFilter: s.topic as string,
          qos: s.qos as QoS,
          noLocal: (s.nl as boolean | undefined) ?? false,
          retainAsPublished: (s.rap as boolean | undefined) ?? false,
          retainHandling: (s.rh as 0 | 1 | 2 | undefined) ?? 0,
        })),
        properties,
      };
    case 9:
      return { type, packetId: num("messageId"), reasonCodes: o.granted as number[], properties };
    case 10:
      return { type, packetId: num("messageId"), topicFilters: o.unsubscriptions as string[], properties };
    case 11:
      return { type, packetId: num("messageId"), reasonCodes: o.granted as number[] | undefined, properties };
    case 12:
      return { type };
    case 13:
      return { type };
    case 14:
      return { type, reasonCode: o.reasonCode as number | undefined, properties };
    case 15:
      return { type, reasonCode: o.reasonCode as number | undefined, properties };
    default:
      throw new Error(`unknown mqtt-packet cmd ${String(o.cmd)}`);
  }
}

/** Parses `bytes` with mqtt-packet; returns the packets or throws its first error. */
export function mqttPacketParse(bytes: Buffer, version: ProtocolVersion): MqttPacketObject[] {
  const parser = mqttPacket.parser({ protocolVersion: version });
  const out: MqttPacketObject[] = [];
  let error: unknown;
  parser.on("packet", (p: unknown) => out.push(p as MqttPacketObject));
  parser.on("error", (e: unknown) => (error ??= e));
  parser.parse(bytes);
  if (error !== undefined) throw error instanceof Error ? error : new Error(String(error));
  return out;
}

export function mqttPacketGenerate(p: MqttPacketObject, version: ProtocolVersion): Buffer {
  return mqttPacket.generate(p as unknown as mqttPacket.Packet, { protocolVersion: version });
}

/**
 * Canonical user property order for comparing with mqtt-packet, whose object form keeps values
 * per key but not the order across keys (and puts integer-like keys first): stable sort by key.
 */
export function sortUserProperties(p: Packet): Packet {
  const fix = (props: Properties | undefined): Properties | undefined => {
    if (props?.userProperties === undefined) return props;
    const sorted = [...props.userProperties].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return { ...props, userProperties: sorted };
  };
  const q = { ...p } as Packet & { properties?: Properties };
  if ("properties" in q) q.properties = fix(q.properties);
  if (q.type === 1 && q.will !== undefined) q.will = { ...q.will, properties: fix(q.will.properties) };
  return q;
}
