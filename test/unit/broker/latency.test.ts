// The publish-to-delivery latency seam (src/broker/latency.ts): while a sink is set, every Nth routed message is
// timed and each of its first deliveries is recorded with the delivered QoS; without one nothing is timed.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { DeliveryLatencySink } from "../../../src/broker/index.ts";
import { harness, settle } from "./harness.ts";

function recorder(): DeliveryLatencySink & { seen: [number, number][] } {
  const seen: [number, number][] = [];
  return { seen, record: (qos, seconds) => void seen.push([qos, seconds]) };
}

test("Broker.setDeliveryLatency: every Nth message timed, one record per first delivery by delivered QoS", async () => {
  const h = harness({ latencySampleEvery: 2 });
  const a = await h.connect({ clientId: "a", version: 5 });
  const b = await h.connect({ clientId: "b", version: 5 });
  await a.client.subscribe("t", 0);
  await b.client.subscribe("t", 1);
  const sink = recorder();
  const publish = async (n: number) => {
    for (let i = 0; i < n; i++) await h.broker.publish({ topic: "t", payload: String(i), qos: 1 });
    await settle();
  };

  h.broker.setDeliveryLatency(sink);
  await publish(4); // messages 2 and 4 timed, two subscribers each
  assert.deepEqual(sink.seen.map(([qos]) => qos).sort(), [0, 0, 1, 1]);
  for (const [, seconds] of sink.seen) assert.ok(Number.isFinite(seconds) && seconds >= 0, `seconds ${seconds}`);

  h.broker.setDeliveryLatency(undefined);
  await publish(4); // cleared: nothing timed
  assert.equal(sink.seen.length, 4);
});
