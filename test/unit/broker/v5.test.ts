import assert from "node:assert/strict";
import { test } from "node:test";
import { PacketType } from "../../../src/codec/index.ts";
import type { DisconnectPacket, PublishPacket } from "../../../src/codec/index.ts";
import { harness, payloads, settle } from "./harness.ts";
import { brokerInternals } from "../../../src/broker/internal.ts";

test("5.0 CONNACK announces the server's limits", async () => {
  const h = harness({ receiveMaximum: 20, maximumQoS: 1, maxPacketSize: 4096, topicAliasMaximum: 5 });
  const { connack } = await h.connect({ clientId: "c", version: 5 });
  assert.equal(connack.properties?.receiveMaximum, 20);
  assert.equal(connack.properties?.maximumQoS, 1);
  assert.equal(connack.properties?.maximumPacketSize, 4096);
  assert.equal(connack.properties?.topicAliasMaximum, 5);
  assert.equal(connack.properties?.sharedSubscriptionAvailable, undefined, "absent: available (5.0 §3.2.2.3.15)");
});

test("5.0 session expiry: kept for the interval after disconnect, then discarded", async () => {
  const h = harness();
  const a = await h.connect({ clientId: "se", version: 5, clean: false, properties: { sessionExpiryInterval: 60 } });
  await a.client.subscribe("t", 1);
  a.client.disconnect();
  await settle();
  h.clock.advance(59_000);
  const b = await h.connect({ clientId: "se", version: 5, clean: false, properties: { sessionExpiryInterval: 60 } });
  assert.equal(b.connack.sessionPresent, true);
  b.client.disconnect();
  await settle();
  h.clock.advance(60_000);
  assert.equal(brokerInternals(h.broker).sessions.has("se"), false);
  const c = await h.connect({ clientId: "se", version: 5, clean: false });
  assert.equal(c.connack.sessionPresent, false);
});

test("5.0 session expiry 0 (default) ends the session with the connection; DISCONNECT may not raise it", async () => {
  const h = harness();
  const a = await h.connect({ clientId: "z", version: 5, clean: false });
  a.client.disconnect({ sessionExpiryInterval: 30 });
  await settle();
  const got = a.client.take();
  assert.equal((got.at(-1) as DisconnectPacket | undefined)?.reasonCode, 0x82, "protocol error");
  assert.equal(brokerInternals(h.broker).sessions.has("z"), false);
});

test("5.0 client Receive Maximum caps the inflight window", async () => {
  const h = harness({ maxInflight: 10 });
  const { client } = await h.connect({ clientId: "rm", version: 5, properties: { receiveMaximum: 2 } });
  await client.subscribe("t", 1);
  for (let i = 0; i < 4; i++) await h.broker.publish({ topic: "t", payload: String(i), qos: 1 });
  assert.deepEqual(payloads(await client.receive()), ["0", "1"]);
});

test("5.0 inbound Receive Maximum: one QoS 2 too many -> DISCONNECT 0x93", async () => {
  const h = harness({ receiveMaximum: 2 });
  const { client } = await h.connect({ clientId: "flood", version: 5 });
  for (let i = 1; i <= 3; i++) client.publish("t", "x", 2, { packetId: i });
  const got = await client.receive();
  assert.equal((got.at(-1) as DisconnectPacket).reasonCode, 0x93);
  assert.equal(client.transport.closed, true);
});

test("5.0 client Maximum Packet Size: a bigger message is not sent to that client (and not kept in flight)", async () => {
  const h = harness();
  const small = await h.connect({ clientId: "small", version: 5, properties: { maximumPacketSize: 64 } });
  const big = await h.connect({ clientId: "big", version: 5 });
  await small.client.subscribe("t", 1);
  await big.client.subscribe("t", 1);
  await h.broker.publish({ topic: "t", payload: Buffer.alloc(100, 1), qos: 1 });
  await h.broker.publish({ topic: "t", payload: "fits", qos: 1 });
  assert.deepEqual(payloads(await small.client.receive()), ["fits"]);
  assert.equal((await big.client.publishes()).length, 2);
  assert.equal(brokerInternals(h.broker).sessions.get("small")!.inflight.size, 1);
});

test("5.0 message expiry: queued messages expire; the remaining interval is sent [MQTT-3.3.2-5] [MQTT-3.3.2-6]", async () => {
  const h = harness();
  const a = await h.connect({ clientId: "ex", version: 5, clean: false, properties: { sessionExpiryInterval: 600 } });
  await a.client.subscribe("t", 1);
  a.client.disconnect();
  await settle();
  const pub = await h.connect({ clientId: "p", version: 5 });
  pub.client.publish("t", "short", 1, { properties: { messageExpiryInterval: 5 } });
  pub.client.publish("t", "long", 1, { properties: { messageExpiryInterval: 100 } });
  await settle();
  h.clock.advance(10_000);
  const b = await h.connect({ clientId: "ex", version: 5, clean: false, properties: { sessionExpiryInterval: 600 } });
  const got = b.client.take().filter((p): p is PublishPacket => p.type === PacketType.PUBLISH);
  assert.deepEqual(
    got.map((p) => [p.payload.toString(), p.properties?.messageExpiryInterval]),
    [["long", 90]],
  );
  assert.equal(h.broker.stats().expired, 1);
});

