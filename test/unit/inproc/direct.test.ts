// The direct intake of in-process subscriptions (Session.sink, LocalSubscription.offer): plain QoS 0 deliveries go
// from the route plan straight into the subscription's buffer. These tests hold it to what the session's ordinary
// path does: each overflow policy, order when fast (QoS 0) and slow (QoS 1, manual ack, queued) deliveries mix,
// retained messages first, the backpressure marks, delivery events, metrics.
import { test } from "node:test";
import assert from "node:assert/strict";
import { BrokerChannel, onBrokerEvent } from "../../../src/broker/index.ts";
import { InprocError, InprocErrorCode, type ReceivedMessage, type Subscription } from "../../../src/index.ts";
import { FakeClock } from "../../../src/util/index.ts";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { embedded, next, settle } from "./harness.ts";

const texts = (ms: ReceivedMessage[]): string[] => ms.map((m) => m.text());

/** Reads `n` messages and leaves the subscription open (harness take() ends it). */
async function take(it: AsyncIterable<ReceivedMessage>, n: number): Promise<ReceivedMessage[]> {
  const out: ReceivedMessage[] = [];
  while (out.length < n) out.push(await next(it));
  return out;
}

test("direct QoS 0, overflow drop-newest: the full buffer refuses the newest; the next after a hand-out is taken", async (t) => {
  const broker = await embedded(t);
  const sub = broker.subscribe("d", { bufferSize: 3, overflow: "drop-newest" });
  for (let i = 1; i <= 5; i++) await broker.publish("d", String(i));
  assert.deepEqual(texts(await take(sub, 3)), ["1", "2", "3"]);
  await broker.publish("d", "6");
  assert.deepEqual(texts(await take(sub, 1)), ["6"]);
  assert.deepEqual(sub.stats().dropped, 2);
  assert.deepEqual(sub.stats().received, 6);
});

test("direct QoS 0, overflow drop-oldest: the oldest buffered are evicted, in order, and counted", async (t) => {
  const broker = await embedded(t);
  const sub = broker.subscribe("d", { bufferSize: 3, overflow: "drop-oldest" });
  for (let i = 1; i <= 7; i++) await broker.publish("d", String(i));
  assert.deepEqual(texts(await take(sub, 3)), ["5", "6", "7"]);
  assert.equal(sub.stats().dropped, 4);
  assert.equal(broker.metrics().inproc.dropped, 4);
});

test("direct QoS 0, overflow error: the message past a full buffer ends the subscription with INPROC_OVERFLOW", async (t) => {
  const broker = await embedded(t);
  const seen: string[] = [];
  const errors: unknown[] = [];
  // A handler that never returns: nothing leaves the buffer once it holds 2.
  const sub = broker.subscribe("d", {
    bufferSize: 2,
    overflow: "error",
    handler: (m) => {
      seen.push(m.text());
      return new Promise<void>(() => {});
    },
    onError: (e) => errors.push(e),
  });
  for (let i = 1; i <= 4; i++) await broker.publish("d", String(i));
  const err = await sub.closed;
  assert.ok(err instanceof InprocError);
  assert.equal(err.code, InprocErrorCode.Overflow);
  assert.deepEqual(seen, ["1"], "one handed out (concurrency 1), two buffered, the fourth overflowed");
  assert.equal(errors.length, 1);
  assert.equal((await broker.publish("d", "5")).matched, 0, "the ended subscription is gone from the router");
});

test("direct QoS 0, overflow block: past the buffer QoS 0 queues in the session, the publisher waits, order holds", async (t) => {
  const broker = await embedded(t);
  const sub = broker.subscribe("d", { bufferSize: 2, overflow: "block" });
  const done: number[] = [];
  const pubs = [1, 2, 3, 4, 5].map((i) => broker.publish("d", String(i)).then(() => done.push(i)));
  await settle();
  assert.deepEqual(done, [1, 2], "the 3rd to 5th wait for the full buffer");
  // Taking two makes room: the queued ones move to the buffer before anything published later (the direct
  // intake is not used while the session queue holds something).
  const first = await take(sub, 2);
  const late = broker.publish("d", "6");
  const rest = await take(sub, 4);
  await Promise.all([...pubs, late]);
  assert.deepEqual(texts([...first, ...rest]), ["1", "2", "3", "4", "5", "6"]);
  assert.equal(sub.stats().dropped, 0);
});

