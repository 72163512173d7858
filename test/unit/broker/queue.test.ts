import { DEFAULT_OVERLOAD_OPTIONS } from "../../../src/broker/backpressure.ts";
import assert from "node:assert/strict";
import { test } from "node:test";
import { PacketType } from "../../../src/codec/index.ts";
import type { QoS } from "../../../src/codec/index.ts";
import { createMessage } from "../../../src/broker/message.ts";
import type { Delivery } from "../../../src/broker/message.ts";
import { EnqueueResult, SessionQueue } from "../../../src/broker/queue.ts";
import { EAGER_READS } from "../../../src/broker/flush.ts";
import { harness, payloads, recordingLogger, settle, tick } from "./harness.ts";

const d = (payload: string, qos: QoS): Delivery => ({
  msg: createMessage({ topic: "t", payload: Buffer.from(payload), qos, retain: false }, 0),
  qos,
  retain: false,
  subscriptionIds: undefined,
});

test("SessionQueue: FIFO; full of QoS 1/2 refuses QoS 1/2 and drops a new QoS 0", () => {
  const q = new SessionQueue({ maxMessages: 2, maxBytes: 0 });
  assert.equal(q.push(d("a", 1)), EnqueueResult.Queued);
  assert.equal(q.push(d("b", 2)), EnqueueResult.Queued);
  assert.equal(q.push(d("c", 1)), EnqueueResult.Rejected);
  assert.equal(q.push(d("z", 0)), EnqueueResult.DroppedQos0);
  assert.deepEqual(
    q.toArray().map((x) => x.msg.payload.toString()),
    ["a", "b"],
  );
  assert.equal(q.shift()?.msg.payload.toString(), "a");
  assert.equal(q.length, 1);
});

test("SessionQueue: QoS 0 evicted oldest-first to make room, for QoS 0 and for QoS 1/2", () => {
  const q = new SessionQueue({ maxMessages: 3, maxBytes: 0 });
  q.push(d("1", 1));
  q.push(d("a", 0));
  q.push(d("b", 0));
  assert.equal(q.push(d("c", 0)), EnqueueResult.QueuedEvicted);
  assert.equal(q.evicted, 1);
  assert.deepEqual(
    q.toArray().map((x) => x.msg.payload.toString()),
    ["1", "b", "c"],
  );
  assert.equal(q.push(d("2", 2)), EnqueueResult.QueuedEvicted);
  assert.deepEqual(
    q.toArray().map((x) => x.msg.payload.toString()),
    ["1", "c", "2"],
  );
});

test("SessionQueue: byte bound counts payload bytes", () => {
  const q = new SessionQueue({ maxMessages: 100, maxBytes: 10 });
  assert.equal(q.push(d("12345", 1)), EnqueueResult.Queued);
  assert.equal(q.push(d("1234", 0)), EnqueueResult.Queued);
  assert.equal(q.push(d("123", 1)), EnqueueResult.QueuedEvicted, "the QoS 0 makes room");
  assert.equal(q.bytes, 8);
  assert.equal(q.push(d("123", 1)), EnqueueResult.Rejected);
  assert.equal(q.push(d("12345678901", 0)), EnqueueResult.DroppedQos0, "bigger than the bound");
});

test("offline persistent session queues QoS 1/2 [MQTT-3.1.2-5], not QoS 0 by default, delivered on reconnect", async () => {
  const h = harness();
  const a = await h.connect({ clientId: "off", clean: false });
  await a.client.subscribe("t", 2);
  a.client.disconnect();
  await settle();
  for (const [p, q] of [
    ["q0", 0],
    ["q1", 1],
    ["q2", 2],
  ] as const)
    await h.broker.publish({ topic: "t", payload: p, qos: q });
  const b = await h.connect({ clientId: "off", clean: false });
  assert.deepEqual(payloads(b.client.take()), ["q1", "q2"]);
});

