// 5.0 shared subscriptions (src/broker/shared.ts) with the in-memory transport: strategies, redispatch of a
// member's unacknowledged messages, the group queue when no member is live, the QoS 2 rule, membership changes.
import assert from "node:assert/strict";
import { test } from "node:test";
import { PacketType, ReasonCode } from "../../../src/codec/index.ts";
import type { DisconnectPacket, Packet, Properties, PublishPacket, QoS } from "../../../src/codec/index.ts";
import type { SharedSubscriptionStrategy } from "../../../src/broker/options.ts";
import { harness, settle } from "./harness.ts";
import type { Harness, HarnessOptions, TestClient } from "./harness.ts";
import { brokerInternals } from "../../../src/broker/internal.ts";

const pubs = (ps: Packet[]): PublishPacket[] => ps.filter((p): p is PublishPacket => p.type === PacketType.PUBLISH);
const texts = (ps: PublishPacket[]): string[] => ps.map((p) => p.payload.toString());

/** A 5.0 client subscribed to `$share/<group>/<topic>` (not acknowledging anything by itself). */
async function member(
  h: Harness,
  clientId: string,
  o: { group?: string; topic?: string; qos?: QoS; properties?: Properties; subscriptionId?: number } = {},
): Promise<TestClient> {
  const { client } = await h.connect({ clientId, version: 5, properties: o.properties });
  const filter = `$share/${o.group ?? "g"}/${o.topic ?? "t"}`;
  const suback = await client.subscribe(
    [{ topicFilter: filter, qos: o.qos ?? 1 }],
    0,
    o.subscriptionId === undefined ? undefined : { subscriptionIdentifiers: [o.subscriptionId] },
  );
  assert.deepEqual(suback.reasonCodes, [o.qos ?? 1]);
  return client;
}

async function publishAll(
  h: Harness,
  n: number,
  o: { qos?: QoS; topic?: string; from?: number } = {},
): Promise<string[]> {
  const sent: string[] = [];
  for (let i = o.from ?? 0; i < (o.from ?? 0) + n; i++) {
    const payload = `m${String(i).padStart(3, "0")}`;
    await h.broker.publish({ topic: o.topic ?? "t", payload, qos: o.qos ?? 1 });
    sent.push(payload);
  }
  return sent;
}

/** Receives and acknowledges everything that arrived (QoS 2: PUBREC, then PUBCOMP for the PUBREL). */
async function receiveAcked(c: TestClient): Promise<PublishPacket[]> {
  const got = pubs(await c.receive());
  for (const p of got) c.ack(p);
  await settle();
  for (const p of c.take())
    if (p.type === PacketType.PUBREL) c.send({ type: PacketType.PUBCOMP, packetId: p.packetId });
  return got;
}

function strategy(s: SharedSubscriptionStrategy, more: HarnessOptions = {}): Harness {
  return harness({ sharedSubscriptionStrategy: s, ...more });
}

// ---- strategies ---------------------------------------------------------------------------------------------

test("round robin (default): members take turns, one delivery per message (5.0 §4.8.2)", async () => {
  const h = harness();
  const members = [await member(h, "a"), await member(h, "b"), await member(h, "c")];
  await publishAll(h, 9);
  const got = await Promise.all(members.map(async (m) => texts(await receiveAcked(m))));
  assert.deepEqual(got, [
    ["m000", "m003", "m006"],
    ["m001", "m004", "m007"],
    ["m002", "m005", "m008"],
  ]);
});

test("round robin skips offline members and stays fair when a member leaves", async () => {
  const h = harness();
  const a = await member(h, "a");
  const b = await member(h, "b", { properties: { sessionExpiryInterval: 60 } });
  const c = await member(h, "c");
  b.disconnect();
  await settle();
  await publishAll(h, 4);
  assert.deepEqual(texts(await receiveAcked(a)), ["m000", "m002"]);
  assert.deepEqual(texts(await receiveAcked(c)), ["m001", "m003"]);
});

test("random: each message to one member, every member used, not a fixed rotation", async () => {
  const h = strategy("random");
  const members = [await member(h, "a"), await member(h, "b"), await member(h, "c")];
  const sent = await publishAll(h, 150, { qos: 0 });
  const got = await Promise.all(members.map(async (m) => texts(pubs(await m.receive()))));
  assert.deepEqual(got.flat().sort(), sent, "each message exactly once");
  for (const g of got) assert.ok(g.length > 0, "every member chosen at least once");
  const owner = sent.map((p) => got.findIndex((g) => g.includes(p)));
  assert.equal(
    owner.every((x, i) => i < 3 || x === owner[i - 3]),
    false,
    "not a rotation (probability 3^-147)",
  );
});

