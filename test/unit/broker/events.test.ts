// The typed event seam (src/broker/events.ts): every event kind is published on its diagnostics channel, carries
// the broker's id, and nothing is published for another broker.
import assert from "node:assert/strict";
import { test } from "node:test";
import { PacketType, ReasonCode } from "../../../src/codec/index.ts";
import { BrokerChannel, onBrokerEvent } from "../../../src/broker/index.ts";
import type { BrokerChannelName, BrokerEventMap } from "../../../src/broker/index.ts";
import { harness, settle } from "./harness.ts";

/** Records the events of one broker on every channel until the returned stop() is called. */
function record(brokerId: string): {
  of<K extends BrokerChannelName>(name: K): BrokerEventMap[K][];
  stop(): void;
} {
  const seen = new Map<string, unknown[]>();
  const stops = Object.values(BrokerChannel).map((name) =>
    onBrokerEvent(name, (e) => {
      if (e.broker !== brokerId) return;
      const list = seen.get(name) ?? [];
      list.push(structuredClone(e));
      seen.set(name, list);
    }),
  );
  return {
    of: <K extends BrokerChannelName>(name: K) => (seen.get(name) ?? []) as BrokerEventMap[K][],
    stop: () => stops.forEach((s) => s()),
  };
}

test("connect, auth result, subscribe, publish in, delivery, settlement, unsubscribe, disconnect, session events", async (t) => {
  const h = harness();
  const ev = record(h.broker.id);
  t.after(() => ev.stop());
  const sub = await h.connect({ clientId: "sub", version: 5, clean: true });
  await sub.client.subscribe("a/+", 1);
  const pub = await h.connect({ clientId: "pub", version: 5 });
  pub.client.publish("a/b", "hello", 1);
  const [msg] = await sub.client.publishes();
  assert.ok(msg);
  sub.client.send({ type: PacketType.PUBACK, packetId: msg.packetId!, reasonCode: ReasonCode.NoMatchingSubscribers });
  await settle();
  sub.client.send({ type: PacketType.UNSUBSCRIBE, packetId: 9, topicFilters: ["a/+", "nope"] });
  await settle();
  sub.client.disconnect();
  await settle();

  assert.deepEqual(
    ev.of(BrokerChannel.Connect).map((e) => [e.clientId, e.protocolVersion, e.sessionPresent]),
    [
      ["sub", 5, false],
      ["pub", 5, false],
    ],
  );
  assert.deepEqual(
    ev.of(BrokerChannel.AuthResult).map((e) => [e.clientId, e.ok, e.reasonCode]),
    [
      ["sub", true, 0],
      ["pub", true, 0],
    ],
  );
  assert.deepEqual(
    ev.of(BrokerChannel.Subscribe).map((e) => [e.clientId, e.filter, e.requestedQos, e.reasonCode]),
    [["sub", "a/+", 1, 1]],
  );
  const pubIn = ev.of(BrokerChannel.PublishIn);
  assert.deepEqual(
    pubIn.map((e) => [e.clientId, e.topic, e.qos, e.payloadBytes, e.matched, e.refused]),
    [["pub", "a/b", 1, 5, 1, 0]],
  );
  assert.deepEqual(
    ev.of(BrokerChannel.Delivery).map((e) => [e.clientId, e.topic, e.qos, e.packetId, e.dup]),
    [["sub", "a/b", 1, msg.packetId, false]],
  );
  assert.deepEqual(
    ev.of(BrokerChannel.Settlement).map((e) => [e.clientId, e.settlement, e.owned]),
    [["sub", { kind: "acknowledged", reasonCode: ReasonCode.NoMatchingSubscribers }, false]],
    "the PUBACK reason code reaches the settlement",
  );
  assert.deepEqual(
    ev.of(BrokerChannel.Unsubscribe).map((e) => [e.filter, e.reasonCode]),
    [
      ["a/+", 0],
      ["nope", ReasonCode.NoSubscriptionExisted],
    ],
  );
  assert.deepEqual(
    ev.of(BrokerChannel.Disconnect).map((e) => [e.clientId, e.initiator, e.will]),
    [["sub", "client", false]],
  );
  assert.deepEqual(
    ev.of(BrokerChannel.SessionCreated).map((e) => [e.clientId, e.expiryInterval, e.restored]),
    [
      ["sub", 0, false],
      ["pub", 0, false],
    ],
  );
  assert.deepEqual(
    ev.of(BrokerChannel.SessionEnded).map((e) => [e.clientId, e.reason]),
    [["sub", "connection-ended"]],
  );
});

