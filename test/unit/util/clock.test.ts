import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock, MAX_TIMER_DELAY_MS, systemClock } from "../../../src/util/clock.ts";

test("FakeClock fires timers in deadline order and only when advanced", () => {
  const clock = new FakeClock(0);
  const fired: string[] = [];
  clock.setTimeout(() => fired.push("b@20"), 20);
  clock.setTimeout(() => fired.push("a@10"), 10);
  const iv = clock.setInterval(() => fired.push(`i@${clock.now()}`), 15);
  clock.advance(9);
  assert.deepEqual(fired, []);
  clock.advance(21);
  assert.deepEqual(fired, ["a@10", "i@15", "b@20", "i@30"]);
  iv.cancel();
  clock.advance(100);
  assert.equal(fired.length, 4);
  assert.equal(clock.now(), 130);
});

test("FakeClock: a cancelled timeout never fires", () => {
  const clock = new FakeClock(0);
  let n = 0;
  const t = clock.setTimeout(() => n++, 5);
  t.cancel();
  clock.advance(10);
  assert.equal(n, 0);
  assert.equal(clock.pending, 0);
});

test("systemClock: a delay beyond Node's 32-bit timer range waits the whole delay (not 1 ms)", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
  const day = 86_400_000;
  let fired = 0;
  systemClock.setTimeout(() => fired++, 30 * day); // > 2^31-1 ms: Node alone would fire it after 1 ms
  t.mock.timers.tick(1000);
  assert.equal(fired, 0);
  t.mock.timers.tick(25 * day);
  assert.equal(fired, 0, "still waiting after the first chunk");
  t.mock.timers.tick(5 * day - 1001);
  assert.equal(fired, 0);
  t.mock.timers.tick(1);
  assert.equal(fired, 1);
  const cancelled = systemClock.setTimeout(() => fired++, 40 * day);
  t.mock.timers.tick(30 * day);
  cancelled.cancel(); // cancels the chunk in flight
  t.mock.timers.tick(20 * day);
  assert.equal(fired, 1);
  assert.ok(MAX_TIMER_DELAY_MS < 30 * day);
});
