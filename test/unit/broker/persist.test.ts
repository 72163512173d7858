// The broker with storage (src/broker/persist.ts, recover.ts): acknowledgements wait for the commit, and every
// piece of state listed in issue #5 survives a clean restart and a crash. Memory store on a TestDisk, FakeClock.
import assert from "node:assert/strict";
import { test } from "node:test";
import { PacketType } from "../../../src/codec/index.ts";
import type { Packet, PublishPacket } from "../../../src/codec/index.ts";
import { payloads, recordingLogger, settle, types } from "./harness.ts";
import { persistentHarness } from "./persist-harness.ts";
import { brokerInternals } from "../../../src/broker/internal.ts";

const pubs = (ps: Packet[]): PublishPacket[] => ps.filter((p): p is PublishPacket => p.type === PacketType.PUBLISH);

test("QoS 1 PUBACK and QoS 2 PUBREC wait for the commit holding the message; PUBCOMP for the release", async () => {
  const h = await persistentHarness();
  const sub = await h.connect({ clientId: "s", clean: false });
  await sub.client.subscribe("t", 2);
  sub.client.drop(); // offline: messages are queued (and persisted)
  const pub = await h.connect({ clientId: "p", clean: false });
  await settle();
  h.disk.hold();
  pub.client.publish("t", "one", 1, { packetId: 1 });
  pub.client.publish("t", "two", 2, { packetId: 2 });
  assert.deepEqual(await pub.client.receive(), [], "nothing acknowledged before the write completed");
  h.disk.release();
  const acks = await pub.client.receive();
  assert.deepEqual(
    acks.map((p) => [p.type, "packetId" in p ? p.packetId : 0]),
    [
      [PacketType.PUBACK, 1],
      [PacketType.PUBREC, 2],
    ],
    "in order",
  );
  h.disk.hold();
  pub.client.send({ type: PacketType.PUBREL, packetId: 2 });
  assert.deepEqual(await pub.client.receive(), []);
  h.disk.release();
  assert.deepEqual(types(await pub.client.receive()), [PacketType.PUBCOMP]);
});

test("a publish without storage effects is acknowledged at once, also while a write is pending", async () => {
  const h = await persistentHarness();
  const pub = await h.connect({ clientId: "clean-pub" }); // clean session: nothing of it is persisted
  h.disk.hold();
  pub.client.publish("nobody/listens", "x", 1, { packetId: 5 });
  assert.deepEqual(types(await pub.client.receive()), [PacketType.PUBACK]);
  h.disk.release();
  assert.equal(h.storage.loadAll().sessions.length, 0, "expiry-0 sessions are not persisted");
});

test("SUBACK waits for the commit of the subscription; retained messages follow it", async () => {
  const h = await persistentHarness();
  await h.broker.publish({ topic: "r", payload: "kept", qos: 1, retain: true });
  const sub = await h.connect({ clientId: "s", clean: false });
  h.disk.hold();
  const packetId = sub.client.nextId();
  sub.client.send({ type: PacketType.SUBSCRIBE, packetId, subscriptions: [{ topicFilter: "r", qos: 1 }] });
  assert.deepEqual(await sub.client.receive(), []);
  h.disk.release();
  const got = await sub.client.receive();
  assert.deepEqual(types(got), [PacketType.SUBACK, PacketType.PUBLISH]);
});

test("retained before live [MQTT-3.3.1-9]: a live message routed while the SUBACK waits for its commit follows the retained one", async () => {
  const h = await persistentHarness();
  await h.broker.publish({ topic: "r", payload: "retained", qos: 1, retain: true });
  const sub = await h.connect({ clientId: "s", clean: false });
  const pub = await h.connect({ clientId: "p" });
  h.disk.hold(); // the subscription's commit waits: this is the window the race needed
  const packetId = sub.client.nextId();
  sub.client.send({ type: PacketType.SUBSCRIBE, packetId, subscriptions: [{ topicFilter: "r", qos: 1 }] });
  await settle();
  pub.client.publish("r", "live 0", 0);
  pub.client.publish("r", "live 1", 1);
  await settle();
  assert.deepEqual(payloads(await sub.client.receive()), [], "no live message before the SUBACK and retained one");
  h.disk.release();
  const got = await sub.client.receive();
  assert.deepEqual(types(got), [PacketType.SUBACK, PacketType.PUBLISH, PacketType.PUBLISH, PacketType.PUBLISH]);
  assert.deepEqual(
    pubs(got).map((p) => [p.payload.toString(), p.retain]),
    [
      ["retained", true],
      ["live 0", false],
      ["live 1", false],
    ],
  );
});

