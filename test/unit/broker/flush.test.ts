import assert from "node:assert/strict";
import { test } from "node:test";
import { EAGER_READS, FlushScheduler, type Flushable } from "../../../src/broker/flush.ts";

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A connection that records when it was flushed and can be marked dirty like Connection does (once per flush). */
class Conn implements Flushable {
  flushes = 0;
  #scheduled = false;
  constructor(private readonly f: FlushScheduler) {}
  push(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    this.f.schedule(this);
  }
  flush(): void {
    this.#scheduled = false;
    this.flushes++;
  }
}

test("output is written at the end of the turn when no socket read is involved (one write per connection)", async () => {
  const f = new FlushScheduler();
  const a = new Conn(f);
  a.push();
  a.push();
  assert.equal(a.flushes, 0);
  await turn();
  assert.equal(a.flushes, 1);
});

test(`in a light turn each of the first ${EAGER_READS} reads writes its output at once (latency, issue #10)`, async () => {
  const f = new FlushScheduler();
  const sub = new Conn(f);
  for (let r = 1; r <= EAGER_READS; r++) {
    sub.push(); // a read delivered a message to the subscriber…
    f.afterRead(); // …and it leaves before the next socket is handled
    assert.equal(sub.flushes, r);
  }
  // A busy turn: later reads coalesce into one write at the end of the turn.
  for (let r = 0; r < 10; r++) {
    sub.push();
    f.afterRead();
  }
  assert.equal(sub.flushes, EAGER_READS);
  await turn();
  assert.equal(sub.flushes, EAGER_READS + 1);
  // The next turn counts its reads afresh.
  sub.push();
  f.afterRead();
  assert.equal(sub.flushes, EAGER_READS + 2);
});

test("the read count restarts every turn, also after turns whose reads produced no output", async () => {
  const f = new FlushScheduler();
  const sub = new Conn(f);
  for (let t = 0; t < 3; t++) {
    for (let r = 0; r < EAGER_READS + 2; r++) f.afterRead(); // e.g. PUBACKs from a subscriber: nothing to write
    await turn();
  }
  sub.push();
  f.afterRead();
  assert.equal(sub.flushes, 1);
});

test("flushAll writes everything pending at once", () => {
  const f = new FlushScheduler();
  const a = new Conn(f);
  const b = new Conn(f);
  a.push();
  b.push();
  f.flushAll();
  assert.deepEqual([a.flushes, b.flushes], [1, 1]);
});
