// The queue engine over a memory store with a fake clock: lifecycle, groups, prefetch, retries and DLQ.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ReasonCode } from "../../../src/codec/index.ts";
import { QueueError } from "../../../src/queues/index.ts";
import { parseMessageId } from "../../../src/queues/engine-api.ts";
import { Link, engine, pub } from "./harness.ts";

test("publish → deliver → ack: the message leaves the queue; delivery carries message-id and delivery-count 1", () => {
  const { e } = engine();
  const a = new Link("a");
  e.join("jobs", undefined, a);
  const r = pub(e, "jobs", "one");
  assert.equal(a.got.length, 1);
  const d = a.got[0]!;
  assert.equal(d.messageId, r.messageId);
  assert.equal(d.deliveryCount, 1);
  assert.equal(d.group, "default");
  assert.equal(e.info("jobs")!.depth, 1);
  assert.equal(e.info("jobs")!.inflight, 1);
  assert.deepEqual(e.ack("jobs", undefined, d.messageId), { ok: true });
  assert.equal(e.info("jobs")!.depth, 0);
  assert.equal(e.info("jobs")!.counters.acked, 1);
  const again = e.ack("jobs", undefined, d.messageId);
  assert.equal(again.ok, false, "a second ack is refused");
  assert.equal(!again.ok && again.reasonCode, ReasonCode.ImplementationSpecificError);
});

test("messages published before any consumer wait, then go out in order", () => {
  const { e } = engine();
  for (const t of ["1", "2", "3"]) pub(e, "jobs", t);
  const a = new Link("a");
  e.join("jobs", undefined, a);
  assert.deepEqual(a.texts, ["1", "2", "3"]);
});

test("each message goes to exactly one consumer of a group; every group gets every message", () => {
  const { e } = engine();
  const [a1, a2, b1] = [new Link("a1"), new Link("a2"), new Link("b1")];
  e.join("q", "A", a1);
  e.join("q", "A", a2);
  e.join("q", "B", b1);
  for (let i = 0; i < 10; i++) pub(e, "q", String(i));
  const groupA = [...a1.texts, ...a2.texts].sort();
  assert.equal(groupA.length, 10);
  assert.equal(new Set(groupA).size, 10, "no duplicates within a group");
  assert.ok(a1.got.length > 0 && a2.got.length > 0, "both consumers got work");
  assert.deepEqual([...b1.texts].sort(), groupA);
  for (const d of [...a1.take(), ...a2.take()]) e.ack("q", "A", d.messageId);
  assert.equal(e.info("q")!.depth, 10, "still held for group B");
  for (const d of b1.take()) e.ack("q", "B", d.messageId);
  assert.equal(e.info("q")!.depth, 0, "deleted once every group settled");
});

test("prefetch bounds unsettled deliveries per consumer; an ack frees a slot", () => {
  const { e } = engine();
  const a = new Link("a");
  e.join("q", undefined, a, { prefetch: 2 });
  for (let i = 0; i < 5; i++) pub(e, "q", String(i));
  assert.deepEqual(a.texts, ["0", "1"]);
  e.ack("q", undefined, a.got[0]!.messageId);
  assert.deepEqual(a.texts, ["0", "1", "2"]);
  assert.equal(e.info("q")!.groups[0]!.backlog, 2);
});

test("delivery timeout counts as a nack: redelivered after the backoff with delivery-count 2", () => {
  const { e, clock } = engine([
    { name: "q", deliveryTimeout: 5000, retry: { initialBackoff: 1000, multiplier: 2, maxBackoff: 60_000 } },
  ]);
  const a = new Link("a");
  e.join("q", undefined, a);
  pub(e, "q", "x");
  a.take();
  clock.advance(4999);
  assert.equal(a.got.length, 0);
  clock.advance(1); // timed out; backoff with random 0 = 500 ms (equal jitter: half of 1 s)
  assert.equal(a.got.length, 0);
  assert.equal(e.info("q")!.groups[0]!.retrying, 1);
  clock.advance(499);
  assert.equal(a.got.length, 0);
  clock.advance(1);
  assert.equal(a.got.length, 1);
  assert.equal(a.got[0]!.deliveryCount, 2);
  assert.equal(e.info("q")!.counters.timedOut, 1);
});