test("clean restart: queued QoS 1/2 messages of an offline persistent session arrive after reconnect, in order", async () => {
  let h = await persistentHarness();
  const sub = await h.connect({ clientId: "s", clean: false });
  await sub.client.subscribe([
    { topicFilter: "a", qos: 1 },
    { topicFilter: "b", qos: 2 },
  ]);
  sub.client.drop();
  const pub = await h.connect({ clientId: "p" });
  pub.client.publish("a", "m1", 1);
  pub.client.publish("b", "m2", 2);
  pub.client.publish("a", "m3", 2); // granted QoS 1
  pub.client.publish("a", "q0", 0); // QoS 0 is not queued offline
  await pub.client.receive();
  h = await h.restart();
  assert.equal(h.broker.recovery?.sessions, 1);
  assert.equal(h.broker.recovery?.queued, 3);
  const again = await h.connect({ clientId: "s", clean: false });
  assert.equal(again.connack.sessionPresent, true, "[MQTT-3.2.2-2]");
  const got = await again.client.publishes();
  assert.deepEqual(
    got.map((p) => [p.payload.toString(), p.qos]),
    [
      ["m1", 1],
      ["m2", 2],
      ["m3", 1],
    ],
  );
  for (const p of got) again.client.ack(p);
  await settle();
  again.client.send({ type: PacketType.PUBCOMP, packetId: got[1]!.packetId! });
  await settle();
  assert.equal(h.broker.stats().inflight, 0);
  assert.equal(h.storage.loadAll().messages.size, 0, "every body released with its last reference");
  assert.equal(h.storage.verify().ok, true);
});

test("inflight survives a restart: PUBLISHes resent with DUP and their ids, PUBREL resent, in order [MQTT-4.4.0-1]", async () => {
  let h = await persistentHarness();
  const a = await h.connect({ clientId: "r", clean: false });
  await a.client.subscribe([
    { topicFilter: "q1", qos: 1 },
    { topicFilter: "q2", qos: 2 },
  ]);
  await h.broker.publish({ topic: "q1", payload: "m1", qos: 1 });
  await h.broker.publish({ topic: "q2", payload: "m2", qos: 2 });
  await h.broker.publish({ topic: "q2", payload: "m3", qos: 2 });
  const first = await a.client.publishes();
  assert.equal(first.length, 3);
  a.client.send({ type: PacketType.PUBREC, packetId: first[2]!.packetId! });
  assert.deepEqual(types(await a.client.receive()), [PacketType.PUBREL]);
  h = await h.restart();
  assert.equal(h.broker.recovery?.inflight, 3);
  const b = await h.connect({ clientId: "r", clean: false });
  const again = await b.client.receive();
  assert.deepEqual(
    again.map((p) =>
      p.type === PacketType.PUBLISH
        ? [p.payload.toString(), p.packetId, p.dup]
        : [p.type, "packetId" in p && p.packetId],
    ),
    [
      ["m1", first[0]!.packetId, true],
      ["m2", first[1]!.packetId, true],
      [PacketType.PUBREL, first[2]!.packetId],
    ],
  );
});