test("refused CONNECT: auth-result with the CONNACK code, no connect event", async (t) => {
  const h = harness({ allowAnonymous: false, auth: { authenticate: (ctx) => ctx.username === "good" } });
  const ev = record(h.broker.id);
  t.after(() => ev.stop());
  await h.tryConnect({ clientId: "anon", version: 5 });
  await h.tryConnect({ clientId: "bad", version: 5, username: "bad" });
  await h.connect({ clientId: "ok", version: 5, username: "good" });
  assert.deepEqual(
    ev.of(BrokerChannel.AuthResult).map((e) => [e.clientId, e.username, e.ok, e.reasonCode]),
    [
      ["anon", undefined, false, ReasonCode.NotAuthorized],
      ["bad", "bad", false, ReasonCode.BadUserNameOrPassword],
      ["ok", "good", true, 0],
    ],
  );
  assert.deepEqual(
    ev.of(BrokerChannel.Connect).map((e) => e.clientId),
    ["ok"],
  );
});

test("drops with their reason: not authorized, QoS 0 for an offline session; session expiry and server disconnect", async (t) => {
  const h = harness({ acl: [{ permission: "deny", action: "publish", topic: "secret/#" }] });
  const ev = record(h.broker.id);
  t.after(() => ev.stop());
  const p = await h.connect({ clientId: "p", version: 5 });
  p.client.publish("secret/x", "no", 1);
  await settle();
  const off = await h.connect({
    clientId: "off",
    version: 5,
    clean: false,
    properties: { sessionExpiryInterval: 10 },
  });
  await off.client.subscribe("t", 0);
  off.client.drop();
  await settle();
  p.client.publish("t", "lost", 0);
  await settle();
  h.clock.advance(10_000);
  await settle();
  assert.deepEqual(
    ev.of(BrokerChannel.Drop).map((e) => [e.clientId, e.topic, e.reason]),
    [
      ["p", "secret/x", "not-authorized"],
      ["off", "t", "offline"],
    ],
  );
  assert.deepEqual(
    ev.of(BrokerChannel.Disconnect).map((e) => [e.clientId, e.initiator]),
    [["off", "lost"]],
  );
  assert.deepEqual(
    ev.of(BrokerChannel.SessionEnded).map((e) => [e.clientId, e.reason]),
    [["off", "expired"]],
    "expired at its interval [MQTT-3.1.2-23]",
  );
});

test("another broker's events carry its own id", async (t) => {
  const a = harness();
  const b = harness();
  assert.notEqual(a.broker.id, b.broker.id);
  const ev = record(a.broker.id);
  t.after(() => ev.stop());
  await b.connect({ clientId: "elsewhere" });
  assert.deepEqual(ev.of(BrokerChannel.Connect), []);
});

test("dead-lettered: a $reject moves the message to the DLQ and emits queue, dlq, reason and delivery count", async (t) => {
  const h = harness({ queues: [{ name: "jobs", retry: { maxRetries: 0 } }] });
  const ev = record(h.broker.id);
  t.after(() => ev.stop());
  const c = await h.connect({ clientId: "worker", version: 5 });
  await c.client.subscribe("$queue/jobs", 1);
  const p = await h.connect({ clientId: "p", version: 5 });
  p.client.publish("$queue/jobs", "bad", 1);
  p.client.publish("$queue/jobs", "worse", 1);
  await settle();
  const got = c.client.take().filter((x) => x.type === PacketType.PUBLISH);
  assert.equal(got.length, 2);
  const idOf = (x: (typeof got)[number]) =>
    x.type === PacketType.PUBLISH ? x.properties?.userProperties?.find((u) => u[0] === "message-id")?.[1] : "";
  c.client.publish("$queue/jobs/$reject", "", 1, {
    properties: {
      userProperties: [
        ["message-id", idOf(got[0]!)!],
        ["reason", "cannot parse"],
      ],
    },
  });
  // A 5.0 PUBACK >= 0x80 is a nack: with maxRetries 0 the next failure is a max-retries dead letter.
  c.client.publish("$queue/jobs/$nack", "", 1, { properties: { userProperties: [["message-id", idOf(got[1]!)!]] } });
  await settle();
  assert.deepEqual(
    ev.of(BrokerChannel.DeadLettered).map((e) => [e.queue, e.dlq, e.reason, e.deliveryCount, e.group, e.payloadBytes]),
    [
      ["jobs", "dlq/jobs", "rejected: cannot parse", 1, "default", 3],
      ["jobs", "dlq/jobs", "max-retries", 1, "default", 5],
    ],
  );
  assert.deepEqual(
    ev.of(BrokerChannel.DeadLettered).map((e) => e.messageId),
    [idOf(got[0]!), idOf(got[1]!)],
  );
  assert.equal(h.broker.queues.info("dlq/jobs")?.depth, 2);
});