test("nack: exponential backoff between deliveries; retry-after overrides it", () => {
  const { e, clock } = engine([
    { name: "q", retry: { initialBackoff: 100, multiplier: 3, maxBackoff: 1000, maxRetries: 10 } },
  ]);
  const a = new Link("a");
  e.join("q", undefined, a);
  pub(e, "q", "x");
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const d = a.take()[0]!;
    times.push(clock.now());
    e.nack("q", undefined, d.messageId);
    let waited = 0;
    while (a.got.length === 0) {
      clock.advance(10);
      waited += 10;
      assert.ok(waited < 10_000, "redelivered");
    }
  }
  const gaps = times.slice(1).map((t, i) => t - times[i]!);
  assert.deepEqual(gaps, [50, 150, 450, 500], "random 0: half of 100, 300, 900, cap 1000");
  const d = a.take()[0]!;
  assert.equal(d.deliveryCount, 6);
  e.nack("q", undefined, d.messageId, 30);
  clock.advance(29);
  assert.equal(a.got.length, 0);
  clock.advance(1);
  assert.equal(a.got.length, 1, "retry-after 30 ms honoured");
});

test("past maxRetries the message moves to the DLQ with dlq-reason, original-queue and delivery-count", () => {
  const { e, clock } = engine([{ name: "q", retry: { maxRetries: 2 } }]);
  const a = new Link("a");
  e.join("q", undefined, a);
  pub(e, "q", "poison");
  for (let i = 0; i < 3; i++) {
    const d = a.take()[0]!;
    e.nack("q", undefined, d.messageId, 0);
    clock.advance(1);
  }
  assert.equal(a.got.length, 0);
  assert.equal(e.info("q")!.depth, 0);
  assert.equal(e.info("q")!.dlqDepth, 1);
  const info = e.info("q")!;
  assert.equal(info.dlq, "dlq/q");
  assert.equal(info.counters.deadLettered, 1);
  const dl = new Link("ops");
  e.join("dlq/q", undefined, dl);
  const d = dl.got[0]!;
  assert.equal(d.payload.toString(), "poison");
  assert.deepEqual(
    { reason: d.dlq?.reason, originalQueue: d.dlq?.originalQueue, deliveryCount: d.dlq?.deliveryCount },
    { reason: "max-retries", originalQueue: "q", deliveryCount: 3 },
  );
});

test("reject moves to the DLQ at once, with the consumer's reason", () => {
  const { e } = engine();
  const a = new Link("a");
  e.join("q", undefined, a);
  pub(e, "q", "bad");
  e.reject("q", undefined, a.take()[0]!.messageId, "schema mismatch");
  assert.equal(e.info("q")!.depth, 0);
  const [m] = e.peek("dlq/q");
  assert.equal(m!.record.dlq?.reason, "rejected: schema mismatch");
  assert.equal(m!.record.dlq?.deliveryCount, 1);
});

test("totalTimeout: a message older than it is not retried but dead-lettered", () => {
  const { e, clock } = engine([{ name: "q", retry: { totalTimeout: 10_000, maxRetries: 100 } }]);
  const a = new Link("a");
  e.join("q", undefined, a);
  pub(e, "q", "slow");
  e.nack("q", undefined, a.take()[0]!.messageId, 0);
  clock.advance(1);
  clock.advance(10_000);
  e.nack("q", undefined, a.take()[0]!.messageId, 0);
  assert.equal(e.peek("dlq/q")[0]!.record.dlq?.reason, "total-timeout");
});

test("DLQ full: the failed message stays in its queue (reported), and moves once the DLQ has room", () => {
  const { e, clock } = engine([
    { name: "q", retry: { maxRetries: 0, maxBackoff: 2000, initialBackoff: 1000 } },
    { name: "dlq/q", limits: { maxDepth: 1 } },
  ]);
  const a = new Link("a");
  e.join("q", undefined, a);
  pub(e, "q", "first");
  pub(e, "q", "second");
  const [d1, d2] = a.take();
  e.reject("q", undefined, d1!.messageId);
  e.reject("q", undefined, d2!.messageId);
  const info = e.info("q")!;
  assert.equal(info.depth, 1, "second stays put");
  assert.equal(info.dlqDepth, 1);
  assert.equal(info.counters.dlqFull, 1);
  assert.equal(a.got.length, 0, "not redelivered: it was rejected");
  e.purge("dlq/q");
  clock.advance(2000);
  assert.equal(e.info("q")!.depth, 0);
  assert.equal(e.peek("dlq/q")[0]!.record.payload.toString(), "second");
});

