// In-process consumers and producers of durable queues (`$queue/<name>`): groups, prefetch, ack/nack/reject with the
// queue's semantics (retry with its backoff, its DLQ), refusals, and options that do not apply refused. The mixed
// MQTT.js cases are in test/integration/inproc/queue-interop.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  InprocError,
  InprocErrorCode,
  QueueError,
  QueueErrorCode,
  type ReceivedMessage,
  type Subscription,
} from "../../../src/index.ts";
import { FakeClock } from "../../../src/util/index.ts";
import { embedded, next, settle } from "./harness.ts";

const prop = (m: ReceivedMessage, key: string): string | undefined =>
  m.properties?.userProperties?.find(([k]: readonly [string, string]) => k === key)?.[1];

const isCode = (code: string) => (e: unknown) =>
  (e instanceof InprocError || e instanceof QueueError) && e.code === code;

/** Collects what a subscription receives (auto ack, handler). */
function collect(sub: (h: (m: ReceivedMessage) => void) => Subscription): string[] {
  const got: string[] = [];
  sub((m) => void got.push(m.text()));
  return got;
}

test("publish to $queue/ appends (messageId); an in-process consumer gets it with message-id and acks it", async (t) => {
  const broker = await embedded(t);
  const r = await broker.publish("$queue/jobs", "j1", { properties: { contentType: "text/plain" } });
  assert.equal(r.matched, 1);
  assert.match(r.messageId!, /^1-\d+$/);
  assert.equal(broker.core.queues.info("jobs")!.depth, 1, "stored before any consumer exists");
  const sub = broker.subscribe("$queue/jobs", { ack: "manual" });
  const m = await next(sub);
  assert.deepEqual([m.topic, m.text(), m.qos, m.deliveryCount], ["$queue/jobs", "j1", 1, 1]);
  assert.equal(prop(m, "message-id"), r.messageId);
  assert.equal(m.properties?.contentType, "text/plain");
  assert.equal(broker.core.queues.info("jobs")!.inflight, 1);
  m.ack();
  const info = broker.core.queues.info("jobs")!;
  assert.deepEqual([info.depth, info.inflight, info.counters.acked], [0, 0, 1]);
  assert.equal(broker.metrics().broker.inflight, 0, "the session's QoS 1 flow completed too");
});

test("each group gets every message; consumers of one group share them, each message once", async (t) => {
  const broker = await embedded(t);
  const a1 = collect((h) => broker.subscribe("$queue/work", { group: "a", prefetch: 1, handler: h }));
  const a2 = collect((h) => broker.subscribe("$queue/work", { group: "a", prefetch: 1, handler: h }));
  const b = collect((h) => broker.subscribe("$queue/work", { group: "b", handler: h }));
  // In one turn: with prefetch 1 each consumer of group a holds one message while the rest wait.
  await Promise.all(Array.from({ length: 20 }, (_, i) => broker.publish("$queue/work", `m${i}`)));
  for (let i = 0; i < 10 && a1.length + a2.length < 20; i++) await settle();
  const all = Array.from({ length: 20 }, (_, i) => `m${i}`);
  assert.deepEqual([...a1, ...a2].sort(), [...all].sort(), "group a: every message exactly once");
  assert.ok(a1.length > 0 && a2.length > 0, `both consumers of group a took part (${a1.length}/${a2.length})`);
  assert.deepEqual(b, all, "group b: every message, in order");
  const groups = broker.core.queues.info("work")!.groups;
  assert.deepEqual(
    groups.map((g) => [g.name, g.consumers.length, g.inflight]),
    [
      ["a", 2, 0],
      ["b", 1, 0],
    ],
  );
});

test("prefetch bounds the unsettled deliveries an in-process consumer holds", async (t) => {
  const broker = await embedded(t);
  for (let i = 0; i < 5; i++) await broker.publish("$queue/pf", `m${i}`);
  const sub = broker.subscribe("$queue/pf", { ack: "manual", prefetch: 2 });
  const first = await next(sub);
  await settle();
  assert.equal(sub.stats().received, 2, "only prefetch 2 handed over");
  first.ack();
  await settle();
  assert.equal(sub.stats().received, 3, "one more after the ack");
});

test("nack({ retryAfter }) is the queue's $nack: redelivered after that delay with delivery-count 2", async (t) => {
  const clock = new FakeClock();
  const broker = await embedded(t, { clock });
  await broker.publish("$queue/retry", "r");
  const sub = broker.subscribe("$queue/retry", { ack: "manual" });
  const first = await next(sub);
  first.nack({ retryAfter: 5000 });
  assert.equal(broker.core.queues.info("retry")!.counters.nacked, 1);
  clock.advance(4999);
  await settle();
  assert.equal(sub.stats().received, 1, "not before retryAfter");
  clock.advance(1);
  const second = await next(sub);
  assert.deepEqual([second.text(), second.deliveryCount, prop(second, "delivery-count")], ["r", 2, "2"]);
  assert.equal(sub.stats().redelivered, 1);
  second.ack();
  assert.equal(broker.core.queues.info("retry")!.depth, 0);
});

test("a handler that throws (auto ack) nacks: the queue retries with its backoff, then dead-letters", async (t) => {
  const clock = new FakeClock();
  const broker = await embedded(
    t,
    { clock },
    {
      queues: [{ name: "flaky", retry: { maxRetries: 1, initialBackoff: 1000, maxBackoff: 1000 } }],
    },
  );
  const counts: number[] = [];
  const errors: unknown[] = [];
  broker.subscribe("$queue/flaky", {
    handler: (m) => {
      counts.push(m.deliveryCount);
      throw new Error("boom");
    },
    onError: (e) => errors.push(e),
  });
  const dlq = broker.subscribe("$queue/dlq/flaky", { ack: "manual" });
  await broker.publish("$queue/flaky", "f");
  await settle();
  clock.advance(1000); // backoff with equal jitter: 0.5 .. 1 s
  await settle();
  assert.deepEqual(counts, [1, 2]);
  const dead = await next(dlq);
  assert.equal(dead.text(), "f");
  assert.equal(prop(dead, "dlq-reason"), "max-retries");
  assert.equal(prop(dead, "delivery-count"), "2", "the final count in the original queue");
  assert.equal(dead.deliveryCount, 1, "the DLQ's own delivery count");
  assert.deepEqual(errors, [], "a queue retry is not an error of the subscription");
});

