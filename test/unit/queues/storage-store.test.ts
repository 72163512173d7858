// The engine persisting through the storage layer's queue-log concern (StorageQueueStore), on the memory and the
// LMDB backends: a close + reopen + new engine sees exactly the state the previous engine had committed.
import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeClock } from "../../../src/util/clock.ts";
import { QueueEngine, StorageQueueStore } from "../../../src/queues/index.ts";
import type { QueueConfigEntry, QueueDelivery, QueueStore } from "../../../src/queues/index.ts";
import type { Storage } from "../../../src/storage/index.ts";
import { lmdbHarness, memoryHarness } from "../../helpers/storage-harness.ts";
import type { HarnessFactory } from "../../helpers/storage-harness.ts";
import { Link, pub } from "./harness.ts";

const CONFIG: QueueConfigEntry[] = [
  { name: "s", type: "stream" },
  { name: "q", retry: { maxRetries: 3 } },
];

function engineOn(storage: Storage, clock: FakeClock): QueueEngine {
  return new QueueEngine({ store: new StorageQueueStore(storage), clock, config: CONFIG, random: () => 0 });
}

for (const [name, factory] of [
  ["memory", memoryHarness],
  ["lmdb", lmdbHarness],
] as [string, HarnessFactory][]) {
  test(`${name}: messages, delivery counts, group progress, dead letters and stream offsets survive a reopen`, async (t) => {
    const h = await factory();
    t.after(() => h.dispose());
    const clock = new FakeClock(1_000_000);
    let storage = await h.open({ clock });
    let e = engineOn(storage, clock);
    const [a, b] = [new Link("a"), new Link("b")];
    e.join("q", "A", a, { prefetch: 2 });
    e.join("q", "B", b, { prefetch: 10 });
    for (const t of ["1", "2", "3", "4"]) pub(e, "q", t, `key-${t}`);
    e.publish("q", {
      payload: Buffer.from("5"),
      properties: { contentType: "text/plain", userProperties: [["app", "x"]] },
    });
    const [a1, a2] = a.take();
    e.ack("q", "A", a2!.messageId); // out of order: A settled 2 only
    e.nack("q", "A", a1!.messageId, 60_000); // 1 waits for a retry, delivered once
    e.reject("q", "B", "3", "bad");
    for (const id of ["1", "2", "4"]) e.ack("q", "B", id);
    const s = new Link("s");
    e.join("s", "g", s, { prefetch: 10 });
    for (const t of ["x", "y", "z"]) pub(e, "s", t);
    e.ack("s", "g", s.take()[0]!.messageId); // offset: x done
    await e.commit();
    e.close();
    await storage.close();

    storage = await h.open({ clock });
    e = engineOn(storage, clock);
    assert.deepEqual(storage.verify().ok, true);
    const info = e.info("q")!;
    assert.equal(info.depth, 4, "1, 3, 4 (for A) and 5 (for A and B)");
    assert.deepEqual(
      e.peek("q").map((m) => m.record.payload.toString()),
      ["1", "3", "4", "5"],
      "2 was settled by both groups",
    );
    assert.equal(info.nextSeq, 6);
    const five = e.peek("q")[3]!.record;
    assert.equal(five.properties?.contentType, "text/plain");
    assert.deepEqual(five.properties?.userProperties, [["app", "x"]]);
    assert.equal(e.peek("q")[0]!.record.partitionKey, "key-1");
    const dead = e.peek("dlq/q")[0]!.record;
    assert.deepEqual(dead.dlq, {
      reason: "rejected: bad",
      originalQueue: "q",
      originalId: "3-1000000",
      group: "B",
      deliveryCount: 1,
    });
    assert.equal(dead.payload.toString(), "3");

    const [a2n, b2n, s2] = [new Link("a"), new Link("b"), new Link("s")];
    e.join("q", "A", a2n, { prefetch: 10 });
    e.join("q", "B", b2n, { prefetch: 10 });
    e.join("s", "g", s2, { prefetch: 10, start: { kind: "earliest" } });
    assert.deepEqual(a2n.texts, ["3", "4", "5"], "A: 2 settled, 1 still backing off");
    assert.deepEqual(b2n.texts, ["5"]);
    assert.deepEqual(s2.texts, ["y", "z"], "the stream group resumes after its committed offset");
    for (const d of a2n.take()) e.ack("q", "A", d.messageId);
    for (const d of b2n.take()) e.ack("q", "B", d.messageId);
    clock.advance(60_000);
    assert.deepEqual(a2n.texts, ["1"]);
    assert.equal(a2n.got[0]!.deliveryCount, 2, "delivery count kept across the restart");
    e.ack("q", "A", "1");
    assert.equal(e.info("q")!.depth, 0);
    await e.commit();
    e.close();
    await storage.close();
    storage = await h.open({ clock });
    e = engineOn(storage, clock);
    assert.equal(e.info("q")!.depth, 0);
    assert.equal(e.info("s")!.depth, 3, "a stream keeps its messages");
    assert.equal(e.info("q")!.nextSeq, 6, "seqs are not reused");
    assert.ok(storage.verify().ok);
    e.close();
  });
}