test("5.0 subscription options: no local, retain as published, retain handling", async () => {
  const h = harness();
  await h.broker.publish({ topic: "r", payload: "kept", retain: true });
  const { client } = await h.connect({ clientId: "so", version: 5 });
  await client.subscribe([{ topicFilter: "r", qos: 0, retainHandling: 2 }]);
  assert.deepEqual(client.take(), [], "retain handling 2: no retained on subscribe");
  await client.subscribe([{ topicFilter: "r", qos: 0, retainHandling: 1 }]);
  assert.deepEqual(client.take(), [], "retain handling 1: subscription existed");
  await client.subscribe([{ topicFilter: "r2", qos: 0, retainHandling: 1, noLocal: true, retainAsPublished: true }]);
  client.publish("r2", "own", 0);
  assert.deepEqual(await client.receive(), [], "no local");
  await h.broker.publish({ topic: "r2", payload: "rap", retain: true });
  const [m] = await client.publishes();
  assert.equal(m?.retain, true, "retain as published");
});

test("5.0 subscription identifiers are sent with deliveries; overlapping ones all listed", async () => {
  const h = harness();
  const { client } = await h.connect({ clientId: "sid", version: 5 });
  await client.subscribe("a/+", 1, { subscriptionIdentifiers: [7] });
  await client.subscribe("a/#", 0, { subscriptionIdentifiers: [9] });
  await h.broker.publish({ topic: "a/b", payload: "x", qos: 1 });
  const [m] = await client.publishes();
  assert.deepEqual([...(m?.properties?.subscriptionIdentifiers ?? [])].sort(), [7, 9]);
  assert.equal(m?.qos, 1);
});

test("5.0 properties are forwarded unaltered [MQTT-3.3.2-4] [MQTT-3.3.2-15..17] [MQTT-3.3.2-20]", async () => {
  const h = harness();
  const sub = await h.connect({ clientId: "s", version: 5 });
  await sub.client.subscribe("t", 0);
  const pub = await h.connect({ clientId: "p", version: 5 });
  const properties = {
    payloadFormatIndicator: 1,
    contentType: "text/plain",
    responseTopic: "reply/here",
    correlationData: Buffer.from([1, 2, 3]),
    userProperties: [
      ["a", "1"],
      ["b", "2"],
      ["a", "3"],
    ] as [string, string][],
  };
  pub.client.publish("t", "props", 0, { properties });
  const [m] = await sub.client.publishes();
  assert.equal(m?.properties?.contentType, "text/plain");
  assert.equal(m?.properties?.responseTopic, "reply/here");
  assert.deepEqual(m?.properties?.correlationData, Buffer.from([1, 2, 3]));
  assert.deepEqual(m?.properties?.userProperties, properties.userProperties);
  assert.equal(m?.properties?.payloadFormatIndicator, 1);
});

test("5.0 inbound topic alias: set with a topic, used with an empty topic; unknown or out-of-range alias -> DISCONNECT", async () => {
  const h = harness({ topicAliasMaximum: 3 });
  const sub = await h.connect({ clientId: "s" });
  await sub.client.subscribe("long/topic/name", 0);
  const pub = await h.connect({ clientId: "p", version: 5 });
  pub.client.publish("long/topic/name", "1", 0, { properties: { topicAlias: 2 } });
  pub.client.publish("", "2", 0, { properties: { topicAlias: 2 } });
  assert.deepEqual(payloads(await sub.client.receive()), ["1", "2"]);
  pub.client.publish("x", "3", 0, { properties: { topicAlias: 4 } });
  const [d] = await pub.client.receive();
  assert.equal((d as DisconnectPacket).reasonCode, 0x94);
});

test("5.0 codec errors answer DISCONNECT with the codec's reason code (0x81 malformed)", async () => {
  const h = harness();
  const { client } = await h.connect({ clientId: "m", version: 5 });
  client.send(Buffer.from([0x30, 0x02, 0x00, 0x05])); // topic length 5 but only 0 bytes
  const got = await client.receive();
  assert.equal(got[0]?.type, PacketType.DISCONNECT);
  assert.equal(got[0].reasonCode, 0x81);
  assert.equal(client.transport.closed, true);
});

