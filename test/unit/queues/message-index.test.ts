// The compact message index (src/queues/message-index.ts): presence, fields, ascending iteration across chunk
// boundaries, deletes during iteration, chunks freed with their last message.
import assert from "node:assert/strict";
import { test } from "node:test";
import { MessageIndex } from "../../../src/queues/message-index.ts";

const add = (ix: MessageIndex, seq: number, over: { expiresAt?: number; deadLetter?: boolean } = {}): void =>
  ix.add({
    seq,
    partition: seq % 8,
    size: seq * 3,
    enqueuedAt: 1_700_000_000_000 + seq,
    expiresAt: over.expiresAt,
    deadLetter: over.deadLetter ?? false,
  });

test("message index: fields round-trip, including ms timestamps beyond 2^31 and a sparse expiry", () => {
  const ix = new MessageIndex();
  add(ix, 1);
  add(ix, 2, { expiresAt: 1_800_000_000_123, deadLetter: true });
  add(ix, 3);
  assert.equal(ix.count, 3);
  assert.deepEqual(ix.get(2), {
    seq: 2,
    partition: 2,
    size: 6,
    enqueuedAt: 1_700_000_000_002,
    expiresAt: 1_800_000_000_123,
    deadLetter: true,
  });
  assert.equal(ix.expiresAt(1), undefined);
  assert.equal(ix.expiresAt(3), undefined, "a chunk's expiry array does not give other slots an expiry");
  assert.equal(ix.isDeadLetter(1), false);
  assert.equal(ix.get(4), undefined);
  assert.ok(Number.isNaN(ix.enqueuedAt(4)));
  add(ix, 2); // already there: unchanged
  assert.equal(ix.count, 3);
  assert.equal(ix.isDeadLetter(2), true);
});

test("message index: ascending iteration over chunk boundaries, first(), deletes while iterating", () => {
  const ix = new MessageIndex();
  const seqs = [1, 2, 1023, 1024, 1025, 2047, 2048, 5000, 5001, 70_000];
  for (const s of seqs) add(ix, s);
  assert.deepEqual([...ix.seqs()], seqs);
  assert.equal(ix.first(), 1);
  const kept: number[] = [];
  for (const s of ix.seqs()) {
    if (s % 2 === 1) assert.equal(ix.delete(s), s * 3, "delete returns the size");
    else kept.push(s);
  }
  assert.deepEqual(kept, [2, 1024, 2048, 5000, 70_000]);
  assert.deepEqual([...ix.seqs()], kept);
  assert.equal(ix.delete(1), -1, "already gone");
  assert.equal(ix.first(), 2);
  ix.delete(2);
  assert.equal(ix.first(), 1024, "the first chunk went with its last message");
  for (const s of kept) ix.delete(s);
  assert.equal(ix.count, 0);
  assert.equal(ix.first(), undefined);
  add(ix, 70_001);
  assert.deepEqual([...ix.seqs()], [70_001], "a chunk is created again for a newer seq");
});

test("message index: seqs beyond 2^32 (never reused, so they only grow)", () => {
  const ix = new MessageIndex();
  const big = 2 ** 40 + 5;
  add(ix, big);
  add(ix, big + 1);
  assert.deepEqual([...ix.seqs()], [big, big + 1]);
  assert.equal(ix.partitionOf(big), big % 8);
  assert.equal(ix.first(), big);
});

test("message index: a queue that keeps emptying (chunks left in place and reused) matches a model", () => {
  const ix = new MessageIndex();
  const ref = new Map<number, number>();
  let next = 1;
  for (let round = 0; round < 5000; round++) {
    // Append a few, then settle all but (sometimes) one: the newest chunk empties again and again, across chunks.
    const n = 1 + (round % 5);
    for (let k = 0; k < n; k++, next++) {
      ix.put(next, next % 8, next % 97, 1_700_000_000_000 + next, next % 3 === 0 ? next * 10 : undefined, false);
      ref.set(next, next % 97);
    }
    for (const s of [...ref.keys()]) {
      if (round % 7 === 0 && s === next - 1) continue;
      assert.equal(ix.delete(s), ref.get(s));
      ref.delete(s);
    }
    assert.equal(ix.count, ref.size);
    assert.equal(ix.first(), ref.size === 0 ? undefined : Math.min(...ref.keys()));
    assert.deepEqual(
      [...ix.seqs()],
      [...ref.keys()].sort((a, b) => a - b),
    );
  }
  for (const [s, size] of ref) {
    assert.equal(ix.sizeOf(s), size);
    assert.equal(ix.partitionOf(s), s % 8);
    assert.equal(ix.expiresAt(s), s % 3 === 0 ? s * 10 : undefined);
  }
  assert.equal(ix.has(next - 2), false);
});
