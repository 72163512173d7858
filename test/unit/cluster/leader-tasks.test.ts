// Leader tasks (src/cluster/leader-tasks.ts) on a fake clock and a fake election: a task runs every interval while
// the node leads, never before it is elected, and stops at once when it is deposed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { LeaderTasks, Listeners } from "../../../src/cluster/index.ts";
import type { LeaderEvents } from "../../../src/cluster/index.ts";
import { FakeClock, silentLogger } from "../../../src/util/index.ts";

function election() {
  const events = new Listeners<LeaderEvents>(() => {});
  const e = {
    isLeader: false,
    on: <K extends keyof LeaderEvents>(kind: K, fn: (ev: LeaderEvents[K]) => void) => events.on(kind, fn),
    set(leading: boolean) {
      e.isLeader = leading;
      events.emit(leading ? "elected" : "deposed", undefined);
    },
  };
  return e;
}

test("a leader task runs every interval while the node leads, and not at all otherwise", () => {
  const clock = new FakeClock();
  const e = election();
  const tasks = new LeaderTasks(e, clock, silentLogger);
  let runs = 0;
  tasks.add("t", 1000, () => ++runs);
  tasks.add("never", 0, () => assert.fail("interval 0 never runs"));
  clock.advance(5000);
  assert.equal(runs, 0, "not the leader: never ran");
  e.set(true);
  clock.advance(3500);
  assert.equal(runs, 3);
  e.set(false);
  clock.advance(5000);
  assert.equal(runs, 3, "deposed: stopped at once");
  e.set(true);
  clock.advance(1000);
  assert.equal(runs, 4, "elected again: runs again");
  assert.deepEqual(tasks.stats().t, { intervalMs: 1000, runs: 4, starts: 2, lastResult: 4 }, "started once per term");
  assert.equal(tasks.stats().never!.starts, 0, "interval 0: never started");
  tasks.close();
  clock.advance(5000);
  assert.equal(runs, 4);
});