test("inbound QoS 2 ids survive a restart: a resent PUBLISH is acknowledged but not routed again [MQTT-4.3.3-2]", async () => {
  let h = await persistentHarness();
  const sub = await h.connect({ clientId: "s", clean: false });
  await sub.client.subscribe("t", 2);
  sub.client.drop();
  const pub = await h.connect({ clientId: "p", clean: false });
  pub.client.publish("t", "once", 2, { packetId: 7 });
  assert.deepEqual(types(await pub.client.receive()), [PacketType.PUBREC]);
  h = await h.restart({ crash: true }); // acknowledged, so on disk
  const p2 = await h.connect({ clientId: "p", clean: false });
  p2.client.publish("t", "once", 2, { packetId: 7, dup: true });
  assert.deepEqual(types(await p2.client.receive()), [PacketType.PUBREC]);
  p2.client.send({ type: PacketType.PUBREL, packetId: 7 });
  assert.deepEqual(types(await p2.client.receive()), [PacketType.PUBCOMP]);
  p2.client.publish("t", "new", 2, { packetId: 7 }); // the id is free again: a new message
  await p2.client.receive();
  const s2 = await h.connect({ clientId: "s", clean: false });
  assert.deepEqual(payloads(await s2.client.receive()), ["once", "new"]);
});

test("subscriptions keep their options and identifiers across a restart; unsubscribe is persisted too", async () => {
  let h = await persistentHarness();
  const c = await h.connect({ clientId: "v5", version: 5, properties: { sessionExpiryInterval: 600 } });
  await c.client.subscribe(
    [{ topicFilter: "x/#", qos: 2, noLocal: true, retainAsPublished: true, retainHandling: 2 }],
    0,
    { subscriptionIdentifiers: [42] },
  );
  await c.client.subscribe("gone", 1);
  c.client.send({ type: PacketType.UNSUBSCRIBE, packetId: c.client.nextId(), topicFilters: ["gone"] });
  assert.deepEqual(types(await c.client.receive()), [PacketType.UNSUBACK]);
  h = await h.restart();
  assert.deepEqual(h.broker.subscriptionsOf("v5"), [
    {
      filter: "x/#",
      qos: 2,
      noLocal: true,
      retainAsPublished: true,
      retainHandling: 2,
      identifier: 42,
      shared: undefined,
    },
  ]);
  const again = await h.connect({
    clientId: "v5",
    version: 5,
    clean: false,
    properties: { sessionExpiryInterval: 600 },
  });
  assert.equal(again.connack.sessionPresent, true);
  await h.broker.publish({ topic: "x/y", payload: "hi", qos: 1, retain: true });
  const [m] = await again.client.publishes();
  assert.deepEqual(m?.properties?.subscriptionIdentifiers, [42]);
  assert.equal(m?.retain, true, "retain as published");
});

test("retained messages survive; a delete is persisted; $SYS is never written", async () => {
  let h = await persistentHarness({ sysInterval: 10 });
  await h.broker.publish({ topic: "keep", payload: "k", qos: 1, retain: true });
  await h.broker.publish({ topic: "drop", payload: "d", qos: 0, retain: true });
  await h.broker.publish({ topic: "drop", payload: "", qos: 0, retain: true });
  await h.broker.publish({ topic: "keep", payload: "k2", qos: 0, retain: true });
  h = await h.restart();
  assert.equal(h.broker.recovery?.retained, 1);
  const c = await h.connect({ clientId: "c" });
  await c.client.subscribe("#", 1);
  const got = await c.client.publishes();
  assert.deepEqual(
    got.map((p) => [p.topic, p.payload.toString(), p.retain]),
    [["keep", "k2", true]],
  );
  assert.equal(h.storage.loadAll().messages.size, 1, "the replaced body was released");
});

