// Tracing beyond client PUBLISHes (docs/operations.md "Tracing"): durable queue append → deliver → settle, wills,
// in-process publishBatch() and transactions, and $SYS (not traced, on purpose). A real server with
// `tracing.enabled`, spans exported to an InMemorySpanExporter, MQTT.js 5.0 clients.
import { test } from "node:test";
import assert from "node:assert/strict";
import mqtt from "mqtt";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { startTraced, client, parentOf, TRACE, PARENT } from "./tracing-harness.ts";
import { until } from "../../helpers/webhook-receiver.ts";

const SAMPLED = `00-${TRACE}-${PARENT}-01`;

const idOf = (s: ReadableSpan) => s.spanContext().spanId;
const userProp = (packet: mqtt.IPublishPacket, key: string): string | undefined => {
  const v = packet.properties?.userProperties?.[key];
  return Array.isArray(v) ? v[0] : v;
};

test("tracing $queue: append span (child of the producer's traceparent, ended at the PUBACK) → queue.deliver child of it → the consumer's settle as a child of the traceparent it received", async (t) => {
  const { server, exporter } = await startTraced(t, 0); // only the producer's sampled traceparent records
  const consumer = await client(server, "tq-consumer");
  const producer = await client(server, "tq-producer");
  t.after(() => [consumer, producer].forEach((c) => c.end(true)));
  const got = new Promise<mqtt.IPublishPacket>((resolve) =>
    consumer.once("message", (_t, _p, packet) => resolve(packet)),
  );
  await consumer.subscribeAsync("$queue/jobs", { qos: 1 });
  await producer.publishAsync("$queue/jobs", "work", {
    qos: 1,
    properties: { userProperties: { traceparent: SAMPLED } },
  });
  // An untraced append (ratio 0, no traceparent): no spans, now or when it is delivered.
  await producer.publishAsync("$queue/jobs", "quiet", { qos: 1 });
  const delivered = await got;
  await until(() => exporter.getFinishedSpans().length === 2);
  const append = exporter.getFinishedSpans().find((s) => s.name === "queue.append")!;
  assert.equal(append.spanContext().traceId, TRACE);
  assert.equal(parentOf(append), PARENT);
  assert.equal(append.attributes["messaging.destination.name"], "jobs");
  assert.equal(append.attributes["messaging.client.id"], "tq-producer");
  assert.equal(append.attributes["mqtt.reason_code"], 0);
  const deliver = exporter.getFinishedSpans().find((s) => s.name === "queue.deliver")!;
  assert.equal(parentOf(deliver), idOf(append));
  assert.equal(deliver.attributes["messaging.client.id"], "tq-consumer");
  assert.equal(deliver.attributes["messaging.consumer.group.name"], "default");
  const messageId = userProp(delivered, "message-id")!;
  assert.equal(deliver.attributes["messaging.message.id"], messageId);
  assert.equal(deliver.attributes["mqtt.queue.delivery_count"], 1);
  // The consumer received the append span's context (W3C Trace Context through the queue's storage).
  const tp = userProp(delivered, "traceparent");
  assert.equal(tp, `00-${TRACE}-${idOf(append)}-01`);

  // The consumer acknowledges, carrying that traceparent: its settle span joins the trace.
  await consumer.publishAsync("$queue/jobs/$ack", "", {
    qos: 1,
    properties: { userProperties: { "message-id": messageId, traceparent: tp } },
  });
  await until(() => exporter.getFinishedSpans().some((s) => s.name === "queue.settle"));
  const settle = exporter.getFinishedSpans().find((s) => s.name === "queue.settle")!;
  assert.equal(settle.spanContext().traceId, TRACE);
  assert.equal(parentOf(settle), idOf(append));
  assert.equal(settle.attributes["mqtt.queue.action"], "ack");
  assert.equal(settle.attributes["messaging.destination.name"], "jobs");
  assert.equal(settle.attributes["mqtt.reason_code"], 0);
  assert.equal(settle.status.code, 0);

  // A refused settlement (the message is settled already) is an error span with the broker's reason.
  await consumer
    .publishAsync("$queue/jobs/$ack", "", {
      qos: 1,
      properties: { userProperties: { "message-id": messageId, traceparent: tp } },
    })
    .catch(() => undefined); // MQTT.js rejects a PUBACK >= 0x80
  await until(() => exporter.getFinishedSpans().filter((s) => s.name === "queue.settle").length === 2);
  const refused = exporter.getFinishedSpans().filter((s) => s.name === "queue.settle")[1]!;
  assert.ok(Number(refused.attributes["mqtt.reason_code"]) >= 0x80);
  assert.equal(refused.status.code, 2); // ERROR
  assert.ok((refused.status.message ?? "").length > 0);
  assert.equal(
    exporter.getFinishedSpans().filter((s) => s.name === "queue.deliver").length,
    1,
    "the untraced message's delivery made no span",
  );
});