test("sticky: one member gets everything while live; the next live member takes over and keeps it", async () => {
  const h = strategy("sticky");
  const a = await member(h, "a");
  const b = await member(h, "b");
  const c = await member(h, "c");
  await publishAll(h, 5);
  assert.deepEqual(texts(await receiveAcked(a)), ["m000", "m001", "m002", "m003", "m004"]);
  assert.deepEqual(pubs(await b.receive()), []);
  a.drop();
  await settle();
  await publishAll(h, 3, { from: 5 });
  assert.deepEqual(texts(await receiveAcked(b)), ["m005", "m006", "m007"]);
  assert.deepEqual(pubs(await c.receive()), []);
  await member(h, "a"); // back: does not take the group over again
  await publishAll(h, 2, { from: 8 });
  assert.deepEqual(texts(await receiveAcked(b)), ["m008", "m009"]);
});

test("least-inflight: the member with the fewest unacknowledged messages is chosen; a stalled one stops being chosen", async () => {
  const h = strategy("least-inflight");
  const slow = await member(h, "slow", { properties: { receiveMaximum: 100 } });
  const fast = await member(h, "fast");
  for (let i = 0; i < 10; i++) {
    await publishAll(h, 1, { from: i });
    await receiveAcked(fast);
  }
  const stuck = pubs(await slow.receive());
  assert.equal(stuck.length, 1, "the stalled member got only the first message");
  assert.equal(h.broker.stats().inflight, 1);
});

test("least-inflight: equally loaded members alternate", async () => {
  const h = strategy("least-inflight");
  const a = await member(h, "a");
  const b = await member(h, "b");
  for (let i = 0; i < 4; i++) {
    await publishAll(h, 1, { from: i });
    await receiveAcked(a);
    await receiveAcked(b);
  }
  await publishAll(h, 2, { from: 4 });
  const got = [texts(await receiveAcked(a)), texts(await receiveAcked(b))];
  assert.deepEqual(got.flat().sort(), ["m004", "m005"]);
  assert.ok(got[0]!.length === 1 && got[1]!.length === 1, "one each when both have nothing in flight");
});

// ---- redispatch ---------------------------------------------------------------------------------------------

test("a member whose connection dies gives back its in-flight QoS 1 messages: the live member gets them (zero lost)", async () => {
  const h = harness();
  const live = await member(h, "live");
  const victim = await member(h, "victim");
  const sent = await publishAll(h, 10);
  const toVictim = texts(pubs(await victim.receive())); // never acknowledged
  assert.equal(toVictim.length, 5);
  const toLive = texts(await receiveAcked(live));
  victim.drop();
  await settle();
  const redispatched = await receiveAcked(live);
  assert.deepEqual(texts(redispatched), toVictim, "the victim's share, in order");
  for (const p of redispatched) assert.equal(p.dup, false, "a first delivery to this member");
  assert.deepEqual([...toLive, ...texts(redispatched)].sort(), sent);
  assert.equal(h.broker.stats().inflight, 0);
});

test("a member's queued messages (beyond its Receive Maximum) are given back too", async () => {
  const h = harness();
  const live = await member(h, "live");
  const victim = await member(h, "victim", { properties: { receiveMaximum: 1 } });
  const sent = await publishAll(h, 8);
  assert.equal(pubs(await victim.receive()).length, 1, "one in flight, three queued");
  assert.equal(h.broker.stats().queued, 3);
  const first = texts(await receiveAcked(live));
  victim.drop();
  await settle();
  const rest = texts(await receiveAcked(live));
  assert.equal(rest.length, 4);
  assert.deepEqual([...first, ...rest].sort(), sent);
  assert.equal(h.broker.stats().queued, 0);
});

test("a persistent member going offline gives its messages to live members at once, and gets none back on return", async () => {
  const h = harness();
  const live = await member(h, "live");
  const p = await member(h, "persistent", { properties: { sessionExpiryInterval: 300 } });
  const sent = await publishAll(h, 6);
  assert.equal(pubs(await p.receive()).length, 3);
  const first = texts(await receiveAcked(live));
  p.drop();
  await settle();
  const rest = texts(await receiveAcked(live));
  assert.deepEqual([...first, ...rest].sort(), sent, "nothing waits for the offline member");
  const back = await h.connect({ clientId: "persistent", version: 5, clean: false });
  assert.equal(back.connack.sessionPresent, true);
  assert.deepEqual(pubs(await back.client.receive()), [], "nothing resent: the group gave it to another member");
  await publishAll(h, 2, { from: 6 });
  const again = [texts(await receiveAcked(back.client)), texts(await receiveAcked(live))];
  assert.deepEqual(again.flat().sort(), ["m006", "m007"], "still a member");
  assert.ok(again[0]!.length === 1, "and chosen again");
});

