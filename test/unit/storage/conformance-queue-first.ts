// Conformance: a consumer group's first deliveries in flight (delivered once, visible at once, no consumer) are no
// `qpend` record each but a list in the group record, rewritten once per batch (schema 3, docs/storage.md "Queue
// logs"). Whatever the mix of first deliveries, redeliveries, nacks and acks, a reopen sees exactly the pending
// entries the calls left; a version-2 store's records of first deliveries are read as they are.
import assert from "node:assert/strict";
import { test } from "node:test";
import { StorageErrorCode } from "../../../src/storage/index.ts";
import type { PendingEntry, Storage } from "../../../src/storage/index.ts";
import { Space, pendingGroupKey } from "../../../src/storage/keys.ts";
import { message, openFresh, reopen } from "../../helpers/storage-fixtures.ts";
import type { HarnessFactory } from "../../helpers/storage-harness.ts";

const first = (seq: number): PendingEntry => ({ seq, deliveries: 1, visibleAt: 0 });

/** `n` messages appended, the cursor past them and each delivered once, committed. */
async function delivered(s: Storage, n: number): Promise<void> {
  s.queues.setCursor("q", "g", 1);
  for (let i = 1; i <= n; i++) {
    const seq = s.queues.appendMessage("q", message(i));
    s.queues.setCursor("q", "g", seq + 1);
    s.queues.putPending("q", "g", first(seq));
  }
  await s.commit();
}

export function firstDeliveryTests(name: string, factory: HarnessFactory): void {
  test(`${name}: first deliveries in flight: one group record for all of them, no pending record each; kept across reopen`, async (t) => {
    const { h, s } = await openFresh(t, factory, { durability: "sync" });
    const ops = s.stats.ops;
    await delivered(s, 100);
    // 100 entries (bodies inside) + the group record + the log's meta; no pending-entry record.
    assert.equal(s.stats.ops - ops, 102);
    const s2 = await reopen(h, s);
    assert.equal(s2.openReport.repaired, false);
    assert.deepEqual(
      s2.queues.pending("q", "g"),
      Array.from({ length: 100 }, (_, i) => first(i + 1)),
    );
    assert.deepEqual(s2.queues.groups("q"), [{ name: "g", cursor: 101, pending: 100 }]);
    // Acknowledged in a later batch: the entries go, the group record is rewritten once.
    const before = s2.stats.ops;
    for (let seq = 1; seq <= 50; seq++) s2.queues.ack("q", "g", seq);
    await s2.commit();
    assert.equal(s2.stats.ops - before, 51);
    const s3 = await reopen(h, s2);
    assert.deepEqual(
      s3.queues.pending("q", "g"),
      Array.from({ length: 50 }, (_, i) => first(i + 51)),
    );
    assert.equal(s3.queues.length("q"), 50);
    assert.equal(s3.verify().ok, true);
  });

  test(`${name}: a first delivery nacked, redelivered or settled gets a record; one back to a first delivery loses it`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    await delivered(s, 6);
    s.queues.putPending("q", "g", { seq: 1, deliveries: 1, visibleAt: 99 }); // nack: visible later
    s.queues.putPending("q", "g", { seq: 2, deliveries: 2, visibleAt: 0 }); // redelivered
    s.queues.putPending("q", "g", { seq: 3, deliveries: 0, visibleAt: 0, consumer: "\u0000settled" });
    s.queues.ack("q", "g", 4);
    s.queues.removePending("q", "g", 5); // given back: ready again, nothing pending
    await s.commit();
    let s2 = await reopen(h, s);
    assert.deepEqual(s2.queues.pending("q", "g"), [
      { seq: 1, deliveries: 1, visibleAt: 99 },
      { seq: 2, deliveries: 2, visibleAt: 0 },
      { seq: 3, deliveries: 0, visibleAt: 0, consumer: "\u0000settled" },
      first(6),
    ]);
    s2.queues.putPending("q", "g", first(1)); // a record again a first delivery: the record goes, the list has it
    s2.queues.putPending("q", "g", first(5)); // delivered anew
    s2.queues.removePending("q", "g", 6);
    await s2.commit();
    s2 = await reopen(h, s2);
    assert.deepEqual(s2.queues.pending("q", "g"), [
      first(1),
      { seq: 2, deliveries: 2, visibleAt: 0 },
      { seq: 3, deliveries: 0, visibleAt: 0, consumer: "\u0000settled" },
      first(5),
    ]);
    // Dropping the group drops its records and its list with it.
    s2.queues.dropGroup("q", "g");
    await s2.commit();
    s2 = await reopen(h, s2);
    assert.deepEqual(s2.queues.groups("q"), []);
    assert.equal(s2.openReport.repaired, false, "no pending record left behind");
    assert.equal(s2.verify().ok, true);
  });

  test(`${name}: a version-2 store's pending record of a first delivery is read as it is, and goes with its ack`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    await delivered(s, 2);
    s.queues.removePending("q", "g", 1);
    s.queues.removePending("q", "g", 2);
    await s.close();
    // As version 2 wrote them: a record per pending entry, the group record without a list.
    await h.tamper([
      { space: Space.QueuePending, key: [pendingGroupKey("q", "g"), 1], value: { d: 1, v: 0 } },
      { space: Space.QueuePending, key: [pendingGroupKey("q", "g"), 2], value: { d: 1, v: 0 } },
      { space: Space.QueueGroup, key: ["q", "g"], value: { g: "g", c: 3 } },
    ]);
    const s2 = await h.open();
    assert.equal(s2.openReport.repaired, false);
    assert.deepEqual(s2.queues.pending("q", "g"), [first(1), first(2)]);
    s2.queues.ack("q", "g", 1);
    s2.queues.putPending("q", "g", { seq: 2, deliveries: 2, visibleAt: 0 });
    await s2.commit();
    const s3 = await reopen(h, s2);
    assert.deepEqual(s3.queues.pending("q", "g"), [{ seq: 2, deliveries: 2, visibleAt: 0 }]);
    assert.equal(s3.queues.length("q"), 1);
    assert.equal(s3.openReport.repaired, false);
  });

  test(`${name}: a group record whose list of first deliveries is malformed is STORAGE_CORRUPT`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    await delivered(s, 1);
    await s.close();
    await h.tamper([{ space: Space.QueueGroup, key: ["q", "g"], value: { g: "g", c: 2, f: [1, 0] } }]);
    await assert.rejects(h.open(), (e: Error & { code?: string }) => {
      assert.equal(e.code, StorageErrorCode.Corrupt);
      assert.match(e.message, /qgroup .*f holds a gap/);
      return true;
    });
  });
}