test("limits: maxMessageSize, maxDepth and maxBytes → 0x97 (0x95 is no PUBACK code), with reasons; nothing is stored", () => {
  const { e } = engine([{ name: "q", limits: { maxDepth: 2, maxBytes: 10, maxMessageSize: 6 } }]);
  const big = e.publish("q", { payload: Buffer.alloc(7) });
  assert.equal(!big.ok && big.reasonCode, ReasonCode.QuotaExceeded);
  assert.equal(!big.ok && big.code, "QUEUE_MESSAGE_TOO_LARGE");
  assert.match(!big.ok ? big.reason : "", /exceeds 6/);
  assert.ok(e.publish("q", { payload: Buffer.alloc(5) }).ok);
  const bytes = e.publish("q", { payload: Buffer.alloc(6) });
  assert.equal(!bytes.ok && bytes.reasonCode, ReasonCode.QuotaExceeded);
  assert.match(!bytes.ok ? bytes.reason : "", /maxBytes/);
  assert.ok(e.publish("q", { payload: Buffer.alloc(1) }).ok);
  const depth = e.publish("q", { payload: Buffer.alloc(1) });
  assert.equal(!depth.ok && depth.code, "QUEUE_FULL");
  assert.match(!depth.ok ? depth.reason : "", /maxDepth/);
  assert.equal(e.info("q")!.depth, 2);
  assert.equal(e.info("q")!.counters.refused, 3);
});

test("messageTtl: expired messages go to the DLQ with reason expired, or are dropped with dropExpired", () => {
  const { e, clock } = engine([
    { name: "q", limits: { messageTtl: 1000 } },
    { name: "d", limits: { messageTtl: 1000, dropExpired: true } },
  ]);
  e.leave(e.join("q", undefined, new Link("x"))); // the group exists, with no consumer
  pub(e, "q", "stale");
  pub(e, "d", "stale"); // a queue without any group expires its messages too
  clock.advance(999);
  assert.equal(e.info("q")!.depth, 1);
  clock.advance(1);
  assert.equal(e.info("q")!.depth, 0);
  assert.equal(e.peek("dlq/q")[0]!.record.dlq?.reason, "expired");
  assert.equal(e.info("d")!.depth, 0);
  assert.equal(e.info("d")!.counters.dropped, 1);
  assert.equal(e.info("dlq/d"), undefined);
  // A publisher's Message Expiry shorter than the TTL wins.
  const late = new Link("late");
  pub(e, "q", "keep");
  e.publish("q", { payload: Buffer.from("short"), expiresAt: clock.now() + 10 });
  clock.advance(10);
  e.join("q", "g2", late);
  assert.deepEqual(late.texts, ["keep"]);
});

test("a consumer that leaves has its unsettled messages redelivered to the others at once", () => {
  const { e } = engine();
  const [a, b] = [new Link("a"), new Link("b")];
  const ca = e.join("q", undefined, a, { prefetch: 3 });
  for (let i = 0; i < 3; i++) pub(e, "q", String(i));
  e.join("q", undefined, b, { prefetch: 3 });
  assert.deepEqual(a.texts, ["0", "1", "2"]);
  e.leave(ca);
  assert.deepEqual(b.texts, ["0", "1", "2"], "no delivery timeout needed");
  assert.deepEqual(
    b.got.map((d) => d.deliveryCount),
    [2, 2, 2],
  );
});

test("invalid names are refused: wildcards, empty levels, $-levels", () => {
  const { e } = engine();
  for (const name of ["", "a/+", "a/#", "a//b", "a/$ack", "$x"]) {
    const r = e.publish(name, { payload: Buffer.from("x") });
    assert.equal(!r.ok && r.reasonCode, ReasonCode.TopicNameInvalid, name);
    assert.throws(() => e.join(name, undefined, new Link("a")), QueueError);
  }
});

