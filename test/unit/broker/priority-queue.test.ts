// Session queues by priority (the 5.0 user property `priority`, 0..9, default 4): highest first, FIFO within a level,
// QoS 0 evictions from the lowest level first, removeWhere/toArray in sending order; and the shared Fifo they use.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { QoS } from "../../../src/codec/index.ts";
import { createMessage } from "../../../src/broker/message.ts";
import type { Delivery } from "../../../src/broker/message.ts";
import { priorityOf } from "../../../src/broker/priority.ts";
import { EnqueueResult, SessionQueue } from "../../../src/broker/queue.ts";
import { Fifo } from "../../../src/util/index.ts";

const d = (payload: string, qos: QoS, priority?: string): Delivery => ({
  msg: createMessage(
    {
      topic: "t",
      payload: Buffer.from(payload),
      qos,
      retain: false,
      properties: priority === undefined ? undefined : { userProperties: [["priority", priority]] },
    },
    0,
  ),
  qos,
  retain: false,
  subscriptionIds: undefined,
});

const texts = (ds: (Delivery | undefined)[]): string[] => ds.map((x) => x!.msg.payload.toString());

test("priorityOf: the user property 0..9, anything else the default 4", () => {
  assert.equal(priorityOf(undefined), 4);
  assert.equal(priorityOf({ userProperties: [["a", "b"]] }), 4);
  assert.deepEqual(
    ["0", "9", "7", "10", "-1", "x", "", " 7", "4.0"].map((v) => priorityOf({ userProperties: [["priority", v]] })),
    [0, 9, 7, 4, 4, 4, 4, 4, 4],
  );
});

test("SessionQueue hands out the highest priority first, FIFO within a level", () => {
  const q = new SessionQueue({ maxMessages: 100, maxBytes: 0 });
  for (const [p, prio] of [
    ["a4", undefined],
    ["b9", "9"],
    ["c0", "0"],
    ["d9", "9"],
    ["e4", "4"],
    ["f7", "7"],
  ] as const) {
    q.push(d(p, 1, prio));
  }
  assert.equal(q.length, 6);
  assert.deepEqual(texts(q.toArray()), ["b9", "d9", "f7", "a4", "e4", "c0"]);
  assert.equal(q.peek()?.msg.payload.toString(), "b9");
  const out: string[] = [];
  q.push(d("g9", 1, "9")); // arrives while draining: still before the lower levels
  for (let x = q.shift(); x !== undefined; x = q.shift()) out.push(x.msg.payload.toString());
  assert.deepEqual(out, ["b9", "d9", "g9", "f7", "a4", "e4", "c0"]);
  assert.deepEqual([q.length, q.bytes], [0, 0]);
});

test("SessionQueue: a full queue evicts the oldest QoS 0 of the lowest level first", () => {
  const q = new SessionQueue({ maxMessages: 3, maxBytes: 0 });
  q.push(d("hi0", 0, "8"));
  q.push(d("lo0", 0, "1"));
  q.push(d("mid1", 1, "5"));
  assert.equal(q.push(d("new", 1, "2")), EnqueueResult.QueuedEvicted);
  assert.deepEqual(texts(q.takeEvicted()), ["lo0"]);
  assert.equal(q.push(d("new2", 0)), EnqueueResult.QueuedEvicted);
  assert.deepEqual(texts(q.takeEvicted()), ["hi0"], "then the next QoS 0, whatever its level");
  assert.deepEqual(texts(q.toArray()), ["mid1", "new2", "new"]);
});

test("SessionQueue: removeWhere keeps the others' order; clear empties every level", () => {
  const q = new SessionQueue({ maxMessages: 100, maxBytes: 0 });
  q.push(d("a", 1, "1"));
  q.push(d("b", 1, "9"));
  q.push(d("c", 1, "1"));
  q.push(d("d", 1, "9"));
  assert.deepEqual(texts(q.removeWhere((x) => x.msg.payload.toString() !== "c")), ["b", "d", "a"]);
  assert.deepEqual([texts(q.toArray()), q.length, q.bytes], [["c"], 1, 1]);
  q.push(d("e", 0, "9"));
  q.clear();
  assert.deepEqual([q.length, q.bytes, q.shift()], [0, 0, undefined]);
});

test("Fifo: push/shift/peek across compactions, removeFirst, removeWhere, drain", () => {
  const f = new Fifo<number>();
  for (let i = 0; i < 5000; i++) f.push(i);
  for (let i = 0; i < 3000; i++) assert.equal(f.shift(), i);
  assert.deepEqual([f.length, f.peek()], [2000, 3000]);
  assert.equal(
    f.removeFirst((x) => x % 1000 === 999),
    3999,
  );
  assert.equal(
    f.removeFirst((x) => x === 3000),
    3000,
    "at the head",
  );
  assert.equal(
    f.removeFirst((x) => x < 0),
    undefined,
  );
  assert.equal(f.removeWhere((x) => x >= 3010).length, 1989 - 0);
  assert.deepEqual([...f.drain()], [3001, 3002, 3003, 3004, 3005, 3006, 3007, 3008, 3009]);
  assert.deepEqual([f.length, f.shift(), f.peek()], [0, undefined, undefined]);
});
