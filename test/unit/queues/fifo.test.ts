// A partition's ready list (src/queues/fifo.ts SeqList, a ring): ascending order, no duplicates, O(1) ends, inserts
// and removals in the middle, wrap-around and growth, against a sorted array.
import assert from "node:assert/strict";
import { test } from "node:test";
import { SeqList } from "../../../src/queues/fifo.ts";

test("SeqList matches a sorted array under appends, shifts, inserts and removals (wrapping and growing)", () => {
  const list = new SeqList();
  const ref: number[] = [];
  let seed = 11;
  const rnd = (n: number): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed % n;
  };
  let next = 2 ** 33; // seqs past 2^32
  for (let i = 0; i < 30_000; i++) {
    const op = rnd(10);
    if (op < 4) {
      list.insert(next);
      ref.push(next++);
    } else if (op < 7) {
      assert.equal(list.shift(), ref.shift());
    } else if (op < 8 && ref.length > 0) {
      const s = ref[rnd(ref.length)]!;
      assert.equal(list.remove(s), true);
      ref.splice(ref.indexOf(s), 1);
      assert.equal(list.remove(s), false, "already gone");
    } else {
      // A seq given back (below the newest): lands in order; one already there is not added twice.
      const s = next - 1 - rnd(200);
      const had = ref.includes(s);
      list.insert(s);
      if (!had) {
        ref.push(s);
        ref.sort((a, b) => a - b);
      }
    }
    assert.equal(list.length, ref.length);
    assert.equal(list.peek(), ref[0]);
    if (i % 499 === 0) assert.deepEqual(list.toArray(), ref);
  }
  while (ref.length > 0) assert.equal(list.shift(), ref.shift());
  assert.equal(list.shift(), undefined);
  assert.equal(list.length, 0);
});

test("SeqList: a backlog drained to empty gives its ring back and works on", () => {
  const list = new SeqList();
  for (let s = 1; s <= 100_000; s++) list.insert(s);
  for (let s = 1; s <= 100_000; s++) assert.equal(list.shift(), s);
  list.insert(7);
  list.insert(5);
  list.insert(6);
  assert.deepEqual(list.toArray(), [5, 6, 7]);
});
