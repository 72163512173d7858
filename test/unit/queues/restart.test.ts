// Recovery from the store (a restart on the same MemoryQueueStore) and stream queues.
import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeClock } from "../../../src/util/clock.ts";
import { MemoryQueueStore } from "../../../src/queues/index.ts";
import { Link, engine, pub } from "./harness.ts";

test("restart: queued messages survive in order; settled ones do not come back; delivery counts are kept", () => {
  const store = new MemoryQueueStore();
  const clock = new FakeClock(0);
  const { e } = engine([], store, clock);
  const a = new Link("a");
  e.join("q", undefined, a, { prefetch: 2 });
  for (const t of ["1", "2", "3", "4"]) pub(e, "q", t);
  const [d1, d2] = a.take();
  e.ack("q", undefined, d1!.messageId); // settled: must not come back
  e.nack("q", undefined, d2!.messageId, 0); // delivered once, then nacked
  clock.advance(1);
  // ack(1) let 3 out, the nack let 4 out; 2 is ready again (delivered once) when the broker "dies"
  e.close();
  const { e: e2 } = engine([], store, clock);
  const b = new Link("b");
  e2.join("q", undefined, b, { prefetch: 10 });
  assert.deepEqual(b.texts, ["2", "3", "4"]);
  assert.deepEqual(
    b.got.map((d) => d.deliveryCount),
    [2, 2, 2],
  );
  for (const d of b.take()) e2.ack("q", undefined, d.messageId);
  assert.equal(e2.info("q")!.depth, 0);
  const { e: e3 } = engine([], store, clock);
  assert.equal(e3.info("q")!.depth, 0);
  assert.equal(e3.info("q")!.nextSeq, 5, "seqs are never reused");
});

test("restart with two groups: each group's progress is kept (out-of-order acks included)", () => {
  const store = new MemoryQueueStore();
  const { e, clock } = engine([], store);
  const [a, b] = [new Link("a"), new Link("b")];
  e.join("q", "A", a, { prefetch: 10 });
  e.join("q", "B", b, { prefetch: 10 });
  for (const t of ["1", "2", "3"]) pub(e, "q", t);
  e.ack("q", "A", "3"); // out of order: A is done with 3 only
  e.ack("q", "B", "1");
  const { e: e2 } = engine([], store, clock);
  const [a2, b2] = [new Link("a"), new Link("b")];
  e2.join("q", "A", a2);
  e2.join("q", "B", b2);
  assert.deepEqual(a2.texts, ["1", "2"]);
  assert.deepEqual(b2.texts, ["2", "3"]);
  assert.equal(e2.info("q")!.depth, 3);
  for (const d of a2.take()) e2.ack("q", "A", d.messageId);
  assert.equal(e2.info("q")!.depth, 2, "1 is settled by both groups now");
});

test("restart: a retry scheduled before the restart keeps its backoff; a DLQ move is all or nothing", () => {
  const store = new MemoryQueueStore();
  const { e, clock } = engine([{ name: "q", retry: { maxRetries: 1 } }], store);
  const a = new Link("a");
  e.join("q", undefined, a);
  pub(e, "q", "later");
  pub(e, "q", "dead");
  const [d1, d2] = a.take();
  e.nack("q", undefined, d1!.messageId, 5000);
  const before = store.writes;
  e.reject("q", undefined, d2!.messageId);
  assert.ok(store.writes > before);
  const { e: e2 } = engine([{ name: "q", retry: { maxRetries: 5 } }], store, clock);
  const b = new Link("b");
  e2.join("q", undefined, b);
  assert.equal(b.got.length, 0, "still backing off");
  assert.equal(e2.info("dlq/q")!.depth, 1);
  assert.equal(e2.info("q")!.depth, 1);
  clock.advance(5000);
  assert.deepEqual(b.texts, ["later"]);
  assert.equal(b.got[0]!.deliveryCount, 2);
});

