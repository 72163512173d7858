// Pairs each answered keepalive of an etcd lease with the time its request was sent: the fences of membership.ts
// and queues/ownership.ts count a lease alive for TTL from that send, which is no later than etcd's own expiry.
//
// etcd3's keepalive is one gRPC stream: every TTL/3 a request is written ("keepaliveFired") and etcd answers each in
// order ("keepaliveSucceeded"), so the answers match the sends first in, first out. Dating an answer from the
// latest send instead is wrong after a pause: a process stopped (SIGSTOP, a frozen VM) with an answer unread runs
// its overdue keepalive timer first when it wakes (Node's timers phase comes before the poll phase that reads the
// socket), then reads the old answer, and would date it from the new request: a fence extended by a whole TTL
// after etcd had expired the lease and another node had claimed its slots.
import type { Lease } from "etcd3";
import type { Clock } from "../util/index.ts";

/** Calls `renewed(sentAt, ttlSeconds)` for every answered keepalive of `lease`, dated from its own request. */
export function onLeaseRenewed(lease: Lease, clock: Clock, renewed: (sentAt: number, ttl: number) => void): void {
  const sent: number[] = [];
  lease.on("keepaliveFired", () => sent.push(clock.now()));
  lease.on("keepaliveSucceeded", (res) => {
    const at = sent.shift();
    if (at !== undefined) renewed(at, Number(res.TTL));
  });
  // A broken stream (etcd3 opens a new one): the requests in flight on it get no answer.
  lease.on("keepaliveFailed", () => (sent.length = 0));
}
