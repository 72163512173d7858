// The argon2id verifier's scheduling and memory bounds (issue #14): SCHED_IDLE workers, escalation that races a
// starved hash on a one-job rescue lane without respawning workers, so at most threads + 1 hashes (19 MiB each) and
// `threads` worker isolates exist at once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { hashPassword } from "../../../src/server/auth/index.ts";
import { Argon2Verifier } from "../../../src/server/auth/argon2-verifier.ts";
import { FakeClock } from "../../../src/util/index.ts";
import { waitUntil } from "../../helpers/clients.ts";

let hashP: Promise<string> | undefined;
const rightHash = () => (hashP ??= hashPassword("right"));
const chrt = ["/usr/bin/chrt", "/bin/chrt"].some((p) => existsSync(p));

test("workers run under SCHED_IDLE by default (a waking event loop preempts them at once), nice 19 with priority: nice", async (t) => {
  const idle = new Argon2Verifier({ threads: 1, maxWaiting: 1 });
  const nice = new Argon2Verifier({ threads: 1, maxWaiting: 1, priority: "nice" });
  t.after(() => {
    idle.close();
    nice.close();
  });
  if (process.platform !== "linux") return;
  assert.deepEqual(await nice.workerScheduling(), { nice: 19, idle: false });
  // SCHED_IDLE needs chrt(1) (util-linux); without it the worker says it stayed at nice 19.
  assert.deepEqual(await idle.workerScheduling(), { nice: 19, idle: chrt });
  assert.equal(await idle.verify(await rightHash(), Buffer.from("right")), true);
  assert.equal(await idle.verify(await rightHash(), Buffer.from("wrong")), false);
});

/** A verifier escalating after 500 ms of a fake clock (which only moves when the test says). */
async function withFakeClock(t: { after(fn: () => void): void }, threads: number) {
  const clock = new FakeClock();
  const v = new Argon2Verifier({ threads, maxWaiting: 8, escalateAfterMs: 500, clock });
  t.after(() => v.close());
  return { clock, v, hash: await rightHash() };
}

test("an escalated worker finishes its hash and serves again: no new isolate is started for it", async (t) => {
  const { clock, v, hash } = await withFakeClock(t, 1);
  const first = v.verify(hash, Buffer.from("right"));
  clock.advance(500); // the worker is still starting: raced on the rescue lane
  assert.equal(v.escalated, 1);
  assert.equal(v.detached, 1);
  assert.equal(await first, true);
  await waitUntil(() => v.detached === 0, 20_000); // the worker got the job when it started, and finished it
  assert.equal(await v.verify(hash, Buffer.from("wrong")), false);
  assert.equal(await v.verify(hash, Buffer.from("right")), true);
  assert.equal(v.escalated, 1, "answered by the worker, not the pool");
  assert.equal(v.spawned, 1, "the same worker, not a respawned one");
});

test("escalations share one rescue lane: at most threads + 1 hashes in flight, every caller still answered right", async (t) => {
  const { clock, v, hash } = await withFakeClock(t, 2);
  const a = v.verify(hash, Buffer.from("right"));
  const b = v.verify(hash, Buffer.from("wrong"));
  clock.advance(500); // both workers starved (still starting): both raced, but the lane hashes one at a time
  assert.equal(v.detached, 2);
  assert.equal(v.escalated, 1, "the second escalation waits for the lane instead of a third concurrent hash");
  // A third verification waits for one of the two slots, then takes a free worker or, none being free, the lane.
  const c = v.verify(hash, Buffer.from("right"));
  assert.deepEqual(await Promise.all([a, b, c]), [true, false, true]);
  assert.equal(v.spawned, 2);
});
