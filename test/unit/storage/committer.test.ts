// Group commit and durability scheduling, against a backend whose writes complete only when the test says so.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Committer } from "../../../src/storage/committer.ts";
import type { CommitterOptions } from "../../../src/storage/committer.ts";
import { StorageErrorCode } from "../../../src/storage/index.ts";
import { Space } from "../../../src/storage/keys.ts";
import type { KvOp } from "../../../src/storage/kv.ts";
import { FakeClock } from "../../../src/util/clock.ts";

interface PendingWrite {
  ops: readonly KvOp[];
  resolve(): void;
  reject(e: Error): void;
}

function harness(over: Partial<CommitterOptions> = {}) {
  const writes: PendingWrite[] = [];
  const clock = new FakeClock(0);
  let flushHooks = 0;
  const c = new Committer({
    mode: "sync",
    batchIntervalMs: 10,
    maxPendingOps: 1000,
    clock,
    path: "/test",
    write: (ops) =>
      new Promise<void>((resolve, reject) => {
        writes.push({ ops, resolve, reject });
      }),
    beforeFlush: () => {
      flushHooks++;
    },
    ...over,
  });
  return { c, writes, clock, hooks: () => flushHooks };
}

const op = (n: number): KvOp => ({ space: Space.Queue, key: ["c", n], value: n });
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Settles promptly? (true if `p` settled within a few event-loop turns) */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  for (let i = 0; i < 3; i++) await turn();
  return done;
}

test("sync: commit() resolves only after the write holding its ops completes", async () => {
  const { c, writes } = harness();
  c.push(op(1));
  const p = c.commit();
  await turn();
  assert.equal(writes.length, 1);
  assert.equal(await settled(p), false, "not before the write completes");
  writes[0]!.resolve();
  assert.equal(await settled(p), true);
  assert.deepEqual([c.batches, c.ops], [1, 1]);
});

test("sync: everything that arrives while a write is in flight goes into one next write (group commit)", async () => {
  const { c, writes, hooks } = harness();
  c.push(op(0));
  const first = c.commit();
  await turn();
  assert.equal(writes.length, 1);
  const later: Promise<void>[] = [];
  for (let i = 1; i <= 10; i++) {
    await turn(); // each in its own event-loop turn, like separate socket reads
    c.push(op(i));
    later.push(c.commit());
  }
  assert.equal(writes.length, 1, "no second write while the first is in flight");
  writes[0]!.resolve();
  await first;
  assert.equal(writes.length, 2);
  assert.deepEqual(
    writes[1]!.ops.map((o) => o.key[1]),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  );
  assert.equal(await settled(Promise.all(later)), false);
  writes[1]!.resolve();
  await Promise.all(later);
  assert.equal(hooks(), 2, "beforeFlush runs once per batch");
});

test("batched: commit() resolves at once; the write happens when the interval has elapsed", async () => {
  const { c, writes, clock } = harness({ mode: "batched", batchIntervalMs: 10 });
  c.push(op(1));
  await c.commit();
  await turn();
  assert.equal(writes.length, 0, "timers run on the store's clock");
  clock.advance(0);
  assert.equal(writes.length, 1, "first batch: no earlier write to wait for");
  writes[0]!.resolve();
  await turn();
  c.push(op(2));
  await c.commit();
  c.push(op(3));
  await c.commit();
  await turn();
  assert.equal(writes.length, 1, "within the interval: still buffered");
  clock.advance(10);
  assert.equal(writes.length, 2);
  assert.equal(writes[1]!.ops.length, 2);
  writes[1]!.resolve();
});

test("batched/none: past maxPendingOps, commit() writes at once and waits for it (backpressure)", async () => {
  for (const mode of ["batched", "none"] as const) {
    const { c, writes } = harness({ mode, maxPendingOps: 3 });
    c.push(op(1));
    c.push(op(2));
    assert.equal(await settled(c.commit()), true, `${mode}: under the limit`);
    writes[0]?.resolve(); // none writes at the end of the turn already
    c.push(op(3));
    c.push(op(4));
    c.push(op(5));
    const p = c.commit();
    await turn();
    const last = writes.at(-1)!;
    assert.ok(
      last.ops.some((o) => o.key[1] === 5),
      `${mode}: written without waiting for the interval`,
    );
    assert.equal(await settled(p), false);
    last.resolve();
    await p;
  }
});

test("batched: ops cancelled out within the batch (elision) do not count towards maxPendingOps", async () => {
  const { c, writes, clock } = harness({ mode: "batched", maxPendingOps: 3 });
  for (let i = 1; i <= 12; i++) c.cancel(c.push(op(i))); // e.g. appended and acknowledged within one batch
  c.push(op(7));
  assert.equal(await settled(c.commit()), true, "one live op: no backpressure");
  assert.equal(writes.length, 0, "nor a write before the interval");
  clock.advance(10);
  await turn();
  assert.deepEqual(
    writes[0]?.ops.map((o) => o.key[1]),
    [7],
  );
});

