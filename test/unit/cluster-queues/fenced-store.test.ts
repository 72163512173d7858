// The fenced slot store: writes pass only while the fence holds the slot at the store's epoch; refused writes
// reach neither the local store nor the replicas.
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { ClusterQueueErrorCode, FencedQueueStore } from "../../../src/cluster/queues/index.ts";
import type { StoreOp } from "../../../src/cluster/queues/index.ts";
import { MemoryQueueStore, QueueEngine } from "../../../src/queues/index.ts";
import { FakeClock, isWharfError } from "../../../src/util/index.ts";

function setup() {
  let holder = { slot: 3, epoch: 7 };
  const fence = { holds: (slot: number, epoch: number) => slot === holder.slot && epoch === holder.epoch };
  const inner = new MemoryQueueStore();
  const ops: StoreOp[] = [];
  const store = new FencedQueueStore({ slot: 3, epoch: 7, fence, inner, onWrite: (op) => ops.push(op) });
  const engine = new QueueEngine({ store, clock: new FakeClock() });
  return { engine, inner, ops, store, move: (epoch: number) => (holder = { slot: 3, epoch }) };
}

describe("cluster queues: fenced slot store", () => {
  it("passes writes through while the epoch holds and reports each as a StoreOp, in order", () => {
    const { engine, inner, ops } = setup();
    const r = engine.publish("jobs", { payload: Buffer.from("a") });
    assert.equal(r.ok, true);
    engine.join("jobs", "g", { id: "c1", send: () => undefined });
    assert.deepEqual(
      ops.map((o) => o.op),
      ["append", "putGroup", "putPending"],
    );
    const first = ops[0];
    assert.equal(first?.op === "append" && first.seq, 1);
    assert.equal([...inner.load()[0]!.messages].length, 1);
  });

  it("refuses every write once the slot's epoch moved on: CLUSTER_QUEUE_FENCED, nothing stored, nothing replicated", () => {
    const { engine, inner, ops, store, move } = setup();
    engine.publish("jobs", { payload: Buffer.from("a") });
    const before = inner.writes;
    const opsBefore = ops.length;
    move(9); // a later owner claimed the slot (a larger etcd revision)
    assert.throws(
      () => engine.publish("jobs", { payload: Buffer.from("b") }),
      (e: unknown) => isWharfError(e) && e.code === ClusterQueueErrorCode.Fenced && e.reasonCode === 0x83,
    );
    assert.throws(
      () => engine.purge("jobs"),
      (e: unknown) => isWharfError(e) && e.code === ClusterQueueErrorCode.Fenced,
    );
    assert.equal(inner.writes, before);
    assert.equal(ops.length, opsBefore);
    assert.equal(store.refused, 2);
    assert.equal([...inner.load()[0]!.messages].length, 1);
  });

  it("dates an accepted write from before its fence check, never from after (a process stopped in between)", () => {
    // The fence's answer takes 5 s of the clock: what a SIGSTOP between the approval and a later clock read looks
    // like. Each write's time must be the one read before the check: the process tests compare it with the resume.
    const clock = new FakeClock(1_000);
    const fence = {
      holds: () => {
        clock.advance(5_000);
        return true;
      },
    };
    const store = new FencedQueueStore({
      slot: 3,
      epoch: 7,
      fence,
      inner: new MemoryQueueStore(),
      now: () => clock.now(),
    });
    store.append("jobs", { payload: Buffer.from("a"), enqueuedAt: 0 });
    assert.equal(store.firstWriteAt, 1_000);
    assert.equal(store.lastWriteAt, 1_000);
    store.putGroup("jobs", "g", { floor: 0, createdAt: 0 });
    assert.equal(store.firstWriteAt, 1_000);
    assert.equal(store.lastWriteAt, 6_000);
    assert.equal(store.accepted, 2);
    assert.equal(clock.now(), 11_000);
  });
});
