// The MQTT.js queue helper (src/client): enqueue, consume with ack on success, nack on throw, reject on RejectError.
import assert from "node:assert/strict";
import { test } from "node:test";
import mqtt from "mqtt";
import { NackError, RejectError, consume, enqueue } from "../../../src/client/index.ts";
import type { QueueHelperMessage } from "../../../src/client/index.ts";
import { startBroker } from "../../helpers/broker.ts";
import { waitUntil } from "../../helpers/clients.ts";

test("consume/enqueue: ack on success, nack on throw (retried), reject on RejectError (DLQ)", async (t) => {
  const b = await startBroker({ queues: [{ name: "jobs", retry: { initialBackoff: 20, maxBackoff: 40 } }] });
  t.after(() => b.close());
  const client = await mqtt.connectAsync(b.url, { protocolVersion: 5, reconnectPeriod: 0 });
  t.after(() => client.endAsync(true));
  const seen: QueueHelperMessage[] = [];
  const consumption = await consume(client, "jobs", { group: "workers", prefetch: 4 }, (m) => {
    seen.push(m);
    const text = m.payload.toString();
    if (text === "flaky" && m.deliveryCount === 1) throw new Error("transient");
    if (text === "later" && m.deliveryCount === 1) throw new NackError("not yet", 30);
    if (text === "poison") throw new RejectError("cannot parse");
  });
  await enqueue(client, "jobs", "fine", { partitionKey: "k1" });
  await enqueue(client, "jobs", "flaky");
  await enqueue(client, "jobs", "later");
  await enqueue(client, "jobs", "poison");
  await waitUntil(() => b.broker.queues.info("jobs")!.depth === 0, 5000, "all settled");
  const info = b.broker.queues.info("jobs")!;
  assert.equal(info.counters.acked, 3);
  assert.equal(info.counters.nacked, 2);
  assert.equal(info.counters.rejected, 1);
  assert.equal(info.dlqDepth, 1);
  assert.equal(b.broker.queues.peek("dlq/jobs")[0]!.record.dlq?.reason, "rejected: cannot parse");
  assert.equal(seen.find((m) => m.payload.toString() === "fine")!.partitionKey, "k1");
  assert.deepEqual(
    seen.filter((m) => m.payload.toString() === "flaky").map((m) => m.deliveryCount),
    [1, 2],
  );
  assert.equal(info.groups[0]!.name, "workers");
  await consumption.stop();
  assert.equal(b.broker.queues.info("jobs")!.groups[0]!.consumers.length, 0);
});

test("the helpers refuse a 3.1.1 client (no user properties to carry message ids)", async (t) => {
  const b = await startBroker();
  t.after(() => b.close());
  const client = await mqtt.connectAsync(b.url, { protocolVersion: 4, reconnectPeriod: 0 });
  t.after(() => client.endAsync(true));
  await assert.rejects(enqueue(client, "jobs", "x"), TypeError);
  await assert.rejects(
    consume(client, "jobs", {}, () => undefined),
    TypeError,
  );
});
