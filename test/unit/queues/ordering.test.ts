// Partitions and ordering: hash(partition-key) % partitions, one consumer per partition at a time, rebalancing
// on join/leave without reordering a key, strict = one message in flight per group.
import assert from "node:assert/strict";
import { test } from "node:test";
import { hashKey, partitionFor } from "../../../src/queues/index.ts";
import type { QueueDelivery } from "../../../src/queues/index.ts";
import { Link, engine, pub } from "./harness.ts";

test("partition = FNV-1a(partition-key) % partitions; keyless messages are spread round robin", () => {
  assert.equal(hashKey(""), 0x811c9dc5);
  assert.equal(hashKey("a"), 0xe40c292c);
  assert.equal(partitionFor("user-1", 8, 0), hashKey("user-1") % 8);
  assert.deepEqual(
    [0, 1, 2, 3, 4].map((n) => partitionFor(undefined, 4, n)),
    [0, 1, 2, 3, 0],
  );
  const { e } = engine([{ name: "q", partitions: 8 }]);
  const a = new Link("a");
  e.join("q", undefined, a, { prefetch: 100 });
  for (let i = 0; i < 20; i++) pub(e, "q", String(i), "same-key");
  assert.equal(new Set(a.got.map((d) => d.partition)).size, 1);
  assert.equal(a.got[0]!.partitionKey, "same-key");
});

test("ordering partition: each partition is served by one consumer; partitions are spread over the group", () => {
  const { e } = engine([{ name: "q", partitions: 4, ordering: "partition" }]);
  const [a, b] = [new Link("a"), new Link("b")];
  e.join("q", undefined, a, { prefetch: 100 });
  e.join("q", undefined, b, { prefetch: 100 });
  for (let i = 0; i < 40; i++) pub(e, "q", String(i), `k${i % 10}`);
  const pa = new Set(a.got.map((d) => d.partition));
  const pb = new Set(b.got.map((d) => d.partition));
  assert.deepEqual(
    [...pa].filter((p) => pb.has(p)),
    [],
    "no partition served by both",
  );
  assert.deepEqual(
    e.info("q")!.groups[0]!.consumers.map((c) => c.partitions),
    [
      [0, 2],
      [1, 3],
    ],
  );
});

/** Runs a randomized workload with joins and leaves; checks that every key's messages are processed in order. */
function perKeyOrderUnderRebalancing(ordering: "partition" | "strict", seed: number): void {
  const { e, clock } = engine([{ name: "q", partitions: 4, ordering, deliveryTimeout: 10_000 }]);
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const links: Link[] = [];
  const consumers = new Map<Link, ReturnType<typeof e.join>>();
  const processed = new Map<string, number[]>(); // key → values in processing (ack) order
  let next = 0;
  const published = new Map<string, number[]>();
  for (let step = 0; step < 2000; step++) {
    const r = rand(10);
    if (r < 4) {
      const key = `k${rand(6)}`;
      pub(e, "q", String(next), key);
      (published.get(key) ?? published.set(key, []).get(key)!).push(next++);
    } else if (r < 8 && links.length > 0) {
      // the consumer acks its OLDEST delivery (consumers process in arrival order)
      const l = links[rand(links.length)]!;
      const d = l.got.shift();
      if (d !== undefined) {
        const res = e.ack("q", undefined, d.messageId);
        if (res.ok) {
          const key = d.partitionKey!;
          (processed.get(key) ?? processed.set(key, []).get(key)!).push(Number(d.payload.toString()));
        }
      }
    } else if (r === 8 && links.length < 4) {
      const l = new Link(`c${step}`);
      links.push(l);
      consumers.set(l, e.join("q", undefined, l, { prefetch: 1 + rand(3) }));
    } else if (r === 9 && links.length > 1) {
      const l = links.splice(rand(links.length), 1)[0]!;
      e.leave(consumers.get(l)!); // its unacked messages come back in order
      l.got.length = 0;
    }
    clock.advance(1);
  }
  // drain
  if (links.length === 0) {
    const l = new Link("last");
    links.push(l);
    consumers.set(l, e.join("q", undefined, l, { prefetch: 5 }));
  }
  for (let i = 0; i < 10_000 && e.info("q")!.depth > 0; i++) {
    for (const l of links) {
      const d: QueueDelivery | undefined = l.got.shift();
      if (d === undefined) continue;
      if (e.ack("q", undefined, d.messageId).ok) {
        const key = d.partitionKey!;
        (processed.get(key) ?? processed.set(key, []).get(key)!).push(Number(d.payload.toString()));
      }
    }
  }
  assert.equal(e.info("q")!.depth, 0);
  for (const [key, values] of published) {
    assert.deepEqual(processed.get(key), values, `key ${key} processed once each, in publish order`);
  }
}

test("ordering partition: per-key order and exactly-once processing under random joins and leaves", () => {
  for (const seed of [1, 7, 42, 1234, 99_999]) perKeyOrderUnderRebalancing("partition", seed);
});

test("ordering strict: per-key order under joins and leaves; one message in flight for the whole group", () => {
  for (const seed of [1, 7, 42]) perKeyOrderUnderRebalancing("strict", seed);
  const { e } = engine([{ name: "s", ordering: "strict", partitions: 8 }]);
  const [a, b] = [new Link("a"), new Link("b")];
  e.join("s", undefined, a, { prefetch: 10 });
  e.join("s", undefined, b, { prefetch: 10 });
  for (let i = 0; i < 5; i++) pub(e, "s", String(i), `k${i}`);
  assert.equal(a.got.length + b.got.length, 1);
  const first = [...a.got, ...b.got][0]!;
  e.ack("s", undefined, first.messageId);
  assert.equal(a.got.length + b.got.length, 2);
  assert.deepEqual([...a.texts, ...b.texts], ["0", "1"]);
});

test("ordering partition: a nacked message holds back its partition until it is redelivered", () => {
  const { e, clock } = engine([{ name: "q", partitions: 1, ordering: "partition" }]);
  const a = new Link("a");
  e.join("q", undefined, a, { prefetch: 1 });
  pub(e, "q", "1", "k");
  pub(e, "q", "2", "k");
  e.nack("q", undefined, a.take()[0]!.messageId, 1000);
  assert.equal(a.got.length, 0, "2 waits behind 1");
  clock.advance(1000);
  assert.deepEqual(a.texts, ["1"]);
});

test("ordering none: a retried message goes out before newer ones once visible", () => {
  const { e, clock } = engine();
  const a = new Link("a");
  e.join("q", undefined, a, { prefetch: 1 });
  pub(e, "q", "1");
  pub(e, "q", "2");
  e.nack("q", undefined, a.take()[0]!.messageId, 1000);
  assert.deepEqual(a.texts, ["2"], "none: others are not held back");
  e.ack("q", undefined, a.take()[0]!.messageId);
  clock.advance(1000);
  assert.deepEqual(a.texts, ["1"]);
});