test("mixed fast and slow subscribers on one topic each get every message in publish order", async (t) => {
  const broker = await embedded(t);
  const fast: string[] = [];
  const q1: string[] = [];
  const manual: string[] = [];
  const it = broker.subscribe("m/#", { bufferSize: 4 }); // iterator, direct for QoS 0
  broker.subscribe("m/+", { handler: (m) => void fast.push(m.text()) });
  broker.subscribe("m/x", { qos: 1, handler: (m) => void q1.push(`${m.text()}:q${m.qos}`) });
  broker.subscribe("#", {
    ack: "manual",
    handler: (m) => {
      manual.push(m.text());
      m.ack();
    },
  });
  const pubs: Promise<unknown>[] = [];
  for (let i = 0; i < 12; i++) pubs.push(broker.publish("m/x", String(i), { qos: i % 3 === 0 ? 1 : 0 }));
  const got = await take(it, 12);
  await Promise.all(pubs);
  await settle();
  const all = Array.from({ length: 12 }, (_, i) => String(i));
  assert.deepEqual(texts(got), all);
  assert.deepEqual(fast, all);
  assert.deepEqual(manual, all);
  assert.deepEqual(
    q1,
    all.map((s, i) => `${s}:q${i % 3 === 0 ? 1 : 0}`),
  );
});

test("direct intake: a QoS 1 subscription's QoS 0 and QoS 1 deliveries keep their order behind a full inflight window", async (t) => {
  const broker = await embedded(t);
  // bufferSize 1 and no handler: the window is 2 (buffer + as many out), so QoS 1 deliveries queue in the session.
  const sub = broker.subscribe("w", { qos: 1, bufferSize: 1, overflow: "drop-newest" });
  const pubs: Promise<unknown>[] = [];
  for (let i = 0; i < 6; i++) pubs.push(broker.publish("w", String(i), { qos: i % 2 === 0 ? 1 : 0 }).catch(() => {}));
  const got: string[] = [];
  for (let i = 0; i < 6; i++) {
    const [m] = await Promise.race([take(sub, 1), settle().then(() => [undefined])]);
    if (m === undefined) break;
    got.push(m.text());
  }
  await Promise.all(pubs);
  // What arrives is in publish order (QoS 0 may be dropped by the full buffer, never reordered).
  const order = got.map(Number);
  assert.deepEqual(
    order,
    [...order].sort((a, b) => a - b),
  );
  assert.ok(got.includes("0"));
});

test("direct intake: retained messages of a new subscription come before live ones", async (t) => {
  const broker = await embedded(t);
  for (let i = 0; i < 5; i++) await broker.publish(`r/${i}`, `retained-${i}`, { retain: true });
  const got: string[] = [];
  broker.subscribe("r/#", { handler: (m) => void got.push(`${m.text()}${m.retain ? "*" : ""}`) });
  await broker.publish("r/live", "live-1");
  await broker.publish("r/live", "live-2");
  await settle();
  assert.equal(got.length, 7);
  assert.deepEqual(got.slice(5), ["live-1", "live-2"]);
  assert.ok(got.slice(0, 5).every((s) => s.startsWith("retained-") && s.endsWith("*")));
});

test("direct intake: the backpressure marks apply as on the session path (high mark reached: declared slow, QoS 0 dropped)", async (t) => {
  const broker = await embedded(
    t,
    {},
    { overload: { highWaterBytes: 1000, lowWaterBytes: 100, highWaterMessages: 1000, stallLimitMs: 0 } },
  );
  const sub = broker.subscribe("bp", { bufferSize: 100 }); // an iterator nobody reads
  const payload = Buffer.alloc(100, 0x61);
  for (let i = 0; i < 20; i++) await broker.publish("bp", payload);
  // 10 x 100 B reach the 1000 B mark: the episode begins, stallLimitMs 0 declares it slow, the rest is dropped.
  assert.equal(sub.stats().received, 10);
  assert.equal(sub.stats().buffered, 10);
  assert.equal(broker.metrics().broker.droppedSlow, 10);
  // Reading it empty ends the episode below the low mark: deliveries go direct again.
  await take(sub, 10);
  await broker.publish("bp", payload);
  assert.equal(sub.stats().received, 11);
});