test("a message refused with PUBACK >= 0x80 is discarded, not redispatched [MQTT-4.8.2-6]", async () => {
  const h = harness();
  const a = await member(h, "a");
  const b = await member(h, "b");
  await publishAll(h, 1);
  const [p] = pubs(await a.receive());
  a.send({ type: PacketType.PUBACK, packetId: p!.packetId!, reasonCode: ReasonCode.UnspecifiedError });
  await settle();
  a.drop();
  await settle();
  assert.deepEqual(pubs(await b.receive()), []);
});

// ---- the group's queue --------------------------------------------------------------------------------------

test("with no live member, messages wait in the group and go to the next member that connects, in order", async () => {
  const h = harness();
  for (const id of ["a", "b"]) {
    const c = await member(h, id, { properties: { sessionExpiryInterval: 300 } });
    c.disconnect();
  }
  await settle();
  const sent = await publishAll(h, 5);
  assert.equal(h.broker.stats().queued, 5, "held once, by the group");
  const a = await h.connect({ clientId: "a", version: 5, clean: false });
  const got = pubs(a.client.take().concat(await a.client.receive()));
  assert.deepEqual(texts(got), sent);
  const b = await h.connect({ clientId: "b", version: 5, clean: false });
  assert.deepEqual(pubs(await b.client.receive()), [], "nothing twice");
});

test("waiting messages follow a new member's SUBACK; QoS 0 does not wait (like an offline session)", async () => {
  const h = harness();
  const a = await member(h, "a", { properties: { sessionExpiryInterval: 300 } });
  a.disconnect();
  await settle();
  await h.broker.publish({ topic: "t", payload: "zero", qos: 0 });
  await h.broker.publish({ topic: "t", payload: "one", qos: 1 });
  const { client } = await h.connect({ clientId: "n", version: 5 });
  client.send({
    type: PacketType.SUBSCRIBE,
    packetId: 7,
    subscriptions: [{ topicFilter: "$share/g/t", qos: 1 }],
  });
  const got = await client.receive();
  assert.deepEqual(
    got.map((p) => p.type),
    [PacketType.SUBACK, PacketType.PUBLISH],
  );
  assert.deepEqual(texts(pubs(got)), ["one"]);
});

test("the group queue is bounded: QoS 1 beyond maxQueuedMessages is refused (PUBACK 0x97), counted", async () => {
  const h = harness({ maxQueuedMessages: 3 });
  const a = await member(h, "a", { properties: { sessionExpiryInterval: 300 } });
  a.disconnect();
  await settle();
  const { client: pub } = await h.connect({ clientId: "pub", version: 5 });
  for (let i = 0; i < 4; i++) pub.publish("t", `m${i}`, 1);
  const acks = (await pub.receive()).map((p) => (p.type === PacketType.PUBACK ? (p.reasonCode ?? 0) : -1));
  assert.deepEqual(acks, [0, 0, 0, ReasonCode.QuotaExceeded]);
  assert.equal(h.broker.stats().queueRejected, 1);
  assert.equal(h.broker.stats().queued, 3);
});

test("waiting messages whose Message Expiry Interval passed are dropped", async () => {
  const h = harness();
  const a = await member(h, "a", { properties: { sessionExpiryInterval: 300 } });
  a.disconnect();
  await settle();
  await h.broker.publish({ topic: "t", payload: "short", qos: 1, properties: { messageExpiryInterval: 5 } });
  await h.broker.publish({ topic: "t", payload: "long", qos: 1, properties: { messageExpiryInterval: 60 } });
  h.clock.advance(10_000);
  const back = await h.connect({ clientId: "a", version: 5, clean: false });
  assert.deepEqual(texts(pubs(back.client.take().concat(await back.client.receive()))), ["long"]);
  assert.equal(h.broker.stats().expired, 1);
});

// ---- QoS 2 --------------------------------------------------------------------------------------------------

