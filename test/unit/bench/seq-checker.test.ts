import assert from "node:assert/strict";
import { test } from "node:test";
import { StreamChecker, SubscriberLedger, summarizeDelivery } from "../../../bench/lib/seq-checker.ts";

test("in-order delivery: nothing lost, duplicated or reordered", () => {
  const s = new StreamChecker();
  for (let i = 0; i < 5000; i++) assert.equal(s.record(i), true);
  assert.equal(s.received, 5000);
  assert.equal(s.lost(5000), 0);
  assert.equal(s.duplicates, 0);
  assert.equal(s.reordered, 0);
  assert.equal(s.tail(5000), 0);
});

test("a duplicate is counted once and not as a new message", () => {
  const s = new StreamChecker();
  s.record(0);
  s.record(1);
  assert.equal(s.record(1), false);
  s.record(2);
  assert.equal(s.duplicates, 1);
  assert.equal(s.received, 3);
  assert.equal(s.lost(3), 0);
});

test("a message arriving after a higher one is reordered, and fills the gap", () => {
  const s = new StreamChecker();
  for (const seq of [0, 2, 3, 1, 4]) s.record(seq);
  assert.equal(s.reordered, 1);
  assert.equal(s.lost(5), 0);
  assert.equal(s.duplicates, 0);
});

test("gaps in the middle and a missing tail are both lost; tail separates them", () => {
  const s = new StreamChecker();
  for (let i = 0; i < 100; i++) if (i % 10 !== 3 && i < 90) s.record(i);
  // 9 holes (3, 13, ..., 83) plus 90..99 never arrived
  assert.equal(s.lost(100), 9 + 10);
  assert.equal(s.tail(100), 10);
  assert.equal(s.reordered, 0);
});

test("lost() counts only below `sent`; seqs at or above it are unexpected", () => {
  const s = new StreamChecker();
  for (const seq of [0, 1, 2, 7, 9]) s.record(seq);
  assert.equal(s.lost(5), 2); // 3 and 4
  assert.equal(s.unexpected(5), 2); // 7 and 9 were never sent
  assert.equal(s.lost(0), 0);
});

test("bitset grows for large sequence numbers, across byte boundaries", () => {
  const s = new StreamChecker();
  s.record(1_000_003);
  s.record(8);
  assert.equal(s.lost(1_000_004), 1_000_002);
  assert.equal(s.reordered, 1);
  for (const sent of [7, 8, 9, 15, 16, 17]) assert.equal(s.lost(sent), sent - (sent > 8 ? 1 : 0));
});

test("SubscriberLedger: messages of a stream it does not expect are stray", () => {
  const l = new SubscriberLedger([0, 2]);
  assert.equal(l.record(0, 0), true);
  assert.equal(l.record(1, 0), false);
  assert.equal(l.record(0, 0), false);
  assert.equal(l.total, 3);
  assert.equal(l.stray, 1);
});

test("summarizeDelivery: per publisher totals over fan-out (every subscriber expects every message)", () => {
  // stream 0 belongs to publisher 0 and goes to both subscribers; stream 1 (publisher 1) to subscriber 1 only.
  const a = new SubscriberLedger([0]);
  const b = new SubscriberLedger([0, 1]);
  for (let i = 0; i < 10; i++) a.record(0, i);
  for (let i = 0; i < 10; i++) if (i !== 4) b.record(0, i);
  b.record(0, 2); // duplicate
  for (const seq of [0, 2, 1]) b.record(1, seq); // one reordered, 3 of 4 (seq 3 lost at the tail)
  const { total, perPublisher } = summarizeDelivery([a, b], [10, 4], [0, 1], 2);
  assert.deepEqual(perPublisher[0], {
    publisher: 0,
    sent: 10,
    expected: 20,
    received: 19,
    lost: 1,
    lostAtTail: 0,
    duplicates: 1,
    reordered: 0,
    unexpected: 0,
  });
  assert.equal(perPublisher[1]!.lost, 1);
  assert.equal(perPublisher[1]!.lostAtTail, 1);
  assert.equal(perPublisher[1]!.reordered, 1);
  assert.equal(total.expected, 24);
  assert.equal(total.received, 22);
  assert.equal(total.lost, 2);
  assert.equal(total.stray, 0);
});
