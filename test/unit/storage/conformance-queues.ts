// Conformance: durable queue logs (Storage.queues) — entries referencing bodies stored once, consumer-group
// cursors and pending entries, ack-with-delete, move to another log, one-transaction multi-step changes, seqs
// never reused across restarts, repair of what a bug could leave behind.
import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeClock } from "../../../src/util/clock.ts";
import { StorageErrorCode } from "../../../src/storage/index.ts";
import type { Storage } from "../../../src/storage/index.ts";
import { Space, pendingGroupKey } from "../../../src/storage/keys.ts";
import {
  PUBLISH_PROPERTIES,
  QOS1,
  allBytes,
  logAppend,
  message,
  openFresh,
  reopen,
} from "../../helpers/storage-fixtures.ts";
import type { HarnessFactory } from "../../helpers/storage-harness.ts";

const seqs = (s: Storage, q: string): number[] => s.queues.read(q, 0, 1000).map((e) => e.seq);

export function queueTests(name: string, factory: HarnessFactory): void {
  test(`${name}: queue log: append, ordered range reads, prefix delete, length, seqs survive a full drain and reopen`, async (t) => {
    const clock = new FakeClock(1_000);
    const { h, s } = await openFresh(t, factory, { clock });
    for (let i = 1; i <= 50; i++) {
      assert.equal(logAppend(s, "q", message(i)), i);
      clock.advance(1);
    }
    logAppend(s, "q2", message(1000, { payload: allBytes() }));
    await s.commit();
    assert.equal(s.queues.length("q"), 50);
    const page = s.queues.read("q", 11, 5);
    assert.deepEqual(
      page.map((e) => [e.seq, e.message.topic, e.appendedAt]),
      [11, 12, 13, 14, 15].map((i) => [i, `t/${i}`, 1_000 + i - 1]),
    );
    s.queues.deleteUpTo("q", 20);
    s.queues.deleteUpTo("q", 10); // already gone: no-op
    await s.commit();
    assert.equal(s.queues.length("q"), 30);
    assert.deepEqual(
      s.queues.read("q", 1, 3).map((e) => e.seq),
      [21, 22, 23],
    );
    assert.equal(s.queues.read("q2", 1, 10)[0]?.message.payload.equals(allBytes()), true, "queues are separate");

    let s2 = await reopen(h, s);
    assert.deepEqual(
      s2.queues.list().sort((a, b) => (a.name < b.name ? -1 : 1)),
      [
        { name: "q", firstSeq: 21, nextSeq: 51, length: 30 },
        { name: "q2", firstSeq: 1, nextSeq: 2, length: 1 },
      ],
    );
    s2.queues.deleteUpTo("q", 1_000_000);
    await s2.commit();
    assert.equal(s2.queues.length("q"), 0);
    assert.equal(s2.queues.read("q", 0, 100).length, 0);
    s2 = await reopen(h, s2);
    assert.equal(logAppend(s2, "q", message(51)), 51, "a drained queue keeps counting");
    s2.queues.drop("q2");
    await s2.commit();
    assert.equal(s2.queues.length("q2"), 0);
    assert.equal(logAppend(s2, "q2", message(1)), 1, "a dropped queue starts over");
    await s2.commit();
    assert.deepEqual(seqs(s2, "q"), [51]);
    assert.equal(s2.verify().ok, true);
  });

  test(`${name}: queue log: a 1 MB message round-trips`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    const big = Buffer.alloc(1024 * 1024, 0xab);
    logAppend(s, "big", message(1, { payload: big, properties: PUBLISH_PROPERTIES }));
    await s.commit();
    const s2 = await reopen(h, s);
    const [e] = s2.queues.read("big", 1, 1);
    assert.equal(e?.message.payload.equals(big), true);
    assert.deepEqual(e?.message.properties, PUBLISH_PROPERTIES);
  });

  test(`${name}: queue log: one body is stored once for a session queue and two logs, and deleted with its last reference`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    const id = s.messages.store(message(1, { payload: Buffer.alloc(10_000, 1) }));
    s.sessions.enqueue("client", id, QOS1);
    const a = s.queues.append("orders", id);
    const b = s.queues.append("audit", id);
    await s.commit();
    assert.equal(s.queues.read("orders", 1, 1)[0]?.messageId, id);
    assert.equal(s.queues.read("audit", 1, 1)[0]?.messageId, id);
    const s2 = await reopen(h, s);
    assert.deepEqual([s2.openReport.messages, s2.openReport.references, s2.openReport.repaired], [1, 3, false]);
    s2.queues.remove("orders", a);
    s2.sessions.dequeue("client", 1);
    await s2.commit();
    assert.ok(s2.messages.get(id), "still referenced by the audit log");
    s2.queues.remove("audit", b);
    await s2.commit();
    assert.equal(s2.messages.get(id), undefined, "gone with its last reference");
    assert.equal(s2.verify().ok, true);
  });

  test(`${name}: queue log: appending an unknown message id is refused before anything changes`, async (t) => {
    const { s } = await openFresh(t, factory);
    assert.throws(() => s.queues.append("q", 12345), { code: StorageErrorCode.InvalidArgument });
    assert.equal(s.queues.length("q"), 0);
    assert.deepEqual(s.queues.list(), []);
  });

  test(`${name}: consumer groups: cursors and pending entries (deliveries, visibleAt, consumer) persist across reopen`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    for (let i = 1; i <= 5; i++) logAppend(s, "jobs", message(i));
    s.queues.setCursor("jobs", "workers", 1);
    s.queues.setCursor("jobs", "workers", 4); // handed out 1..3
    for (const seq of [3, 1, 2]) {
      s.queues.putPending("jobs", "workers", { seq, deliveries: 1, visibleAt: 10_000 + seq, consumer: `c${seq}` });
    }
    s.queues.putPending("jobs", "workers", { seq: 2, deliveries: 2, visibleAt: 20_000 }); // redelivered
    s.queues.setCursor("jobs", "audit", 1);
    assert.equal(s.queues.cursor("jobs", "workers"), 4, "counts uncommitted calls");
    await s.commit();
    const s2 = await reopen(h, s);
    assert.equal(s2.queues.cursor("jobs", "workers"), 4);
    assert.equal(s2.queues.cursor("jobs", "nobody"), undefined);
    assert.deepEqual(s2.queues.pending("jobs", "workers"), [
      { seq: 1, deliveries: 1, visibleAt: 10_001, consumer: "c1" },
      { seq: 2, deliveries: 2, visibleAt: 20_000 },
      { seq: 3, deliveries: 1, visibleAt: 10_003, consumer: "c3" },
    ]);
    assert.deepEqual(s2.queues.getPending("jobs", "workers", 3), {
      seq: 3,
      deliveries: 1,
      visibleAt: 10_003,
      consumer: "c3",
    });
    assert.deepEqual(
      s2.queues.groups("jobs").sort((a, b) => (a.name < b.name ? -1 : 1)),
      [
        { name: "audit", cursor: 1, pending: 0 },
        { name: "workers", cursor: 4, pending: 3 },
      ],
    );
    assert.equal(s2.verify().ok, true);
  });

  test(`${name}: consumer groups: ack deletes the entry once no group needs it; removePending keeps it`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    for (let i = 1; i <= 4; i++) logAppend(s, "q", message(i));
    s.queues.setCursor("q", "a", 4);
    s.queues.setCursor("q", "b", 2);
    for (const seq of [1, 2, 3]) s.queues.putPending("q", "a", { seq, deliveries: 1, visibleAt: 0 });
    s.queues.putPending("q", "b", { seq: 1, deliveries: 1, visibleAt: 0 });
    await s.commit();

    assert.equal(s.queues.ack("q", "a", 1), true);
    assert.equal(s.queues.has("q", 1), true, "b has it pending");
    assert.equal(s.queues.ack("q", "b", 1), true);
    assert.equal(s.queues.has("q", 1), false, "both groups are done with it");
    assert.equal(s.queues.ack("q", "a", 2), true);
    assert.equal(s.queues.has("q", 2), true, "b's cursor has not passed it");
    assert.equal(s.queues.removePending("q", "a", 3), true, "nack: pending dropped");
    assert.equal(s.queues.has("q", 3), true, "the entry stays for redelivery");
    assert.equal(s.queues.ack("q", "a", 3), false, "nothing pending at 3 any more");
    assert.equal(s.queues.ack("q", "a", 99), false);
    assert.equal(s.queues.ack("nope", "a", 1), false);
    await s.commit();
    const s2 = await reopen(h, s);
    assert.deepEqual(seqs(s2, "q"), [2, 3, 4]);
    assert.deepEqual(s2.queues.pending("q", "a"), []);
    assert.deepEqual(s2.queues.pending("q", "b"), []);
    // A single group: ack deletes at once.
    s2.queues.setCursor("q", "b", 5);
    s2.queues.dropGroup("q", "a");
    s2.queues.putPending("q", "b", { seq: 4, deliveries: 1, visibleAt: 0 });
    assert.equal(s2.queues.ack("q", "b", 4), true);
    await s2.commit();
    assert.deepEqual(seqs(s2, "q"), [2, 3]);
    assert.equal(s2.verify().ok, true);
  });

  test(`${name}: move: an entry goes to another log (dead letters) with the same body, its pending entries dropped`, async (t) => {
    const clock = new FakeClock(5_000);
    const { h, s } = await openFresh(t, factory, { clock });
    const id = s.messages.store(message(1, { properties: PUBLISH_PROPERTIES }));
    const seq = s.queues.append("q", id);
    logAppend(s, "q", message(2));
    s.queues.setCursor("q", "g", 3);
    s.queues.putPending("q", "g", { seq, deliveries: 5, visibleAt: 0 });
    await s.commit();
    clock.advance(100);
    const dlqSeq = s.queues.move("q", seq, "q.dlq");
    assert.equal(dlqSeq, 1);
    assert.equal(s.queues.getPending("q", "g", seq), undefined);
    await s.commit();
    const s2 = await reopen(h, s);
    assert.deepEqual(seqs(s2, "q"), [2]);
    const [d] = s2.queues.read("q.dlq", 1, 10);
    assert.equal(d?.messageId, id, "not copied");
    assert.equal(d?.appendedAt, 5_100);
    assert.deepEqual(d?.message.properties, PUBLISH_PROPERTIES);
    assert.deepEqual([s2.openReport.messages, s2.openReport.references], [2, 2]);
    assert.equal(s2.queues.move("q", 2, "q"), 3, "a move to the same log re-appends at the end");
    assert.throws(() => s2.queues.move("q", 2, "x"), { code: StorageErrorCode.InvalidArgument });
    await s2.commit();
    assert.deepEqual(seqs(s2, "q"), [3]);
    assert.equal(s2.verify().ok, true);
  });

  test(`${name}: ack + move + append made in one synchronous run are one transaction`, async (t) => {
    const { h, s } = await openFresh(t, factory, { durability: "sync" });
    for (let i = 1; i <= 3; i++) logAppend(s, "q", message(i));
    s.queues.setCursor("q", "g", 4);
    for (const seq of [1, 2, 3]) s.queues.putPending("q", "g", { seq, deliveries: 1, visibleAt: 0 });
    await s.commit();
    const before = s.stats.batches;
    s.queues.ack("q", "g", 1);
    s.queues.move("q", 2, "dlq");
    logAppend(s, "out", message(9));
    s.queues.setCursor("q", "g", 4);
    await s.commit();
    assert.equal(s.stats.batches, before + 1, "one batch");
    const s2 = await reopen(h, s);
    assert.deepEqual([seqs(s2, "q"), seqs(s2, "dlq"), seqs(s2, "out")], [[3], [1], [1]]);
    assert.deepEqual(
      s2.queues.pending("q", "g").map((p) => p.seq),
      [3],
    );
  });

  test(`${name}: seqs are never reused: entries removed at the tail, then a reopen`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    for (let i = 1; i <= 5; i++) logAppend(s, "q", message(i));
    s.queues.setCursor("q", "g", 6);
    await s.commit();
    s.queues.remove("q", 5);
    s.queues.remove("q", 4);
    s.queues.move("q", 3, "elsewhere");
    await s.commit();
    let s2 = await reopen(h, s);
    assert.deepEqual(
      s2.queues.list().find((l) => l.name === "q"),
      { name: "q", firstSeq: 1, nextSeq: 6, length: 2 },
    );
    assert.equal(logAppend(s2, "q", message(6)), 6, "the group's cursor (6) would skip a reused seq");
    s2.queues.deleteUpTo("q", 6);
    await s2.commit();
    s2 = await reopen(h, s2);
    assert.equal(logAppend(s2, "q", message(7)), 7);
  });

  test(`${name}: drop deletes entries, groups and pending entries; dropGroup keeps the log`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    for (let i = 1; i <= 3; i++) logAppend(s, "q", message(i));
    s.queues.setCursor("q", "g", 2);
    s.queues.putPending("q", "g", { seq: 1, deliveries: 1, visibleAt: 0 });
    s.queues.setCursor("q", "h", 1);
    s.queues.setCursor("r", "g", 1); // a group on a log without entries
    await s.commit();
    s.queues.dropGroup("q", "h");
    s.queues.drop("r");
    await s.commit();
    let s2 = await reopen(h, s);
    assert.deepEqual(
      s2.queues.groups("q").map((g) => g.name),
      ["g"],
    );
    assert.deepEqual(s2.queues.groups("r"), []);
    s2.queues.drop("q");
    await s2.commit();
    s2 = await reopen(h, s2);
    assert.deepEqual(s2.queues.list(), []);
    assert.deepEqual(s2.queues.pending("q", "g"), []);
    assert.equal(s2.openReport.messages, 0);
    assert.equal(s2.verify().ok, true);
  });

  test(`${name}: putPending refuses an unknown group or entry and bad counts (STORAGE_INVALID_ARGUMENT)`, async (t) => {
    const { s } = await openFresh(t, factory);
    logAppend(s, "q", message(1));
    const p = { seq: 1, deliveries: 1, visibleAt: 0 };
    assert.throws(() => s.queues.putPending("q", "g", p), { code: StorageErrorCode.InvalidArgument });
    s.queues.setCursor("q", "g", 2);
    assert.throws(() => s.queues.putPending("q", "g", { ...p, seq: 2 }), { code: StorageErrorCode.InvalidArgument });
    assert.throws(() => s.queues.putPending("q", "g", { ...p, deliveries: -1 }), {
      code: StorageErrorCode.InvalidArgument,
    });
    assert.throws(() => s.queues.setCursor("q", "g", 0), { code: StorageErrorCode.InvalidArgument });
    assert.deepEqual(s.queues.pending("q", "g"), []);
  });

  test(`${name}: long and odd queue and group names (10 KB, U+0000, quotes) keep their entries apart`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    const names = ["a", "q".repeat(10_000), "x\u0000y", 'we"ird', "ü/😀"];
    for (const [i, n] of names.entries()) {
      logAppend(s, n, message(i));
      s.queues.setCursor(n, n, 2);
      s.queues.putPending(n, n, { seq: 1, deliveries: i + 1, visibleAt: 0 });
    }
    await s.commit();
    const s2 = await reopen(h, s);
    assert.equal(s2.openReport.repaired, false);
    for (const [i, n] of names.entries()) {
      assert.equal(s2.queues.read(n, 1, 10)[0]?.message.topic, `t/${i}`);
      assert.equal(s2.queues.pending(n, n)[0]?.deliveries, i + 1);
    }
    assert.deepEqual(
      s2.queues
        .list()
        .map((l) => l.name)
        .sort(),
      [...names].sort(),
    );
  });

  test(`${name}: open repairs queue state a bug could leave: inline bodies become shared, stray pending entries go`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    logAppend(s, "q", message(1));
    s.queues.setCursor("q", "g", 2);
    await s.close();
    await h.tamper([
      // The pre-release format stored the body in the entry.
      { space: Space.QueueLog, key: ["q", 2], value: { m: { t: "inline", p: Buffer.from("x"), q: 1, r: 0 }, at: 7 } },
      { space: Space.QueuePending, key: [pendingGroupKey("q", "gone"), 1], value: { d: 1, v: 0 } },
      { space: Space.QueuePending, key: [pendingGroupKey("q", "g"), 9], value: { d: 1, v: 0 } },
    ]);
    const s2 = await h.open();
    assert.equal(s2.openReport.repaired, true);
    const [, e] = s2.queues.read("q", 1, 10);
    assert.deepEqual([e?.seq, e?.message.topic, e?.appendedAt], [2, "inline", 7]);
    assert.deepEqual(s2.queues.pending("q", "g"), []);
    assert.equal(s2.verify().ok, true);
    const s3 = await reopen(h, s2);
    assert.equal(s3.openReport.repaired, false, "repaired on disk");
    assert.equal(logAppend(s3, "q", message(3)), 3);
  });

  test(`${name}: append + ack within one batch writes no entry, pending entry or body (elision)`, async (t) => {
    const { s } = await openFresh(t, factory, { durability: "sync" });
    s.queues.setCursor("q", "g", 1);
    await s.commit();
    const ops = s.stats.ops;
    for (let i = 1; i <= 100; i++) {
      const seq = logAppend(s, "q", message(i));
      s.queues.setCursor("q", "g", seq + 1);
      s.queues.putPending("q", "g", { seq, deliveries: 1, visibleAt: 0 });
      s.queues.ack("q", "g", seq);
    }
    await s.commit();
    // What remains: the cursor (once) and the log's tail in qmeta (once).
    assert.ok(s.stats.ops - ops <= 2, `${s.stats.ops - ops} ops written`);
    assert.equal(s.queues.length("q"), 0);
    assert.equal(s.verify().ok, true);
  });

  test(`${name}: queue log: meta kept with an entry (read, scan without bodies, reopen); written() makes reads see it`, async (t) => {
    const clock = new FakeClock(5_000);
    const { h, s } = await openFresh(t, factory, { clock });
    const a = s.queues.append("m", s.messages.store(message(1)), { s: 9, h: 4_000_000_000, d: true, k: "x" });
    const b = s.queues.append("m", s.messages.store(message(2)));
    assert.deepEqual(s.queues.scan("m", 0, 10), [], "nothing written yet");
    await s.written();
    assert.deepEqual(s.queues.scan("m", 0, 10), [
      {
        seq: a,
        messageId: s.queues.read("m", a, 1)[0]!.messageId,
        appendedAt: 5_000,
        meta: { s: 9, h: 4_000_000_000, d: true, k: "x" },
      },
      { seq: b, messageId: s.queues.read("m", b, 1)[0]!.messageId, appendedAt: 5_000, meta: undefined },
    ]);
    assert.deepEqual(s.queues.read("m", a, 1)[0]!.meta, { s: 9, h: 4_000_000_000, d: true, k: "x" });
    assert.equal(s.queues.read("m", a, 1)[0]!.message.topic, "t/1");
    const s2 = await reopen(h, s);
    assert.deepEqual(
      s2.queues.scan("m", 2, 10).map((e) => [e.seq, e.meta]),
      [[b, undefined]],
    );
    assert.deepEqual(s2.queues.scan("m", 0, 1)[0]!.meta, { s: 9, h: 4_000_000_000, d: true, k: "x" });
    assert.ok(s2.verify().ok);
    // Right after open, scan is served from what open read; a change to the log makes it read the store again.
    const s3 = await reopen(h, s2);
    assert.deepEqual(
      s3.queues.scan("m", 0, 1).map((e) => e.seq),
      [a],
    );
    const c = s3.queues.append("m", s3.messages.store(message(3)), { s: 1 });
    s3.queues.remove("m", a);
    await s3.written();
    assert.deepEqual(
      s3.queues.scan("m", 0, 10).map((e) => [e.seq, e.meta]),
      [
        [b, undefined],
        [c, { s: 1 }],
      ],
    );
  });
}
