// Put/remove elision within one batch (src/storage/elide.ts): a write undone before its batch is cut never
// reaches the backend, and the committed state is exactly what it would have been.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Committer } from "../../../src/storage/committer.ts";
import { StorageEngine } from "../../../src/storage/engine.ts";
import { InflightState, MemoryKv } from "../../../src/storage/index.ts";
import { Space } from "../../../src/storage/keys.ts";
import type { KvBackend, KvOp } from "../../../src/storage/kv.ts";
import { FakeClock } from "../../../src/util/clock.ts";
import { QOS1, inflight, message } from "../../helpers/storage-fixtures.ts";

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

test("committer: a cancelled op is not written; a batch cancelled entirely resolves without a write", async () => {
  const writes: (readonly KvOp[])[] = [];
  const c = new Committer({
    mode: "sync",
    batchIntervalMs: 10,
    maxPendingOps: 1000,
    clock: new FakeClock(0),
    path: undefined,
    write: (ops) => {
      writes.push(ops);
      return Promise.resolve();
    },
    beforeFlush: () => undefined,
  });
  const op = (n: number): KvOp => ({ space: Space.Queue, key: ["c", n], value: n });
  const gen = c.generation;
  c.push(op(1));
  const middle = c.push(op(2));
  c.push(op(3));
  c.cancel(middle);
  await c.commit();
  assert.deepEqual(writes, [[op(1), op(3)]]);
  assert.equal(c.generation, gen + 1, "cutting a batch starts a new generation");
  c.cancel(c.push(op(4)));
  await c.commit();
  await turn();
  assert.equal(writes.length, 1, "nothing left to write");
  assert.equal(c.ops, 2);
});

/** A memory backend that records every op written. */
class RecordingKv extends MemoryKv implements KvBackend {
  readonly written: KvOp[] = [];
  override write(ops: readonly KvOp[]): Promise<void> {
    this.written.push(...ops);
    return super.write(ops);
  }
}

async function open() {
  const kv = new RecordingKv();
  const store = await StorageEngine.open(kv, { durability: "sync", clock: new FakeClock() });
  kv.written.length = 0; // the schema key written at creation
  return { kv, store };
}

test("a message queued and dequeued in the same batch: nothing written, state as if it never was", async () => {
  const { kv, store } = await open();
  const id = store.messages.store(message(1));
  const seq = store.sessions.enqueue("a", id, QOS1);
  assert.equal(store.sessions.dequeue("a", seq), true);
  await store.flush();
  assert.deepEqual(kv.written, []);
  assert.deepEqual(store.loadAll().messages, new Map());
  assert.equal(store.verify().ok, true);
});

test("QoS 1 sent and acknowledged within a batch: body, inflight entry and refcount never written", async () => {
  const { kv, store } = await open();
  const id = store.messages.store(message(1));
  store.sessions.putInflight("a", inflight(7, id));
  store.sessions.put({ clientId: "a", protocolVersion: 4, expiryInterval: 60, lastSeen: 0 });
  store.sessions.removeInflight("a", 7);
  await store.flush();
  assert.deepEqual(
    kv.written.map((o) => o.space),
    [Space.Session],
  );
  assert.equal(store.verify().ok, true);
});

test("across batches nothing is elided: the removal of a committed entry is written", async () => {
  const { kv, store } = await open();
  const id = store.messages.store(message(1));
  store.sessions.putInflight("a", inflight(7, id));
  await store.flush();
  kv.written.length = 0;
  store.sessions.removeInflight("a", 7);
  await store.flush();
  // A count of 1 has no record (refs.ts): only the entry and the body are removed.
  assert.deepEqual(kv.written.map((o) => [o.space, "remove" in o]).sort(), [
    [Space.Inflight, true],
    [Space.Message, true],
  ]);
  assert.equal(store.loadAll().sessions.length, 0);
});

test("replacing a committed inflight entry then removing it in one batch keeps the removal", async () => {
  const { kv, store } = await open();
  const first = store.messages.store(message(1));
  store.sessions.putInflight("a", inflight(9, first, { qos: 2, state: InflightState.AwaitPubrec }));
  await store.flush();
  kv.written.length = 0;
  store.sessions.setInflightState("a", 9, InflightState.AwaitPubcomp); // a put over the committed key...
  store.sessions.removeInflight("a", 9); // ...cancelled, but the committed key must still go
  await store.flush();
  assert.ok(kv.written.some((o) => o.space === Space.Inflight && "remove" in o));
  assert.ok(!kv.written.some((o) => o.space === Space.Inflight && !("remove" in o)), "the put was dropped");
  assert.deepEqual(store.loadAll().sessions, []);
  assert.equal(store.verify().ok, true);
});

test("fan-out: one of two references released within the batch; the body and the other reference are written", async () => {
  const { store } = await open();
  const id = store.messages.store(message(1));
  store.sessions.enqueue("a", id, QOS1);
  const seqB = store.sessions.enqueue("b", id, QOS1);
  store.sessions.dequeue("b", seqB);
  await store.flush();
  const snapshot = store.loadAll();
  assert.equal(snapshot.messages.size, 1);
  assert.deepEqual(
    snapshot.sessions.map((s) => [s.clientId, s.queue.length]),
    [["a", 1]],
  );
  assert.equal(store.verify().ok, true);
});

test("inbound QoS 2 id added and released within a batch is never written; a committed one's release is", async () => {
  const { kv, store } = await open();
  store.sessions.addInboundQos2("p", 5);
  store.sessions.removeInboundQos2("p", 5);
  await store.flush();
  assert.equal(kv.written.length, 0);
  store.sessions.addInboundQos2("p", 6);
  await store.flush();
  store.sessions.removeInboundQos2("p", 6);
  await store.flush();
  assert.deepEqual(
    kv.written.map((o) => [o.space, "remove" in o]),
    [
      [Space.Inbound, false],
      [Space.Inbound, true],
    ],
  );
});