test("queueQos0Offline queues QoS 0 too", async () => {
  const h = harness({ queueQos0Offline: true });
  const a = await h.connect({ clientId: "off", clean: false });
  await a.client.subscribe("t", 1);
  a.client.drop();
  await settle();
  await h.broker.publish({ topic: "t", payload: "q0", qos: 0 });
  const b = await h.connect({ clientId: "off", clean: false });
  assert.deepEqual(payloads(b.client.take()), ["q0"]);
});

test("overflow policy: offline queue full -> QoS 1/2 refused, counted and logged at warn once; QoS 0 counted", async () => {
  const logger = recordingLogger();
  const h = harness({ maxQueuedMessages: 3, queueQos0Offline: true, logger });
  const a = await h.connect({ clientId: "full", clean: false });
  await a.client.subscribe("t", 1);
  a.client.drop();
  await settle();
  for (let i = 0; i < 5; i++) await h.broker.publish({ topic: "t", payload: `m${i}`, qos: 1 });
  await h.broker.publish({ topic: "t", payload: "zero", qos: 0 });
  const s = h.broker.stats();
  assert.equal(s.queued, 3);
  assert.equal(s.queueRejected, 2);
  assert.equal(s.droppedQos0, 1);
  const warns = logger.lines.filter((l) => l.level === "warn" && l.msg.includes("queue full"));
  assert.equal(warns.length, 1, "one warning per overflow episode");
  const b = await h.connect({ clientId: "full", clean: false });
  assert.deepEqual(payloads(b.client.take()), ["m0", "m1", "m2"], "the oldest are kept, nothing silently lost");
});

test("5.0 publisher gets 0x97 Quota exceeded when no subscriber could take the message, 0x10 with no subscriber", async () => {
  const h = harness({ maxQueuedMessages: 1 });
  const a = await h.connect({ clientId: "full", clean: false });
  await a.client.subscribe("t", 1);
  a.client.drop();
  await settle();
  const pub = await h.connect({ clientId: "p5", version: 5 });
  pub.client.publish("t", "1", 1);
  pub.client.publish("t", "2", 1);
  pub.client.publish("nobody", "3", 1);
  const acks = (await pub.client.receive()).map((p) => (p.type === PacketType.PUBACK ? (p.reasonCode ?? 0) : -1));
  assert.deepEqual(acks, [0x00, 0x97, 0x10]);
});

test(`coalescing: after the first ${EAGER_READS} reads of a turn (deliveries written at once), everything for one connection is one transport write`, async () => {
  // Issue #10 (latency) changed this twice. Stop 13: the output of each of the first EAGER_READS socket reads of a
  // turn is written right after that read (flush.ts); before, everything waited for the end of the turn. Stop 15:
  // only deliveries are written after a read; the PUBACKs answering the publisher wait for the end of the turn, so
  // no PUBACK write stands between one read and the next one's deliveries. A busy turn still coalesces: here 51
  // reads (50 PUBLISHes and a PINGREQ, each its own onData) make EAGER_READS + 1 writes to the subscriber.
  const h = harness();
  const sub = await h.connect({ clientId: "s" });
  await sub.client.subscribe("t", 1);
  const before = sub.client.transport.writes.length;
  const pub = await h.connect({ clientId: "p" });
  pub.client.take(); // CONNACK
  for (let i = 0; i < 50; i++) pub.client.publish("t", `m${i}`, i % 2 === 0 ? 0 : 1);
  sub.client.send({ type: PacketType.PINGREQ });
  await tick();
  assert.equal(sub.client.transport.writes.length - before, EAGER_READS + 1, "one write per early read, then one");
  assert.equal(sub.client.take().length, 51);
  // CONNACK, then the 25 PUBACKs (the QoS 1 messages m1, m3 … m49) in one write at the end of the turn.
  assert.equal(pub.client.transport.writes.length, 2);
  const acks = pub.client.take();
  assert.equal(acks.length, 25);
  assert.ok(acks.every((p) => p.type === PacketType.PUBACK));
  const ids = acks.map((p) => (p.type === PacketType.PUBACK ? p.packetId : -1));
  assert.deepEqual(
    ids,
    [...ids].sort((a, b) => a - b),
    "in the order the messages were sent",
  );
});

