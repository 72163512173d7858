// Byte vectors derived by hand from the packet layouts of MQTT 3.1 (protocol "MQIsdp", level 3),
// 3.1.1 (sections 2-3) and 5.0 (sections 2-3). Each vector decodes to the packet and (unless
// decodeOnly) the packet encodes to exactly these bytes.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Decoder, encode } from "../../../src/codec/index.ts";
import type { Packet, ProtocolVersion } from "../../../src/codec/index.ts";
import { normalizePacket } from "../../helpers/codec-normalize.ts";

interface Vector {
  name: string;
  v: ProtocolVersion;
  hex: string;
  packet: Packet;
  decodeOnly?: boolean;
}

const b = (s: string): Buffer => Buffer.from(s);
const MQTT = "00044d515454"; // "MQTT" with two-byte length
const MQISDP = "00064d5149736470"; // "MQIsdp"

/** Packets whose wire form is the same in 3.1 and 3.1.1 (section 3 of both). */
function common(v: 3 | 4): Vector[] {
  return [
    // CONNACK: flags (session present, 3.1.1 only) + return code.
    { name: "CONNACK accepted", v, hex: "20020000", packet: { type: 2, sessionPresent: false, reasonCode: 0 } },
    {
      name: "CONNACK not authorized",
      v,
      hex: "20020005",
      packet: { type: 2, sessionPresent: false, reasonCode: 5 },
    },
    // PUBLISH QoS 0: topic "a/b", payload "hi"; RL = 2+3 + 2.
    {
      name: "PUBLISH QoS 0",
      v,
      hex: "30070003612f626869",
      packet: { type: 3, dup: false, qos: 0, retain: false, topic: "a/b", payload: b("hi") },
    },
    // PUBLISH DUP|QoS1|RETAIN = 1011, packet id 10; RL = 5 + 2 + 2.
    {
      name: "PUBLISH QoS 1 dup retain",
      v,
      hex: "3b090003612f62000a6869",
      packet: { type: 3, dup: true, qos: 1, retain: true, topic: "a/b", packetId: 10, payload: b("hi") },
    },
    {
      name: "PUBLISH QoS 2 empty payload",
      v,
      hex: "34070003612f62ffff",
      packet: { type: 3, dup: false, qos: 2, retain: false, topic: "a/b", packetId: 65535, payload: b("") },
    },
    { name: "PUBACK", v, hex: "4002000a", packet: { type: 4, packetId: 10 } },
    { name: "PUBREC", v, hex: "5002000a", packet: { type: 5, packetId: 10 } },
    { name: "PUBREL (flags 0010)", v, hex: "6202000a", packet: { type: 6, packetId: 10 } },
    { name: "PUBCOMP", v, hex: "7002000a", packet: { type: 7, packetId: 10 } },
    // SUBSCRIBE (flags 0010): id 1, "a/+" QoS 1, "#" QoS 2; RL = 2 + 6 + 4.
    {
      name: "SUBSCRIBE",
      v,
      hex: "820c00010003612f2b0100012302",
      packet: {
        type: 8,
        packetId: 1,
        subscriptions: [
          { topicFilter: "a/+", qos: 1 },
          { topicFilter: "#", qos: 2 },
        ],
      },
    },
    { name: "SUBACK", v, hex: "9004000101" + "80", packet: { type: 9, packetId: 1, reasonCodes: [1, 0x80] } },
    // UNSUBSCRIBE (flags 0010): id 2, "a/b".
    {
      name: "UNSUBSCRIBE",
      v,
      hex: "a20700020003612f62",
      packet: { type: 10, packetId: 2, topicFilters: ["a/b"] },
    },
    { name: "UNSUBACK", v, hex: "b0020002", packet: { type: 11, packetId: 2 } },
    { name: "PINGREQ", v, hex: "c000", packet: { type: 12 } },
    { name: "PINGRESP", v, hex: "d000", packet: { type: 13 } },
    { name: "DISCONNECT", v, hex: "e000", packet: { type: 14 } },
  ];
}

const connect = (v: ProtocolVersion, extra: Partial<Packet & { type: 1 }> = {}): Packet => ({
  type: 1,
  protocolName: v === 3 ? "MQIsdp" : "MQTT",
  protocolVersion: v,
  clean: true,
  keepAlive: 60,
  clientId: "c1",
  ...extra,
});

