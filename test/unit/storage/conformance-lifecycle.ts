// Conformance: reopen, schema, integrity repair, durability modes and group commit.
import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeClock } from "../../../src/util/clock.ts";
import { SCHEMA_VERSION, StorageErrorCode } from "../../../src/storage/index.ts";
import type { Storage } from "../../../src/storage/index.ts";
import { Space } from "../../../src/storage/keys.ts";
import {
  PUBLISH_PROPERTIES,
  inflight,
  logAppend,
  message,
  openFresh,
  reopen,
  storeQueued,
} from "../../helpers/storage-fixtures.ts";
import type { HarnessFactory } from "../../helpers/storage-harness.ts";

/** A bit of everything, for whole-store comparisons. */
function populate(s: Storage): void {
  s.sessions.put({ clientId: "a", protocolVersion: 5, expiryInterval: 60, expiresAt: 123, lastSeen: 100 });
  s.sessions.putSubscription("a", {
    filter: "x/#",
    qos: 2,
    noLocal: true,
    retainAsPublished: false,
    retainHandling: 1,
    identifier: 9,
  });
  s.sessions.putWill({
    clientId: "a",
    will: { topic: "w", payload: Buffer.from("bye"), qos: 0, retain: false },
    deadline: 5000,
  });
  const m = s.messages.store(message(1, { properties: PUBLISH_PROPERTIES, expiresAt: 999 }));
  s.sessions.enqueue("a", m, { qos: 1, retain: false, subscriptionIds: [9] });
  s.sessions.enqueue("b", m, { qos: 0, retain: true });
  s.retained.set("t/1", m);
  s.sessions.putInflight("a", inflight(10, s.messages.store(message(2, { qos: 2 })), { qos: 2, state: 2 }));
  s.sessions.addInboundQos2("b", 42);
  logAppend(s, "jobs", message(3));
}

