// One timer for a subscription's ack timeouts (ack-deadlines.ts): messages expire in hand-out order, settled ones are
// skipped, and the number of armed timers never grows with the number of messages.
import { test } from "node:test";
import assert from "node:assert/strict";
import { AckDeadlines } from "../../../src/inproc/ack-deadlines.ts";
import { FakeClock } from "../../../src/util/index.ts";

class Item {
  settled = false;
  deadline = 0;
  constructor(readonly id: number) {}
}

test("ack deadlines: one timer, expiry in hand-out order, settled messages skipped", () => {
  const clock = new FakeClock();
  const expired: number[] = [];
  const d = new AckDeadlines<Item>(clock, 1000, (x) => expired.push(x.id));
  const items = Array.from({ length: 1000 }, (_, i) => new Item(i));
  for (const [i, it] of items.entries()) {
    if (i === 500) clock.advance(300); // the second half is due 300 ms later
    d.add(it);
  }
  assert.equal(clock.pending, 1, "one timer for 1000 messages");
  for (const it of items.slice(0, 10)) it.settled = true; // acked in order: dropped from the head at once
  d.settled();
  assert.equal(d.length, 990);
  items[20]!.settled = true; // out of order: skipped when due
  clock.advance(699);
  assert.deepEqual(expired, []);
  clock.advance(1);
  assert.equal(expired.length, 489, "messages 10..499 except 20");
  assert.deepEqual([expired[0], expired[9], expired[10], expired.at(-1)], [10, 19, 21, 499]);
  assert.equal(clock.pending, 1, "re-armed for the second half");
  clock.advance(300);
  assert.equal(expired.length, 989);
  assert.deepEqual([d.length, clock.pending], [0, 0]);
  d.add(new Item(1000));
  d.clear();
  assert.equal(clock.pending, 0);
});
