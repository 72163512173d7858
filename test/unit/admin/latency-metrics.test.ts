// Latency histograms and durable-queue metrics scraped after known traffic: publish-to-delivery latency (one
// observation per first delivery, by QoS; none for retained messages sent on subscribe), storage commit latency
// (one observation per group commit of this broker's LMDB store), and a dead letter as a metric and as the
// `message.dead_lettered` webhook event.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { request } from "undici";
import { startServer, validateConfig, type WharfServer } from "../../../src/server/index.ts";
import { brokerInternals } from "../../../src/broker/internal.ts";
import { recordingLogger } from "../broker/harness.ts";
import { parsePrometheusText, sampleValue, type Exposition } from "../../helpers/prom-text.ts";
import { receiver, until } from "../../helpers/webhook-receiver.ts";

async function scrape(server: WharfServer): Promise<Exposition> {
  const res = await request(`http://127.0.0.1:${server.management!.http.port}/metrics`);
  return parsePrometheusText(await res.body.text());
}

/** Checks a histogram's shape: declared type, cumulative buckets ending at +Inf = count; returns count and sum. */
function histogram(exp: Exposition, name: string, labels: Record<string, string> = {}) {
  assert.equal(exp.types.get(name), "histogram", name);
  const buckets = exp.samples
    .filter((s) => s.name === `${name}_bucket` && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .map((s) => [s.labels.le === "+Inf" ? Infinity : Number(s.labels.le), s.value] as const);
  assert.ok(buckets.length > 5, `${name} buckets`);
  for (let i = 1; i < buckets.length; i++) {
    assert.ok(buckets[i]![0] > buckets[i - 1]![0], "bounds ascend");
    assert.ok(buckets[i]![1] >= buckets[i - 1]![1], "counts are cumulative");
  }
  const count = sampleValue(exp, `${name}_count`, labels)!;
  assert.equal(buckets.at(-1)![0], Infinity);
  assert.equal(buckets.at(-1)![1], count);
  return { count, sum: sampleValue(exp, `${name}_sum`, labels)!, buckets };
}

test("latency histograms: publish-to-delivery per first delivery by QoS, storage commits of this store", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "wharf-latency-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = validateConfig({
    listeners: [{ host: "127.0.0.1", port: 0 }],
    storage: { type: "lmdb", dataDir: dir, durability: "sync" },
    management: { port: 0, latencySampleEvery: 1 }, // every message timed: the counts are exact
    sys: { interval: 0 },
  });
  const server = await startServer(config, { logger: recordingLogger() });
  t.after(() => server.close());
  const port = server.listeners[0]!.port;
  const open = (clientId: string) => mqtt.connectAsync({ host: "127.0.0.1", port, clientId, reconnectPeriod: 0 });
  const [s1, s2, pub] = await Promise.all([open("lat-s1"), open("lat-s2"), open("lat-pub")]);
  t.after(() => (s1.end(true), s2.end(true), pub.end(true)));
  let got = 0;
  for (const s of [s1, s2]) {
    s.on("message", () => got++);
    await s.subscribeAsync("lat/#", { qos: 1 });
  }
  await pub.publishAsync("lat/keep", "r", { qos: 1, retain: true });
  for (let i = 0; i < 10; i++) await pub.publishAsync(`lat/${i}`, "x", { qos: 1 });
  await pub.publishAsync("lat/zero", "z", { qos: 0 });
  await until(() => got === 24);
  // A late subscriber gets the retained message: a delivery, but not a publish-to-delivery latency.
  const s3 = await open("lat-s3");
  t.after(() => s3.end(true));
  const retained = new Promise((resolve) => s3.once("message", resolve));
  await s3.subscribeAsync("lat/#", { qos: 1 });
  await retained;
  await server.storage.flush();

  const exp = await scrape(server);
  const q1 = histogram(exp, "wharf_publish_delivery_latency_seconds", { qos: "1" });
  const q0 = histogram(exp, "wharf_publish_delivery_latency_seconds", { qos: "0" });
  assert.equal(q1.count, 22); // (1 retained + 10) × 2 subscribers
  assert.equal(q0.count, 2);
  assert.equal(histogram(exp, "wharf_publish_delivery_latency_seconds", { qos: "2" }).count, 0);
  assert.ok(q1.sum > 0 && q1.sum < q1.count * 10, `sum ${q1.sum}`);
  assert.equal(sampleValue(exp, "wharf_messages_sent_total"), 25);

  const commits = histogram(exp, "wharf_storage_commit_duration_seconds");
  assert.ok(commits.count > 0, "the retained message and the sessions were committed");
  assert.equal(commits.count, sampleValue(exp, "wharf_storage_commits_total"));
  assert.ok(commits.sum > 0);
});

test("latencySampleEvery: every Nth routed message is timed, each of its first deliveries observed", async (t) => {
  const config = validateConfig({
    listeners: [{ host: "127.0.0.1", port: 0 }],
    storage: { type: "memory" },
    management: { port: 0, latencySampleEvery: 4 },
    sys: { interval: 0 },
  });
  const server = await startServer(config, { logger: recordingLogger() });
  t.after(() => server.close());
  const port = server.listeners[0]!.port;
  const open = (clientId: string) => mqtt.connectAsync({ host: "127.0.0.1", port, clientId, reconnectPeriod: 0 });
  const [a, b, pub] = await Promise.all([open("n-a"), open("n-b"), open("n-pub")]);
  t.after(() => (a.end(true), b.end(true), pub.end(true)));
  let got = 0;
  for (const s of [a, b]) {
    s.on("message", () => got++);
    await s.subscribeAsync("n/#", { qos: 0 });
  }
  for (let i = 0; i < 10; i++) await pub.publishAsync("n/x", String(i), { qos: 0 });
  await until(() => got === 20);
  const exp = await scrape(server);
  // Messages 4 and 8 of 10 are timed; two subscribers each: 4 observations.
  assert.equal(histogram(exp, "wharf_publish_delivery_latency_seconds", { qos: "0" }).count, 4);
});