test("direct intake: delivery events are still emitted while someone listens (the ordinary path is taken)", async (t) => {
  const broker = await embedded(t);
  const events: string[] = [];
  const off = onBrokerEvent(BrokerChannel.Delivery, (e) => {
    if (e.topic === "ev") events.push(`q${e.qos}`);
  });
  t.after(off);
  const got: string[] = [];
  broker.subscribe("ev", { handler: (m) => void got.push(m.text()) });
  await broker.publish("ev", "a");
  await broker.publish("ev", "b");
  await settle();
  assert.deepEqual(got, ["a", "b"]);
  assert.deepEqual(events, ["q0", "q0"]);
});

test("direct intake: counts (received, delivered, buffered, memory) match what was handed out", async (t) => {
  const broker = await embedded(t);
  let n = 0;
  const subs = [0, 1, 2].map(() =>
    broker.subscribe("c/#", {
      handler: () => {
        n++;
      },
    }),
  );
  const it = broker.subscribe("c/+");
  for (let i = 0; i < 50; i++) void broker.publish("c/x", "12345");
  assert.equal(broker.metrics().memory.used, 50 * 5 * 4, "four buffers of 50 x 5 B before the hand-out");
  await settle();
  assert.equal(n, 150);
  for (const s of subs) assert.deepEqual([s.stats().received, s.stats().delivered, s.stats().buffered], [50, 50, 0]);
  assert.deepEqual([it.stats().received, it.stats().buffered], [50, 50]);
  assert.equal(broker.metrics().memory.used, 50 * 5);
  await take(it, 50);
  assert.equal(broker.metrics().memory.used, 0);
  assert.equal(broker.metrics().inproc.delivered, 200);
});

test("direct intake: a handler that throws or returns a promise on a shared QoS 0 view is treated as before", async (t) => {
  const broker = await embedded(t);
  const errors: unknown[] = [];
  const calls: string[] = [];
  let running = 0;
  let maxRunning = 0;
  broker.subscribe("h", {
    concurrency: 2,
    handler: async (m) => {
      calls.push(m.text());
      running++;
      maxRunning = Math.max(maxRunning, running);
      await settle();
      running--;
    },
  });
  broker.subscribe("h", {
    maxDeliveries: 1,
    handler: (m) => {
      throw new Error(`bad ${m.text()}`);
    },
    onError: (e) => errors.push(e),
  });
  for (let i = 0; i < 4; i++) await broker.publish("h", String(i));
  for (let i = 0; i < 10 && calls.length < 4; i++) await settle();
  assert.deepEqual(calls, ["0", "1", "2", "3"]);
  assert.equal(maxRunning, 2, "concurrency 2 is kept");
  assert.equal(broker.deadLetters.stats().total, 4, "each failed once (maxDeliveries 1) and was dead-lettered");
});

// ---- the hand-out lane (lane.ts): handler subscriptions' plain QoS 0 messages, one entry per publish ----------

test("lane: a handler subscription still gets a burst highest priority first, FIFO within a level", async (t) => {
  const broker = await embedded(t);
  const got: string[] = [];
  const plain: string[] = [];
  broker.subscribe("p/#", { handler: (m) => void got.push(`${m.text()}:${m.priority}`) });
  broker.subscribe("p/#", { handler: (m) => void plain.push(m.text()) }); // same lane entries, one priority
  const sent: [string, number][] = [
    ["a", 4],
    ["b", 4],
    ["c", 9],
    ["d", 4],
    ["e", 2],
    ["f", 9],
  ];
  for (const [name, priority] of sent) void broker.publish(`p/${name}`, name, { priority });
  await settle();
  assert.deepEqual(got, ["c:9", "f:9", "a:4", "b:4", "d:4", "e:2"]);
  assert.deepEqual(plain, ["c", "f", "a", "b", "d", "e"], "the other subscriber's order follows the same rule");
});