test("stream: acknowledged messages stay; new groups start at earliest, latest, an offset or a timestamp", () => {
  const { e, clock } = engine([{ name: "s", type: "stream" }]);
  for (let i = 1; i <= 5; i++) {
    pub(e, "s", `m${i}`);
    clock.advance(1000);
  }
  const first = new Link("first");
  e.join("s", "g1", first, { prefetch: 10 });
  for (const d of first.take()) e.ack("s", "g1", d.messageId);
  assert.equal(e.info("s")!.depth, 5, "a stream keeps acknowledged messages");
  const starts = {
    earliest: { kind: "earliest" },
    latest: { kind: "latest" },
    offset: { kind: "offset", offset: 4 },
    timestamp: { kind: "timestamp", at: 2000 },
  } as const;
  const got: Record<string, string[]> = {};
  for (const [name, start] of Object.entries(starts)) {
    const l = new Link(name);
    e.join("s", name, l, { start, prefetch: 10 });
    got[name] = l.texts;
  }
  assert.deepEqual(got, {
    earliest: ["m1", "m2", "m3", "m4", "m5"],
    latest: [],
    offset: ["m4", "m5"],
    timestamp: ["m3", "m4", "m5"],
  });
});

test("stream: the committed offset survives a restart; retention by count, bytes and age", () => {
  const store = new MemoryQueueStore();
  const { e, clock } = engine([{ name: "s", type: "stream", retention: { maxCount: 3 } }], store);
  const a = new Link("a");
  e.join("s", "g", a, { prefetch: 1 });
  for (let i = 1; i <= 3; i++) pub(e, "s", `m${i}`);
  e.ack("s", "g", a.take()[0]!.messageId);
  e.ack("s", "g", a.take()[0]!.messageId);
  const { e: e2 } = engine([{ name: "s", type: "stream", retention: { maxCount: 3 } }], store, clock);
  const b = new Link("b");
  e2.join("s", "g", b, { prefetch: 10, start: { kind: "earliest" } });
  assert.deepEqual(b.texts, ["m3"], "resumes after its committed offset; start is for new groups only");
  pub(e2, "s", "m4");
  pub(e2, "s", "m5");
  assert.deepEqual(
    e2.peek("s").map((m) => m.record.payload.toString()),
    ["m3", "m4", "m5"],
  );
  const { e: e3, clock: c3 } = engine([{ name: "t", type: "stream", retention: { maxAge: 1000, maxBytes: 4 } }]);
  pub(e3, "t", "aa");
  pub(e3, "t", "bb");
  pub(e3, "t", "cc");
  assert.equal(e3.info("t")!.depth, 2, "maxBytes 4");
  c3.advance(1000);
  assert.equal(e3.info("t")!.depth, 0, "maxAge");
});

test("ephemeral groups ($ephemeral/…) are dropped when their last consumer leaves and at a restart", () => {
  const store = new MemoryQueueStore();
  const { e, clock } = engine([{ name: "s", type: "stream" }], store);
  for (const m of ["m1", "m2"]) pub(e, "s", m);
  const a = new Link("a");
  const b = new Link("b");
  const ca = e.join("s", "$ephemeral/x", a, { prefetch: 10, start: { kind: "earliest" } });
  const cb = e.join("s", "$ephemeral/x", b, { prefetch: 10 });
  e.join("s", "$ephemeral/y", new Link("y"), { prefetch: 10 }); // still joined when the broker "dies"
  assert.deepEqual(a.texts, ["m1", "m2"]);
  e.leave(ca);
  assert.deepEqual(
    e.info("s")!.groups.map((g) => g.name),
    ["$ephemeral/x", "$ephemeral/y"],
    "kept while a consumer remains",
  );
  e.leave(cb);
  assert.deepEqual(
    e.info("s")!.groups.map((g) => g.name),
    ["$ephemeral/y"],
  );
  e.close();
  const { e: e2 } = engine([{ name: "s", type: "stream" }], store, clock);
  assert.deepEqual(e2.info("s")!.groups, [], "not restored");
  // A classic queue: dropping the ephemeral group deletes what the remaining groups settled.
  const { e: e3 } = engine([]);
  const keep = new Link("keep");
  e3.join("q", "durable", keep, { prefetch: 10 });
  const eph = e3.join("q", "$ephemeral/z", new Link("z"), { prefetch: 10 });
  pub(e3, "q", "c1");
  for (const d of keep.take()) e3.ack("q", "durable", d.messageId);
  assert.equal(e3.info("q")!.depth, 1, "the ephemeral group has not settled it");
  e3.leave(eph);
  assert.equal(e3.info("q")!.depth, 0);
});
