// The in-process API and MQTT clients (MQTT.js over TCP) on the same broker, both ways: what one side publishes the
// other receives, with QoS, properties, priority and TTL; a transaction reaches an MQTT subscriber only at commit;
// shared groups mix both kinds of members; with LMDB a QoS 1 message for an offline persistent MQTT session is
// committed before publish() resolves and survives a restart.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createBroker, type BrokerConfigInput, type WharfBroker } from "../../../src/index.ts";
import { silentLogger } from "../../../src/util/index.ts";
import { mqttjs, waitUntil } from "../../helpers/clients.ts";
import { next, settle, take } from "../../unit/inproc/harness.ts";

async function withListener(
  t: import("node:test").TestContext,
  config: BrokerConfigInput = {},
): Promise<[WharfBroker, string]> {
  const broker = await createBroker(
    { listeners: [{ host: "127.0.0.1", port: 0 }], sys: { interval: 0 }, ...config },
    { logger: silentLogger },
  );
  t.after(() => broker.close());
  return [broker, `mqtt://127.0.0.1:${broker.listeners[0]!.port}`];
}

test("MQTT.js (5.0) receives in-process publications with QoS, properties, priority and message expiry", async (t) => {
  const [broker, url] = await withListener(t);
  const c = await mqttjs(t, url, { protocolVersion: 5 });
  const props: unknown[] = [];
  c.client.on("message", (_t, _p, packet) => props.push(packet.properties));
  await c.client.subscribeAsync("app/#", { qos: 1 });
  await broker.publish("app/event", "hello", {
    qos: 1,
    priority: 7,
    ttl: 60_000,
    properties: { contentType: "text/plain", userProperties: [["k", "v"]] },
  });
  const [m] = await c.waitFor(1);
  assert.equal(m!.topic, "app/event");
  assert.equal(m!.payload, "hello");
  assert.equal(m!.qos, 1);
  const p = props[0] as {
    contentType?: string;
    userProperties?: Record<string, string>;
    messageExpiryInterval?: number;
  };
  assert.equal(p.contentType, "text/plain");
  assert.deepEqual({ ...p.userProperties }, { k: "v", priority: "7" });
  assert.equal(p.messageExpiryInterval, 60);
});

test("MQTT.js 3.1.1 receives in-process publications too (no properties on that protocol)", async (t) => {
  const [broker, url] = await withListener(t);
  const c = await mqttjs(t, url, { protocolVersion: 4 });
  await c.client.subscribeAsync("v4/#", { qos: 2 });
  await broker.publish("v4/x", "y", { qos: 2, priority: 9 });
  const [m] = await c.waitFor(1);
  assert.deepEqual([m!.topic, m!.payload, m!.qos], ["v4/x", "y", 2]);
});

test("an in-process subscriber receives MQTT.js publications: QoS, retain, 5.0 properties and priority", async (t) => {
  const [broker, url] = await withListener(t);
  const sub = broker.subscribe("devices/+/state", { qos: 2 });
  const c = await mqttjs(t, url, { protocolVersion: 5 });
  await c.client.publishAsync("devices/d1/state", "on", {
    qos: 1,
    properties: { contentType: "text/plain", userProperties: { priority: "8" }, correlationData: Buffer.from("c1") },
  });
  await c.client.publishAsync("devices/d2/state", "off", { qos: 2 });
  const [a, b] = await take(sub, 2);
  assert.deepEqual([a!.topic, a!.text(), a!.qos, a!.priority], ["devices/d1/state", "on", 1, 8]);
  assert.equal(a!.properties?.contentType, "text/plain");
  assert.deepEqual(a!.properties?.correlationData, Buffer.from("c1"));
  assert.deepEqual([b!.topic, b!.text(), b!.qos, b!.priority], ["devices/d2/state", "off", 2, 4]);
});