test("5.0 shutdown: broker.close() sends DISCONNECT 0x8B and refuses new connections", async () => {
  const h = harness();
  const v5 = await h.connect({ clientId: "a", version: 5 });
  const v4 = await h.connect({ clientId: "b" });
  await h.broker.close();
  assert.equal((v5.client.take().at(-1) as DisconnectPacket).reasonCode, 0x8b);
  assert.deepEqual(v4.client.take(), [], "3.1.1 has no server DISCONNECT: just closed");
  assert.equal(v4.client.transport.closed, true);
  const late = await h.tryConnect({ clientId: "late" });
  assert.equal(late.client.transport.destroyed, true);
  assert.equal(late.connack, undefined);
});

test("packet too large for the listener: 3.1.1 closes, 5.0 DISCONNECT 0x95", async () => {
  const h = harness({ maxPacketSize: 100 });
  const a = await h.connect({ clientId: "a" });
  a.client.publish("t", Buffer.alloc(200), 0);
  await settle();
  assert.equal(a.client.transport.closed, true);
  const b = await h.connect({ clientId: "b", version: 5 });
  b.client.publish("t", Buffer.alloc(200), 0);
  const got = await b.client.receive();
  assert.equal((got[0] as DisconnectPacket).reasonCode, 0x95);
});

test("5.0 QoS 1 PUBLISH reusing the id of an unfinished QoS 2 exchange: PUBACK 0x91, not routed", async () => {
  const h = harness();
  const sub = await h.connect({ clientId: "s" });
  await sub.client.subscribe("t", 1);
  const { client } = await h.connect({ clientId: "p", version: 5 });
  client.publish("t", "qos2", 2, { packetId: 9 });
  client.publish("t", "qos1", 1, { packetId: 9 });
  const acks = await client.receive();
  assert.deepEqual(
    acks.map((p) => [p.type, "reasonCode" in p ? (p.reasonCode ?? 0) : 0]),
    [
      [PacketType.PUBREC, 0],
      [PacketType.PUBACK, 0x91],
    ],
  );
  assert.deepEqual(payloads(await sub.client.receive()), ["qos2"]);
});

test("5.0 UNSUBSCRIBE: 0x11 for a filter not subscribed, 0x8F for an invalid one", async () => {
  const h = harness();
  const { client } = await h.connect({ clientId: "u", version: 5 });
  await client.subscribe("a", 0);
  client.send({ type: PacketType.UNSUBSCRIBE, packetId: 5, topicFilters: ["a", "b", "c/#/d"] });
  const [ack] = await client.receive();
  assert.deepEqual(ack?.type === PacketType.UNSUBACK ? ack.reasonCodes : [], [0x00, 0x11, 0x8f]);
});

test("5.0 Reason String on refusals, none when Request Problem Information is 0 (5.0 [MQTT-3.1.2-29])", async () => {
  const h = harness({ acl: [{ permission: "deny", action: "all", topic: "no/#" }] });
  const a = await h.connect({ clientId: "a", version: 5 });
  a.client.publish("no/x", "x", 1);
  const [ack] = await a.client.receive();
  assert.equal(ack?.type === PacketType.PUBACK ? ack.reasonCode : 0, 0x87);
  assert.match(ack?.type === PacketType.PUBACK ? (ack.properties?.reasonString ?? "") : "", /not authorized/);
  const suback = await a.client.subscribe("no/y", 0);
  assert.equal(typeof suback.properties?.reasonString, "string");

  const b = await h.connect({ clientId: "b", version: 5, properties: { requestProblemInformation: 0 } });
  b.client.publish("no/x", "x", 1);
  const [ack2] = await b.client.receive();
  assert.equal(ack2?.type === PacketType.PUBACK ? ack2.reasonCode : 0, 0x87);
  assert.equal(ack2?.type === PacketType.PUBACK ? ack2.properties : "x", undefined);
  assert.equal((await b.client.subscribe("no/y", 0)).properties, undefined);
});

test("5.0 shared subscriptions: granted, malformed ones 0x8F [MQTT-4.8.2-1] [MQTT-4.8.2-2]; 0x9E when disabled", async () => {
  const h = harness();
  const { client } = await h.connect({ clientId: "sh", version: 5 });
  const suback = await client.subscribe(["$share/g/t", "$share//t", "$share/g+/t", "$share/g"], 0);
  assert.deepEqual(suback.reasonCodes, [0x00, 0x8f, 0x8f, 0x8f]);
  const off = harness({ sharedSubscriptionAvailable: false });
  const c = await off.connect({ clientId: "sh", version: 5 });
  assert.equal(c.connack.properties?.sharedSubscriptionAvailable, 0);
  assert.deepEqual((await c.client.subscribe(["$share/g/t", "t"], 0)).reasonCodes, [0x9e, 0x00]);
});
