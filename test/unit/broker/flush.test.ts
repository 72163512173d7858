import assert from "node:assert/strict";
import { test } from "node:test";
import { EAGER_READS, FlushScheduler, type Flushable } from "../../../src/broker/flush.ts";

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * A connection that records when it was flushed and can be marked dirty like Connection does (once per flush):
 * push() a delivery (urgent), ack() an acknowledgement of the connection's own packet.
 */
class Conn implements Flushable {
  flushes = 0;
  urgent = false;
  #scheduled = false;
  constructor(
    private readonly f: FlushScheduler,
    private readonly log?: string[],
    private readonly name = "",
  ) {}
  push(): void {
    this.urgent = true;
    this.ack();
  }
  ack(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    this.f.schedule(this);
  }
  flush(): void {
    this.#scheduled = false;
    this.urgent = false;
    this.flushes++;
    this.log?.push(this.name);
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

test(`reads that deliver nothing (a subscriber's PUBACKs) do not use up the ${EAGER_READS} eager writes of a turn`, () => {
  const f = new FlushScheduler();
  const sub = new Conn(f);
  const pub = new Conn(f);
  for (let r = 0; r < EAGER_READS; r++) {
    sub.push(); // a publisher's read delivered a message…
    f.afterRead();
    sub.ack(); // …and the subscriber's PUBACKs for it were read: nothing to deliver
    f.afterRead();
  }
  assert.equal(sub.flushes, EAGER_READS, "each delivering read was written at once");
  pub.ack();
  f.afterRead();
  assert.equal(pub.flushes, 0, "an acknowledgement alone waits for the end of the turn");
});

test("flushAll writes everything pending at once", () => {
  const f = new FlushScheduler();
  const a = new Conn(f);
  const b = new Conn(f);
  a.push();
  b.ack();
  f.flushAll();
  assert.deepEqual([a.flushes, b.flushes], [1, 1]);
});

test("in a light turn the deliveries are written after each read, the publishers' PUBACKs at the end of the turn (issue #10)", async () => {
  const f = new FlushScheduler();
  const log: string[] = [];
  const sub = new Conn(f, log, "sub");
  const pubs = [0, 1, 2].map((i) => new Conn(f, log, `p${i}`));
  for (const p of pubs) {
    sub.push(); // the read of p routed a message to the subscriber…
    p.ack(); // …and answered p with a PUBACK
    f.afterRead();
  }
  assert.deepEqual(log, ["sub", "sub", "sub"], "every delivery left at once, no PUBACK yet");
  await turn();
  assert.deepEqual(log, ["sub", "sub", "sub", "p0", "p1", "p2"], "one write per publisher at the end of the turn");
});

test("a connection holding acknowledgements and a delivery is written after the read, all of it in one write", async () => {
  const f = new FlushScheduler();
  const both = new Conn(f);
  both.ack(); // its own PUBLISH was acknowledged…
  f.afterRead();
  assert.equal(both.flushes, 0);
  both.push(); // …then another client's read delivered a message to it
  f.afterRead();
  assert.equal(both.flushes, 1);
  await turn();
  assert.equal(both.flushes, 1, "nothing left for the end of the turn");
});

test("output scheduled while urgent connections are written is kept for the end of the turn", async () => {
  const f = new FlushScheduler();
  const late = new Conn(f);
  const acker = new Conn(f);
  const sub = new Conn(f);
  sub.flush = function (this: Conn): void {
    Conn.prototype.flush.call(this);
    late.ack(); // e.g. a drain that answers another connection
  };
  acker.ack();
  sub.push();
  f.afterRead();
  assert.deepEqual([sub.flushes, acker.flushes, late.flushes], [1, 0, 0]);
  await turn();
  assert.deepEqual([sub.flushes, acker.flushes, late.flushes], [1, 1, 1]);
});