test("a transaction reaches an MQTT subscriber only at commit, all of it, in order", async (t) => {
  const [broker, url] = await withListener(t);
  const c = await mqttjs(t, url, { protocolVersion: 5 });
  await c.client.subscribeAsync("tx/#", { qos: 1 });
  const tx = broker.transaction();
  for (let i = 0; i < 5; i++) tx.publish(`tx/${i}`, String(i), { qos: 1 });
  // Time for anything published to arrive over TCP: nothing does before commit.
  await broker.publish("tx/marker", "before-commit", { qos: 1 });
  await c.waitFor(1);
  assert.deepEqual(
    c.messages.map((m) => m.payload),
    ["before-commit"],
  );
  await tx.commit();
  await c.waitFor(6);
  assert.deepEqual(
    c.messages.map((m) => m.payload),
    ["before-commit", "0", "1", "2", "3", "4"],
  );
  const rolled = broker.transaction();
  rolled.publish("tx/never", "x");
  rolled.rollback();
  await broker.publish("tx/after", "after", { qos: 1 });
  await c.waitFor(7);
  assert.equal(c.messages.at(-1)!.payload, "after");
  assert.ok(!c.messages.some((m) => m.topic === "tx/never"));
});

test("a shared group with an MQTT.js member and an in-process member splits the messages", async (t) => {
  const [broker, url] = await withListener(t, { mqtt: { sharedSubscriptionStrategy: "round-robin" } });
  const c = await mqttjs(t, url, { protocolVersion: 5 });
  await c.client.subscribeAsync("$share/g/work/#", { qos: 1 });
  const local: string[] = [];
  broker.subscribe("$share/g/work/#", { qos: 1, handler: (m) => void local.push(m.text()) });
  const publisher = await mqttjs(t, url, { protocolVersion: 5 });
  for (let i = 0; i < 10; i++) await publisher.client.publishAsync(`work/${i}`, String(i), { qos: 1 });
  await waitUntil(() => c.messages.length + local.length === 10, 5000, "10 messages across the group");
  assert.ok(c.messages.length > 0 && local.length > 0, `${c.messages.length} / ${local.length}`);
});

test("an in-process message to an MQTT.js client is dead-lettered and an MQTT.js client consumes $DLQ/#", async (t) => {
  const [broker, url] = await withListener(t);
  const c = await mqttjs(t, url, { protocolVersion: 5 });
  await c.client.subscribeAsync("$DLQ/#", { qos: 1 });
  const sub = broker.subscribe("orders/#", { ack: "manual" });
  const mqttPub = await mqttjs(t, url, { protocolVersion: 5 });
  await mqttPub.client.publishAsync("orders/7", "bad", { qos: 1 });
  const m = await next(sub);
  m.reject("unparseable");
  const [dead] = await c.waitFor(1);
  assert.equal(dead!.topic, "$DLQ/orders/7");
  assert.equal(dead!.payload, "bad");
});

test("LMDB: a QoS 1 publish for an offline persistent MQTT session is committed when publish() resolves, and survives a restart", async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), "wharf-inproc-"));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const storage = { type: "lmdb" as const, dataDir, durability: "sync" as const };
  let [broker, url] = await withListener(t, { storage });
  const first = await mqttjs(t, url, {
    protocolVersion: 5,
    clientId: "keeper",
    clean: false,
    properties: { sessionExpiryInterval: 3600 },
  });
  await first.client.subscribeAsync("durable/#", { qos: 1 });
  await first.client.endAsync();
  await waitUntil(() => broker.core.stats().clientsConnected === 0, 5000, "the client to be gone");
  await broker.publish("durable/1", "kept", { qos: 1 });
  assert.ok(broker.metrics().storage.pending === 0, "nothing of it is left uncommitted");
  await broker.close();
  [broker, url] = await withListener(t, { storage });
  const again = await mqttjs(t, url, {
    protocolVersion: 5,
    clientId: "keeper",
    clean: false,
    properties: { sessionExpiryInterval: 3600 },
  });
  const [m] = await again.waitFor(1);
  assert.deepEqual([m!.topic, m!.payload, m!.qos], ["durable/1", "kept", 1]);
});

