import { test } from "node:test";
import assert from "node:assert/strict";
import { TombstoneMap } from "../../../src/topics/tombstone-map.ts";

test("TombstoneMap behaves like a Map under random set/delete churn, sweeps included", () => {
  const m = new TombstoneMap<string, number>();
  const ref = new Map<string, number>();
  let seed = 7;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return Math.floor((seed / 2147483648) * n);
  };
  for (let i = 0; i < 20_000; i++) {
    // A skewed key space: a few hot keys churn, many cold ones come and go (forcing sweeps).
    const key = rnd(4) === 0 ? `hot${rnd(3)}` : `k${rnd(500)}`;
    if (rnd(2) === 0) {
      m.set(key, i);
      ref.set(key, i);
    } else {
      assert.equal(m.delete(key), ref.delete(key), key);
    }
    assert.equal(m.get(key), ref.get(key));
    assert.equal(m.size, ref.size);
  }
  assert.deepEqual(new Map(m.entries()), ref);
  for (const key of [...ref.keys()]) m.delete(key);
  assert.equal(m.size, 0);
  assert.deepEqual([...m.entries()], []);
});

test("TombstoneMap: re-adding a deleted key and deleting a missing key", () => {
  const m = new TombstoneMap<string, string>();
  assert.equal(m.delete("a"), false);
  m.set("a", "1");
  assert.equal(m.delete("a"), true);
  assert.equal(m.delete("a"), false);
  assert.equal(m.get("a"), undefined);
  assert.equal(m.size, 0);
  m.set("a", "2");
  m.set("a", "3");
  assert.equal(m.size, 1);
  assert.equal(m.get("a"), "3");
});