test("QoS 2 already sent stays with its member: completed on reconnect, never sent to another [MQTT-4.8.2-4]", async () => {
  const h = harness();
  const other = await member(h, "other", { qos: 2 });
  const m = await member(h, "m", { qos: 2, properties: { sessionExpiryInterval: 300, receiveMaximum: 1 } });
  await publishAll(h, 4, { qos: 2 }); // other: m000, m002; m: m001 sent, m003 queued
  const sentToM = pubs(await m.receive());
  assert.deepEqual(texts(sentToM), ["m001"]);
  assert.deepEqual(texts(await receiveAcked(other)), ["m000", "m002"]);
  m.drop();
  await settle();
  assert.deepEqual(texts(await receiveAcked(other)), ["m003"], "the unsent one is redispatched");
  const back = await h.connect({ clientId: "m", version: 5, clean: false });
  const resent = pubs(back.client.take().concat(await back.client.receive()));
  assert.deepEqual(texts(resent), ["m001"]);
  assert.equal(resent[0]!.dup, true);
  assert.equal(resent[0]!.packetId, sentToM[0]!.packetId, "same packet identifier");
});

test("QoS 2 already sent is not sent to another member when its session ends [MQTT-4.8.2-5]", async () => {
  const h = harness();
  const other = await member(h, "other", { qos: 2 });
  const m = await member(h, "m", { qos: 2 });
  await publishAll(h, 2, { qos: 2 });
  assert.deepEqual(texts(pubs(await m.receive())), ["m001"]);
  assert.deepEqual(texts(await receiveAcked(other)), ["m000"]);
  m.drop(); // session expiry 0: the session ends now
  await settle();
  assert.deepEqual(pubs(await other.receive()), []);
  assert.equal(brokerInternals(h.broker).sessions.has("m"), false);
});

// ---- membership ---------------------------------------------------------------------------------------------

test("unsubscribe: the member leaves, its queued messages go to the others, those in flight complete with it", async () => {
  const h = harness();
  const a = await member(h, "a");
  const b = await member(h, "b", { properties: { receiveMaximum: 1 } });
  await publishAll(h, 4); // a: m000, m002; b: m001 sent, m003 queued
  assert.deepEqual(texts(await receiveAcked(a)), ["m000", "m002"]);
  const [inflight] = pubs(await b.receive());
  b.send({ type: PacketType.UNSUBSCRIBE, packetId: 9, topicFilters: ["$share/g/t"] });
  const unsuback = (await b.receive()).find((p) => p.type === PacketType.UNSUBACK);
  assert.deepEqual(unsuback?.type === PacketType.UNSUBACK ? unsuback.reasonCodes : undefined, [0]);
  assert.deepEqual(texts(await receiveAcked(a)), ["m003"]);
  b.ack(inflight!);
  await settle();
  assert.equal(h.broker.stats().inflight, 0);
  await publishAll(h, 2, { from: 4 });
  assert.deepEqual(texts(await receiveAcked(a)), ["m004", "m005"]);
  assert.deepEqual(pubs(await b.receive()), []);
  assert.equal(h.broker.stats().subscriptions, 1);
});

test("takeover keeps a persistent membership; clean start ends it; the last member's exit removes the group", async () => {
  const h = harness();
  const a = await member(h, "a", { properties: { sessionExpiryInterval: 300 } });
  const b = await member(h, "b");
  assert.equal(h.broker.stats().subscriptions, 2);
  const taken = await h.connect({ clientId: "a", version: 5, clean: false });
  assert.equal(a.transport.closed, true);
  await publishAll(h, 2);
  const got = [texts(await receiveAcked(taken.client)), texts(await receiveAcked(b))];
  assert.deepEqual(got.flat().sort(), ["m000", "m001"]);
  assert.ok(got[0]!.length === 1, "the new connection is a member");
  const fresh = await h.connect({ clientId: "a", version: 5, clean: true });
  assert.equal(h.broker.stats().subscriptions, 1, "clean start ended a's membership");
  await publishAll(h, 2, { from: 2 });
  assert.deepEqual(texts(await receiveAcked(b)), ["m002", "m003"]);
  assert.deepEqual(pubs(await fresh.client.receive()), []);
  b.drop();
  await settle();
  assert.equal(h.broker.stats().subscriptions, 0);
  await publishAll(h, 1, { from: 4 });
  assert.equal(h.broker.stats().queued, 0, "no group left to hold it");
});

test("re-subscribing replaces the member's subscription (QoS, Subscription Identifier) [MQTT-3.8.4-3]", async () => {
  const h = harness();
  const { client } = await h.connect({ clientId: "a", version: 5 });
  await client.subscribe([{ topicFilter: "$share/g/t", qos: 0 }], 0, { subscriptionIdentifiers: [5] });
  await client.subscribe([{ topicFilter: "$share/g/t", qos: 1 }], 0, { subscriptionIdentifiers: [6] });
  await publishAll(h, 1);
  const got = await receiveAcked(client);
  assert.equal(got.length, 1, "one membership, one delivery");
  assert.equal(got[0]!.qos, 1);
  assert.deepEqual(got[0]!.properties?.subscriptionIdentifiers, [6]);
});