test("backpressure: no write while the transport is full; messages wait in the queue and flow on drain", async () => {
  const h = harness({ maxQueuedMessages: 100 });
  const slow = await h.connect({ clientId: "slow" });
  await slow.client.subscribe("t", 1);
  slow.client.transport.writeReturns = false;
  await h.broker.publish({ topic: "t", payload: "first", qos: 1 });
  await tick();
  const writes = slow.client.transport.writes.length;
  for (let i = 0; i < 10; i++) await h.broker.publish({ topic: "t", payload: `m${i}`, qos: i % 2 === 0 ? 0 : 1 });
  await settle();
  assert.equal(slow.client.transport.writes.length, writes, "nothing written while paused");
  assert.equal(h.broker.stats().queued, 10);
  slow.client.transport.writeReturns = true;
  slow.client.handler.onDrain();
  await settle();
  assert.deepEqual(payloads(slow.client.take()), ["first", ...Array.from({ length: 10 }, (_, i) => `m${i}`)]);
});

test("slow subscriber isolation: a paused subscriber holds the publisher only for the stall limit, then its QoS 0 is dropped and counted", async () => {
  // Issue #10 changed this: the paused subscriber first holds the publisher (backpressure), and only after
  // overload.stallLimitMs is it declared slow, lets the publisher go and has its QoS 0 messages dropped. Before,
  // its queue evicted the oldest QoS 0 at once (and kept the newest).
  const h = harness({ maxQueuedMessages: 5 });
  const slow = await h.connect({ clientId: "slow" });
  const fast = await h.connect({ clientId: "fast" });
  await slow.client.subscribe("t", 0);
  await fast.client.subscribe("t", 0);
  slow.client.transport.writeReturns = false;
  await h.broker.publish({ topic: "t", payload: "first" });
  await tick();
  const pub = await h.connect({ clientId: "p" });
  for (let i = 0; i < 100; i++) pub.client.publish("t", `m${i}`);
  await settle();
  assert.equal(pub.client.transport.paused, true, "the publisher is held while the slow queue is at its mark");
  assert.equal(payloads(fast.client.take()).length, 6, "first + m0..m4, then the publisher waits");
  h.clock.advance(DEFAULT_OVERLOAD_OPTIONS.stallLimitMs);
  await settle();
  assert.equal(pub.client.transport.paused, false, "past the stall limit the publisher goes again");
  assert.equal(payloads(fast.client.take()).length, 95, "the fast subscriber got everything else");
  const s = h.broker.stats();
  assert.equal(s.queued, 5, "the slow one holds only its bound");
  assert.equal(s.droppedQos0, 95);
  assert.equal(s.droppedSlow, 95);
  assert.equal(s.slowConsumers, 1);
  slow.client.transport.writeReturns = true;
  slow.client.handler.onDrain();
  await settle();
  assert.deepEqual(payloads(slow.client.take()), ["first", "m0", "m1", "m2", "m3", "m4"], "what was queued before");
});

test("fan-out shares encoded bytes: one Buffer for every 3.1.1 QoS 0 subscriber, per-subscriber only where needed", async () => {
  const h = harness();
  const subs = [];
  for (let i = 0; i < 3; i++) {
    const s = await h.connect({ clientId: `s${i}` });
    await s.client.subscribe("fan", 0);
    subs.push(s.client);
  }
  const q1 = await h.connect({ clientId: "q1" });
  await q1.client.subscribe("fan", 1);
  const before = subs.map((c) => c.transport.writes.length);
  await h.broker.publish({ topic: "fan", payload: "shared", qos: 1 });
  await tick();
  const chunks = subs.map((c, i) => c.transport.writes[before[i]!]![0]!);
  assert.ok(chunks[0] === chunks[1] && chunks[1] === chunks[2], "the same Buffer object");
  const q1Chunk = q1.client.transport.writes.at(-1)![0]!;
  assert.notEqual(q1Chunk, chunks[0], "QoS 1 carries its own packet id");
  assert.deepEqual(payloads([...subs.map((c) => c.take()).flat(), ...q1.client.take()]), [
    "shared",
    "shared",
    "shared",
    "shared",
  ]);
});