for (const [name, factory] of [
  ["memory", memoryHarness],
  ["lmdb", lmdbHarness],
] as [string, HarnessFactory][]) {
  test(`${name}: bodies past the cache budget are read back from storage; a restart indexes without reading bodies`, async (t) => {
    const h = await factory();
    t.after(() => h.dispose());
    const clock = new FakeClock(1_000_000);
    let storage = await h.open({ clock });
    const config: QueueConfigEntry[] = [{ name: "b", partitions: 4, ordering: "partition" }];
    const engineWith = (st: Storage): QueueEngine =>
      new QueueEngine({ store: new StorageQueueStore(st), clock, config, random: () => 0, bodyCacheBytes: 4096 });
    let e = engineWith(storage);
    const N = 600;
    for (let i = 0; i < N; i++) {
      const r = e.publish("b", {
        payload: Buffer.from(`body ${i}`),
        partitionKey: i % 3 === 0 ? `k${i % 7}` : undefined,
        expiresAt: i === 5 ? clock.now() + 3_600_000 : undefined,
        properties: i === 7 ? { contentType: "text/x" } : undefined,
      });
      assert.ok(r.ok);
    }
    assert.ok(e.bodyCache.bytes > 4096, "nothing is evicted before the store has written it");
    await storage.written();
    await new Promise((r) => setImmediate(r));
    assert.ok(e.bodyCache.bytes <= 4096, `evicted down to the budget once written (${e.bodyCache.bytes})`);
    const link = new Link("c");
    e.join("b", undefined, link, { prefetch: 1000 });
    assert.equal(link.got.length, N);
    const bySeq = new Map(link.got.map((d) => [d.seq, d]));
    assert.equal(bySeq.get(1)!.payload.toString(), "body 0", "an evicted body, read back");
    assert.equal(bySeq.get(4)!.partitionKey, "k3");
    assert.equal(bySeq.get(8)!.properties?.contentType, "text/x");
    assert.equal(bySeq.get(6)!.expiresAt, 1_000_000 + 3_600_000);
    const partitionOf = new Map(link.got.map((d) => [d.seq, d.partition]));
    for (const d of link.got.slice(0, 300)) e.ack("b", undefined, d.messageId);
    await e.commit();
    e.close();
    await storage.close();

    storage = await h.open({ clock });
    let bodyReads = 0;
    const read = storage.queues.read.bind(storage.queues);
    storage.queues.read = (q, from, limit) => {
      bodyReads++;
      return read(q, from, limit);
    };
    e = engineWith(storage);
    assert.equal(bodyReads, 0, "recovery reads log entries (with their index fields), not bodies");
    assert.equal(e.info("b")!.depth, N - 300);
    assert.equal(
      e.info("b")!.bytes,
      link.got.slice(300).reduce((n, d) => n + d.payload.length, 0),
    );
    const again = new Link("c");
    e.join("b", undefined, again, { prefetch: 1000 });
    const view = (ds: QueueDelivery[]) =>
      ds
        .map((d) => [d.seq, d.payload.toString(), d.partitionKey === undefined ? -1 : d.partition] as const)
        .sort((x, y) => x[0] - y[0]);
    assert.deepEqual(
      view(again.got),
      view(link.got.slice(300)).map(([seq, text, p]) => [seq, text, p === -1 ? -1 : partitionOf.get(seq)]),
      "same bodies; a keyed message keeps its partition (from the stored key hash)",
    );
    assert.ok(
      again.got.every((d) => d.deliveryCount === 2),
      "delivery counts kept",
    );
    assert.equal(bodyReads, N - 300, "one read per delivered body");
    e.close();
  });
}

test("a wrapper store that delegates load() but not read() is refused at startup, not left unable to deliver", async (t) => {
  const h = await memoryHarness();
  t.after(() => h.dispose());
  const clock = new FakeClock(0);
  const storage = await h.open({ clock });
  const inner = new StorageQueueStore(storage);
  const e = new QueueEngine({ store: inner, clock });
  pub(e, "w", "body");
  await e.commit();
  e.close();
  const wrapper: QueueStore = {
    durable: inner.durable,
    putMember: (...a) => inner.putMember(...a),
    deleteMember: (...a) => inner.deleteMember(...a),
    loadMembers: () => inner.loadMembers(),
    append: (...a) => inner.append(...a),
    remove: (...a) => inner.remove(...a),
    putGroup: (...a) => inner.putGroup(...a),
    deleteGroup: (...a) => inner.deleteGroup(...a),
    putPending: (...a) => inner.putPending(...a),
    deletePending: (...a) => inner.deletePending(...a),
    putDone: (...a) => inner.putDone(...a),
    deleteDone: (...a) => inner.deleteDone(...a),
    drop: (...a) => inner.drop(...a),
    load: () => inner.load(),
    commit: () => inner.commit(),
  };
  assert.throws(() => new QueueEngine({ store: wrapper, clock }), /must delegate read\(\)/);
  const ok = new QueueEngine({ store: { ...wrapper, read: (q, s) => inner.read(q, s) }, clock });
  const l = new Link("l");
  ok.join("w", undefined, l);
  assert.deepEqual(l.texts, ["body"]);
  ok.close();
  await storage.close();
});
