// The durable slot journal (src/cluster/queues/journal.ts) over the storage layer's in-memory KV backend: what a
// restarted node finds is exactly the copies it wrote (epoch, op index, state), a new base drops the older ops, and
// the incarnation survives.
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { SlotJournal, SlotMemoryStore } from "../../../src/cluster/queues/index.ts";
import type { StoreOp } from "../../../src/cluster/queues/index.ts";
import { MemoryKv } from "../../../src/storage/index.ts";

function append(queue: string, seq: number, body: string): StoreOp {
  return {
    op: "append",
    queue,
    seq,
    record: { payload: Buffer.from(body), enqueuedAt: 1, partition: 0 } as never,
  };
}

/** Applies `op` to `store` and journals it as op `index` of `slot`. */
function write(j: SlotJournal, store: SlotMemoryStore, slot: number, index: number, op: StoreOp): void {
  store.apply(op);
  j.append(slot, index, op, store);
}

const bodies = (s: SlotMemoryStore): string[] =>
  s.load().flatMap((q) => [...q.messages].map((m) => `${q.name}:${m.seq}:${m.record!.payload.toString()}`));

describe("cluster queues: slot journal", () => {
  it("restores every copy at its epoch and index, with the same incarnation", async () => {
    const kv = new MemoryKv();
    const j = new SlotJournal(kv);
    const a = new SlotMemoryStore();
    j.reset(3, 41, 0, a);
    write(j, a, 3, 1, append("q", 1, "x"));
    write(j, a, 3, 2, append("q", 2, "y"));
    write(j, a, 3, 3, { op: "remove", queue: "q", seq: 1 });
    const b = SlotMemoryStore.from([]);
    j.reset(5, 40, 7, b); // a replica's snapshot at op 7
    write(j, b, 5, 8, append("r", 1, "z"));
    await j.flushed();
    const again = new SlotJournal(kv);
    assert.equal(again.incarnation, j.incarnation);
    const found = new Map(again.found.map((c) => [c.slot, c]));
    assert.equal(found.get(3)?.epoch, 41);
    assert.equal(found.get(3)?.index, 3);
    assert.deepEqual(bodies(found.get(3)!.store), ["q:2:y"]);
    assert.equal(found.get(5)?.epoch, 40);
    assert.equal(found.get(5)?.index, 8);
    assert.deepEqual(bodies(found.get(5)!.store), ["r:1:z"]);
  });

  it("a new base (a later epoch) replaces the older ops; a dropped copy is gone", async () => {
    const kv = new MemoryKv();
    const j = new SlotJournal(kv);
    const s = new SlotMemoryStore();
    j.reset(1, 10, 0, s);
    write(j, s, 1, 1, append("q", 1, "a"));
    write(j, s, 1, 2, append("q", 2, "b"));
    // Acquired at epoch 12: this state is the base, its ops start again at 1.
    j.reset(1, 12, 0, s);
    write(j, s, 1, 1, append("q", 3, "c"));
    const other = new SlotMemoryStore();
    j.reset(2, 9, 0, other);
    j.drop(2);
    await j.flushed();
    const found = new SlotJournal(kv).found;
    assert.deepEqual(
      found.map((c) => [c.slot, c.epoch, c.index]),
      [[1, 12, 1]],
    );
    assert.deepEqual(bodies(found[0]!.store), ["q:1:a", "q:2:b", "q:3:c"]);
  });

  it("ops after a gap are not restored (never acknowledged as one sequence)", async () => {
    const kv = new MemoryKv();
    const j = new SlotJournal(kv);
    const s = new SlotMemoryStore();
    j.reset(4, 20, 0, s);
    write(j, s, 4, 1, append("q", 1, "a"));
    write(j, s, 4, 3, append("q", 3, "c"));
    await j.flushed();
    const c = new SlotJournal(kv).found[0]!;
    assert.equal(c.index, 1);
    assert.deepEqual(bodies(c.store), ["q:1:a"]);
  });
});