test("latencyMetrics: false — no latency observations, nothing timed", async (t) => {
  const config = validateConfig({
    listeners: [{ host: "127.0.0.1", port: 0 }],
    storage: { type: "memory" },
    management: { port: 0, latencyMetrics: false, metricsByQos: false },
    sys: { interval: 0 },
  });
  const server = await startServer(config, { logger: recordingLogger() });
  t.after(() => server.close());
  const port = server.listeners[0]!.port;
  const c = await mqtt.connectAsync({ host: "127.0.0.1", port, clientId: "lat-off", reconnectPeriod: 0 });
  t.after(() => c.end(true));
  const got = new Promise((resolve) => c.once("message", resolve));
  await c.subscribeAsync("x", { qos: 1 });
  await c.publishAsync("x", "1", { qos: 1 });
  await got;
  const exp = await scrape(server);
  assert.equal(histogram(exp, "wharf_publish_delivery_latency_seconds", { qos: "1" }).count, 0);
  assert.equal(sampleValue(exp, "wharf_messages_sent_total"), 1);
  assert.equal(brokerInternals(server.broker).latency.sink, undefined, "no sink: no message is timed");
});

test("a dead letter: message.dead_lettered webhook event, dead-lettered counter by reason, queue gauges", async (t) => {
  const rx = await receiver(t);
  const config = validateConfig({
    listeners: [{ host: "127.0.0.1", port: 0 }],
    storage: { type: "memory" },
    management: { port: 0 },
    sys: { interval: 0 },
    queues: [{ name: "jobs", retry: { maxRetries: 0 } }],
    webhooks: [{ name: "dlq", url: rx.url, batchDelayMs: 10, events: ["message.dead_lettered"] }],
  });
  const server = await startServer(config, { logger: recordingLogger() });
  t.after(() => server.close());
  const port = server.listeners[0]!.port;
  const c = await mqtt.connectAsync({ host: "127.0.0.1", port, protocolVersion: 5, reconnectPeriod: 0 });
  t.after(() => c.end(true));
  let id = "";
  c.on("message", (_topic, _p, packet) => {
    id = String(packet.properties?.userProperties?.["message-id"]);
    void c.publishAsync("$queue/jobs/$reject", "", {
      qos: 1,
      properties: { userProperties: { "message-id": id, reason: "no recipient" } },
    });
  });
  await c.subscribeAsync("$queue/jobs", { qos: 1 });
  await c.publishAsync("$queue/jobs", "job", { qos: 1 });
  await c.publishAsync("$queue/jobs", "second", { qos: 1 });
  await until(() => rx.batches.flatMap((b) => b.body.events).length === 2);
  const events = rx.batches.flatMap((b) => b.body.events);
  assert.deepEqual(events[0], {
    ...events[0],
    type: "message.dead_lettered",
    data: {
      queue: "jobs",
      dlq: "dlq/jobs",
      reason: "rejected: no recipient",
      deliveryCount: 1,
      group: "default",
      messageId: events[0]!.data.messageId,
      payloadBytes: 3,
    },
  });
  assert.match(String(events[0].data.messageId), /^1-\d+$/);
  await c.unsubscribeAsync("$queue/jobs");
  await c.publishAsync("$queue/jobs", "waiting", { qos: 1 });

  const exp = await scrape(server);
  assert.equal(sampleValue(exp, "wharf_durable_queue_dead_lettered_total", { reason: "rejected" }), 2);
  assert.equal(sampleValue(exp, "wharf_durable_queue_dead_lettered_total", { reason: "max-retries" }), 0);
  assert.equal(sampleValue(exp, "wharf_durable_queues"), 2);
  assert.equal(sampleValue(exp, "wharf_durable_queue_messages"), 3); // 2 dead letters + 1 waiting
  assert.equal(sampleValue(exp, "wharf_durable_queue_dead_letters"), 2);
  assert.equal(sampleValue(exp, "wharf_durable_queue_inflight_messages"), 0);
});

test("management disabled: nothing runs for metrics nobody can scrape (no process collectors, storage commits and deliveries not timed)", async (t) => {
  const { default: diagnostics } = await import("node:diagnostics_channel");
  const dir = mkdtempSync(join(tmpdir(), "wharf-latency-off-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const server = await startServer(
    validateConfig({
      listeners: [{ host: "127.0.0.1", port: 0 }],
      storage: { type: "lmdb", dataDir: dir },
      management: { enabled: false },
      sys: { interval: 0 },
    }),
    { logger: recordingLogger() },
  );
  t.after(() => server.close());
  assert.equal(diagnostics.hasSubscribers("wharf:storage:commit"), false, "storage commits are not timed");
  assert.equal(brokerInternals(server.broker).latency.sink, undefined, "deliveries are not timed");
  const text = await server.metrics.scrape();
  assert.doesNotMatch(text, /^process_cpu_user_seconds_total /m, "no process collectors");
  assert.doesNotMatch(text, /^nodejs_gc_duration_seconds/m, "no GC observer");
  assert.match(text, /^wharf_connections\{transport="tcp"\} 0$/m, "broker series are still read at scrape time");
});