test("a shared and an ordinary subscription of one client each get the message; groups are per filter", async () => {
  const h = harness();
  const { client } = await h.connect({ clientId: "a", version: 5 });
  await client.subscribe(["$share/g/t", "$share/g/#", "t"], 1);
  await publishAll(h, 1);
  assert.deepEqual(texts(await receiveAcked(client)), ["m000", "m000", "m000"]);
  assert.equal(h.broker.stats().subscriptions, 3);
});

test("no retained messages for a shared subscription (5.0 §3.3.1.3)", async () => {
  const h = harness();
  await h.broker.publish({ topic: "t", payload: "kept", qos: 1, retain: true });
  const { client } = await h.connect({ clientId: "a", version: 5 });
  await client.subscribe("$share/g/t", 1);
  assert.deepEqual(pubs(await client.receive()), []);
  await client.subscribe("t", 1);
  assert.deepEqual(texts(pubs(await client.receive())), ["kept"]);
});

test("No Local on a shared subscription is a Protocol Error: DISCONNECT 0x82 [MQTT-3.8.3-4]", async () => {
  const h = harness();
  const { client } = await h.connect({ clientId: "a", version: 5 });
  client.send({
    type: PacketType.SUBSCRIBE,
    packetId: 1,
    subscriptions: [{ topicFilter: "$share/g/t", qos: 1, noLocal: true }],
  });
  const got = await client.receive();
  assert.equal((got.at(-1) as DisconnectPacket).reasonCode, ReasonCode.ProtocolError);
  assert.equal(client.transport.closed, true);
});

test("3.1.1 has no shared subscriptions: `$share/g/t` is an ordinary filter", async () => {
  const h = harness();
  const a = await h.connect({ clientId: "a", version: 4 });
  const b = await h.connect({ clientId: "b", version: 4 });
  await a.client.subscribe("$share/g/t", 1);
  await b.client.subscribe("$share/g/t", 1);
  await publishAll(h, 1);
  assert.deepEqual(pubs(await a.client.receive()), []);
  await h.broker.publish({ topic: "$share/g/t", payload: "literal", qos: 0 });
  assert.deepEqual(texts(pubs(await a.client.receive())), ["literal"]);
  assert.deepEqual(texts(pubs(await b.client.receive())), ["literal"]);
});

test("broker shutdown does not shuffle shared messages between members going offline", async () => {
  const h = harness();
  const a = await member(h, "a", { properties: { sessionExpiryInterval: 300 } });
  const b = await member(h, "b", { properties: { sessionExpiryInterval: 300 } });
  await publishAll(h, 4);
  await a.receive();
  await b.receive();
  await h.broker.close();
  const inflight = (id: string): number => brokerInternals(h.broker).sessions.get(id)?.inflight.size ?? -1;
  assert.deepEqual([inflight("a"), inflight("b")], [2, 2], "each persistent session keeps its own");
});

// ---- ACL read-filter mode -----------------------------------------------------------------------------------

test("acl read filter: a message only an offline member may read waits for it; once no member may read it, it is filtered", async () => {
  const h = harness({
    aclReadMode: "filter",
    acl: [
      { permission: "allow", action: "all", topic: "t", clientId: "reader" },
      { permission: "deny", action: "subscribe", topic: "t" },
      { permission: "allow", action: "all", topic: "#" },
    ],
  });
  const expiry = { sessionExpiryInterval: 3600 };
  const reader = await member(h, "reader", { topic: "#", properties: expiry });
  const other = await member(h, "other", { topic: "#" });
  reader.drop(); // offline; its session (and membership) lives on
  await settle();
  await publishAll(h, 2, { topic: "t" }); // only "reader" may read t
  await h.broker.publish({ topic: "u", payload: "for anyone", qos: 1 });
  assert.deepEqual(texts(await receiveAcked(other)), ["for anyone"], "the live member never gets t");
  const { client: back } = await h.connect({ clientId: "reader", version: 5, clean: false, properties: expiry });
  await settle();
  assert.deepEqual(texts(await receiveAcked(back)), ["m000", "m001"], "t waited for the member that may read it");
  back.send({ type: PacketType.UNSUBSCRIBE, packetId: back.nextId(), topicFilters: ["$share/g/#"] });
  await settle();
  back.take();
  await publishAll(h, 1, { topic: "t", from: 2 });
  assert.deepEqual(texts(await receiveAcked(other)), [], "no member may read t: filtered, not sent to other");
  assert.equal(h.broker.stats().queued, 0, "and not kept waiting");
});
