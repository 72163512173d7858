// Reference counts: a count of 1 as one bit of a paged bitset, other counts in a Map (ref-counts.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import { RefCounts } from "../../../src/storage/ref-counts.ts";

function contents(r: RefCounts): [number, number][] {
  return [...r].sort((a, b) => a[0] - b[0]);
}

test("counts of 1 and more, across page boundaries and every bit of a word", () => {
  const r = new RefCounts();
  const ids = [0, 1, 31, 32, 63, 65_535, 65_536, 65_567, 2 ** 31, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER];
  for (const id of ids) r.increment(id);
  assert.equal(r.size, ids.length);
  for (const id of ids) assert.equal(r.get(id), 1, `id ${id}`);
  assert.equal(r.get(2), undefined);
  assert.equal(r.has(30), false);
  r.increment(31);
  r.increment(31);
  assert.equal(r.get(31), 3);
  assert.equal(r.size, ids.length);
  assert.deepEqual(
    contents(r),
    ids.map((id) => [id, id === 31 ? 3 : 1]),
  );
  r.set(31, 1); // back to 1: a bit again
  assert.equal(r.get(31), 1);
  assert.equal(r.delete(65_536), true);
  assert.equal(r.delete(65_536), false);
  assert.equal(r.get(65_536), undefined);
  assert.equal(r.size, ids.length - 1);
});

test("a page is freed when its last bit goes, and reused after", () => {
  const r = new RefCounts();
  for (let id = 100_000; id < 100_100; id++) r.increment(id);
  for (let id = 100_000; id < 100_100; id++) assert.equal(r.delete(id), true);
  assert.equal(r.size, 0);
  assert.deepEqual(contents(r), []);
  r.increment(100_050);
  assert.deepEqual(contents(r), [[100_050, 1]]);
});

test("ids the bitset cannot hold (corrupt input) are counted in the map", () => {
  const r = new RefCounts();
  for (const id of [-1, 1.5, 2 ** 60]) {
    r.increment(id);
    r.increment(id);
    r.delete(id);
    r.increment(id);
    assert.equal(r.get(id), 1, `id ${id}`);
  }
  assert.equal(r.size, 3);
});

test("matches a Map under random operations", () => {
  const r = new RefCounts();
  const m = new Map<number, number>();
  let seed = 7;
  const rnd = (n: number): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed % n;
  };
  for (let i = 0; i < 20_000; i++) {
    const id = rnd(200_000);
    const op = rnd(3);
    if (op === 0) {
      r.increment(id);
      m.set(id, (m.get(id) ?? 0) + 1);
    } else if (op === 1) assert.equal(r.delete(id), m.delete(id));
    else assert.equal(r.get(id), m.get(id));
  }
  assert.equal(r.size, m.size);
  assert.deepEqual(
    contents(r),
    [...m].sort((a, b) => a[0] - b[0]),
  );
});