test("reject(reason) moves the message to the queue's DLQ with dlq-reason", async (t) => {
  const broker = await embedded(t);
  const dlq = broker.subscribe("$queue/dlq/orders");
  const sub = broker.subscribe("$queue/orders", { ack: "manual" });
  await broker.publish("$queue/orders", "bad order", { partitionKey: "c-1" });
  const m = await next(sub);
  assert.equal(prop(m, "partition-key"), "c-1");
  m.reject("unparseable");
  const dead = await next(dlq);
  assert.deepEqual(
    [dead.text(), prop(dead, "dlq-reason"), prop(dead, "original-queue")],
    ["bad order", "rejected: unparseable", "orders"],
  );
  assert.equal(broker.core.queues.info("orders")!.depth, 0);
  assert.equal(sub.stats().deadLettered, 1);
});

test("unsubscribing hands unsettled messages to the group at once; settling one afterwards is refused", async (t) => {
  const broker = await embedded(t);
  const first = broker.subscribe("$queue/hand", { ack: "manual", prefetch: 1 });
  await broker.publish("$queue/hand", "h");
  const held = await next(first);
  const other = broker.subscribe("$queue/hand", { ack: "manual" });
  await settle();
  assert.equal(other.stats().received, 0, "held by the first consumer");
  await first.unsubscribe();
  const again = await next(other);
  assert.deepEqual([again.text(), again.deliveryCount], ["h", 2]);
  assert.throws(() => held.ack(), isCode(InprocErrorCode.AckState), "no longer the first consumer's to settle");
  again.ack();
  assert.equal(broker.core.queues.info("hand")!.counters.acked, 1);
});

test("a delivery that timed out is no longer the consumer's to ack; the queue redelivers it", async (t) => {
  const clock = new FakeClock();
  const broker = await embedded(t, { clock }, { queues: [{ name: "slow", deliveryTimeout: 10_000 }] });
  const slow = broker.subscribe("$queue/slow", { ack: "manual", prefetch: 1 });
  await broker.publish("$queue/slow", "s");
  const late = await next(slow);
  clock.advance(10_000); // the delivery timeout is a nack: a retry after the backoff (0.5 .. 1 s with jitter)
  await settle();
  assert.equal(broker.core.queues.info("slow")!.counters.timedOut, 1);
  assert.throws(() => late.ack(), isCode(InprocErrorCode.AckState), "waiting for its retry, held by nobody");
  clock.advance(1000);
  const again = await next(slow);
  assert.deepEqual([again.text(), again.deliveryCount], ["s", 2]);
  again.ack();
  assert.equal(broker.core.queues.info("slow")!.depth, 0);
});

test("queue refusals reject with QueueError (its code and 0x97), nothing appended", async (t) => {
  const broker = await embedded(t, {}, { queues: [{ name: "small", limits: { maxDepth: 1, maxMessageSize: 4 } }] });
  await broker.publish("$queue/small", "ok");
  await assert.rejects(broker.publish("$queue/small", "full"), (e: unknown) => {
    assert.ok(e instanceof QueueError);
    assert.equal(e.code, QueueErrorCode.QueueFull);
    assert.equal(e.reasonCode, 0x97);
    return true;
  });
  await assert.rejects(broker.publish("$queue/small", "too large"), isCode(QueueErrorCode.MessageTooLarge));
  assert.equal(broker.core.queues.info("small")!.depth, 1);
  assert.equal(broker.metrics().inproc.publishRefused, 2);
});

test("options that do not apply to a queue (or only to one) are refused, not ignored", async (t) => {
  const broker = await embedded(t);
  const bad: [string, Parameters<typeof broker.subscribe>[1]][] = [
    ["$queue/q", { ackTimeout: 1000 }],
    ["$queue/q", { maxDeliveries: 3 }],
    ["$queue/q", { retryBackoff: { initial: 1 } }],
    ["$queue/q", { noLocal: true }],
    ["$queue/q", { durable: "d" }],
    ["$queue/q", { overflow: "drop-oldest" }],
    ["$queue/q", { prefetch: 0 }],
    ["$queue/q", { group: "" }],
    ["$queue/q/+", {}],
    ["$queue/a/$ack", {}],
    ["plain", { group: "g" }],
    ["plain", { prefetch: 4 }],
    ["plain", { from: "earliest" }],
  ];
  for (const [filter, opts] of bad) {
    assert.throws(() => broker.subscribe(filter, opts), isCode(InprocErrorCode.InvalidArgument), filter);
  }
  const inval = isCode(InprocErrorCode.InvalidArgument);
  await assert.rejects(broker.publish("$queue/q", "x", { retain: true }), inval);
  await assert.rejects(broker.publish("$queue/q/$ack", "1"), inval);
  await assert.rejects(broker.publish("plain", "x", { partitionKey: "k" }), inval);
  await assert.rejects(broker.publishBatch([{ topic: "$queue/q", payload: "x" }]), inval);
  const tx = broker.transaction();
  assert.throws(() => tx.publish("$queue/q", "x"), inval);
  tx.rollback();
  assert.equal(broker.core.queues.info("q"), undefined, "nothing was created");
});