const vectors: Vector[] = [
  // --- 3.1: protocol name "MQIsdp", level 3; RL = 8 + 1 + 1 + 2 + 4.
  { name: "CONNECT", v: 3, hex: `1010${MQISDP}0302003c00026331`, packet: connect(3) },
  ...common(3),
  // --- 3.1.1
  { name: "CONNECT minimal", v: 4, hex: `100e${MQTT}0402003c00026331`, packet: connect(4) },
  // flags: user 80 | password 40 | will retain 20 | will QoS 1 08 | will 04 | clean 02 = ee.
  {
    name: "CONNECT with will, user name, password",
    v: 4,
    hex: `101a${MQTT}04ee003c00026331000177000178000175000170`,
    packet: connect(4, {
      username: "u",
      password: b("p"),
      will: { topic: "w", payload: b("x"), qos: 1, retain: true },
    }),
  },
  {
    name: "CONNECT clean session 0, empty client id, keep alive 0",
    v: 4,
    hex: `100c${MQTT}040000000000`,
    packet: connect(4, { clean: false, keepAlive: 0, clientId: "" }),
  },
  { name: "CONNACK session present", v: 4, hex: "20020100", packet: { type: 2, sessionPresent: true, reasonCode: 0 } },
  ...common(4),
  // --- 5.0
  // Properties: Session Expiry 120 (11 00000078), Receive Maximum 10 (21 000a): length 8.
  {
    name: "CONNECT with properties",
    v: 5,
    hex: `1017${MQTT}0502003c08110000007821000a00026331`,
    packet: connect(5, { properties: { sessionExpiryInterval: 120, receiveMaximum: 10 } }),
  },
  // Will properties: Will Delay 5 (18 00000005); password without user name is legal in 5.0.
  {
    name: "CONNECT with will properties and password only",
    v: 5,
    hex: `101e${MQTT}0546003c0000026331051800000005000177000178000170`,
    packet: connect(5, {
      password: b("p"),
      will: { topic: "w", payload: b("x"), qos: 0, retain: false, properties: { willDelayInterval: 5 } },
    }),
  },
  { name: "CONNACK", v: 5, hex: "2003000000", packet: { type: 2, sessionPresent: false, reasonCode: 0 } },
  // Assigned Client Identifier "x" (12 0001 78), Topic Alias Maximum 5 (22 0005): length 7.
  {
    name: "CONNACK with properties",
    v: 5,
    hex: "200a01000712000178220005",
    packet: {
      type: 2,
      sessionPresent: true,
      reasonCode: 0,
      properties: { assignedClientIdentifier: "x", topicAliasMaximum: 5 },
    },
  },
  {
    name: "CONNACK not authorized",
    v: 5,
    hex: "2003008700",
    packet: { type: 2, sessionPresent: false, reasonCode: 0x87 },
  },
  {
    name: "PUBLISH QoS 0",
    v: 5,
    hex: "30080003612f62006869",
    packet: { type: 3, dup: false, qos: 0, retain: false, topic: "a/b", payload: b("hi") },
  },
  // Topic Alias 1 (23 0001), User Property k=v (26 0001 6b 0001 76): length 10; RL = 5+2+1+10+2.
  {
    name: "PUBLISH QoS 1 with topic alias and user property",
    v: 5,
    hex: "32140003612f62000a0a2300012600016b0001766869",
    packet: {
      type: 3,
      dup: false,
      qos: 1,
      retain: false,
      topic: "a/b",
      packetId: 10,
      payload: b("hi"),
      properties: { topicAlias: 1, userProperties: [["k", "v"]] },
    },
  },
  {
    name: "PUBLISH with empty topic and topic alias",
    v: 5,
    hex: "300800000323000568" + "69",
    packet: { type: 3, dup: false, qos: 0, retain: false, topic: "", payload: b("hi"), properties: { topicAlias: 5 } },
  },
  // Subscription Identifiers 1 and 300 (0b 01, 0b ac02): repeatable in PUBLISH.
  {
    name: "PUBLISH with two subscription identifiers",
    v: 5,
    hex: "300d0003612f62050b010bac026869",
    packet: {
      type: 3,
      dup: false,
      qos: 0,
      retain: false,
      topic: "a/b",
      payload: b("hi"),
      properties: { subscriptionIdentifiers: [1, 300] },
    },
  },
  // Reason code 0 and no properties may be omitted (RL 2) [3.4.2.1].
  { name: "PUBACK short form", v: 5, hex: "4002000a", packet: { type: 4, packetId: 10, reasonCode: 0 } },
  { name: "PUBACK with reason code", v: 5, hex: "4003000a10", packet: { type: 4, packetId: 10, reasonCode: 0x10 } },
  {
    name: "PUBACK with reason string",
    v: 5,
    hex: "4008000a10041f000172",
    packet: { type: 4, packetId: 10, reasonCode: 0x10, properties: { reasonString: "r" } },
  },
  {
    name: "PUBACK with reason code 0 and property length 0",
    v: 5,
    hex: "4004000a0000",
    packet: { type: 4, packetId: 10, reasonCode: 0 },
    decodeOnly: true,
  },
  { name: "PUBREC", v: 5, hex: "5003000a80", packet: { type: 5, packetId: 10, reasonCode: 0x80 } },
  { name: "PUBREL", v: 5, hex: "6203000a92", packet: { type: 6, packetId: 10, reasonCode: 0x92 } },
  { name: "PUBCOMP", v: 5, hex: "7002000a", packet: { type: 7, packetId: 10, reasonCode: 0 } },
  // Subscription Identifier 5 (0b 05); options: "a/+" QoS 1|No Local 04|RAP 08|RH 1 (10) = 1d;
  // "#" QoS 0 RH 2 = 20. RL = 2 + 1 + 2 + 6 + 4.
  {
    name: "SUBSCRIBE with options",
    v: 5,
    hex: "820f0001020b050003612f2b1d00012320",
    packet: {
      type: 8,
      packetId: 1,
      subscriptions: [
        { topicFilter: "a/+", qos: 1, noLocal: true, retainAsPublished: true, retainHandling: 1 },
        { topicFilter: "#", qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 2 },
      ],
      properties: { subscriptionIdentifiers: [5] },
    },
  },
  { name: "SUBACK", v: 5, hex: "9005000100018f", packet: { type: 9, packetId: 1, reasonCodes: [1, 0x8f] } },
  {
    name: "UNSUBSCRIBE",
    v: 5,
    hex: "a2080002000003612f62",
    packet: { type: 10, packetId: 2, topicFilters: ["a/b"] },
  },
  {
    name: "UNSUBACK",
    v: 5,
    hex: "b00500020000" + "11",
    packet: { type: 11, packetId: 2, reasonCodes: [0, 0x11] },
  },
  { name: "PINGREQ", v: 5, hex: "c000", packet: { type: 12 } },
  { name: "PINGRESP", v: 5, hex: "d000", packet: { type: 13 } },
  { name: "DISCONNECT short form", v: 5, hex: "e000", packet: { type: 14, reasonCode: 0 } },
  { name: "DISCONNECT with will message", v: 5, hex: "e00104", packet: { type: 14, reasonCode: 4 } },
  {
    name: "DISCONNECT with session expiry",
    v: 5,
    hex: "e007000511" + "00000000",
    packet: { type: 14, reasonCode: 0, properties: { sessionExpiryInterval: 0 } },
  },
  { name: "AUTH short form", v: 5, hex: "f000", packet: { type: 15, reasonCode: 0 } },
  // Authentication Method "m" (15 0001 6d).
  {
    name: "AUTH continue",
    v: 5,
    hex: "f006180415" + "00016d",
    packet: { type: 15, reasonCode: 0x18, properties: { authenticationMethod: "m" } },
  },
];

describe("codec byte vectors", () => {
  for (const vec of vectors) {
    it(`MQTT level ${vec.v}: ${vec.name} (${vec.hex})`, () => {
      const bytes = Buffer.from(vec.hex, "hex");
      const d = new Decoder({ protocolVersion: vec.packet.type === 1 ? undefined : vec.v });
      d.push(bytes);
      const p = d.next();
      assert.ok(p !== undefined);
      assert.equal(d.bufferedBytes, 0);
      assert.deepEqual(normalizePacket(p, vec.v), normalizePacket(vec.packet, vec.v));
      if (vec.packet.type === 1) assert.equal(d.protocolVersion, vec.v, "decoder learned the version");
      if (vec.decodeOnly !== true) assert.equal(encode(vec.packet, vec.v).toString("hex"), vec.hex);
    });
  }

  it("every packet type of every version has a vector", () => {
    for (const v of [3, 4, 5] as const) {
      const types = new Set(vectors.filter((x) => x.v === v).map((x) => x.packet.type));
      assert.equal(types.size, v === 5 ? 15 : 14, `level ${v}`);
    }
  });
});
