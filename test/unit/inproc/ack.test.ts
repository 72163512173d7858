// Acknowledgements: ack / nack with retry and backoff / reject, ack timeouts, the retry limit and the dead-letter
// topic, handler failures in auto mode. Every timer runs on a fake clock.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DeadLetterProperty, InprocError, InprocErrorCode, type ReceivedMessage } from "../../../src/index.ts";
import { FakeClock } from "../../../src/util/index.ts";
import { embedded, next, settle, take } from "./harness.ts";

const prop = (m: ReceivedMessage, key: string): string | undefined =>
  m.properties?.userProperties?.find(([k]: readonly [string, string]) => k === key)?.[1];

test("manual ack: ack() completes the delivery; acking twice is an error", async (t) => {
  const broker = await embedded(t);
  const sub = broker.subscribe("orders", { ack: "manual" });
  await broker.publish("orders", "o-1", { qos: 1 });
  const m = (await sub[Symbol.asyncIterator]().next()).value as ReceivedMessage;
  assert.equal(m.qos, 1, "manual ack subscriptions are granted at least QoS 1");
  assert.equal(broker.metrics().broker.inflight, 1);
  m.ack();
  assert.equal(broker.metrics().broker.inflight, 0);
  assert.throws(
    () => m.ack(),
    (e: unknown) => e instanceof InprocError && e.code === InprocErrorCode.AckState,
  );
});

test("nack({ retryAfter }) redelivers after that delay with deliveryCount + 1", async (t) => {
  const clock = new FakeClock();
  const broker = await embedded(t, { clock });
  const sub = broker.subscribe("orders", { ack: "manual" });
  await broker.publish("orders", "o-1", { qos: 1 });
  const it = sub[Symbol.asyncIterator]();
  const first = (await it.next()).value as ReceivedMessage;
  assert.equal(first.deliveryCount, 1);
  first.nack({ retryAfter: 5000 });
  clock.advance(4999);
  await settle();
  assert.equal(sub.stats().buffered, 0, "not before the delay");
  clock.advance(1);
  const second = (await it.next()).value as ReceivedMessage;
  assert.equal(second.text(), "o-1");
  assert.equal(second.deliveryCount, 2);
  second.ack();
  assert.equal(broker.metrics().broker.inflight, 0);
});

test("an unacknowledged message is redelivered after ackTimeout, with exponential backoff", async (t) => {
  const clock = new FakeClock();
  const broker = await embedded(t, { clock });
  const sub = broker.subscribe("jobs", {
    ack: "manual",
    ackTimeout: 1000,
    retryBackoff: { initial: 100, max: 250 },
    maxDeliveries: 10,
  });
  await broker.publish("jobs", "j", { qos: 1 });
  const it = sub[Symbol.asyncIterator]();
  const counts: number[] = [];
  // Timeout 1000, then backoff 100, 200, 250 (capped) before the 2nd, 3rd, 4th delivery.
  const waits = [1000 + 100, 1000 + 200, 1000 + 250];
  counts.push(((await it.next()).value as ReceivedMessage).deliveryCount);
  for (const w of waits) {
    clock.advance(w - 1);
    await settle();
    assert.equal(sub.stats().buffered, 0, `not redelivered before ${w} ms`);
    clock.advance(1);
    counts.push(((await it.next()).value as ReceivedMessage).deliveryCount);
  }
  assert.deepEqual(counts, [1, 2, 3, 4]);
  assert.equal(sub.stats().redelivered, 3);
});

test("past maxDeliveries the message goes to $DLQ/<topic> with reason, original topic, delivery count and time", async (t) => {
  const clock = new FakeClock();
  const broker = await embedded(t, { clock });
  const dlq = broker.subscribe("$DLQ/#");
  const sub = broker.subscribe("pay/+", { ack: "manual", maxDeliveries: 2, retryBackoff: { initial: 10 } });
  await broker.publish("pay/42", "charge", { qos: 1, properties: { contentType: "text/plain" } });
  const it = sub[Symbol.asyncIterator]();
  ((await it.next()).value as ReceivedMessage).nack();
  clock.advance(10);
  ((await it.next()).value as ReceivedMessage).nack();
  const [dead] = await take(dlq, 1);
  assert.equal(dead!.topic, "$DLQ/pay/42");
  assert.equal(dead!.text(), "charge");
  assert.equal(dead!.properties?.contentType, "text/plain");
  assert.equal(prop(dead!, DeadLetterProperty.Topic), "pay/42");
  assert.match(prop(dead!, DeadLetterProperty.Reason)!, /^nack; delivered 2 times/);
  assert.equal(prop(dead!, DeadLetterProperty.DeliveryCount), "2");
  assert.equal(prop(dead!, DeadLetterProperty.Time), new Date(clock.now()).toISOString());
  assert.equal(broker.metrics().broker.inflight, 0, "the original delivery is complete");
  const stats = broker.deadLetters.stats();
  assert.equal(stats.total, 1);
  assert.deepEqual(stats.byTopic, { "pay/42": 1 });
  assert.deepEqual(stats.byReason, { nack: 1 });
});

test("reject(reason) dead-letters at once; a `#` subscriber never sees dead letters [MQTT-4.7.2-1]", async (t) => {
  const broker = await embedded(t);
  const everything = broker.subscribe("#");
  const dlq = broker.subscribe("$DLQ/#");
  const sub = broker.subscribe("mail", { ack: "manual" });
  await broker.publish("mail", "spam", { qos: 1 });
  const m = await next(sub);
  m.reject("invalid schema");
  const [dead] = await take(dlq, 1);
  assert.equal(prop(dead!, DeadLetterProperty.Reason), "invalid schema");
  assert.equal(prop(dead!, DeadLetterProperty.DeliveryCount), "1");
  await settle();
  assert.deepEqual(everything.stats().received, 1, "only the original");
});

test("auto ack with a handler: a throwing handler is retried with backoff, then dead-lettered", async (t) => {
  const clock = new FakeClock();
  const broker = await embedded(t, { clock });
  let calls = 0;
  const errors: unknown[] = [];
  broker.subscribe("flaky", {
    qos: 1,
    maxDeliveries: 3,
    retryBackoff: { initial: 100 },
    onError: (e) => errors.push(e),
    handler: () => {
      calls++;
      throw new Error("boom");
    },
  });
  const dlq = broker.subscribe("$DLQ/flaky");
  await broker.publish("flaky", "x", { qos: 1 });
  await settle();
  clock.advance(100);
  await settle();
  clock.advance(200);
  await settle();
  assert.equal(calls, 3);
  const [dead] = await take(dlq, 1);
  assert.match(prop(dead!, DeadLetterProperty.Reason)!, /^handler error: boom; delivered 3 times/);
  assert.equal(broker.metrics().broker.inflight, 0);
});

test("ack/nack/reject on an auto-ack subscription are refused", async (t) => {
  const broker = await embedded(t);
  const sub = broker.subscribe("a");
  await broker.publish("a", "x");
  const [m] = await take(sub, 1);
  assert.throws(() => m!.ack(), /acknowledges automatically/);
});
