import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock } from "../../../src/util/clock.ts";

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