test("session expiry is honoured across a restart: expired while down -> gone; otherwise re-armed", async () => {
  let h = await persistentHarness();
  const opts = (id: string, expiry: number) => ({
    clientId: id,
    version: 5 as const,
    clean: false,
    properties: { sessionExpiryInterval: expiry },
  });
  for (const [id, expiry] of [
    ["short", 60],
    ["long", 300],
    ["never", 0xffffffff],
  ] as const) {
    const c = await h.connect(opts(id, expiry));
    await c.client.subscribe("t", 1);
    c.client.disconnect();
  }
  await settle();
  h = await h.restart({ advanceMs: 100_000 }); // 100 s later
  assert.equal(h.broker.recovery?.expired, 1);
  assert.deepEqual([...brokerInternals(h.broker).sessions.keys()].sort(), ["long", "never"]);
  await h.storage.flush();
  assert.equal(h.storage.loadAll().sessions.length, 2, "the expired session is deleted from storage");
  h.clock.advance(199_000); // 299 s after the disconnect
  assert.ok(brokerInternals(h.broker).sessions.has("long"));
  h.clock.advance(1_000);
  assert.deepEqual([...brokerInternals(h.broker).sessions.keys()], ["never"], "re-armed from the persisted deadline");
  const back = await h.connect(opts("short", 60));
  assert.equal(back.connack.sessionPresent, false);
});

test("will delay across a restart: published at startup if due, else when the persisted deadline comes", async () => {
  let h = await persistentHarness();
  const watcher = await h.connect({ clientId: "w", clean: false });
  await watcher.client.subscribe("will/#", 1);
  watcher.client.drop();
  for (const [id, delay] of [
    ["due", 10],
    ["later", 60],
  ] as const) {
    const c = await h.connect({
      clientId: id,
      version: 5,
      properties: { sessionExpiryInterval: 3600 },
      will: {
        topic: `will/${id}`,
        payload: Buffer.from(id),
        qos: 1,
        retain: false,
        properties: { willDelayInterval: delay },
      },
    });
    c.client.drop(); // no DISCONNECT: the will is pending
  }
  await settle();
  h = await h.restart({ advanceMs: 30_000 });
  assert.equal(h.broker.recovery?.willsPublished, 1);
  assert.equal(h.broker.recovery?.willsPending, 1);
  h.clock.advance(29_000);
  assert.equal(brokerInternals(h.broker).sessions.get("w")?.queue.length, 1);
  h.clock.advance(1_000);
  assert.equal(brokerInternals(h.broker).sessions.get("w")?.queue.length, 2);
  await settle();
  h = await h.restart();
  const w = await h.connect({ clientId: "w", clean: false });
  assert.deepEqual(payloads(await w.client.receive()), ["due", "later"]);
  assert.equal(
    h.storage.loadAll().sessions.find((s) => s.will !== undefined),
    undefined,
    "no will left stored",
  );
});

test("reconnecting within the will delay cancels the stored will", async () => {
  let h = await persistentHarness();
  const will = { topic: "will/x", payload: Buffer.from("x"), qos: 1 as const, retain: false };
  const c = await h.connect({
    clientId: "x",
    version: 5,
    properties: { sessionExpiryInterval: 3600 },
    will: { ...will, properties: { willDelayInterval: 60 } },
  });
  c.client.drop();
  await settle();
  const back = await h.connect({
    clientId: "x",
    version: 5,
    clean: false,
    properties: { sessionExpiryInterval: 3600 },
  });
  assert.equal(back.connack.sessionPresent, true);
  h = await h.restart({ advanceMs: 120_000 });
  assert.equal(h.broker.recovery?.willsPublished, 0);
});

test("crash: a connection open at the crash ended without DISCONNECT: its will is published at startup", async () => {
  let h = await persistentHarness();
  const watcher = await h.connect({ clientId: "w", clean: false });
  await watcher.client.subscribe("will/#", 1);
  await h.connect({
    clientId: "dies",
    will: { topic: "will/dies", payload: Buffer.from("gone"), qos: 1, retain: false },
  });
  await h.connect({
    clientId: "delayed",
    version: 5,
    properties: { sessionExpiryInterval: 600 },
    will: {
      topic: "will/delayed",
      payload: Buffer.from("later"),
      qos: 1,
      retain: false,
      properties: { willDelayInterval: 30 },
    },
  });
  await settle();
  h = await h.restart({ crash: true });
  assert.equal(h.broker.recovery?.willsPublished, 1);
  assert.equal(h.broker.recovery?.willsPending, 1, "the delay runs from the restart");
  h.clock.advance(30_000);
  const w = await h.connect({ clientId: "w", clean: false });
  assert.deepEqual(payloads(await w.client.receive()), ["gone", "later"]);
  assert.ok(brokerInternals(h.broker).sessions.has("delayed"), "its session expiry runs from the restart");
  h.clock.advance(570_000);
  assert.ok(!brokerInternals(h.broker).sessions.has("delayed"));
});