test("management: purge, delete (refused with consumers), redrive back to the original queue", () => {
  const { e } = engine();
  const a = new Link("a");
  const c = e.join("q", undefined, a, { prefetch: 1 });
  pub(e, "q", "1");
  pub(e, "q", "2");
  e.reject("q", undefined, a.take()[0]!.messageId);
  e.reject("q", undefined, a.take()[0]!.messageId);
  assert.equal(e.info("dlq/q")!.depth, 2);
  e.leave(c);
  assert.equal(e.redrive("q", 1), 1);
  assert.equal(e.info("q")!.depth, 1);
  assert.equal(e.redrive("dlq/q"), 1);
  assert.equal(e.info("q")!.depth, 2);
  assert.equal(e.info("dlq/q")!.depth, 0);
  const b = new Link("b");
  const cb = e.join("q", undefined, b);
  assert.deepEqual(b.texts, ["1", "2"]);
  assert.deepEqual(
    b.got.map((d) => d.deliveryCount),
    [1, 1],
    "a redriven message starts over",
  );
  assert.throws(() => e.delete("q"), /consumers/);
  e.leave(cb);
  assert.equal(e.purge("q"), 2);
  e.delete("q");
  assert.equal(e.info("q"), undefined);
  assert.equal(
    e
      .list()
      .map((q) => q.name)
      .includes("q"),
    false,
  );
});

test("message ids parse exactly as /^(\\d{1,15})(?:-(\\d{1,15}))?$/ does (seq and append time as numbers)", () => {
  const re = /^(\d{1,15})(?:-(\d{1,15}))?$/;
  const expected = (s: string): [number, number | undefined] | undefined => {
    const m = re.exec(s);
    return m ? [Number(m[1]), m[2] === undefined ? undefined : Number(m[2])] : undefined;
  };
  const fixed = ["1", "12-34", "123456789012345", "1234567890123456", "1-", "-1", "1--2", "a", "", "007-08", "1-2-3"];
  for (const s of fixed) assert.deepEqual(parseMessageId(s), expected(s), JSON.stringify(s));
  let seed = 7;
  const next = (n: number): number => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) % n;
  for (let i = 0; i < 5_000; i++) {
    let s = "";
    for (let j = next(20); j > 0; j--) s += "0123456789-x"[next(12)];
    assert.deepEqual(parseMessageId(s), expected(s), JSON.stringify(s));
  }
});

test("a consumer's in-flight seqs (Consumer.inflight) follow deliveries, settlements, timeouts and leaving, in delivery order", () => {
  const { e, clock } = engine([{ name: "q", deliveryTimeout: 1000, retry: { initialBackoff: 10_000 } }]);
  const [a, b] = [new Link("a"), new Link("b")];
  const ca = e.join("q", undefined, a, { prefetch: 3000 });
  const cb = e.join("q", undefined, b, { prefetch: 3000 });
  // More than one page (1,024 slots) of deliveries in flight.
  for (let i = 0; i < 2500; i++) pub(e, "q", String(i));
  const seqsA = a.got.map((d) => d.seq);
  const seqsB = b.got.map((d) => d.seq);
  assert.equal(seqsA.length + seqsB.length, 2500);
  assert.deepEqual([...ca.inflight], seqsA, "in delivery order");
  assert.equal(ca.inflight.size, seqsA.length);
  assert.equal(ca.inflight.has(seqsB[0]!), false, "another consumer's delivery");
  assert.equal(cb.inflight.has(seqsB[0]!), true);
  for (const seq of seqsA.slice(0, 100)) assert.equal(e.ack("q", undefined, seq).ok, true);
  assert.equal(ca.inflight.size, seqsA.length - 100);
  assert.equal(ca.inflight.has(seqsA[0]!), false, "settled");
  assert.equal([...ca.inflight][0], seqsA[100], "the oldest unsettled");
  assert.equal(e.info("q")!.groups[0]!.inflight, 2400);
  clock.advance(999);
  assert.equal(e.info("q")!.counters.timedOut, 0);
  clock.advance(1); // every delivery times out at once, across pages
  assert.equal(e.info("q")!.counters.timedOut, 2400);
  assert.equal(ca.inflight.size, 0);
  assert.deepEqual([...cb.inflight], []);
  assert.equal(e.info("q")!.groups[0]!.retrying, 2400);
  clock.advance(5000); // backoff (random 0: half of 10 s) over: redelivered; then b leaves, its share goes to a
  assert.equal(ca.inflight.size + cb.inflight.size, 2400);
  const heldByB = [...cb.inflight];
  e.leave(cb);
  assert.equal(ca.inflight.size, 2400);
  for (const seq of heldByB) assert.equal(ca.inflight.has(seq), true);
});