test("lane: a handler returning a promise keeps concurrency 1 and order; later messages wait in its buffer", async (t) => {
  const broker = await embedded(t);
  const log: string[] = [];
  let release!: () => void;
  broker.subscribe("a", {
    handler: async (m) => {
      log.push(`start ${m.text()}`);
      if (m.text() === "0") await new Promise<void>((r) => (release = r));
      log.push(`end ${m.text()}`);
    },
  });
  const other: string[] = [];
  broker.subscribe("a", { handler: (m) => void other.push(m.text()) });
  for (let i = 0; i < 4; i++) void broker.publish("a", String(i));
  await settle();
  assert.deepEqual(log, ["start 0"], "one at a time: the rest wait for the first");
  assert.deepEqual(other, ["0", "1", "2", "3"], "a busy subscriber does not hold the others back");
  release();
  for (let i = 0; i < 5; i++) await settle();
  assert.deepEqual(log, ["start 0", "end 0", "start 1", "end 1", "start 2", "end 2", "start 3", "end 3"]);
});

test("lane: a handler that unsubscribes another subscription during a hand-out: it gets nothing more, its bytes are released", async (t) => {
  const broker = await embedded(t);
  const got: string[] = [];
  let victim: { unsubscribe(): Promise<void> } | undefined = undefined;
  broker.subscribe("u", {
    handler: (m) => {
      if (m.text() === "1") void victim!.unsubscribe();
    },
  });
  victim = broker.subscribe("u", { handler: (m) => void got.push(m.text()) });
  for (let i = 0; i < 4; i++) void broker.publish("u", String(i));
  await settle();
  assert.deepEqual(got, ["0"], "message 1 was handed to the first subscriber first, which ended the second");
  assert.equal(broker.metrics().memory.used, 0);
  assert.equal(broker.metrics().inproc.buffered, 0);
});

test("lane: messages published by a handler during a hand-out come after the current burst, in order", async (t) => {
  const broker = await embedded(t);
  const got: string[] = [];
  broker.subscribe("n/#", {
    handler: (m) => {
      got.push(m.text());
      if (m.topic === "n/in") void broker.publish("n/out", `re-${m.text()}`);
    },
  });
  for (const s of ["x", "y"]) void broker.publish("n/in", s);
  for (let i = 0; i < 3; i++) await settle();
  assert.deepEqual(got, ["x", "y", "re-x", "re-y"]);
});

test("lane: overflow block with a busy handler: publishers wait, nothing is lost or reordered", async (t) => {
  const broker = await embedded(t);
  const got: string[] = [];
  broker.subscribe("b", {
    bufferSize: 2,
    overflow: "block",
    handler: async (m) => {
      await settle();
      got.push(m.text());
    },
  });
  const pubs = Array.from({ length: 8 }, (_, i) => broker.publish("b", String(i)));
  await Promise.all(pubs);
  for (let i = 0; i < 20 && got.length < 8; i++) await settle();
  assert.deepEqual(got, ["0", "1", "2", "3", "4", "5", "6", "7"]);
});

test("lane: a message that expires before its hand-out is not delivered, and is counted (fake clock)", async (t) => {
  const clock = new FakeClock();
  const broker = await embedded(t, { clock });
  const got: string[] = [];
  const sub = broker.subscribe("ttl/#", { handler: (m) => void got.push(m.text()) });
  void broker.publish("ttl/a", "gone", { ttl: 10 });
  void broker.publish("ttl/b", "kept");
  clock.advance(20);
  await settle();
  assert.deepEqual(got, ["kept"]);
  assert.equal(sub.stats().expired, 1);
  assert.equal(broker.metrics().broker.expired, 1);
});

test("block: a durable subscription resumed with a queued backlog holds publish() back until it has taken it", async (t) => {
  const broker = await embedded(t);
  const first = broker.subscribe("q/#", { durable: "slow", qos: 1 });
  await first.unsubscribe();
  for (let i = 0; i < 4; i++) await broker.publish("q/x", String(i), { qos: 1 }); // queued while detached
  const again = broker.subscribe("q/#", { durable: "slow", qos: 1, bufferSize: 1, overflow: "block" });
  let done = false;
  const late = broker.publish("q/x", "4", { qos: 1 }).then(() => (done = true));
  await settle();
  assert.equal(done, false, "its session queue holds the backlog: the publisher waits");
  const got = await take(again, 5);
  await late;
  assert.deepEqual(texts(got), ["0", "1", "2", "3", "4"]);
  let quick = false;
  await broker.publish("q/y", "5").then(() => (quick = true));
  assert.equal(quick, true);
});

