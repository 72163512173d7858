// Timers of the queue engine without scans (src/queues/deadline-heap.ts): retries come back in due order however
// many wait, one engine timer is armed at a time, and only due queues are ticked. Fake clock throughout.
import assert from "node:assert/strict";
import { test } from "node:test";
import { DeadlineHeap } from "../../../src/queues/deadline-heap.ts";
import { Queue } from "../../../src/queues/queue.ts";
import { Link, engine, pub } from "./harness.ts";

test("deadline heap: pops in deadline order (ties in any order), peekAt is Infinity when empty", () => {
  const h = new DeadlineHeap<number>();
  assert.equal(h.peekAt(), Number.POSITIVE_INFINITY);
  let x = 12345;
  const ats: number[] = [];
  for (let i = 0; i < 500; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const at = x % 1000;
    ats.push(at);
    h.push(at, i);
  }
  const out: number[] = [];
  while (h.size > 0) {
    const at = h.peekAt();
    const i = h.pop()!;
    assert.equal(ats[i], at);
    out.push(at);
  }
  assert.deepEqual(
    out,
    [...ats].sort((a, b) => a - b),
  );
  assert.equal(h.pop(), undefined);
});

test("5,000 nacked messages with scattered retry-after come back exactly when due, in due order", () => {
  const { e, clock } = engine([{ name: "q", prefetch: 10_000, retry: { maxRetries: 10 } }]);
  const a = new Link("a");
  e.join("q", undefined, a, { prefetch: 10_000 });
  const N = 5_000;
  for (let i = 0; i < N; i++) pub(e, "q", String(i));
  const first = a.take();
  assert.equal(first.length, N);
  const start = clock.now();
  const dueOf = new Map<number, number>();
  first.forEach((d, i) => {
    const after = ((i * 7919) % 997) + 1; // 1..997 ms, scattered
    dueOf.set(d.seq, start + after);
    e.nack("q", undefined, d.messageId, after);
  });
  let last = 0;
  for (let t = 1; t <= 1000; t++) {
    clock.advance(1);
    for (const d of a.take()) {
      assert.equal(dueOf.get(d.seq), clock.now(), `seq ${d.seq} redelivered when due`);
      assert.equal(d.deliveryCount, 2);
      assert.ok(clock.now() >= last);
      last = clock.now();
      dueOf.delete(d.seq);
    }
  }
  assert.equal(dueOf.size, 0, "every message came back");
  assert.ok(clock.pending <= 1, `one engine timer at most (delivery timeouts), got ${clock.pending}`);
});

test("many queues with deadlines: a due retry in one ticks that queue only, not the others", (t) => {
  const ticked: string[] = [];
  const proto = Queue.prototype;
  const original = Object.getOwnPropertyDescriptor(proto, "tick")!;
  const tick = original.value as (this: Queue, now: number) => number;
  Object.defineProperty(proto, "tick", {
    ...original,
    value: function (this: Queue, now: number): number {
      ticked.push(this.name);
      return tick.call(this, now);
    },
  });
  t.after(() => Object.defineProperty(proto, "tick", original));
  const { e, clock } = engine([
    { name: "busy", retry: { maxRetries: 5 } },
    { name: "later/+", limits: { messageTtl: 3_600_000 } },
  ]);
  for (let i = 0; i < 200; i++) pub(e, `later/${i}`, "x"); // each has a deadline (its TTL), an hour away
  const a = new Link("a");
  e.join("busy", undefined, a);
  pub(e, "busy", "y");
  e.nack("busy", undefined, a.take()[0]!.messageId, 50);
  ticked.length = 0;
  clock.advance(50);
  assert.equal(a.got.length, 1, "the retry came back");
  assert.deepEqual(ticked, ["busy"], "only the due queue was ticked");
  ticked.length = 0;
  clock.advance(3_600_000);
  assert.equal(ticked.filter((n) => n.startsWith("later/")).length, 200, "each TTL queue ticked when due");
  assert.equal(e.info("dlq/later/7")?.depth, 1, "and its message expired to its DLQ");
});
