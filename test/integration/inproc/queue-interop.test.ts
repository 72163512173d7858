// Durable queues shared by in-process code and MQTT.js over TCP: one consumer group mixing both kinds of consumers,
// producers of either kind, settlement of either kind seen by the other (a nack by one is redelivered to the
// other), and with LMDB an in-process publish that resolves only after the append is committed and survives a
// restart (acknowledged messages do not come back).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createBroker, type BrokerConfigInput, type ReceivedMessage, type WharfBroker } from "../../../src/index.ts";
import { silentLogger } from "../../../src/util/index.ts";
import { waitUntil } from "../../helpers/clients.ts";
import { connect, consume, publishCode, settle as settleMqtt } from "../queues/helpers.ts";
import { next } from "../../unit/inproc/harness.ts";

async function withListener(t: import("node:test").TestContext, config: BrokerConfigInput = {}) {
  const broker = await createBroker(
    { listeners: [{ host: "127.0.0.1", port: 0 }], sys: { interval: 0 }, ...config },
    { logger: silentLogger },
  );
  t.after(() => broker.close());
  return [broker, `mqtt://127.0.0.1:${broker.listeners[0]!.port}`] as const;
}

const prop = (m: ReceivedMessage, key: string): string | undefined =>
  m.properties?.userProperties?.find(([k]: readonly [string, string]) => k === key)?.[1];

test("one group, an MQTT.js consumer and an in-process consumer: MQTT.js-published messages, each once", async (t) => {
  const [broker, url] = await withListener(t);
  const mq = await connect(t, url);
  mq.client.on("message", (topic, _p, packet) => {
    const id = packet.properties?.userProperties?.["message-id"] as string;
    void settleMqtt(mq, "mixed", "ack", id);
  });
  assert.deepEqual(await consume(mq, "mixed", { group: "workers", prefetch: 1 }), [1]);
  const local: string[] = [];
  broker.subscribe("$queue/mixed", { group: "workers", prefetch: 1, handler: (m) => void local.push(m.text()) });
  const producer = await connect(t, url);
  const sent = Array.from({ length: 30 }, (_, i) => `job-${i}`);
  await Promise.all(sent.map((p) => publishCode(producer, "$queue/mixed", p)));
  await waitUntil(() => mq.got.length + local.length >= 30, 5000, "30 deliveries");
  const all = [...mq.got.map((g) => g.payload), ...local];
  assert.deepEqual(all.sort(), [...sent].sort(), "every message exactly once across both consumers");
  assert.ok(mq.got.length > 0 && local.length > 0, `both took part (${mq.got.length} MQTT, ${local.length} local)`);
  await waitUntil(() => broker.core.queues.info("mixed")!.counters.acked === 30, 5000, "30 acks");
  const g = broker.core.queues.info("mixed")!.groups[0]!;
  assert.deepEqual([g.name, g.consumers.length, g.inflight, g.backlog], ["workers", 2, 0, 0]);
});

test("in-process producer, MQTT.js consumers (5.0 $ack, 3.1.1 PUBACK): the same message-id both sides", async (t) => {
  const [broker, url] = await withListener(t);
  const v5 = await connect(t, url);
  await consume(v5, "out", { group: "g5" });
  const v4 = await connect(t, url, { protocolVersion: 4 });
  await v4.client.subscribeAsync("$queue/out", { qos: 1 }); // group "default"
  const r = await broker.publish("$queue/out", "hello", { partitionKey: "k1", ttl: 60_000, priority: 7 });
  const [m5] = await v5.waitFor(1);
  const [m4] = await v4.waitFor(1);
  assert.equal(m5!.payload, "hello");
  assert.equal(m4!.payload, "hello");
  assert.equal(m5!.props["message-id"], r.messageId);
  assert.equal(m5!.props["partition-key"], "k1");
  assert.equal(m5!.props.priority, "7", "priority travels as the user property");
  assert.equal(await settleMqtt(v5, "out", "ack", r.messageId!), 0);
  await waitUntil(() => broker.core.queues.info("out")!.depth === 0, 5000, "both groups acked");
  assert.equal(broker.core.queues.info("out")!.counters.acked, 2);
});

test("a nack by the in-process consumer is redelivered to the MQTT.js consumer of the group", async (t) => {
  const [broker, url] = await withListener(t, { queues: [{ name: "hand", retry: { initialBackoff: 10 } }] });
  const local = broker.subscribe("$queue/hand", { ack: "manual", prefetch: 1 });
  await broker.publish("$queue/hand", "n");
  const m = await next(local);
  const mq = await connect(t, url);
  await consume(mq, "hand");
  m.nack({ retryAfter: 0 });
  await waitUntil(
    () => mq.got.length + local.stats().received >= 2,
    5000,
    "the redelivery (to either consumer of the group)",
  );
  // Retried at once: whichever consumer of the group is free gets it, with delivery-count 2.
  const count = mq.got.length > 0 ? mq.got[0]!.props["delivery-count"] : prop(await next(local), "delivery-count");
  assert.equal(count, "2");
  assert.equal(broker.core.queues.info("hand")!.counters.nacked, 1);
});

test("with LMDB, an in-process queue publish resolves after its commit; acked messages stay acked after restart", async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), "wharf-inproc-queue-"));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const config: BrokerConfigInput = { storage: { type: "lmdb", dataDir, durability: "sync" }, sys: { interval: 0 } };
  let broker: WharfBroker = await createBroker(config, { logger: silentLogger });
  const batches = broker.metrics().storage.batches;
  const p = broker.publish("$queue/persist", "p1");
  let resolvedBeforeCommit = false;
  void p.then(() => (resolvedBeforeCommit = broker.metrics().storage.batches === batches));
  await p;
  assert.equal(resolvedBeforeCommit, false, "resolved only once a storage batch was written");
  assert.equal(broker.metrics().storage.pending, 0);
  await broker.publish("$queue/persist", "p2");
  const sub = broker.subscribe("$queue/persist", { ack: "manual", group: "g" });
  const first = await next(sub);
  assert.equal(first.text(), "p1");
  first.ack();
  await broker.close();

  broker = await createBroker(config, { logger: silentLogger });
  t.after(() => broker.close());
  const again = broker.subscribe("$queue/persist", { ack: "manual", group: "g" });
  const m = await next(again);
  assert.equal(m.text(), "p2", "p1 was acked before the restart; p2 is still queued");
  assert.equal(m.deliveryCount, 2, "p2 was delivered (prefetch) before the restart");
  m.ack();
  assert.equal(broker.core.queues.info("persist")!.depth, 0);
});
