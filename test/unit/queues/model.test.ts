// The queue engine under random operations (publish, ack, nack, reject, delivery timeouts, consumers joining and
// leaving) against invariants: each message in flight is held by exactly one consumer, the consumers' in-flight
// views (Consumer.inflight) agree with the group's counts and with what each consumer was sent and has not settled,
// no consumer holds more than its prefetch, and after a final drain every message was acked exactly once (or is in
// the DLQ) and the queue is empty.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Consumer } from "../../../src/queues/consumer.ts";
import type { QueueConfigEntry } from "../../../src/queues/index.ts";
import { Link, engine, pub } from "./harness.ts";

function rng(seed: number): (n: number) => number {
  let s = seed;
  return (n) => {
    s = (s * 1_103_515_245 + 12_345) % 2 ** 31;
    return s % n;
  };
}

for (const ordering of ["none", "partition", "strict"] as const) {
  test(`random operations keep the in-flight bookkeeping consistent (ordering ${ordering})`, () => {
    const config: QueueConfigEntry[] = [
      {
        name: "q",
        ordering,
        partitions: ordering === "strict" ? 1 : 4,
        deliveryTimeout: 500,
        retry: { maxRetries: 3, initialBackoff: 100, maxBackoff: 400 },
      },
    ];
    const { e, clock } = engine(config);
    const rnd = rng(ordering.length * 7919);
    const members: { link: Link; consumer: Consumer; prefetch: number }[] = [];
    /** seq → the link it was last sent to and not settled by the test. */
    const held = new Map<number, Link>();
    const acked = new Set<number>();
    let published = 0;
    const join = (i: number): void => {
      const link = new Link(`c${i}`);
      const prefetch = 1 + rnd(40);
      members.push({ link, consumer: e.join("q", undefined, link, { prefetch }), prefetch });
    };
    const collect = (): void => {
      for (const m of members) for (const d of m.link.take()) held.set(d.seq, m.link);
    };
    for (let i = 0; i < 3; i++) join(i);
    for (let step = 0; step < 6000; step++) {
      const op = rnd(100);
      if (op < 40) {
        pub(e, "q", String(published++), rnd(3) === 0 ? undefined : `k${rnd(10)}`);
      } else if (op < 75 && held.size > 0) {
        const seqs = [...held.keys()];
        const seq = seqs[rnd(seqs.length)]!;
        const kind = rnd(10);
        const r =
          kind < 7
            ? e.ack("q", undefined, seq)
            : kind < 9
              ? e.nack("q", undefined, seq)
              : e.reject("q", undefined, seq);
        assert.equal(r.ok, true, `settle ${seq}`);
        if (kind < 7) {
          assert.equal(acked.has(seq), false, `acked twice: ${seq}`);
          acked.add(seq);
        }
        held.delete(seq);
      } else if (op < 85) {
        clock.advance(1 + rnd(300)); // some deliveries time out, retries come due
      } else if (op < 90 && members.length > 1) {
        const [m] = members.splice(rnd(members.length), 1);
        e.leave(m!.consumer);
        for (const [seq, l] of held) if (l === m!.link) held.delete(seq);
      } else if (op < 95 && members.length < 6) join(step);
      collect();
      // A delivery that timed out may have gone to someone else: the test's view follows the latest send, and a
      // seq no longer in flight with its holder is not the test's to settle any more.
      for (const [seq, l] of held) {
        const m = members.find((x) => x.link === l);
        if (m === undefined || !m.consumer.inflight.has(seq)) held.delete(seq);
      }
      let total = 0;
      const owner = new Map<number, string>();
      for (const m of members) {
        const seqs = [...m.consumer.inflight];
        assert.equal(seqs.length, m.consumer.inflight.size, "size agrees with iteration");
        assert.ok(m.consumer.inflight.size <= m.prefetch, "within prefetch");
        for (const s of seqs) {
          assert.equal(owner.has(s), false, `seq ${s} held by two consumers`);
          owner.set(s, m.link.id);
          assert.equal(m.consumer.inflight.has(s), true);
        }
        total += seqs.length;
      }
      assert.equal(e.info("q")!.groups[0]!.inflight, total, "group count = sum of the consumers'");
      for (const [seq, l] of held) assert.equal(owner.get(seq), l.id);
    }
    // Drain: ack whatever arrives until nothing is left (retries and timeouts run on the fake clock).
    for (let round = 0; round < 2000 && e.info("q")!.depth > 0; round++) {
      collect();
      for (const [seq] of held) {
        if (e.ack("q", undefined, seq).ok) {
          assert.equal(acked.has(seq), false, `acked twice: ${seq}`);
          acked.add(seq);
        }
        held.delete(seq);
      }
      clock.advance(100);
    }
    assert.equal(e.info("q")!.depth, 0, "drained");
    const dlq = e.list().find((q) => q.name !== "q");
    assert.equal(acked.size + (dlq?.depth ?? 0), published, "every message acked once or dead-lettered");
  });
}
