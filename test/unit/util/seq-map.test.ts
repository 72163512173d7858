// SeqMap (src/util/seq-map.ts): a Map of dense positive integer keys in pages of 1,024 slots.
import assert from "node:assert/strict";
import { test } from "node:test";
import { SeqMap } from "../../../src/util/seq-map.ts";

test("get, has, set, delete and size across page boundaries; iteration in ascending key order", () => {
  const m = new SeqMap<string>();
  for (const k of [5000, 1, 1023, 1024, 2047, 0]) m.set(k, `v${k}`);
  m.set(1, "one"); // replaces: size unchanged
  assert.equal(m.size, 6);
  assert.equal(m.get(1), "one");
  assert.equal(m.get(2), undefined);
  assert.equal(m.has(1024), true);
  assert.deepEqual([...m.keys()], [0, 1, 1023, 1024, 2047, 5000]);
  assert.deepEqual([...m.values()], ["v0", "one", "v1023", "v1024", "v2047", "v5000"]);
  assert.equal(m.delete(1024), true);
  assert.equal(m.delete(1024), false);
  assert.equal(m.delete(99_999), false, "a key on a page that does not exist");
  assert.equal(m.size, 5);
  const seen: [number, string][] = [];
  m.forEach((v, k) => seen.push([k, v]));
  assert.deepEqual(seen, [...m.entries()]);
  assert.deepEqual(seen, [
    [0, "v0"],
    [1, "one"],
    [1023, "v1023"],
    [2047, "v2047"],
    [5000, "v5000"],
  ]);
  m.clear();
  assert.equal(m.size, 0);
  assert.deepEqual([...m], []);
  m.set(7, "again");
  assert.deepEqual([...m], [[7, "again"]]);
});

test("deleting while iterating; pages emptied and filled again; bad keys refused", () => {
  const m = new SeqMap<number>();
  for (let k = 1; k <= 3000; k++) m.set(k, k * 2);
  for (const k of m.keys()) if (k % 2 === 0) m.delete(k);
  assert.equal(m.size, 1500);
  m.forEach((_, k) => {
    if (k > 1000) m.delete(k);
  });
  assert.deepEqual([...m.keys()].slice(-2), [997, 999]);
  for (let k = 1; k <= 1000; k++) m.delete(k);
  assert.equal(m.size, 0);
  for (let k = 4096; k < 4100; k++) m.set(k, k); // reuses an emptied page
  assert.deepEqual([...m.keys()], [4096, 4097, 4098, 4099]);
  assert.equal(m.get(1), undefined, "the reused page holds nothing of its previous keys");
  assert.throws(() => m.set(-1, 0), RangeError);
  assert.throws(() => m.set(1.5, 0), RangeError);
});

test("matches a Map under random sets and deletes", () => {
  const m = new SeqMap<number>();
  const ref = new Map<number, number>();
  let seed = 7;
  const rnd = (n: number): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed % n;
  };
  for (let i = 0; i < 20_000; i++) {
    const k = rnd(6000);
    if (rnd(3) === 0) assert.equal(m.delete(k), ref.delete(k));
    else {
      m.set(k, i);
      ref.set(k, i);
    }
    if (i % 97 === 0) {
      const low = Math.min(...ref.keys());
      assert.deepEqual(m.first(), ref.size === 0 ? undefined : [low, ref.get(low)], "first() is the smallest key");
    }
  }
  assert.equal(m.size, ref.size);
  for (const k of [...ref.keys()]) m.delete(k);
  assert.equal(m.first(), undefined, "first() of an emptied map");
  for (const [k, v] of ref) m.set(k, v);
  assert.deepEqual(
    [...m],
    [...ref].sort((a, b) => a[0] - b[0]),
  );
});

test("a sliding window of keys (a group's settled seqs, deliveries in flight) matches a Map, first() included", () => {
  const m = new SeqMap<number>();
  const ref = new Map<number, number>();
  for (let k = 1; k <= 10_000; k++) {
    m.set(k, k);
    ref.set(k, k);
    // Entries live 0..63 keys: the map empties and refills pages, one of them left in place while empty.
    const gone = k - (k % 64);
    if (gone > 0 && ref.delete(gone)) m.delete(gone);
    if (k % 7 === 0) {
      for (const old of [...ref.keys()].filter((x) => x < k - 30)) {
        ref.delete(old);
        assert.equal(m.delete(old), true);
      }
    }
    const low = ref.size === 0 ? undefined : Math.min(...ref.keys());
    assert.deepEqual(m.first(), low === undefined ? undefined : [low, low]);
  }
  assert.equal(m.size, ref.size);
  assert.deepEqual(
    [...m],
    [...ref].sort((a, b) => a[0] - b[0]),
  );
});
