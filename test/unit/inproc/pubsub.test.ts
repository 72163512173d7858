// In-process publish/subscribe: handlers and async iterators, QoS, retained messages, shared subscriptions,
// No Local, cancellation, overflow policies, priority order and TTL (fake clock).
import { test } from "node:test";
import assert from "node:assert/strict";
import { InprocError, InprocErrorCode, Priority, type ReceivedMessage } from "../../../src/index.ts";
import { TopicError } from "../../../src/topics/index.ts";
import { FakeClock } from "../../../src/util/index.ts";
import { embedded, settle, take } from "./harness.ts";

test("a handler receives what is published on a matching filter, in order, with topic, payload and QoS", async (t) => {
  const broker = await embedded(t);
  const got: string[] = [];
  broker.subscribe("sensors/+/temp", { qos: 1, handler: (m) => void got.push(`${m.topic}=${m.text()} q${m.qos}`) });
  await broker.publish("sensors/a/temp", "20", { qos: 1 });
  await broker.publish("sensors/b/humidity", "50", { qos: 1 }); // no match
  await broker.publish("sensors/b/temp", "21"); // QoS 0
  await settle();
  assert.deepEqual(got, ["sensors/a/temp=20 q1", "sensors/b/temp=21 q0"]);
});

test("an async iterator yields messages; unsubscribe() ends the iteration", async (t) => {
  const broker = await embedded(t);
  const sub = broker.subscribe("jobs/#");
  await broker.publish("jobs/1", "a");
  await broker.publish("jobs/2", "b");
  const [a, b] = await take(sub, 2);
  assert.equal(a!.text(), "a");
  assert.equal(b!.text(), "b");
  const next = sub[Symbol.asyncIterator]().next();
  await sub.unsubscribe();
  assert.deepEqual(await next, { value: undefined, done: true });
  assert.equal(broker.metrics().inproc.subscriptions, 0);
  assert.equal((await broker.publish("jobs/3", "c")).matched, 0);
});

test("publish resolves with what routing did: matched and refused", async (t) => {
  const broker = await embedded(t);
  broker.subscribe("a/#", { handler: () => {} });
  broker.subscribe("a/b", { handler: () => {} });
  assert.deepEqual(await broker.publish("a/b", "x"), { matched: 2, refused: 0 });
  assert.deepEqual(await broker.publish("b", "x"), { matched: 0, refused: 0 });
});

test("invalid topic names and arguments reject with typed errors", async (t) => {
  const broker = await embedded(t);
  await assert.rejects(broker.publish("a/+", "x"), TopicError);
  await assert.rejects(
    broker.publish("a", "x", { priority: 12 }),
    (e: unknown) => e instanceof InprocError && e.code === InprocErrorCode.InvalidArgument,
  );
  await assert.rejects(broker.publish("a", "x", { ttl: -1 }), /ttl must be a positive integer/);
  assert.throws(() => broker.subscribe("a/#/b"), TopicError);
  assert.throws(() => broker.subscribe("a", { bufferSize: 0 }), /bufferSize must be a positive integer/);
});

test("a new subscription gets the retained message with retain set; an empty retained payload clears it [MQTT-3.3.1-10]", async (t) => {
  const broker = await embedded(t);
  await broker.publish("config/mode", "eco", { retain: true, qos: 1 });
  const [m] = await take(broker.subscribe("config/#"), 1);
  assert.equal(m!.text(), "eco");
  assert.equal(m!.retain, true);
  await broker.publish("config/mode", "", { retain: true });
  const late = broker.subscribe("config/#");
  await settle();
  assert.equal(late.stats().buffered, 0);
});

