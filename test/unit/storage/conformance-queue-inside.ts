// Conformance: a log entry appended with appendMessage holds its body inside (schema 4, docs/storage.md "Queue
// logs"): one record per queue message, no shared body and no count. It reads, scans, moves, drops and reopens
// (from the index snapshot and from a scan) like an entry referencing a shared body, and both kinds mix in a log.
import assert from "node:assert/strict";
import { test } from "node:test";
import { StorageErrorCode } from "../../../src/storage/index.ts";
import type { Storage } from "../../../src/storage/index.ts";
import { Space } from "../../../src/storage/keys.ts";
import { message, openFresh, reopen } from "../../helpers/storage-fixtures.ts";
import type { HarnessFactory } from "../../helpers/storage-harness.ts";

const topics = (s: Storage, q: string): [number, string, number | undefined][] =>
  s.queues.read(q, 0, 1000).map((e) => [e.seq, e.message.topic, e.messageId]);

export function bodyInsideTests(name: string, factory: HarnessFactory): void {
  test(`${name}: appendMessage: one record per message, its body inside; mixed with shared bodies; kept across reopen with and without the snapshot`, async (t) => {
    const fresh = await openFresh(t, factory, { durability: "sync" });
    const h = fresh.h;
    let s = fresh.s;
    const ops = s.stats.ops;
    for (let i = 1; i <= 10; i++) s.queues.appendMessage("q", message(i, { payload: Buffer.from(`p${i}`) }), { s: i });
    await s.commit();
    assert.equal(s.stats.ops - ops, 11, "10 entries + the log's meta: no body records");
    const shared = s.messages.store(message(11));
    assert.equal(s.queues.append("q", shared, { s: 11 }), 11);
    await s.commit();
    const expected = [
      ...Array.from({ length: 10 }, (_, i): [number, string, number | undefined] => [i + 1, `t/${i + 1}`, undefined]),
      [11, "t/11", shared] as [number, string, number | undefined],
    ];
    assert.deepEqual(topics(s, "q"), expected);
    assert.equal(s.queues.read("q", 3, 1)[0]?.message.payload.toString(), "p3");
    // Reopen from the snapshot (the harness writes one at every close); that store writes none at its close, so the
    // next open scans.
    for (const [options, status] of [
      [{ snapshotMinEntries: 0 }, "used"],
      [{}, "absent"],
    ] as const) {
      s = await reopen(h, s, options);
      assert.equal(s.openSnapshot.status, status);
      assert.deepEqual(topics(s, "q"), expected);
      assert.deepEqual(
        s.queues.scan("q", 9, 5).map((e) => [e.seq, e.messageId, e.meta]),
        [
          [9, undefined, { s: 9 }],
          [10, undefined, { s: 10 }],
          [11, shared, { s: 11 }],
        ],
      );
      assert.deepEqual([s.openReport.messages, s.openReport.references, s.openReport.repaired], [1, 1, false]);
      assert.equal(s.verify().ok, true);
    }
    // Removal, retention and drop: entries go, the shared body with its last reference.
    s.queues.remove("q", 2);
    s.queues.deleteUpTo("q", 5);
    await s.commit();
    assert.deepEqual(
      topics(s, "q").map(([seq]) => seq),
      [6, 7, 8, 9, 10, 11],
    );
    s.queues.drop("q");
    await s.commit();
    const s3 = await reopen(h, s);
    assert.deepEqual(s3.queues.list(), []);
    assert.deepEqual([s3.openReport.messages, s3.openReport.repaired], [0, false]);
    assert.equal(s3.verify().ok, true);
  });

  test(`${name}: move of an entry with its body inside (written, and not yet written): the body goes with it in one batch`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    const a = s.queues.appendMessage("q", message(1));
    await s.commit();
    const b = s.queues.appendMessage("q", message(2));
    s.queues.setCursor("q", "g", 1);
    s.queues.putPending("q", "g", { seq: a, deliveries: 3, visibleAt: 0 });
    const da = s.queues.move("q", a, "dlq");
    const db = s.queues.move("q", b, "dlq");
    await s.commit();
    // Cut, its write maybe still in flight (not readable yet): moved in the next batch all the same.
    const c = s.queues.appendMessage("q", message(3));
    const committed = s.commit();
    await new Promise((resolve) => setImmediate(resolve));
    const dc = s.queues.move("q", c, "dlq");
    await committed;
    await s.commit();
    const s2 = await reopen(h, s);
    assert.deepEqual(s2.queues.length("q"), 0);
    assert.deepEqual(topics(s2, "dlq"), [
      [da, "t/1", undefined],
      [db, "t/2", undefined],
      [dc, "t/3", undefined],
    ]);
    assert.deepEqual(s2.queues.pending("q", "g"), [], "the pending entry went with the move");
    assert.deepEqual([s2.openReport.messages, s2.openReport.repaired], [0, false]);
    assert.equal(s2.verify().ok, true);
  });

  test(`${name}: an entry whose inside body is not a record is STORAGE_CORRUPT`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    s.queues.appendMessage("q", message(1));
    await s.close();
    await h.tamper([{ space: Space.QueueLog, key: ["q", 1], value: { b: 7, at: 0 } }]);
    await assert.rejects(h.open(), (e: Error & { code?: string }) => {
      assert.equal(e.code, StorageErrorCode.Corrupt);
      assert.match(e.message, /qlog .*b is not a record/);
      return true;
    });
  });

  test(`${name}: appendMessage with the caller's append time keeps it (read, scan, reopen); a bad one is refused`, async (t) => {
    const fresh = await openFresh(t, factory);
    let s = fresh.s;
    const at = 1_700_000_000_123;
    const seq = s.queues.appendMessage("q", message(1), { s: 1 }, at);
    const other = s.queues.appendMessage("q", message(2)); // the store's clock
    assert.throws(() => s.queues.appendMessage("q", message(3), undefined, Number.NaN), /appendedAt/);
    await s.commit();
    assert.equal(s.queues.read("q", seq, 1)[0]?.appendedAt, at);
    assert.notEqual(s.queues.read("q", other, 1)[0]?.appendedAt, at);
    s = await reopen(fresh.h, s);
    assert.deepEqual(
      s.queues.scan("q", 0, 10).map((e) => e.seq === seq && e.appendedAt === at),
      [true, false],
    );
  });
}
