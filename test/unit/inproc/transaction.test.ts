// Transactions and batches: nothing visible before commit, everything in order at commit, rollback, the timeout
// (fake clock), and the memory budget refusing a publication with a typed error.
import { test } from "node:test";
import assert from "node:assert/strict";
import { InprocError, InprocErrorCode } from "../../../src/index.ts";
import { FakeClock } from "../../../src/util/index.ts";
import { embedded, settle, take } from "./harness.ts";

test("transaction: subscribers see nothing before commit, then every message in order", async (t) => {
  const broker = await embedded(t);
  const sub = broker.subscribe("ledger/#", { qos: 1 });
  const tx = broker.transaction();
  tx.publish("ledger/debit", "-10", { qos: 1 });
  tx.publish("ledger/credit", "+10", { qos: 1 });
  await settle();
  assert.equal(sub.stats().received, 0);
  assert.deepEqual(await tx.commit(), { matched: 2, refused: 0 });
  assert.deepEqual(
    (await take(sub, 2)).map((m) => m.text()),
    ["-10", "+10"],
  );
  assert.equal(tx.state, "committed");
  await assert.rejects(
    tx.commit(),
    (e: unknown) => e instanceof InprocError && e.code === InprocErrorCode.TransactionClosed,
  );
});

test("transaction: rollback discards everything", async (t) => {
  const broker = await embedded(t);
  const sub = broker.subscribe("x");
  const tx = broker.transaction();
  tx.publish("x", "1");
  tx.rollback();
  await settle();
  assert.equal(sub.stats().received, 0);
  assert.throws(() => tx.publish("x", "2"), /already rolled-back/);
  assert.equal(broker.metrics().inproc.transactionsRolledBack, 1);
});

test("transaction: an invalid message throws at publish() and is not added", async (t) => {
  const broker = await embedded(t);
  const tx = broker.transaction();
  assert.throws(() => tx.publish("bad/#", "x"));
  assert.equal(tx.size, 0);
  tx.rollback();
});

test("transaction: not committed within its timeout, it is rolled back; commit() then rejects (fake clock)", async (t) => {
  const clock = new FakeClock();
  const broker = await embedded(t, { clock, transactionTimeout: 5000 });
  const sub = broker.subscribe("x");
  const tx = broker.transaction();
  tx.publish("x", "late");
  clock.advance(4999);
  assert.equal(tx.state, "open");
  clock.advance(1);
  assert.equal(tx.state, "timed-out");
  await assert.rejects(
    tx.commit(),
    (e: unknown) => e instanceof InprocError && e.code === InprocErrorCode.TransactionTimeout,
  );
  await settle();
  assert.equal(sub.stats().received, 0);
  const short = broker.transaction({ timeout: 10 });
  clock.advance(10);
  assert.equal(short.state, "timed-out");
  assert.equal(broker.metrics().inproc.transactionsTimedOut, 2);
});

test("publishBatch routes every entry in order", async (t) => {
  const broker = await embedded(t);
  const sub = broker.subscribe("b/#");
  const r = await broker.publishBatch([
    { topic: "b/1", payload: "one" },
    { topic: "b/2", payload: "two", qos: 1 },
    { topic: "b/3", payload: Buffer.from("three") },
  ]);
  assert.deepEqual(r, { matched: 3, refused: 0 });
  assert.deepEqual(
    (await take(sub, 3)).map((m) => m.text()),
    ["one", "two", "three"],
  );
  await assert.rejects(
    broker.publishBatch([
      { topic: "ok", payload: "" },
      { topic: "bad/+", payload: "" },
    ]),
  );
});

test("memory limit: publishes that would queue more than the budget are refused with INPROC_MEMORY_LIMIT", async (t) => {
  const broker = await embedded(t, { memoryLimit: 1000 });
  const sub = broker.subscribe("m", { bufferSize: 1000 });
  await broker.publish("m", Buffer.alloc(600));
  assert.equal(broker.metrics().memory.used, 600);
  const err = await broker.publish("m", Buffer.alloc(600)).then(
    () => assert.fail("should be refused"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof InprocError);
  assert.equal(err.code, InprocErrorCode.MemoryLimit);
  assert.equal(err.reasonCode, 0x97);
  const tx = broker.transaction();
  tx.publish("m", Buffer.alloc(300));
  tx.publish("m", Buffer.alloc(300));
  await assert.rejects(tx.commit(), /memory limit/);
  await take(sub, 1); // consumed: the budget is free again
  await broker.publish("m", Buffer.alloc(600));
  assert.equal(broker.metrics().inproc.memoryRefused, 2);
});