// ---- lane mode (LocalSubscription #laneCap): the checks a lane delivery skips are kept current instead ---------

test("lane mode: a handler that returned a promise leaves the counts exact (buffered 0) and the buffer bound at bufferSize", async (t) => {
  const broker = await embedded(t);
  let release!: () => void;
  const got: string[] = [];
  const sub = broker.subscribe("lc", {
    bufferSize: 4,
    overflow: "drop-newest",
    handler: async (m) => {
      got.push(m.text());
      if (m.text() === "0") await new Promise<void>((r) => (release = r));
    },
  });
  for (let i = 0; i < 3; i++) void broker.publish("lc", String(i));
  await settle();
  assert.deepEqual(got, ["0"], "busy: the other two wait in the buffer");
  assert.equal(sub.stats().buffered, 2);
  release();
  for (let i = 0; i < 5; i++) await settle();
  assert.deepEqual(got, ["0", "1", "2"]);
  assert.deepEqual([sub.stats().buffered, sub.stats().bufferedBytes], [0, 0], "nothing counted twice");
  // Idle again: a burst of 8 before any hand-out fills the 4 places, the other 4 are dropped (not 5 taken).
  for (let i = 3; i < 11; i++) void broker.publish("lc", String(i));
  assert.equal(sub.stats().buffered, 4);
  for (let i = 0; i < 5; i++) await settle();
  assert.deepEqual(got.slice(3), ["3", "4", "5", "6"]);
  assert.deepEqual(
    [sub.stats().received, sub.stats().delivered, sub.stats().dropped, sub.stats().buffered],
    [11, 7, 4, 0],
  );
});

test("lane mode: the backpressure marks count lane messages; an episode ends lane mode and its end resumes it", async (t) => {
  const broker = await embedded(
    t,
    {},
    { overload: { highWaterBytes: 1000, lowWaterBytes: 100, highWaterMessages: 1000, stallLimitMs: 0 } },
  );
  let n = 0;
  const sub = broker.subscribe("bpl", {
    bufferSize: 100,
    handler: () => {
      n++;
    },
  });
  const payload = Buffer.alloc(100, 0x61);
  // One burst before any hand-out: 9 x 100 B go through the lane, the 10th reaches the 1000 B mark on the session
  // path (the episode begins; stallLimitMs 0 declares it slow), the other 10 are dropped.
  for (let i = 0; i < 20; i++) void broker.publish("bpl", payload);
  assert.equal(sub.stats().received, 10);
  assert.equal(broker.metrics().broker.droppedSlow, 10);
  await settle();
  assert.equal(n, 10);
  assert.deepEqual([sub.stats().buffered, sub.stats().bufferedBytes], [0, 0]);
  // Handed out below the low mark: the episode ended, so deliveries are taken again (and by the lane).
  for (let i = 0; i < 5; i++) void broker.publish("bpl", payload);
  assert.equal(sub.stats().received, 15);
  assert.equal(broker.metrics().broker.droppedSlow, 10);
  await settle();
  assert.equal(n, 15);
});

test("lane mode: a subscription ended by a handler during a hand-out takes nothing more from the lane", async (t) => {
  const broker = await embedded(t);
  const got: string[] = [];
  const sub = broker.subscribe("le", {
    handler: (m) => {
      got.push(m.text());
      if (m.text() === "1") void sub.unsubscribe();
    },
  });
  for (let i = 0; i < 5; i++) void broker.publish("le", String(i));
  await settle();
  assert.deepEqual(got, ["0", "1"]);
  assert.equal(broker.metrics().memory.used, 0, "its lane messages' bytes are released");
  assert.equal((await broker.publish("le", "x")).matched, 0);
});

