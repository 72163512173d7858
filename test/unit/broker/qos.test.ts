import assert from "node:assert/strict";
import { test } from "node:test";
import { PacketType } from "../../../src/codec/index.ts";
import type { Packet, PublishPacket } from "../../../src/codec/index.ts";
import { harness, payloads, settle, types } from "./harness.ts";
import { brokerInternals } from "../../../src/broker/internal.ts";

const pubs = (ps: Packet[]): PublishPacket[] => ps.filter((p): p is PublishPacket => p.type === PacketType.PUBLISH);

test("QoS 0 in and out: no acknowledgement, DUP 0, no packet id [MQTT-4.3.1-1]", async () => {
  const h = harness();
  const sub = await h.connect({ clientId: "s" });
  await sub.client.subscribe("t", 2);
  const pub = await h.connect({ clientId: "p" });
  pub.client.publish("t", "zero", 0);
  assert.deepEqual(await pub.client.receive(), []);
  const [m] = await sub.client.publishes();
  assert.equal(m?.qos, 0);
  assert.equal(m?.dup, false);
  assert.equal(m?.packetId, undefined);
});

test("QoS 1 inbound: PUBACK with the same id [MQTT-4.3.2-2]; outbound kept until PUBACK", async () => {
  const h = harness();
  const sub = await h.connect({ clientId: "s", clean: false });
  await sub.client.subscribe("t", 1);
  const pub = await h.connect({ clientId: "p" });
  const id = pub.client.publish("t", "one", 1, { packetId: 4242 });
  const acks = await pub.client.receive();
  assert.deepEqual(acks, [{ type: PacketType.PUBACK, packetId: id, reasonCode: undefined, properties: undefined }]);
  const [m] = await sub.client.publishes();
  assert.equal(m?.qos, 1);
  assert.equal(m?.dup, false);
  assert.equal(h.broker.stats().inflight, 1);
  sub.client.ack(m);
  await settle();
  assert.equal(h.broker.stats().inflight, 0);
});

test("QoS 2 inbound: PUBREC, then PUBCOMP on PUBREL; routed once on PUBLISH (method A) [MQTT-4.3.3-2]", async () => {
  const h = harness();
  const sub = await h.connect({ clientId: "s" });
  await sub.client.subscribe("t", 0);
  const pub = await h.connect({ clientId: "p" });
  pub.client.publish("t", "two", 2, { packetId: 9 });
  assert.deepEqual(types(await pub.client.receive()), [PacketType.PUBREC]);
  assert.deepEqual(payloads(await sub.client.receive()), ["two"], "delivered on PUBLISH, before PUBREL");
  // The publisher resends the PUBLISH with DUP (it did not see the PUBREC): acknowledged, not routed again.
  pub.client.publish("t", "two", 2, { packetId: 9, dup: true });
  assert.deepEqual(types(await pub.client.receive()), [PacketType.PUBREC]);
  assert.deepEqual(await sub.client.receive(), []);
  pub.client.send({ type: PacketType.PUBREL, packetId: 9 });
  const comp = await pub.client.receive();
  assert.deepEqual(types(comp), [PacketType.PUBCOMP]);
  // After PUBCOMP the id is free: the same id is a new message [MQTT-4.3.3-2].
  pub.client.publish("t", "again", 2, { packetId: 9 });
  await pub.client.receive();
  assert.deepEqual(payloads(await sub.client.receive()), ["again"]);
});

test("QoS 2 exactly once across a reconnect: resent PUBLISH (DUP) and PUBREL after reconnect deliver once", async () => {
  const h = harness();
  const sub = await h.connect({ clientId: "s" });
  await sub.client.subscribe("t", 2);
  const p1 = await h.connect({ clientId: "pub2", clean: false });
  p1.client.publish("t", "once", 2, { packetId: 77 });
  await p1.client.receive();
  p1.client.drop(); // PUBREC lost with the connection
  await settle();
  const p2 = await h.connect({ clientId: "pub2", clean: false });
  assert.equal(p2.connack.sessionPresent, true);
  p2.client.publish("t", "once", 2, { packetId: 77, dup: true });
  assert.deepEqual(types(await p2.client.receive()), [PacketType.PUBREC]);
  p2.client.drop(); // and again, before PUBREL
  await settle();
  const p3 = await h.connect({ clientId: "pub2", clean: false });
  p3.client.send({ type: PacketType.PUBREL, packetId: 77 });
  assert.deepEqual(types(await p3.client.receive()), [PacketType.PUBCOMP]);
  const got = pubs(await sub.client.receive());
  assert.deepEqual(
    got.map((p) => p.payload.toString()),
    ["once"],
    "one delivery in total",
  );
});