test("tracing wills: a will routed when its client is lost gets a publish span marked mqtt.will (no acknowledgement event) and its deliveries deliver spans", async (t) => {
  const { server, exporter } = await startTraced(t, 1);
  const watcher = await client(server, "tw-watcher");
  t.after(() => watcher.end(true));
  await watcher.subscribeAsync("status/+", { qos: 1 });
  const dying = await client(server, "tw-dying", {
    will: { topic: "status/tw-dying", payload: Buffer.from("gone"), qos: 1, retain: false },
  });
  const got = new Promise<mqtt.IPublishPacket>((resolve) =>
    watcher.once("message", (_t, _p, packet) => resolve(packet)),
  );
  await until(() => exporter.getFinishedSpans().length === 3); // connect, subscribe, connect
  exporter.reset();
  dying.stream.destroy(); // no DISCONNECT: the will is published [MQTT-3.1.2-8]
  const packet = await got;
  await until(() => exporter.getFinishedSpans().length === 2);
  const will = exporter.getFinishedSpans().find((s) => s.name === "publish")!;
  assert.equal(will.attributes["mqtt.will"], true);
  assert.equal(will.attributes["messaging.client.id"], "tw-dying");
  assert.equal(will.attributes["messaging.destination.name"], "status/tw-dying");
  assert.deepEqual(
    will.events.map((e) => e.name),
    ["routed"],
  );
  const deliver = exporter.getFinishedSpans().find((s) => s.name === "deliver")!;
  assert.equal(parentOf(deliver), idOf(will));
  assert.equal(deliver.attributes["messaging.client.id"], "tw-watcher");
  assert.equal(userProp(packet, "traceparent"), `00-${will.spanContext().traceId}-${idOf(will)}-01`);
});

test("tracing in-process batches: publishBatch() and a transaction's commit give each sampled message a publish span marked with the batch kind and size, settled at the one commit", async (t) => {
  const { LocalBroker } = await import("../../../src/inproc/index.ts");
  const { server, exporter } = await startTraced(t, 1);
  const local = new LocalBroker(server.broker);
  t.after(() => local.close());
  const seen: string[] = [];
  const sub = local.listen("b/#", (m) => seen.push(m.topic));
  t.after(() => sub.unsubscribe());
  await local.publishBatch([
    { topic: "b/1", payload: "x", qos: 1 },
    { topic: "b/2", payload: "y", qos: 1 },
    { topic: "b/3", payload: "z" },
  ]);
  const tx = local.transaction();
  tx.publish("b/t1", "1", { qos: 1 });
  tx.publish("b/t2", "2");
  await tx.commit();
  assert.deepEqual(seen, ["b/1", "b/2", "b/3", "b/t1", "b/t2"]);
  await until(() => exporter.getFinishedSpans().filter((s) => s.name === "publish").length === 5);
  const spans = exporter.getFinishedSpans().filter((s) => s.name === "publish");
  const summary = spans.map((s) => [
    s.attributes["messaging.destination.name"],
    s.attributes["mqtt.batch"],
    s.attributes["mqtt.batch.size"],
    s.attributes["mqtt.in_process"],
    s.events.map((e) => e.name).join(","),
  ]);
  assert.deepEqual(summary, [
    ["b/1", "batch", 3, true, "routed,settled"],
    ["b/2", "batch", 3, true, "routed,settled"],
    ["b/3", "batch", 3, true, "routed"],
    ["b/t1", "transaction", 2, true, "routed,settled"],
    ["b/t2", "transaction", 2, true, "routed"],
  ]);
  // Each message is its own trace (sampled one by one, like publish()).
  assert.equal(new Set(spans.map((s) => s.spanContext().traceId)).size, 5);
});

test("tracing $SYS: the broker's own $SYS publications are not traced, even at sampleRatio 1 (docs/operations.md)", async (t) => {
  const { server, exporter } = await startTraced(t, 1, { sys: { interval: 1 } });
  const c = await client(server, "ts-sys");
  t.after(() => c.end(true));
  const got = new Promise<void>((resolve) => c.once("message", () => resolve()));
  await c.subscribeAsync("$SYS/broker/uptime", { qos: 0 });
  await got; // published within a second
  await c.publishAsync("plain/topic", "x", { qos: 0 }); // a client's publish still is
  await until(() => exporter.getFinishedSpans().some((s) => s.name === "publish"));
  const topics = exporter
    .getFinishedSpans()
    .map((s) => String(s.attributes["messaging.destination.name"] ?? ""))
    .filter((x) => x !== "");
  assert.deepEqual(topics, ["plain/topic"]);
  assert.equal(
    exporter.getFinishedSpans().filter((s) => s.name === "deliver").length,
    0,
    "no deliver span for the $SYS message received",
  );
});
