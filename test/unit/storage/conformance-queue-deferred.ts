// Conformance: queue log writes deferred to the cut of their batch (Storage.queues.appendMessage and pending
// entries, docs/storage.md "Deferred queue writes"): what is committed is the net effect of the calls, as if each
// had pushed its op; an entry gone before the cut is never written; commit(), written() and reopen see the rest.
import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeClock } from "../../../src/util/clock.ts";
import type { Storage } from "../../../src/storage/index.ts";
import { message, openFresh, reopen } from "../../helpers/storage-fixtures.ts";
import type { HarnessFactory } from "../../helpers/storage-harness.ts";

const topics = (s: Storage, q: string): [number, string][] =>
  s.queues.read(q, 0, 1000).map((e) => [e.seq, e.message.topic]);

export function deferredQueueTests(name: string, factory: HarnessFactory): void {
  test(`${name}: appendMessage: entries with their own bodies and meta, readable after commit, kept across reopen`, async (t) => {
    const clock = new FakeClock(2_000);
    const { h, s } = await openFresh(t, factory, { clock });
    assert.equal(s.queues.appendMessage("q", message(1), { s: 9 }), 1);
    assert.equal(s.queues.appendMessage("q", message(2)), 2);
    assert.equal(s.queues.length("q"), 2, "counters include calls not yet committed");
    assert.deepEqual(topics(s, "q"), [], "nothing written before the commit");
    await s.commit();
    assert.deepEqual(topics(s, "q"), [
      [1, "t/1"],
      [2, "t/2"],
    ]);
    assert.deepEqual(
      s.queues.scan("q", 0, 10).map((e) => [e.seq, e.appendedAt, e.meta]),
      [
        [1, 2_000, { s: 9 }],
        [2, 2_000, undefined],
      ],
    );
    const s2 = await reopen(h, s);
    assert.deepEqual(topics(s2, "q"), [
      [1, "t/1"],
      [2, "t/2"],
    ]);
    assert.equal(s2.openReport.messages, 0, "each body inside its entry (schema 4): no shared body");
    assert.equal(s2.verify().ok, true);
    assert.equal(s2.queues.appendMessage("q", message(3)), 3, "seqs go on");
  });

  test(`${name}: appendMessage + deliver + ack within one batch writes no body, entry or pending entry`, async (t) => {
    const { h, s } = await openFresh(t, factory, { durability: "sync" });
    s.queues.setCursor("q", "g", 1);
    await s.commit();
    const ops = s.stats.ops;
    for (let i = 1; i <= 100; i++) {
      const seq = s.queues.appendMessage("q", message(i));
      s.queues.setCursor("q", "g", seq + 1);
      s.queues.putPending("q", "g", { seq, deliveries: 1, visibleAt: 0 });
      s.queues.ack("q", "g", seq);
    }
    await s.commit();
    assert.ok(s.stats.ops - ops <= 2, `${s.stats.ops - ops} ops written`);
    const s2 = await reopen(h, s);
    assert.equal(s2.queues.length("q"), 0);
    assert.equal(s2.openReport.messages, 0, "no body left behind");
    assert.equal(s2.verify().ok, true);
    assert.equal(s2.queues.appendMessage("q", message(101)), 101, "the tail kept the seqs handed out");
  });

  test(`${name}: sync: commit() after appendMessage resolves once it is written; batched: written() waits for the cut`, async (t) => {
    const { s } = await openFresh(t, factory, { durability: "sync" });
    s.queues.appendMessage("q", message(1));
    await s.commit();
    assert.deepEqual(topics(s, "q"), [[1, "t/1"]]);
    const b = await openFresh(t, factory, { durability: "batched", batchIntervalMs: 5 });
    b.s.queues.appendMessage("q", message(1));
    await b.s.written();
    assert.deepEqual(topics(b.s, "q"), [[1, "t/1"]], "written() covers deferred appends");
  });

  test(`${name}: pending entries: written at the cut with their last value, changed and removed in later batches`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    s.queues.setCursor("q", "g", 1);
    for (let i = 1; i <= 3; i++) s.queues.appendMessage("q", message(i));
    s.queues.putPending("q", "g", { seq: 1, deliveries: 1, visibleAt: 0 });
    s.queues.putPending("q", "g", { seq: 1, deliveries: 2, visibleAt: 50 }); // a nack before the cut
    s.queues.putPending("q", "g", { seq: 2, deliveries: 1, visibleAt: 0 });
    s.queues.putPending("q", "g", { seq: 3, deliveries: 1, visibleAt: 0 });
    s.queues.removePending("q", "g", 3); // given back before the cut: never written
    await s.commit();
    let s2 = await reopen(h, s);
    assert.deepEqual(s2.queues.pending("q", "g"), [
      { seq: 1, deliveries: 2, visibleAt: 50 },
      { seq: 2, deliveries: 1, visibleAt: 0 },
    ]);
    s2.queues.putPending("q", "g", { seq: 2, deliveries: 2, visibleAt: 70, consumer: "c" });
    s2.queues.removePending("q", "g", 1);
    s2.queues.putPending("q", "g", { seq: 1, deliveries: 3, visibleAt: 0 }); // removed and put again: a put
    await s2.commit();
    s2 = await reopen(h, s2);
    assert.deepEqual(s2.queues.pending("q", "g"), [
      { seq: 1, deliveries: 3, visibleAt: 0 },
      { seq: 2, deliveries: 2, visibleAt: 70, consumer: "c" },
    ]);
    s2.queues.removePending("q", "g", 1);
    s2.queues.ack("q", "g", 2);
    await s2.commit();
    s2 = await reopen(h, s2);
    assert.deepEqual(s2.queues.pending("q", "g"), []);
    assert.deepEqual(
      topics(s2, "q").map(([seq]) => seq),
      [1, 2, 3],
      "ack deletes nothing while the cursor is not past it",
    );
    s2.queues.setCursor("q", "g", 4);
    s2.queues.ack("q", "g", 3);
    await s2.commit();
    assert.deepEqual(
      topics(s2, "q").map(([seq]) => seq),
      [1, 2],
    );
    assert.equal(s2.verify().ok, true);
  });

  test(`${name}: an entry written at one cut and acknowledged in a later batch: body, entry and pending entry go`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    s.queues.setCursor("q", "g", 1);
    const seq = s.queues.appendMessage("q", message(1));
    s.queues.setCursor("q", "g", seq + 1);
    s.queues.putPending("q", "g", { seq, deliveries: 1, visibleAt: 0 });
    await s.commit();
    const s2 = await reopen(h, s);
    assert.deepEqual(topics(s2, "q"), [[seq, "t/1"]]);
    assert.deepEqual(s2.queues.pending("q", "g"), [{ seq, deliveries: 1, visibleAt: 0 }]);
    assert.equal(s2.queues.ack("q", "g", seq), true);
    await s2.commit();
    const s3 = await reopen(h, s2);
    assert.equal(s3.queues.length("q"), 0);
    assert.deepEqual(s3.queues.pending("q", "g"), []);
    assert.equal(s3.openReport.messages, 0);
    assert.equal(s3.verify().ok, true);
  });

  test(`${name}: move, dropGroup and drop of entries and pending entries not yet written`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    s.queues.setCursor("q", "g", 1);
    s.queues.setCursor("q", "h", 1);
    const a = s.queues.appendMessage("q", message(1));
    const b = s.queues.appendMessage("q", message(2));
    s.queues.putPending("q", "g", { seq: a, deliveries: 1, visibleAt: 0 });
    s.queues.putPending("q", "h", { seq: b, deliveries: 1, visibleAt: 0 });
    // Unwritten a goes to the DLQ with its body; the group h and its unwritten pending entry go.
    const d = s.queues.move("q", a, "dlq");
    s.queues.dropGroup("q", "h");
    s.queues.appendMessage("gone", message(3));
    s.queues.setCursor("gone", "g", 1);
    s.queues.putPending("gone", "g", { seq: 1, deliveries: 1, visibleAt: 0 });
    s.queues.drop("gone");
    await s.commit();
    const s2 = await reopen(h, s);
    assert.deepEqual(topics(s2, "dlq"), [[d, "t/1"]]);
    assert.deepEqual(topics(s2, "q"), [[b, "t/2"]]);
    assert.deepEqual(s2.queues.pending("q", "g"), [], "a's pending entry went with the move");
    assert.deepEqual(
      s2.queues.groups("q").map((g) => g.name),
      ["g"],
    );
    assert.deepEqual(
      s2.queues.list().map((l) => l.name),
      ["dlq", "q"],
    );
    assert.equal(s2.openReport.messages, 0, "bodies inside their entries, the moved one too");
    assert.equal(s2.verify().ok, true);
    // A group dropped after its pending entry was written, then one of the same name created in the same batch.
    s2.queues.putPending("q", "g", { seq: b, deliveries: 4, visibleAt: 0 });
    await s2.commit();
    s2.queues.dropGroup("q", "g");
    s2.queues.setCursor("q", "g", 1);
    s2.queues.putPending("q", "g", { seq: b, deliveries: 1, visibleAt: 9 });
    await s2.commit();
    const s3 = await reopen(h, s2);
    assert.deepEqual(s3.queues.pending("q", "g"), [{ seq: b, deliveries: 1, visibleAt: 9 }]);
    assert.equal(s3.verify().ok, true);
  });
}
