// onLeaseRenewed (src/cluster/lease-renewals.ts): each keepalive answer is dated from its own request, first in,
// first out, so a fence never outlives etcd's expiry of the lease; time on a FakeClock, the lease an EventEmitter
// standing in for etcd3's (the same three events, emitted in the order its one keepalive stream produces them).
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import type { Lease } from "etcd3";
import { onLeaseRenewed } from "../../../src/cluster/lease-renewals.ts";
import { FakeClock } from "../../../src/util/index.ts";

function setup() {
  const clock = new FakeClock(0);
  const lease = new EventEmitter();
  const renewals: { sentAt: number; ttl: number }[] = [];
  onLeaseRenewed(lease as unknown as Lease, clock, (sentAt, ttl) => renewals.push({ sentAt, ttl }));
  const fire = () => lease.emit("keepaliveFired");
  const answer = (ttl = 3) => lease.emit("keepaliveSucceeded", { TTL: String(ttl) });
  return { clock, lease, renewals, fire, answer };
}

test("an answer is dated from the request it answers, in order", () => {
  const { clock, renewals, fire, answer } = setup();
  fire();
  clock.advance(1000);
  fire();
  clock.advance(5);
  answer();
  answer(2);
  assert.deepEqual(renewals, [
    { sentAt: 0, ttl: 3 },
    { sentAt: 1000, ttl: 2 },
  ]);
});

test("after a pause, an old answer read after the overdue request is dated from the old request (SIGSTOP fencing)", () => {
  const { clock, renewals, fire, answer } = setup();
  // Sent at 0; etcd answered at once, but the process was stopped before it read the answer.
  fire();
  clock.advance(5000); // stopped past the 3 s lease
  // Woken: the overdue keepalive timer runs before the poll phase reads the old answer.
  fire();
  answer();
  assert.deepEqual(renewals, [{ sentAt: 0, ttl: 3 }], "dated 0: a 3 s fence from it has ended at 3000 < 5000");
});

test("a broken stream's requests get no answer: later answers are not dated from them", () => {
  const { clock, lease, renewals, fire, answer } = setup();
  fire();
  lease.emit("keepaliveFailed", {});
  clock.advance(2000);
  fire();
  answer();
  assert.deepEqual(renewals, [{ sentAt: 2000, ttl: 3 }]);
});

test("an answer with no request seen (listener attached late) renews nothing", () => {
  const { renewals, answer } = setup();
  answer();
  assert.deepEqual(renewals, []);
});