test("none: commit() resolves at once and writes still go out at the end of the turn", async () => {
  const { c, writes } = harness({ mode: "none" });
  c.push(op(1));
  assert.equal(await settled(c.commit()), true);
  assert.equal(writes.length, 1);
  const f = c.flush();
  assert.equal(await settled(f), false, "flush() waits for the write");
  writes[0]!.resolve();
  await f;
});

test("a failed write rejects its waiters and every later commit with STORAGE_WRITE_FAILED", async () => {
  const { c, writes } = harness();
  c.push(op(1));
  const p = c.commit();
  await turn();
  writes[0]!.reject(new Error("ENOSPC: no space left on device"));
  await assert.rejects(p, (e: Error & { code?: string; path?: string }) => {
    assert.equal(e.code, StorageErrorCode.WriteFailed);
    assert.equal(e.path, "/test");
    assert.match(e.message, /ENOSPC/);
    return true;
  });
  c.push(op(2));
  await assert.rejects(c.commit(), { code: StorageErrorCode.WriteFailed });
  await assert.rejects(c.flush(), { code: StorageErrorCode.WriteFailed });
  assert.equal(writes.length, 1, "nothing more is written after a failure");
});

test("a failed write nobody waits for does not crash the process", async () => {
  const { c, writes } = harness({ mode: "none" });
  c.push(op(1));
  await c.commit();
  await turn();
  writes[0]!.reject(new Error("EIO"));
  for (let i = 0; i < 3; i++) await turn(); // an unhandled rejection would fail the test run
  assert.equal(c.failed?.code, StorageErrorCode.WriteFailed);
});

test("fail(): waiters and later commits reject, onFailure is told once, nothing more is written or kept", async () => {
  const failures: string[] = [];
  const { c, writes } = harness({ onFailure: (e) => failures.push(e.code) });
  c.push(op(1));
  const p = c.commit();
  const error = c.fail(new Error("a caller's state can no longer be mirrored"));
  assert.equal(error.code, StorageErrorCode.WriteFailed);
  await assert.rejects(p, { code: StorageErrorCode.WriteFailed });
  assert.equal(c.fail(new Error("second")), error, "the first failure wins");
  c.push(op(2));
  assert.equal(c.pending, 0, "ops pushed after the failure are dropped");
  await assert.rejects(c.commit(), { code: StorageErrorCode.WriteFailed });
  for (let i = 0; i < 3; i++) await turn();
  assert.equal(writes.length, 0);
  assert.deepEqual(failures, [StorageErrorCode.WriteFailed]);
});

test("a failed write tells onFailure once, with the STORAGE_WRITE_FAILED error its waiters get", async () => {
  const told: Error[] = [];
  const { c, writes } = harness({ onFailure: (e) => told.push(e) });
  c.push(op(1));
  const p = c.commit();
  await turn();
  writes[0]!.reject(new Error("EIO"));
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.equal(told.length, 1);
  assert.equal(told[0], err);
});

test("defer(): deferred ops are pending work: commit() waits for them and beforeFlush pushes them into the batch", async () => {
  const box: { c?: Committer } = {};
  const h = harness({
    beforeFlush: () => {
      box.c!.push(op(7)); // what a concern kept back, pushed at the cut
    },
  });
  const c = (box.c = h.c);
  c.defer(1);
  assert.equal(c.pending, 1);
  assert.equal(await settled(c.written()), false, "written() waits for the deferred op");
  const p = c.commit();
  await turn();
  assert.equal(h.writes.length, 1, "a batch starts with nothing but deferred ops pending");
  assert.deepEqual(h.writes[0]!.ops, [op(7)]);
  assert.equal(await settled(p), false);
  h.writes[0]!.resolve();
  assert.equal(await settled(p), true);
  assert.equal(c.pending, 0, "the cut consumed the deferred count");
});

test("defer(): ops kept back and cancelled before the cut cost nothing; backpressure counts live deferred ops", async () => {
  let kept = 0;
  const box: { c?: Committer } = {};
  const h = harness({
    mode: "batched",
    maxPendingOps: 4,
    beforeFlush: () => {
      for (let i = 0; i < kept; i++) box.c!.push(op(i));
    },
  });
  const c = (box.c = h.c);
  const writes = h.writes;
  c.defer(3);
  c.defer(-3);
  assert.equal(c.pending, 0);
  assert.equal(await settled(c.commit()), true, "nothing pending: commit() resolves at once");
  kept = 4;
  c.defer(4);
  const held = c.commit();
  await turn();
  assert.equal(writes.length, 1, "4 live deferred ops reach maxPendingOps: written now, not after the interval");
  assert.equal(writes[0]!.ops.length, 4);
  assert.equal(await settled(held), false, "the publisher waits for the disk");
  writes[0]!.resolve();
  assert.equal(await settled(held), true);
});