test("health() and metrics(): listeners, storage, queues and in-process counters", async (t) => {
  const [broker, url] = await withListener(t);
  await mqttjs(t, url);
  const sub = broker.subscribe("h/#");
  await broker.publish("h/1", "x");
  await settle();
  const h = broker.health();
  assert.equal(h.status, "ok");
  assert.deepEqual(h.reasons, []);
  assert.equal(h.listeners[0]!.connections, 1);
  assert.equal(h.storage.kind, "memory");
  assert.equal(h.queues.inprocBuffered, 1);
  const m = broker.metrics();
  assert.equal(m.inproc.published, 1);
  assert.equal(m.inproc.subscriptions, 1);
  assert.equal(m.broker.clientsConnected, 2, "the MQTT client and the in-process subscription");
  await sub.unsubscribe();
  await broker.close();
  assert.equal(broker.health().status, "closed");
});

test("memory limit: health is degraded near the budget", async (t) => {
  const broker = await createBroker({ sys: { interval: 0 } }, { logger: silentLogger, memoryLimit: 100 });
  t.after(() => broker.close());
  broker.subscribe("m");
  await broker.publish("m", Buffer.alloc(95));
  const h = broker.health();
  assert.equal(h.status, "degraded");
  assert.match(h.reasons[0]!, /memory: 95 of 100 bytes/);
});

test("memory limit refuses MQTT publishers: 5.0 gets PUBACK 0x97, 3.1.1 is disconnected unacknowledged, QoS 0 dropped", async (t) => {
  const broker = await createBroker(
    { listeners: [{ host: "127.0.0.1", port: 0 }], sys: { interval: 0 } },
    { logger: silentLogger, memoryLimit: 1000 },
  );
  t.after(() => broker.close());
  const url = `mqtt://127.0.0.1:${broker.listeners[0]!.port}`;
  const stuck = broker.subscribe("mem/#", { bufferSize: 10 }); // never read: its buffer holds what arrives
  const v5 = await mqttjs(t, url, { protocolVersion: 5 });
  await v5.client.publishAsync("mem/a", Buffer.alloc(900), { qos: 1 }); // fits: 900 of 1000
  await assert.rejects(
    v5.client.publishAsync("mem/b", Buffer.alloc(200), { qos: 1 }),
    (e: Error & { code?: number }) => e.code === 0x97,
  );
  await v5.client.publishAsync("mem/c", Buffer.alloc(200), { qos: 0 }); // dropped
  const v4 = await mqttjs(t, url, { protocolVersion: 4 });
  const closed = new Promise<void>((resolve) => v4.client.once("close", () => resolve()));
  v4.client.publish("mem/d", Buffer.alloc(200), { qos: 1 });
  await closed;
  await settle();
  assert.equal(stuck.stats().received, 1, "only the first message got in");
  const m = broker.metrics();
  assert.equal(m.inproc.mqttMemoryRefused, 3);
  assert.equal(m.memory.used, 900);
  await assert.rejects(broker.publish("mem/e", Buffer.alloc(200)), /memory limit/);
});

test("a synchronous listener (listen()) receives MQTT.js publications, QoS 0 and 1, in order", async (t) => {
  const [broker, url] = await withListener(t);
  const got: string[] = [];
  broker.listen("dev/+/state", (m) => void got.push(`${m.topic}=${m.text()}`));
  const c = await mqttjs(t, url);
  await c.client.publishAsync("dev/1/state", "on", { qos: 1 });
  await c.client.publishAsync("dev/2/state", "off", { qos: 0 });
  await c.client.publishAsync("dev/3/other", "x", { qos: 1 });
  await c.client.publishAsync("dev/4/state", "on", { qos: 1 });
  await waitUntil(() => got.length >= 3);
  assert.deepEqual(got, ["dev/1/state=on", "dev/2/state=off", "dev/4/state=on"]);
});