test("PUBREL for an unknown packet id is answered with PUBCOMP (5.0: 0x92)", async () => {
  const h = harness();
  const { client } = await h.connect({ clientId: "c" });
  client.send({ type: PacketType.PUBREL, packetId: 1234 });
  const got = await client.receive();
  assert.equal(got[0]?.type, PacketType.PUBCOMP);
  const v5 = await h.connect({ clientId: "c5", version: 5 });
  v5.client.send({ type: PacketType.PUBREL, packetId: 1234 });
  const [comp] = await v5.client.receive();
  assert.equal(comp?.type === PacketType.PUBCOMP ? comp.reasonCode : -1, 0x92);
});

test("QoS 2 outbound: PUBLISH -> PUBREC -> PUBREL -> PUBCOMP, id held until PUBCOMP [MQTT-4.3.3-1]", async () => {
  const h = harness();
  const sub = await h.connect({ clientId: "s", clean: false });
  await sub.client.subscribe("t", 2);
  await h.broker.publish({ topic: "t", payload: "x", qos: 2 });
  const [m] = await sub.client.publishes();
  assert.equal(m?.qos, 2);
  sub.client.send({ type: PacketType.PUBREC, packetId: m.packetId! });
  assert.deepEqual(await sub.client.receive(), [
    { type: PacketType.PUBREL, packetId: m.packetId!, reasonCode: undefined, properties: undefined },
  ]);
  assert.equal(h.broker.stats().inflight, 1, "PUBREL state still holds the id");
  sub.client.send({ type: PacketType.PUBCOMP, packetId: m.packetId! });
  await settle();
  assert.equal(h.broker.stats().inflight, 0);
});

test("unacknowledged QoS 1/2 resent with DUP and original ids on reconnect, PUBREL resent [MQTT-4.4.0-1] [MQTT-4.6.0-1]", async () => {
  const h = harness();
  const a = await h.connect({ clientId: "r", clean: false });
  await a.client.subscribe([
    { topicFilter: "q1", qos: 1 },
    { topicFilter: "q2", qos: 2 },
  ]);
  await h.broker.publish({ topic: "q1", payload: "m1", qos: 1 });
  await h.broker.publish({ topic: "q2", payload: "m2", qos: 2 });
  await h.broker.publish({ topic: "q2", payload: "m3", qos: 2 });
  const first = await a.client.publishes();
  assert.deepEqual(
    first.map((p) => [p.payload.toString(), p.dup]),
    [
      ["m1", false],
      ["m2", false],
      ["m3", false],
    ],
  );
  a.client.send({ type: PacketType.PUBREC, packetId: first[2]!.packetId! }); // m3 moves to PUBREL state
  await a.client.receive();
  a.client.drop();
  await settle();
  const b = await h.connect({ clientId: "r", clean: false });
  const again = await b.client.receive();
  assert.deepEqual(
    again.map((p) =>
      p.type === PacketType.PUBLISH
        ? `PUBLISH ${p.packetId} dup=${p.dup}`
        : `${p.type} ${"packetId" in p ? p.packetId : ""}`,
    ),
    [
      `PUBLISH ${first[0]!.packetId} dup=true`,
      `PUBLISH ${first[1]!.packetId} dup=true`,
      `${PacketType.PUBREL} ${first[2]!.packetId}`,
    ],
  );
});

test("packet ids are never reused while in flight, also after wrapping at 65535 [MQTT-2.3.1-2]", async () => {
  const h = harness({ maxInflight: 3 });
  const { client } = await h.connect({ clientId: "ids", clean: false });
  await client.subscribe("t", 1);
  const session = brokerInternals(h.broker).sessions.get("ids")!;
  await h.broker.publish({ topic: "t", payload: "held", qos: 1 }); // stays unacknowledged throughout
  const [held] = await client.publishes();
  const seen = new Set<number>();
  for (let i = 0; i < 30; i++) {
    for (let k = 0; k < 2; k++) await h.broker.publish({ topic: "t", payload: "x", qos: 1 });
    for (const p of await client.publishes()) {
      assert.notEqual(p.packetId, held!.packetId, "the held id is skipped");
      seen.add(p.packetId!);
      client.ack(p);
    }
    // Jump ahead so the loop wraps quickly.
    if (i === 10) (session as unknown as { allocatePacketId(): number }).allocatePacketId = wrapFrom(session, 65530);
  }
  assert.equal(held!.packetId, 1);
  assert.ok(seen.has(65535) && seen.has(2), "wrapped around, skipping the id still in flight");
  assert.equal(h.broker.stats().inflight, 1);
});

