// A queue log's seq → message id index in pages (seq-index.ts): a Map's behaviour, seq order.
import assert from "node:assert/strict";
import { test } from "node:test";
import { SeqIndex } from "../../../src/storage/seq-index.ts";

test("get, has, set, delete and size across page boundaries; iteration in seq order", () => {
  const x = new SeqIndex();
  const seqs = [1, 2, 4095, 4096, 4097, 8191, 2 ** 40];
  for (const s of seqs) x.set(s, s * 10);
  x.set(2, 7); // replaces, size unchanged
  assert.equal(x.size, seqs.length);
  assert.equal(x.get(2), 7);
  assert.equal(x.get(3), undefined);
  assert.equal(x.has(4096), true);
  assert.deepEqual([...x.keys()], seqs);
  assert.equal(x.delete(4096), true);
  assert.equal(x.delete(4096), false);
  assert.equal(x.delete(12_345), false, "no page there");
  assert.deepEqual(
    [...x],
    [
      [1, 10],
      [2, 7],
      [4095, 40_950],
      [4097, 40_970],
      [8191, 81_910],
      [2 ** 40, 2 ** 40 * 10],
    ],
  );
  assert.throws(() => x.set(-1, 1), RangeError);
  assert.throws(() => x.set(1.5, 1), RangeError);
});

test("deleting while iterating (deletion up to a seq) and pages freed when empty", () => {
  const x = new SeqIndex();
  for (let s = 1; s <= 10_000; s++) x.set(s, s);
  for (const s of x.keys()) {
    if (s > 9000) break;
    x.delete(s);
  }
  assert.equal(x.size, 1000);
  assert.equal([...x.keys()][0], 9001);
  for (let s = 9001; s <= 10_000; s++) x.delete(s);
  assert.equal(x.size, 0);
  assert.deepEqual([...x], []);
  x.set(10_001, 5); // the next append after all went
  assert.deepEqual([...x], [[10_001, 5]]);
});

test("seqs set out of order still iterate in seq order", () => {
  const x = new SeqIndex();
  x.set(50_000, 1);
  x.set(10, 2);
  x.set(20_000, 3);
  assert.deepEqual([...x.keys()], [10, 20_000, 50_000]);
});

test("matches a Map under random appends and deletes", () => {
  const x = new SeqIndex();
  const m = new Map<number, number>();
  let seed = 11;
  const rnd = (n: number): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed % n;
  };
  let next = 1;
  for (let i = 0; i < 30_000; i++) {
    if (rnd(3) > 0) {
      x.set(next, next * 3);
      m.set(next, next * 3);
      next++;
    } else {
      const s = 1 + rnd(next);
      assert.equal(x.delete(s), m.delete(s));
    }
  }
  assert.equal(x.size, m.size);
  assert.deepEqual([...x], [...m]);
});

test("a log that keeps draining to empty: the emptied page is reused in place, pages() lists only live pages", () => {
  const x = new SeqIndex();
  let seq = 1;
  for (let round = 0; round < 3000; round++) {
    const n = 1 + (round % 4);
    const added: number[] = [];
    for (let k = 0; k < n; k++) {
      x.set(seq, seq, 1000 + seq, { s: seq % 50 });
      added.push(seq++);
    }
    assert.deepEqual([...x.keys()], added);
    assert.deepEqual(
      x.slice(0, 10).map((e) => [e.seq, e.meta]),
      added.map((s) => [s, { s: s % 50 }]),
    );
    for (const s of added) assert.equal(x.delete(s), true);
    assert.equal(x.size, 0);
    assert.deepEqual([...x.pages()], [], "an empty page left in place is not listed (the snapshot's input)");
  }
  x.set(seq, 7);
  assert.deepEqual(
    [...x.pages()].map((p) => [p.index, p.count]),
    [[Math.floor(seq / 4096), 1]],
  );
});
