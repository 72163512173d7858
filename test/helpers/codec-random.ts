// Seeded generator of valid MQTT packets for every type and protocol version. Used by the
// round-trip, differential and fuzz tests and by the codec benchmark.
import { ALLOWED_REASON_CODES } from "../../src/codec/allowed-reason-codes.ts";
import { PROPERTY, WILL_PROPERTIES } from "../../src/codec/properties.ts";
import type { PropertyContext } from "../../src/codec/properties.ts";
import { PacketType } from "../../src/codec/types.ts";
import type {
  Packet,
  PacketTypeCode,
  Properties,
  ProtocolVersion,
  QoS,
  RetainHandling,
  SubscriptionRequest,
  UserProperty,
} from "../../src/codec/types.ts";

/** Small fast deterministic PRNG (mulberry32). */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return n <= 0x100000000 ? Math.floor((this.u32() / 0x100000000) * n) : Math.floor(Math.random() * n);
  }
  /** Integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  bool(p = 0.5): boolean {
    return this.u32() / 0x100000000 < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
}

const TOPIC_CHARS = ["a", "b", "z", "0", "/", "/", "-", "_", " ", "é", "€", "😀", "$", "ü", "中"];
const FILTER_CHARS = [...TOPIC_CHARS, "+", "#"];

/** Random valid MQTT string (no U+0000, no lone surrogates) from `chars`. */
export function randomString(rng: Rng, maxChars: number, chars: readonly string[] = TOPIC_CHARS): string {
  const n = rng.int(maxChars + 1);
  let s = "";
  for (let i = 0; i < n; i++) s += rng.pick(chars);
  return s;
}

export function randomTopic(rng: Rng): string {
  return "t" + randomString(rng, rng.bool(0.9) ? 12 : 60);
}

function randomFilter(rng: Rng): string {
  const s = randomString(rng, 12, FILTER_CHARS);
  return s.length === 0 ? "#" : s;
}

/** Mostly small payloads; occasionally large enough for 2- and 3-byte Remaining Length. */
export function randomPayload(rng: Rng, allowLarge = true): Buffer {
  const r = rng.int(100);
  if (r < 10) return Buffer.alloc(0);
  if (r < 85) return rng.bytes(rng.int(120));
  if (r < 98 || !allowLarge) return rng.bytes(rng.range(120, 2000));
  return rng.bytes(rng.range(16_384, 20_000));
}

function u16(rng: Rng, min = 0): number {
  return rng.range(min, 0xffff);
}

function u32(rng: Rng, min = 0): number {
  return rng.bool(0.3) ? rng.range(min, 300) : min + rng.int(0x100000000 - min);
}

function varint(rng: Rng): number {
  return rng.pick([() => rng.range(1, 127), () => rng.range(128, 16383), () => rng.range(1, 268_435_455)])();
}

/** Random valid Properties for `context` (a packet type or WILL_PROPERTIES); undefined when empty. */
export function randomProperties(rng: Rng, context: PropertyContext, density = 0.25): Properties | undefined {
  const p: Properties = {};
  let any = false;
  for (const d of Object.values(PROPERTY)) {
    if ((d.mask & (1 << context)) === 0 || !rng.bool(density)) continue;
    any = true;
    switch (d.name) {
      case "payloadFormatIndicator":
      case "requestProblemInformation":
      case "requestResponseInformation":
      case "maximumQoS":
      case "retainAvailable":
      case "wildcardSubscriptionAvailable":
      case "subscriptionIdentifiersAvailable":
      case "sharedSubscriptionAvailable":
        p[d.name] = rng.int(2);
        break;
      case "serverKeepAlive":
        p[d.name] = u16(rng);
        break;
      case "receiveMaximum":
      case "topicAliasMaximum":
      case "topicAlias":
        p[d.name] = u16(rng, d.name === "topicAliasMaximum" ? 0 : 1);
        break;
      case "messageExpiryInterval":
      case "sessionExpiryInterval":
      case "willDelayInterval":
        p[d.name] = u32(rng);
        break;
      case "maximumPacketSize":
        p[d.name] = u32(rng, 1);
        break;
      case "responseTopic":
        p[d.name] = randomTopic(rng);
        break;
      case "contentType":
      case "assignedClientIdentifier":
      case "authenticationMethod":
      case "responseInformation":
      case "serverReference":
      case "reasonString":
        p[d.name] = randomString(rng, 10);
        break;
      case "correlationData":
      case "authenticationData":
        p[d.name] = rng.bytes(rng.int(20));
        break;
      case "subscriptionIdentifiers": {
        const n = context === PacketType.PUBLISH ? rng.range(1, 3) : 1;
        p.subscriptionIdentifiers = Array.from({ length: n }, () => varint(rng));
        break;
      }
      case "userProperties": {
        const n = rng.range(1, 3);
        p.userProperties = Array.from({ length: n }, (): UserProperty => [randomString(rng, 6), randomString(rng, 8)]);
        break;
      }
    }
  }
  // Authentication Data requires Authentication Method.
  if (p.authenticationData !== undefined && p.authenticationMethod === undefined) {
    p.authenticationMethod = randomString(rng, 8);
  }
  return any ? p : undefined;
}