/** Replaces the allocator's position (test-only) by allocating until near the end of the id space. */
function wrapFrom(session: { allocatePacketId(): number }, target: number): () => number {
  const original = session.allocatePacketId.bind(session);
  let id = original();
  while (id < target) id = original();
  return original;
}

test("maxInflight bounds unacknowledged QoS 1 messages; more are sent as acks arrive", async () => {
  const h = harness({ maxInflight: 2 });
  const { client } = await h.connect({ clientId: "w", clean: false });
  await client.subscribe("t", 1);
  for (let i = 0; i < 5; i++) await h.broker.publish({ topic: "t", payload: String(i), qos: 1 });
  let got = await client.publishes();
  assert.deepEqual(
    got.map((p) => p.payload.toString()),
    ["0", "1"],
  );
  client.ack(got[0]!);
  got = await client.publishes();
  assert.deepEqual(
    got.map((p) => p.payload.toString()),
    ["2"],
  );
  client.ack(got[0]!);
  assert.deepEqual(payloads(await client.receive()), ["3"]);
  assert.equal(h.broker.stats().queued, 1);
});

test("QoS 0 messages are not held back by a full inflight window", async () => {
  const h = harness({ maxInflight: 1 });
  const { client } = await h.connect({ clientId: "w0" });
  await client.subscribe("t", 1);
  await h.broker.publish({ topic: "t", payload: "a", qos: 1 });
  await h.broker.publish({ topic: "t", payload: "b", qos: 1 });
  await h.broker.publish({ topic: "t", payload: "c", qos: 0 });
  assert.deepEqual(payloads(await client.receive()), ["a", "c"]);
});

test("overlapping subscriptions: one delivery at the highest granted QoS [MQTT-3.3.5-1]", async () => {
  const h = harness();
  const { client } = await h.connect({ clientId: "ov" });
  await client.subscribe([
    { topicFilter: "a/+", qos: 0 },
    { topicFilter: "a/#", qos: 2 },
    { topicFilter: "a/b", qos: 1 },
  ]);
  await h.broker.publish({ topic: "a/b", payload: "q2", qos: 2 });
  await h.broker.publish({ topic: "a/b", payload: "q1", qos: 1 });
  const got = await client.publishes();
  assert.deepEqual(
    got.map((p) => [p.payload.toString(), p.qos]),
    [
      ["q2", 2],
      ["q1", 1],
    ],
    "min(pub QoS, max granted)",
  );
});

test("delivered QoS is min(publish QoS, granted QoS) [MQTT-3.8.4-6]", async () => {
  const h = harness();
  const { client } = await h.connect({ clientId: "m" });
  await client.subscribe("t", 1);
  await h.broker.publish({ topic: "t", payload: "x", qos: 2 });
  await h.broker.publish({ topic: "t", payload: "y", qos: 0 });
  assert.deepEqual(
    (await client.publishes()).map((p) => p.qos),
    [1, 0],
  );
});

test("DUP of an incoming PUBLISH is not propagated [MQTT-3.3.1-3]", async () => {
  const h = harness();
  const sub = await h.connect({ clientId: "s" });
  await sub.client.subscribe("t", 1);
  const pub = await h.connect({ clientId: "p" });
  pub.client.publish("t", "d", 1, { dup: true });
  const [m] = await sub.client.publishes();
  assert.equal(m?.dup, false);
});

test("maximumQoS caps the granted QoS", async () => {
  const h = harness({ maximumQoS: 1 });
  const { client } = await h.connect({ clientId: "cap" });
  const suback = await client.subscribe("t", 2);
  assert.deepEqual(suback.reasonCodes, [1]);
});

test("UNSUBSCRIBE stops new deliveries and is always answered [MQTT-3.10.4-4] [MQTT-3.10.4-5]", async () => {
  const h = harness();
  const { client } = await h.connect({ clientId: "u" });
  await client.subscribe("t", 0);
  client.send({ type: PacketType.UNSUBSCRIBE, packetId: 3, topicFilters: ["t", "never"] });
  const [ack] = await client.receive();
  assert.equal(ack?.type, PacketType.UNSUBACK);
  await h.broker.publish({ topic: "t", payload: "x" });
  assert.deepEqual(await client.receive(), []);
});

test("PINGREQ is answered with PINGRESP [MQTT-3.12.4-1]", async () => {
  const h = harness();
  const { client } = await h.connect({ clientId: "ping" });
  client.send({ type: PacketType.PINGREQ });
  assert.deepEqual(types(await client.receive()), [PacketType.PINGRESP]);
});