test("crash: everything acknowledged is on disk; unacknowledged work may be lost, never half of it", async () => {
  let h = await persistentHarness();
  const sub = await h.connect({ clientId: "s", clean: false });
  await sub.client.subscribe("t", 1);
  sub.client.drop();
  const pub = await h.connect({ clientId: "p" });
  for (let i = 0; i < 5; i++) pub.client.publish("t", `acked${i}`, 1);
  assert.equal((await pub.client.receive()).length, 5);
  h.disk.hold();
  pub.client.publish("t", "not-acked", 1);
  assert.deepEqual(await pub.client.receive(), []);
  h = await h.restart({ crash: true });
  const s = await h.connect({ clientId: "s", clean: false });
  assert.deepEqual(payloads(await s.client.receive()), ["acked0", "acked1", "acked2", "acked3", "acked4"]);
  assert.equal(h.storage.openReport.repaired, false);
});

test("a message fanned out to several persistent sessions is stored once", async () => {
  const h = await persistentHarness();
  for (const id of ["a", "b", "c"]) {
    const c = await h.connect({ clientId: id, clean: false });
    await c.client.subscribe("t", 1);
    c.client.drop();
  }
  await h.broker.publish({ topic: "t", payload: "x".repeat(100), qos: 1 });
  await h.storage.flush();
  const snapshot = h.storage.loadAll();
  assert.equal(snapshot.messages.size, 1);
  assert.deepEqual(
    snapshot.sessions.map((s) => s.queue.length),
    [1, 1, 1],
  );
});

test("clean start discards the persisted session; a resumed session whose expiry becomes 0 is no longer stored", async () => {
  let h = await persistentHarness();
  const a = await h.connect({ clientId: "a", clean: false });
  await a.client.subscribe("t", 1);
  a.client.drop();
  await h.broker.publish({ topic: "t", payload: "x", qos: 1 });
  await h.connect({ clientId: "a", clean: true });
  const b = await h.connect({ clientId: "b", version: 5, properties: { sessionExpiryInterval: 60 } });
  await b.client.subscribe("t", 1);
  b.client.drop();
  await settle();
  await h.connect({ clientId: "b", version: 5, clean: false, properties: { sessionExpiryInterval: 0 } });
  await h.storage.flush();
  assert.deepEqual(h.storage.loadAll().sessions, []);
  assert.equal(h.storage.loadAll().messages.size, 0);
  h = await h.restart({ crash: true });
  assert.equal(brokerInternals(h.broker).sessions.size, 0);
});

test("a failing commit: nothing is acknowledged, the publisher is disconnected, the failure logged at error", async () => {
  const logger = recordingLogger();
  const h = await persistentHarness({ logger });
  const sub = await h.connect({ clientId: "s", clean: false });
  await sub.client.subscribe("t", 1);
  sub.client.drop();
  const pub = await h.connect({ clientId: "p", version: 5 });
  h.disk.fail(new Error("ENOSPC: no space left on device"));
  pub.client.publish("t", "x", 1);
  const got = await pub.client.receive();
  assert.deepEqual(
    got.map((p) => [p.type, p.type === PacketType.DISCONNECT ? p.reasonCode : 0]),
    [[PacketType.DISCONNECT, 0x80]],
  );
  assert.ok(pub.client.transport.closed);
  assert.ok(logger.lines.some((l) => l.level === "error" && /storage/.test(l.msg)));
});