function qos(rng: Rng): QoS {
  return rng.int(3) as QoS;
}

function reasonCode(rng: Rng, type: PacketTypeCode): number {
  const set = ALLOWED_REASON_CODES[type]!;
  return rng.bool(0.4) ? 0 : rng.pick([...set]);
}

const TYPES_V5: readonly PacketTypeCode[] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
const TYPES_V4: readonly PacketTypeCode[] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14];

export function packetTypesFor(version: ProtocolVersion): readonly PacketTypeCode[] {
  return version === 5 ? TYPES_V5 : TYPES_V4;
}

/** Random valid packet of `type` (default: random type) for protocol `version`. */
export function randomPacket(rng: Rng, version: ProtocolVersion, type?: PacketTypeCode): Packet {
  const t = type ?? rng.pick(packetTypesFor(version));
  const v5 = version === 5;
  const props = (ctx: PropertyContext): Properties | undefined => (v5 ? randomProperties(rng, ctx) : undefined);
  switch (t) {
    case PacketType.CONNECT: {
      const username = rng.bool() ? randomString(rng, 10) : undefined;
      const password = (v5 || username !== undefined) && rng.bool() ? rng.bytes(rng.int(16)) : undefined;
      return {
        type: t,
        protocolName: version === 3 ? "MQIsdp" : "MQTT",
        protocolVersion: version,
        clean: rng.bool(),
        keepAlive: u16(rng),
        clientId: randomString(rng, 23),
        username,
        password,
        will: rng.bool()
          ? {
              topic: randomTopic(rng),
              payload: randomPayload(rng, false),
              qos: qos(rng),
              retain: rng.bool(),
              properties: props(WILL_PROPERTIES),
            }
          : undefined,
        properties: props(t),
      };
    }
    case PacketType.CONNACK: {
      const rc = v5 ? reasonCode(rng, t) : rng.bool(0.5) ? 0 : rng.range(1, 5);
      return { type: t, sessionPresent: version !== 3 && rc === 0 && rng.bool(), reasonCode: rc, properties: props(t) };
    }
    case PacketType.PUBLISH: {
      const q = qos(rng);
      const properties = props(t);
      const topic = v5 && properties?.topicAlias !== undefined && rng.bool(0.3) ? "" : randomTopic(rng);
      return {
        type: t,
        dup: q > 0 && rng.bool(0.3),
        qos: q,
        retain: rng.bool(),
        topic,
        packetId: q > 0 ? u16(rng, 1) : undefined,
        payload: randomPayload(rng),
        properties,
      };
    }
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
      return {
        type: t,
        packetId: u16(rng, 1),
        reasonCode: v5 ? reasonCode(rng, t) : undefined,
        properties: props(t),
      };
    case PacketType.SUBSCRIBE: {
      const n = rng.range(1, 4);
      const subscriptions: SubscriptionRequest[] = [];
      for (let i = 0; i < n; i++) {
        const topicFilter = rng.bool(0.1) ? `$share/g/${randomFilter(rng)}` : randomFilter(rng);
        subscriptions.push({
          topicFilter,
          qos: qos(rng),
          noLocal: v5 && !topicFilter.startsWith("$share/") && rng.bool(),
          retainAsPublished: v5 && rng.bool(),
          retainHandling: (v5 ? rng.int(3) : 0) as RetainHandling,
        });
      }
      return { type: t, packetId: u16(rng, 1), subscriptions, properties: props(t) };
    }
    case PacketType.SUBACK: {
      const n = rng.range(1, 4);
      const reasonCodes = Array.from({ length: n }, () => (v5 ? reasonCode(rng, t) : rng.pick([0, 1, 2, 0x80])));
      return { type: t, packetId: u16(rng, 1), reasonCodes, properties: props(t) };
    }
    case PacketType.UNSUBSCRIBE: {
      const n = rng.range(1, 4);
      return {
        type: t,
        packetId: u16(rng, 1),
        topicFilters: Array.from({ length: n }, () => randomFilter(rng)),
        properties: props(t),
      };
    }
    case PacketType.UNSUBACK:
      return {
        type: t,
        packetId: u16(rng, 1),
        reasonCodes: v5 ? Array.from({ length: rng.range(1, 4) }, () => reasonCode(rng, t)) : undefined,
        properties: props(t),
      };
    case PacketType.PINGREQ:
    case PacketType.PINGRESP:
      return { type: t };
    case PacketType.DISCONNECT:
    case PacketType.AUTH:
      return { type: t, reasonCode: v5 ? reasonCode(rng, t) : undefined, properties: props(t) };
  }
}