test("lane: an ended subscription is not kept alive by the lane's member slots", async (t) => {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  const broker = await embedded(t);
  let n = 0;
  const keep = broker.subscribe("g/#", {
    handler: () => {
      n++;
    },
  }); // stays: its slots are reused
  let gone: Subscription | undefined = broker.subscribe("g/#", {
    handler: () => {
      n++;
    },
  });
  const ref = new WeakRef(gone);
  for (let i = 0; i < 20; i++) void broker.publish("g/a", String(i));
  await settle();
  assert.equal(n, 40);
  await gone.unsubscribe();
  gone = undefined;
  await broker.publish("g/a", "x"); // (the route cache and the last shared view still name it until the next message)
  await settle();
  // (deref() keeps its target alive until the current job ends: collect in a later job than any deref().)
  for (let i = 0; i < 3; i++) {
    await settle();
    gc();
  }
  await settle();
  assert.equal(ref.deref(), undefined);
  assert.equal(keep.stats().delivered, 21);
});

test("shared views: an in-process QoS 0 message is one read-only object for every auto-ack subscription, with what it was published with", async (t) => {
  const broker = await embedded(t);
  const a: ReceivedMessage[] = [];
  const b: ReceivedMessage[] = [];
  broker.subscribe("v/#", { handler: (m) => void a.push(m) });
  broker.subscribe("v/+", { handler: (m) => void b.push(m) });
  // Untyped code may pass a Message Expiry Interval: it sets the expiry and is not forwarded (ttl wins over it).
  const properties = { contentType: "text/plain", messageExpiryInterval: 30, topicAlias: 3 };
  await broker.publish("v/x", "zero", { priority: 7, ttl: 60_000, properties });
  await broker.publish("v/y", "plain");
  await settle();
  assert.equal(a.length, 2);
  assert.equal(a[0], b[0], "one object for both subscriptions");
  const m = a[0]!;
  assert.equal(m.topic, "v/x");
  assert.equal(m.text(), "zero");
  assert.equal(m.qos, 0);
  assert.equal(m.retain, false);
  assert.equal(m.deliveryCount, 1);
  assert.equal(m.priority, 7);
  assert.deepEqual(m.properties, { contentType: "text/plain", userProperties: [["priority", "7"]] });
  assert.ok(m.expiresAt! > Date.now() + 50_000 && m.expiresAt! <= Date.now() + 60_000, "the ttl, not the 30 s");
  assert.throws(
    () => m.ack(),
    (e: unknown) => e instanceof InprocError && e.code === InprocErrorCode.AckState,
  );
  assert.throws(
    () => m.nack(),
    (e: unknown) => e instanceof InprocError && e.code === InprocErrorCode.AckState,
  );
  assert.throws(
    () => m.reject(),
    (e: unknown) => e instanceof InprocError && e.code === InprocErrorCode.AckState,
  );
  assert.throws(() => ((m as { topic: string }).topic = "other"), TypeError, "read-only");
  const p = a[1]!;
  assert.equal(p.priority, 4, "the default priority");
  assert.equal(p.properties, undefined);
  assert.equal(p.expiresAt, undefined);
});

test("shared views: a QoS 1 or retained in-process message reaches a QoS 0 auto-ack subscription as QoS 0 without RETAIN", async (t) => {
  const broker = await embedded(t);
  const a: ReceivedMessage[] = [];
  const b: ReceivedMessage[] = [];
  broker.subscribe("w/#", { handler: (m) => void a.push(m) });
  broker.subscribe("w/+", { handler: (m) => void b.push(m) });
  await broker.publish("w/one", "1", { qos: 1 });
  await broker.publish("w/kept", "k", { retain: true });
  await settle();
  assert.deepEqual(
    a.map((m) => [m.text(), m.qos, m.retain]),
    [
      ["1", 0, false],
      ["k", 0, false],
    ],
  );
  assert.equal(a[0], b[0], "still one view per message");
  const late: ReceivedMessage[] = [];
  broker.subscribe("w/kept", { handler: (m) => void late.push(m) });
  await settle();
  assert.deepEqual(
    late.map((m) => [m.text(), m.qos, m.retain]),
    [["k", 0, true]],
    "the retained copy for a new subscription carries RETAIN [MQTT-3.3.1-8]",
  );
});