test("shared subscription take-back is persisted: nothing stale is restored to the member that left", async () => {
  let h = await persistentHarness();
  const opts = (id: string) => ({ clientId: id, version: 5 as const, properties: { sessionExpiryInterval: 600 } });
  const m1 = await h.connect(opts("m1"));
  await m1.client.subscribe("$share/g/t", 1);
  const m2 = await h.connect(opts("m2"));
  await m2.client.subscribe("$share/g/t", 1);
  await h.broker.publish({ topic: "t", payload: "a", qos: 1 });
  await h.broker.publish({ topic: "t", payload: "b", qos: 1 });
  const got1 = pubs(await m1.client.receive());
  const got2 = pubs(await m2.client.receive());
  assert.equal(got1.length + got2.length, 2);
  m1.client.drop(); // its unacknowledged message goes to m2
  const moved = pubs(await m2.client.receive());
  assert.equal(moved.length, got1.length);
  for (const p of [...got2, ...moved]) m2.client.ack(p);
  await settle();
  h = await h.restart();
  assert.equal(h.broker.recovery?.inflight, 0);
  assert.equal(h.broker.recovery?.queued, 0);
  assert.equal(h.storage.loadAll().messages.size, 0);
});

test("after a failed commit the broker acknowledges nothing more: later publishes and subscribes are refused, the store is failed", async () => {
  const logger = recordingLogger();
  const h = await persistentHarness({ logger });
  const told: string[] = [];
  h.storage.onFailure((e) => told.push(e.code));
  const sub = await h.connect({ clientId: "s", clean: false });
  await sub.client.subscribe("t", 1);
  sub.client.drop();
  const pub = await h.connect({ clientId: "p", version: 5 });
  h.disk.fail(new Error("EIO: i/o error"));
  pub.client.publish("t", "x", 1);
  assert.deepEqual(types(await pub.client.receive()), [PacketType.DISCONNECT]);
  assert.deepEqual(told, ["STORAGE_WRITE_FAILED"]);
  assert.equal(h.storage.failure?.code, "STORAGE_WRITE_FAILED");

  // A publish that writes nothing (no persistent subscriber) and a SUBSCRIBE: refused as well, no ack at all.
  const late = await h.connect({ clientId: "late", version: 5 });
  late.client.publish("nobody/listens", "y", 1, { packetId: 9 });
  const got = await late.client.receive();
  assert.deepEqual(
    got.map((p) => [p.type, p.type === PacketType.DISCONNECT ? p.reasonCode : 0]),
    [[PacketType.DISCONNECT, 0x80]],
    "no PUBACK once the store failed",
  );
  const late2 = await h.connect({ clientId: "late2", clean: false });
  late2.client.send({ type: PacketType.SUBSCRIBE, packetId: 3, subscriptions: [{ topicFilter: "u", qos: 1 }] });
  assert.ok(!types(await late2.client.receive()).includes(PacketType.SUBACK));
  assert.ok(late2.client.transport.closed);
  const errors = logger.lines.filter((l) => l.level === "error");
  assert.equal(errors.length, 1, "one clear line, not one per refused acknowledgement");
  assert.match(errors[0]!.msg, /No acknowledgement is sent from now on; the broker must stop/);
});

test("a storage call that throws fails the store: the acknowledgement of the change it could not mirror is never sent", async () => {
  const h = await persistentHarness();
  const sub = await h.connect({ clientId: "s", clean: false });
  await sub.client.subscribe("t", 2);
  sub.client.drop();
  const pub = await h.connect({ clientId: "p", version: 5 });
  await h.storage.close(); // every storage call throws STORAGE_CLOSED from now on
  pub.client.publish("t", "x", 2, { packetId: 4 });
  const got = await pub.client.receive();
  assert.ok(!types(got).includes(PacketType.PUBREC), "no PUBREC for a message that was not stored");
  assert.deepEqual(types(got), [PacketType.DISCONNECT]);
  assert.equal(h.storage.failure?.code, "STORAGE_CLOSED");
});
