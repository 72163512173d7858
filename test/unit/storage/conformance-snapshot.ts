// Conformance: the queue-log index snapshot (src/storage/snapshot.ts). A clean close writes it; the next open
// restores the logs from it (no entry read) and removes it; anything written in between makes it stale, and the
// open then scans. Every other reopen in the suite also goes through it (the harness sets snapshotMinEntries: 1).
import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeClock } from "../../../src/util/clock.ts";
import type { Storage } from "../../../src/storage/index.ts";
import { Space } from "../../../src/storage/keys.ts";
import type { QueueEntryMeta } from "../../../src/storage/types.ts";
import { message, openFresh, reopen } from "../../helpers/storage-fixtures.ts";
import type { HarnessFactory } from "../../helpers/storage-harness.ts";

/** Everything a reopen must give back, read through the public API. */
function state(s: Storage): unknown {
  const logs = s.queues.list().sort((a, b) => (a.name < b.name ? -1 : 1));
  return logs.map((l) => ({
    info: l,
    scan: s.queues.scan(l.name, 0, 1_000_000),
    bodies: s.queues.read(l.name, 0, 50).map((e) => [e.seq, e.message.topic, e.appendedAt, e.meta]),
    groups: s.queues.groups(l.name).map((g) => ({ ...g, pending: s.queues.pending(l.name, g.name) })),
  }));
}

/** A meta of every kind the index holds: numbers, booleans, absent, empty, and a string (kept whole). */
function metaOf(i: number): QueueEntryMeta | undefined {
  switch (i % 6) {
    case 0:
      return undefined;
    case 1:
      return { s: i, h: 4_000_000_000 + i };
    case 2:
      return { s: i, x: 1.5 * i, d: true };
    case 3:
      return { s: i, d: false };
    case 4:
      return { k: `key ${i}`, s: i };
    default:
      return {};
  }
}

export function snapshotTests(name: string, factory: HarnessFactory): void {
  test(`${name}: index snapshot: a clean close writes it, open restores every log from it, then it is gone`, async (t) => {
    const clock = new FakeClock(10_000);
    const { h, s } = await openFresh(t, factory, { clock });
    // Two logs over several 4,096-seq pages, holes, a tail removal, groups with pending entries, a shared body.
    for (let i = 1; i <= 9_000; i++) {
      s.queues.append("a", s.messages.store(message(i)), metaOf(i));
      if (i % 1000 === 0) {
        clock.advance(3);
        await s.commit();
      }
    }
    const shared = s.messages.store(message(0, { topic: "shared" }));
    s.queues.append("b/c", shared, { s: 1 });
    s.retained.set("r", shared); // a count of 2: a stored count record
    s.queues.deleteUpTo("a", 100);
    for (let seq = 4_000; seq < 4_300; seq++) s.queues.remove("a", seq);
    s.queues.remove("a", 9_000); // the newest: the tail is remembered
    s.queues.setCursor("a", "g", 500);
    s.queues.putPending("a", "g", { seq: 200, deliveries: 2, visibleAt: 12_345, consumer: "c1" });
    s.queues.putPending("a", "g", { seq: 8_999, deliveries: 1, visibleAt: 0 });
    await s.commit();
    const before = state(s);
    const idsBefore = s.queues.scan("a", 0, 1_000_000).map((e) => e.messageId ?? 0);

    const s2 = await reopen(h, s, { clock });
    assert.equal(s2.openSnapshot.status, "used");
    assert.deepEqual(state(s2), before);
    assert.deepEqual(
      s2.queues.scan("a", 0, 3).map((e) => e.meta),
      [metaOf(101), metaOf(102), metaOf(103)],
    );
    assert.deepEqual([s2.openReport.messages, s2.openReport.references, s2.openReport.repaired], [8_600, 8_601, false]);
    assert.equal(s2.verify().ok, true);
    // Seqs and message ids go on after the restored ones, never reused.
    const id = s2.messages.store(message(10_000));
    assert.ok(id > Math.max(...idsBefore));
    assert.equal(s2.queues.append("a", id, { s: 1 }), 9_001);
    s2.retained.delete("r");
    await s2.commit();
    const after = state(s2);

    // A second clean cycle: the snapshot of a restored index restores the same again.
    const s3 = await reopen(h, s2, { clock });
    assert.equal(s3.openSnapshot.status, "used");
    assert.deepEqual(state(s3), after);
    assert.equal(s3.verify().ok, true);

    // Below the threshold no snapshot is written: the next open scans, to the same result.
    const s4 = await reopen(h, s3, { clock, snapshotMinEntries: 1_000_000 });
    assert.equal(s4.openSnapshot.status, "used");
    const s5 = await reopen(h, s4, { clock });
    assert.equal(s5.openSnapshot.status, "absent");
    assert.deepEqual(state(s5), after);
  });

  test(`${name}: index snapshot: a write after the clean close makes it stale; the open scans and sees the write`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    for (let i = 1; i <= 20; i++) s.queues.append("q", s.messages.store(message(i)), { s: i });
    await s.close();
    // Same counts, same first and last seq: only the write generation tells (a pre-release inline body).
    await h.tamper([
      { space: Space.QueueLog, key: ["q", 5], value: { m: { t: "inline", p: Buffer.from("x"), q: 1, r: 0 }, at: 7 } },
    ]);
    const s2 = await h.open();
    assert.equal(s2.openSnapshot.status, "stale");
    assert.match(s2.openSnapshot.reason ?? "", /generation/);
    const e = s2.queues.read("q", 5, 1)[0];
    assert.deepEqual([e?.seq, e?.message.topic, e?.appendedAt], [5, "inline", 7]);
    assert.equal(s2.queues.length("q"), 20);
    assert.equal(s2.verify().ok, true);
    // The stale snapshot was removed at open: the next clean cycle writes and uses a fresh one.
    const s3 = await reopen(h, s2);
    assert.equal(s3.openSnapshot.status, "used");
    assert.equal(s3.queues.read("q", 5, 1)[0]?.message.topic, "inline");
  });
}