export function lifecycleTests(name: string, factory: HarnessFactory): void {
  test(`${name}: close and reopen reads back the identical state, with nothing to repair`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    populate(s);
    await s.commit();
    const before = s.loadAll();
    const s2 = await reopen(h, s);
    assert.deepEqual(s2.loadAll(), before);
    assert.deepEqual(s2.openReport, {
      messages: 3,
      references: 5,
      refcountMismatches: 0,
      orphanMessages: 0,
      danglingReferences: 0,
      repaired: false,
    });
    assert.equal(s2.verify().ok, true);
  });

  test(`${name}: deadlines and timestamps persist as written (session expiry, will delay, message expiry, clock)`, async (t) => {
    const clock = new FakeClock(1_800_000_000_000);
    const { h, s } = await openFresh(t, factory, { clock });
    s.sessions.put({
      clientId: "c",
      protocolVersion: 5,
      expiryInterval: 120,
      expiresAt: clock.now() + 120_000,
      lastSeen: clock.now(),
    });
    s.sessions.putWill({
      clientId: "c",
      will: { topic: "w", payload: Buffer.alloc(0), qos: 1, retain: false, properties: { willDelayInterval: 10 } },
      deadline: clock.now() + 10_000,
    });
    storeQueued(s, "c", message(1, { expiresAt: clock.now() + 5_000 }));
    logAppend(s, "q", message(2));
    await s.commit();
    const s2 = await reopen(h, s);
    const c = s2.loadAll().sessions[0]!;
    assert.equal(c.session?.expiresAt, 1_800_000_120_000);
    assert.equal(c.session?.lastSeen, 1_800_000_000_000);
    assert.equal(c.will?.deadline, 1_800_000_010_000);
    assert.equal(s2.messages.get(c.queue[0]!.messageId)?.expiresAt, 1_800_000_005_000);
    assert.equal(s2.queues.read("q", 1, 1)[0]?.appendedAt, 1_800_000_000_000);
  });

  test(`${name}: a store written by a newer schema is refused with a clear error`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    storeQueued(s, "c", message(1));
    await s.close();
    await h.tamper([{ space: Space.Meta, key: ["", "schema"], value: { version: SCHEMA_VERSION + 1, createdAt: 0 } }]);
    await assert.rejects(h.open(), (e: Error & { code?: string }) => {
      assert.equal(e.code, StorageErrorCode.VersionUnsupported);
      assert.match(e.message, new RegExp(`schema version ${SCHEMA_VERSION + 1}`));
      assert.match(e.message, /newer Wharf/);
      return true;
    });
  });

  test(`${name}: data without a schema key, or a malformed record, is STORAGE_CORRUPT, never an empty start`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    storeQueued(s, "c", message(1));
    await s.close();
    await h.tamper([{ space: Space.Meta, key: ["", "schema"] }]);
    await assert.rejects(h.open(), { code: StorageErrorCode.Corrupt });
    await h.tamper([
      { space: Space.Meta, key: ["", "schema"], value: { version: SCHEMA_VERSION, createdAt: 0 } },
      { space: Space.Queue, key: ["c", 1], value: { m: "not a number" } },
    ]);
    await assert.rejects(h.open(), (e: Error & { code?: string }) => {
      assert.equal(e.code, StorageErrorCode.Corrupt);
      assert.match(e.message, /queue entry/);
      return true;
    });
  });

  test(`${name}: open repairs reference counts left inconsistent (wrong count, orphan body, dangling reference)`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    const { id } = storeQueued(s, "c", message(1));
    s.sessions.enqueue("d", id, { qos: 1, retain: false });
    await s.close();
    await h.tamper([
      { space: Space.Refcount, key: ["", id], value: 7 },
      { space: Space.Message, key: ["", 500], value: { t: "orphan", p: Buffer.from("x"), q: 0, r: 0 } },
      { space: Space.Queue, key: ["e", 1], value: { m: 9999, q: 1, r: 0 } },
    ]);
    const s2 = await h.open();
    assert.deepEqual(
      [
        s2.openReport.refcountMismatches,
        s2.openReport.orphanMessages,
        s2.openReport.danglingReferences,
        s2.openReport.repaired,
      ],
      [1, 1, 1, true],
    );
    assert.equal(s2.verify().ok, true, "repaired on disk");
    assert.equal(s2.messages.get(500), undefined);
    assert.equal(s2.sessions.readQueue("e").length, 0);
    assert.ok(s2.messages.get(id));
    s2.sessions.dequeue("c", 1);
    s2.sessions.dequeue("d", 1);
    await s2.commit();
    assert.equal(s2.messages.get(id), undefined, "the repaired count reaches zero with the last reference");
  });

  test(`${name}: a count of 1 has no count record; a count back at 1 drops its record; an older store's record of 1 is read as 1`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    const { id } = storeQueued(s, "c", message(1));
    s.sessions.enqueue("d", id, { qos: 1, retain: false }); // count 2: a record
    const single = storeQueued(s, "e", message(2)).id; // count 1: no record
    await s.close();
    // An older store wrote a record for every count, 1 included: still consistent.
    await h.tamper([{ space: Space.Refcount, key: ["", single], value: 1 }]);
    const s2 = await h.open();
    const clean = { refcountMismatches: 0, orphanMessages: 0, danglingReferences: 0, repaired: false };
    assert.deepEqual({ ...s2.openReport, messages: 0, references: 0 }, { messages: 0, references: 0, ...clean });
    assert.equal(s2.openReport.references, 3);
    s2.sessions.dequeue("d", 1); // back to 1: the record of 2 must go, or the next open finds a mismatch
    s2.sessions.dequeue("e", 1); // the last reference: body and the older store's record go
    const s3 = await reopen(h, s2);
    assert.deepEqual({ ...s3.openReport, messages: 0, references: 0 }, { messages: 0, references: 0, ...clean });
    assert.deepEqual([s3.openReport.messages, s3.openReport.references], [1, 1]);
    assert.equal(s3.verify().ok, true);
    // A stored count of 1 for a message referenced twice is a mismatch (the record is authoritative).
    s3.sessions.enqueue("f", id, { qos: 1, retain: false });
    await s3.close();
    await h.tamper([{ space: Space.Refcount, key: ["", id], value: 1 }]);
    const s4 = await h.open();
    assert.deepEqual([s4.openReport.refcountMismatches, s4.openReport.repaired], [1, true]);
    assert.equal(s4.verify().ok, true, "repaired on disk");
  });

  test(`${name}: sync mode: after commit() resolves the write is committed and readable`, async (t) => {
    const { s } = await openFresh(t, factory, { durability: "sync" });
    const { id } = storeQueued(s, "c", message(1));
    const batchesBefore = s.stats.batches;
    await s.commit();
    assert.equal(s.stats.batches, batchesBefore + 1);
    assert.ok(s.messages.get(id));
  });

  test(`${name}: batched mode: commit() resolves at once; the batch is written when the interval elapses`, async (t) => {
    const clock = new FakeClock(0);
    const { h, s } = await openFresh(t, factory, { durability: "batched", batchIntervalMs: 50, clock });
    const { id } = storeQueued(s, "c", message(1));
    const before = s.stats.batches;
    await s.commit();
    await new Promise((r) => setImmediate(r));
    assert.equal(s.stats.batches, before, "nothing written before the interval");
    assert.equal(s.stats.pending > 0, true);
    clock.advance(50);
    while (s.stats.batches === before) await new Promise((r) => setImmediate(r));
    assert.ok(s.messages.get(id));
    storeQueued(s, "c", message(2));
    await s.commit();
    const s2 = await reopen(h, s, { durability: "batched" }); // close() writes what is pending
    assert.equal(s2.sessions.readQueue("c").length, 2);
  });

  test(`${name}: none mode: commit() resolves at once, close() persists everything`, async (t) => {
    const { h, s } = await openFresh(t, factory, { durability: "none" });
    for (let i = 0; i < 200; i++) storeQueued(s, "c", message(i));
    await s.commit();
    await s.flush();
    assert.equal(s.sessions.readQueue("c").length, 200, "flush() makes it readable");
    for (let i = 200; i < 300; i++) storeQueued(s, "c", message(i));
    await s.commit();
    const s2 = await reopen(h, s, { durability: "sync" }); // modes can change between restarts
    assert.equal(s2.sessions.readQueue("c").length, 300);
  });

  test(`${name}: none mode with a tiny maxPendingOps makes commit() wait for the disk (backpressure)`, async (t) => {
    const { s } = await openFresh(t, factory, { durability: "none", maxPendingOps: 4 });
    for (let i = 0; i < 10; i++) storeQueued(s, "c", message(i));
    const before = s.stats.batches;
    await s.commit();
    assert.ok(s.stats.batches > before, "commit waited for a write");
    assert.equal(s.stats.pending, 0);
  });

  test(`${name}: group commit: concurrent writers share batches`, async (t) => {
    const { s } = await openFresh(t, factory, { durability: "sync" });
    const writers = 32;
    const rounds = 5;
    const before = s.stats.batches;
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        for (let r = 0; r < rounds; r++) {
          storeQueued(s, `w${w}`, message(r));
          await s.commit();
        }
      }),
    );
    const batches = s.stats.batches - before;
    assert.ok(
      batches <= rounds * 2,
      `expected about ${rounds} batches for ${writers * rounds} commits, got ${batches}`,
    );
    assert.equal(
      s.loadAll().sessions.reduce((n, x) => n + x.queue.length, 0),
      writers * rounds,
    );
  });

  test(`${name}: a closed store refuses use`, async (t) => {
    const { s } = await openFresh(t, factory);
    storeQueued(s, "c", message(1));
    await s.close();
    await s.close(); // idempotent
    assert.throws(() => s.messages.store(message(2)), { code: StorageErrorCode.Closed });
    assert.throws(() => s.loadAll(), { code: StorageErrorCode.Closed });
    assert.throws(() => s.queues.append("q", 1), { code: StorageErrorCode.Closed });
    assert.throws(() => s.messages.store(message(1)), { code: StorageErrorCode.Closed });
    await assert.rejects(s.commit(), { code: StorageErrorCode.Closed });
  });

  test(`${name}: sessions.pages(): every client once, in pages of the size asked, read when reached`, async (t) => {
    const { s } = await openFresh(t, factory);
    const ids: string[] = [];
    for (let i = 0; i < 25; i++) {
      const c = `client-${String(i).padStart(2, "0")}`;
      ids.push(c);
      s.sessions.put({ clientId: c, protocolVersion: 5, expiryInterval: 60, lastSeen: i });
      storeQueued(s, c, message(i));
    }
    s.sessions.addInboundQos2("only-inbound", 7); // a client without a session record is listed too
    await s.commit();
    const pages = s.sessions.pages(10)[Symbol.iterator]();
    const first = pages.next().value!;
    assert.equal(first.length, 10);
    // Pages are read when reached: a change committed now shows in a later page.
    storeQueued(s, "client-24", message(100));
    await s.commit();
    const rest = [...{ [Symbol.iterator]: () => pages }];
    assert.deepEqual(
      [first, ...rest].map((p) => p.length),
      [10, 10, 6],
    );
    const all = [first, ...rest].flat();
    assert.deepEqual(
      all.map((c) => c.clientId),
      [...ids, "only-inbound"],
    );
    assert.equal(all.find((c) => c.clientId === "client-24")?.queue.length, 2);
    assert.deepEqual(all.find((c) => c.clientId === "only-inbound")?.inboundQos2, [7]);
    assert.equal(s.messages.get(all[3]!.queue[0]!.messageId)?.topic, "t/3", "bodies by id");
    assert.throws(() => [...s.sessions.pages(0)], { code: StorageErrorCode.InvalidArgument });
  });

  test(`${name}: retained.entries() lists committed topics with their bodies' ids`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    for (const topic of ["a", "b/c", "ü"]) s.retained.set(topic, s.messages.store(message(1, { topic })));
    s.retained.delete("a");
    await s.commit();
    const s2 = await reopen(h, s);
    const entries = [...s2.retained.entries()];
    assert.deepEqual(entries.map((e) => e.topic).sort(), ["b/c", "ü"]);
    for (const e of entries) assert.equal(s2.messages.get(e.messageId)?.topic, e.topic);
    assert.equal(s2.retained.size, 2);
  });

  test(`${name}: fail(): every later commit and flush rejects, listeners are told once, nothing more is written`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    storeQueued(s, "c", message(1));
    await s.commit();
    const told: string[] = [];
    const off = s.onFailure((e) => told.push(e.code));
    s.onFailure(() => told.push("second listener"));
    assert.equal(s.failure, undefined);
    storeQueued(s, "c", message(2));
    const error = s.fail(new Error("the broker could not mirror a change"));
    assert.equal(s.failure, error);
    assert.equal(error.code, StorageErrorCode.WriteFailed);
    await assert.rejects(s.commit(), { code: StorageErrorCode.WriteFailed });
    await assert.rejects(s.flush(), { code: StorageErrorCode.WriteFailed });
    off();
    s.fail(new Error("again"));
    assert.deepEqual(told, [StorageErrorCode.WriteFailed, "second listener"]);
    await assert.rejects(s.close(), { code: StorageErrorCode.WriteFailed });
    const s2 = await h.open();
    assert.equal(s2.sessions.readQueue("c").length, 1, "what came after the failure was never written");
  });
}
