// Durable queues for MQTT 3.1.1 clients (no user properties): the default group, PUBACK = ack, no PUBACK within
// the delivery timeout = nack, the documented reject path, refusals; with MQTT.js 3.1.1, paho-mqtt and mosquitto.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { IPublishPacket } from "mqtt";
import { startBroker } from "../../helpers/broker.ts";
import { mosquittoPub, mosquittoSub, paho, parseSubLines, waitUntil } from "../../helpers/clients.ts";
import { connect, publishCode, sleep, subscribeCodes } from "./helpers.ts";

const V311 = { protocolVersion: 4 } as const;

test("3.1.1: the default group; the consumer's PUBACK acknowledges the delivery", async (t) => {
  const b = await startBroker();
  t.after(() => b.close());
  const c = await connect(t, b.url, V311);
  assert.deepEqual(await subscribeCodes(c, ["$queue/orders"], { qos: 1 }), [1]);
  const pub = await connect(t, b.url, V311);
  for (let i = 0; i < 3; i++) await pub.client.publishAsync("$queue/orders", `o${i}`, { qos: 1 });
  await c.waitFor(3);
  assert.deepEqual(
    c.got.map((m) => [m.topic, m.payload, m.qos]),
    [
      ["$queue/orders", "o0", 1],
      ["$queue/orders", "o1", 1],
      ["$queue/orders", "o2", 1],
    ],
  );
  await waitUntil(() => b.broker.queues.info("orders")!.depth === 0, 2000, "acked by PUBACK");
  assert.equal(b.broker.queues.info("orders")!.groups[0]!.name, "default");
  assert.equal(b.broker.queues.info("orders")!.counters.acked, 3);
});

test("3.1.1: no PUBACK within the delivery timeout is a nack; $reject before the PUBACK dead-letters", async (t) => {
  // 1 s, not less: the empty-payload $reject below settles "my oldest unsettled delivery", so it must reach the
  // broker while the redelivery is still in flight; with 150 ms a loaded CI machine (load 10) missed that window,
  // the $reject was refused (3.1.1: connection closed, no PUBACK) and the test hung.
  const b = await startBroker({ queues: [{ name: "q", deliveryTimeout: 1000, retry: { initialBackoff: 10 } }] });
  t.after(() => b.close());
  const c = await connect(t, b.url, V311);
  // No PUBACK at all: MQTT.js skips it when handleMessage reports an error (and keeps reading).
  c.client.handleMessage = (_packet: IPublishPacket, callback: (err?: Error) => void) => {
    callback(new Error("not acknowledged"));
  };
  await subscribeCodes(c, ["$queue/q"], { qos: 1 });
  const pub = await connect(t, b.url, V311);
  await pub.client.publishAsync("$queue/q", "slow", { qos: 1 });
  await c.waitFor(2, 10_000); // delivered, not PUBACKed in 1 s, delivered again
  assert.equal(b.broker.queues.info("q")!.counters.timedOut >= 1, true);
  // The documented reject path: publish to $queue/<name>/$reject (empty payload = my oldest unsettled delivery,
  // or the message id as payload), before the PUBACK.
  await c.client.publishAsync("$queue/q/$reject", "", { qos: 1 });
  await waitUntil(() => b.broker.queues.info("q")!.dlqDepth === 1, 2000, "dead-lettered");
  assert.equal(b.broker.queues.info("q")!.depth, 0);
  assert.equal(b.broker.queues.peek("dlq/q")[0]!.record.dlq?.reason, "rejected");
});

test("3.1.1: a refused publish closes the connection without PUBACK; a wildcard queue subscription gets 0x80", async (t) => {
  const b = await startBroker({ queues: [{ name: "tiny", limits: { maxDepth: 1 } }] });
  t.after(() => b.close());
  const c = await connect(t, b.url, V311);
  assert.equal(await publishCode(c, "$queue/tiny", "1"), 0);
  assert.deepEqual(await subscribeCodes(c, ["$queue/#"], { qos: 1 }), [0x80]);
  let acked = false;
  c.client.publish("$queue/tiny", "2", { qos: 1 }, () => (acked = true));
  await waitUntil(() => c.client.disconnected || !c.client.connected, 3000, "connection closed");
  await sleep(50);
  assert.equal(acked, false, "never acknowledged");
  assert.equal(b.broker.queues.info("tiny")!.depth, 1);
});

test("paho-mqtt 3.1.1 and mosquitto: produce and consume through $queue/ topics", async (t) => {
  const b = await startBroker();
  t.after(() => b.close());
  const consumer = paho(t, b.port, {
    client_id: "paho-consumer",
    steps: [
      { subscribe: [["$queue/tasks", 1]] },
      { wait_messages: 4, timeout: 8 },
      { sleep: 0.2 },
      { disconnect: true },
    ],
  });
  await consumer.waitEvent((e) => e.event === "suback");
  const producer = paho(t, b.port, {
    client_id: "paho-producer",
    steps: [
      { publish: { topic: "$queue/tasks", payload: "p1", qos: 1 } },
      { publish: { topic: "$queue/tasks", payload: "p2", qos: 1 } },
    ],
  });
  await producer.waitDone();
  assert.equal(producer.events.filter((e) => e.event === "published").length, 2);
  const r = await mosquittoPub(t, b.port, ["-t", "$queue/tasks", "-q", "1", "-m", "m3"]);
  assert.equal(r.code, 0);
  await mosquittoPub(t, b.port, ["-t", "$queue/tasks", "-q", "1", "-m", "m4"]);
  await consumer.waitDone();
  assert.deepEqual(
    consumer.messages().map((m) => m.payload),
    ["p1", "p2", "m3", "m4"],
  );
  await waitUntil(() => b.broker.queues.info("tasks")!.depth === 0, 2000, "all acked by paho's PUBACKs");
  // mosquitto_sub as a consumer of the same queue.
  await mosquittoPub(t, b.port, ["-t", "$queue/tasks", "-q", "1", "-m", "m5"]);
  const sub = mosquittoSub(t, b.port, ["-t", "$queue/tasks", "-q", "1", "-C", "1"]);
  await sub.waitForLines(1);
  assert.deepEqual(
    parseSubLines(sub.lines).map((m) => [m.topic, m.payload]),
    [["$queue/tasks", "m5"]],
  );
});
