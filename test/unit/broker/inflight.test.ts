import assert from "node:assert/strict";
import { test } from "node:test";
import { InflightWindow, MIN_CAPACITY, hash } from "../../../src/broker/inflight.ts";

interface Entry {
  readonly packetId: number;
  readonly delivery: { readonly msg: { readonly payload: Buffer } };
}

const entry = (packetId: number, bytes: number): Entry => ({
  packetId,
  delivery: { msg: { payload: Buffer.alloc(bytes) } },
});

/** A seeded generator (mulberry32): the same operations every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

for (const spread of [6, 30]) {
  test(`InflightWindow: behaves as a Map of packet id to entry (get, has, set, delete, size, insertion order, bytes) under random churn (${2 * spread} ids)`, () => {
    const rnd = random(15 + spread);
    const w = new InflightWindow<Entry>();
    const model = new Map<number, Entry>();
    const ids = [
      ...Array.from({ length: 30 }, (_, i) => i + 1),
      ...Array.from({ length: 30 }, () => 1 + Math.floor(rnd() * 65535)),
    ];
    for (let step = 0; step < 60_000; step++) {
      // Ids from a small set (consecutive ones and spread ones) so that replacing and deleting present ids is frequent
      // and the table stays small: its probe runs often wrap around its end.
      const id = ids[Math.floor(rnd() * ids.length)]!;
      if (rnd() < 0.55) {
        const e = entry(id, Math.floor(rnd() * 50));
        w.set(id, e);
        model.set(id, e);
      } else {
        assert.equal(w.delete(id), model.delete(id));
      }
      assert.equal(w.size, model.size);
      assert.equal(w.get(id), model.get(id));
      assert.equal(w.has(id), model.has(id));
      const other = ids[step % ids.length]!; // every id is looked up again every 60 steps
      assert.equal(w.get(other), model.get(other));
      if (step % 5000 === 0) {
        assert.deepEqual([...w], [...model]);
        assert.deepEqual([...w.values()], [...model.values()]);
      }
    }
    let bytes = 0;
    for (const e of model.values()) bytes += e.delivery.msg.payload.length;
    assert.equal(w.bytes, bytes);
    assert.deepEqual([...w], [...model]);
  });
}

test("InflightWindow: a FIFO window of 1,000 churned through every packet id keeps resend order and its byte count", () => {
  const w = new InflightWindow<Entry>();
  let next = 1;
  let oldest = 1;
  const nextId = (id: number): number => (id % 65535) + 1;
  for (let i = 0; i < 200_000; i++) {
    w.set(next, entry(next, 10));
    next = nextId(next);
    if (w.size > 1000) {
      assert.ok(w.delete(oldest));
      oldest = nextId(oldest);
    }
  }
  assert.equal(w.size, 1000);
  assert.equal(w.bytes, 10_000);
  const ids = [...w].map(([id]) => id);
  assert.equal(ids[0], oldest);
  for (let i = 1; i < ids.length; i++) assert.equal(ids[i], nextId(ids[i - 1]!)); // insertion order across the wrap
  assert.ok(w.hasRoom(1001, 0));
  assert.ok(!w.hasRoom(1000, 0));
  assert.ok(!w.hasRoom(2000, 10_000)); // the byte bound
});

test("InflightWindow: replacing an entry keeps its place in the order (a PUBREC moving it to the PUBREL state); entries() is a snapshot that may be deleted from while walked; clear()", () => {
  const w = new InflightWindow<Entry>();
  for (const id of [5, 3, 9, 1]) w.set(id, entry(id, 1));
  w.set(3, entry(3, 4));
  assert.deepEqual(
    [...w].map(([id]) => id),
    [5, 3, 9, 1],
  );
  assert.equal(w.bytes, 7);
  for (const [id] of w) if (id !== 9) w.delete(id);
  assert.deepEqual(
    [...w].map(([id]) => id),
    [9],
  );
  assert.equal(w.bytes, 1);
  w.clear();
  assert.equal(w.size, 0);
  assert.equal(w.bytes, 0);
  assert.equal(w.get(9), undefined);
  assert.ok(w.hasRoom(1, 1));
});

test("InflightWindow: deleting from probe runs that wrap around the table's end keeps every entry reachable", () => {
  const mask = MIN_CAPACITY - 1;
  const withHome = (slot: number, n: number): number[] => {
    const out: number[] = [];
    for (let id = 1; out.length < n; id++) if ((hash(id) & mask) === slot) out.push(id);
    return out;
  };
  const [a, b, c] = withHome(mask, 3); // slots 15, 0, 1
  const [d, e] = withHome(0, 2);
  // Run 15, 0, 1 (all at home 15): deleting 15 moves the wrapped entries back, one over the end.
  const w = new InflightWindow<Entry>();
  for (const id of [a!, b!, c!]) w.set(id, entry(id, 1));
  w.delete(a!);
  for (const id of [b!, c!]) assert.equal(w.get(id)?.packetId, id);
  // Run 15, 0, 1, 2 (homes 15, 15, 15, 0).
  const u = new InflightWindow<Entry>();
  for (const id of [a!, b!, c!, d!]) u.set(id, entry(id, 1));
  u.delete(a!);
  for (const id of [b!, c!, d!]) assert.equal(u.get(id)?.packetId, id);
  // Run 15, 0 where the entry in 0 is at home: it must not move into 15.
  const v = new InflightWindow<Entry>();
  v.set(a!, entry(a!, 1));
  v.set(e!, entry(e!, 1));
  v.delete(a!);
  assert.equal(v.get(e!)?.packetId, e);
  assert.deepEqual(
    [...v].map(([id]) => id),
    [e],
  );
});