test("shared subscription $share/g/…: each message goes to one member of the group", async (t) => {
  const broker = await embedded(t);
  const a: string[] = [];
  const b: string[] = [];
  broker.subscribe("$share/workers/tasks/#", { qos: 1, handler: (m) => void a.push(m.text()) });
  broker.subscribe("$share/workers/tasks/#", { qos: 1, handler: (m) => void b.push(m.text()) });
  for (let i = 0; i < 10; i++) await broker.publish(`tasks/${i}`, String(i), { qos: 1 });
  await settle();
  assert.equal(a.length + b.length, 10);
  assert.ok(a.length > 0 && b.length > 0, `round robin: ${a.length} / ${b.length}`);
  assert.deepEqual(
    [...a, ...b].map(Number).sort((x, y) => x - y),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
});

test("noLocal: a subscription does not get this broker handle's own publications [MQTT-3.8.3-3]", async (t) => {
  const broker = await embedded(t);
  const sub = broker.subscribe("x", { noLocal: true });
  assert.equal((await broker.publish("x", "mine")).matched, 1);
  await settle();
  assert.equal(sub.stats().received, 0);
});

test("an AbortSignal ends the subscription", async (t) => {
  const broker = await embedded(t);
  const ac = new AbortController();
  const sub = broker.subscribe("a", { signal: ac.signal });
  ac.abort();
  assert.equal(await sub.closed, undefined);
  assert.equal((await broker.publish("a", "x")).matched, 0);
  const aborted = AbortSignal.abort();
  assert.throws(() => broker.subscribe("a", { signal: aborted }), /already aborted/);
});

test("overflow drop-newest / drop-oldest: a full buffer discards and counts", async (t) => {
  const broker = await embedded(t);
  const newest = broker.subscribe("t", { bufferSize: 2, overflow: "drop-newest" });
  const oldest = broker.subscribe("t", { bufferSize: 2, overflow: "drop-oldest" });
  for (const p of ["1", "2", "3"]) await broker.publish("t", p);
  assert.deepEqual(
    (await take(newest, 2)).map((m) => m.text()),
    ["1", "2"],
  );
  assert.deepEqual(
    (await take(oldest, 2)).map((m) => m.text()),
    ["2", "3"],
  );
  assert.equal(newest.stats().dropped, 1);
  assert.equal(oldest.stats().dropped, 1);
});

test("overflow error: the subscription ends with INPROC_OVERFLOW", async (t) => {
  const broker = await embedded(t);
  const errors: unknown[] = [];
  const sub = broker.subscribe("t", { bufferSize: 1, overflow: "error", onError: (e) => errors.push(e) });
  await broker.publish("t", "1");
  await broker.publish("t", "2");
  const err = await sub.closed;
  assert.ok(err instanceof InprocError);
  assert.equal(err.code, InprocErrorCode.Overflow);
  assert.equal(errors.length, 1);
});

test("overflow block: the publisher waits until the subscriber has taken the backlog; nothing is lost", async (t) => {
  const broker = await embedded(t);
  const sub = broker.subscribe("t", { qos: 1, bufferSize: 2, overflow: "block" });
  const done: number[] = [];
  const pubs = [1, 2, 3, 4].map((i) => broker.publish("t", String(i), { qos: 1 }).then(() => done.push(i)));
  await settle();
  assert.deepEqual(done, [1, 2], "the 3rd and 4th wait: the buffer holds 2");
  const got = await take(sub, 4);
  await Promise.all(pubs);
  assert.deepEqual(
    got.map((m) => m.text()),
    ["1", "2", "3", "4"],
  );
  assert.equal(sub.stats().dropped, 0);
});

test("priority: buffered messages are handed out highest priority first, FIFO within a level", async (t) => {
  const broker = await embedded(t);
  const sub = broker.subscribe("p/#", { bufferSize: 100 });
  const sent: [string, number | undefined][] = [
    ["low-1", Priority.Low],
    ["normal-1", undefined],
    ["high-1", Priority.High],
    ["low-2", Priority.Low],
    ["highest", Priority.Highest],
    ["high-2", Priority.High],
  ];
  for (const [name, priority] of sent)
    await broker.publish(`p/${name}`, name, priority === undefined ? {} : { priority });
  const got = await take(sub, sent.length);
  assert.deepEqual(
    got.map((m) => `${m.text()}:${m.priority}`),
    ["highest:9", "high-1:6", "high-2:6", "normal-1:4", "low-1:2", "low-2:2"],
  );
});

test("TTL: a message that expires while buffered is never delivered, and is counted (fake clock)", async (t) => {
  const clock = new FakeClock();
  const broker = await embedded(t, { clock });
  const sub = broker.subscribe("ttl/#");
  await broker.publish("ttl/short", "gone", { ttl: 1000 });
  await broker.publish("ttl/long", "kept", { ttl: 60_000 });
  await broker.publish("ttl/none", "forever");
  clock.advance(1500);
  const got: ReceivedMessage[] = await take(sub, 2);
  assert.deepEqual(
    got.map((m) => m.text()),
    ["kept", "forever"],
  );
  assert.equal(got[0]!.expiresAt, clock.now() - 1500 + 60_000);
  assert.equal(sub.stats().expired, 1);
  assert.equal(broker.metrics().broker.expired, 1);
});
