// The router's per-topic plan cache (src/broker/route-cache.ts): invalidated by every subscription change, not
// used for No Local matches, bypassed while its hit rate is poor; and a routed topic sees subscription changes.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { QoS } from "../../../src/codec/index.ts";
import { createMessage, type Delivery, type Message } from "../../../src/broker/message.ts";
import { RouteCache, type RoutePlan } from "../../../src/broker/route-cache.ts";
import { LocalRouter } from "../../../src/broker/router.ts";
import type { Session, Subscription } from "../../../src/broker/session.ts";
import { Counters } from "../../../src/broker/stats.ts";
import { silentLogger } from "../../../src/util/index.ts";
import { SubscriptionIndex } from "../../../src/topics/index.ts";
import { embedded, settle } from "../inproc/harness.ts";

const plan = (): RoutePlan => ({ targets: [], groups: undefined, listeners: undefined });

test("the index version changes on add, replace and remove, and not on match", () => {
  const index = new SubscriptionIndex<number>();
  const v0 = index.version;
  index.add("a/+", "c1", 1);
  const v1 = index.version;
  assert.notEqual(v1, v0);
  index.add("a/+", "c1", 2); // replace
  const v2 = index.version;
  assert.notEqual(v2, v1);
  index.match("a/b", () => {});
  assert.equal(index.version, v2);
  index.remove("a/+", "c1");
  assert.notEqual(index.version, v2);
  const v3 = index.version;
  index.remove("a/+", "c1"); // absent: nothing changed
  assert.equal(index.version, v3);
});

test("a cached plan is returned for the same version and dropped when the version changes", () => {
  const cache = new RouteCache(4);
  const p = plan();
  assert.equal(cache.get("t", 1), undefined);
  cache.store("t", p);
  assert.equal(cache.get("t", 1), p);
  assert.equal(cache.get("t", 2), undefined);
  assert.equal(cache.size, 0);
});

test("the cache evicts its oldest topic when full", () => {
  const cache = new RouteCache(2);
  for (const t of ["a", "b", "c"]) {
    assert.equal(cache.get(t, 0), undefined);
    cache.store(t, plan());
  }
  assert.equal(cache.size, 2);
  assert.equal(cache.get("a", 0), undefined);
  assert.notEqual(cache.get("c", 0), undefined);
});

test("distinct topics make the cache bypass itself (null) and then try again", () => {
  const cache = new RouteCache(1024);
  let i = 0;
  // The first window of 1024 lookups fills the cache and is not judged; the second one (all misses) is.
  for (; i < 2048; i++) {
    const r = cache.get(`t/${i}`, 0);
    assert.equal(r, undefined, `lookup ${i}`);
    cache.store(`t/${i}`, plan());
  }
  assert.equal(cache.bypassing, true);
  assert.equal(cache.size, 0, "plans released while bypassing");
  assert.equal(cache.get("t/1", 0), null);
  cache.store("t/1", plan()); // ignored while bypassing
  assert.equal(cache.size, 0);
  for (let n = 1; n < 1024 * 64; n++) cache.get("x", 0);
  assert.equal(cache.bypassing, false);
  assert.equal(cache.get("x", 0), undefined);
});

test("a window is judged at its first miss: hits after WINDOW lookups count in it", () => {
  const cache = new RouteCache(1024);
  for (let i = 0; i < 1024; i++) cache.get(`w/${i}`, 0); // the first window: not judged
  cache.store("hot", plan());
  // 600 misses and 424 hits would be a poor window of 1024 lookups; the 2,000 hits that follow belong to it.
  for (let i = 0; i < 600; i++) cache.get(`m/${i}`, 0);
  for (let i = 0; i < 2424; i++) assert.notEqual(cache.get("hot", 0), undefined);
  assert.equal(cache.get("m/x", 0), undefined); // its first miss ends it: 2,424 of 3,025 hit
  assert.equal(cache.bypassing, false);
  // The next window: all misses, judged at its 1,024th lookup.
  for (let i = 0; i < 1023; i++) cache.get(`n/${i}`, 0);
  assert.equal(cache.bypassing, false);
  cache.get("n/last", 0);
  assert.equal(cache.bypassing, true);
});

test("a hot topic keeps hitting", () => {
  const cache = new RouteCache(16);
  cache.get("hot", 0);
  cache.store("hot", plan());
  for (let n = 0; n < 5000; n++) assert.notEqual(cache.get("hot", 0), undefined);
  assert.equal(cache.bypassing, false);
});

test("a repeatedly routed topic sees new subscriptions, unsubscriptions and shared members at once", async (t) => {
  const broker = await embedded(t);
  const got: string[] = [];
  const a = broker.subscribe("r/+", { handler: (m) => void got.push(`a:${m.text()}`) });
  for (let i = 0; i < 3; i++) await broker.publish("r/x", `${i}`);
  const b = broker.subscribe("r/#", { handler: (m) => void got.push(`b:${m.text()}`) });
  assert.equal((await broker.publish("r/x", "3")).matched, 2);
  await a.unsubscribe();
  assert.equal((await broker.publish("r/x", "4")).matched, 1);
  const s1 = broker.subscribe("$share/g/r/x", { handler: (m) => void got.push(`s1:${m.text()}`) });
  assert.equal((await broker.publish("r/x", "5")).matched, 2);
  await s1.unsubscribe();
  await b.unsubscribe();
  assert.equal((await broker.publish("r/x", "6")).matched, 0);
  await settle();
  // Order across subscriptions is unspecified (match order): compare as a sorted list.
  assert.deepEqual(got.sort(), ["a:0", "a:1", "a:2", "a:3", "b:3", "b:4", "b:5", "s1:5"]);
});

/** A LocalRouter over fake sessions that record what they are given. */
function routerWithSessions(ids: string[]): { router: LocalRouter; got: Map<string, Delivery[]>; s: Session[] } {
  const router = new LocalRouter({
    strategy: "round-robin",
    queueLimits: { maxMessages: 100, maxBytes: 0 },
    queueQos0Offline: false,
    counters: new Counters(),
    logger: silentLogger,
    now: () => 0,
    random: Math.random,
  });
  const got = new Map<string, Delivery[]>();
  const s = ids.map((clientId) => {
    got.set(clientId, []);
    return { clientId, deliver: (d: Delivery) => (got.get(clientId)!.push(d), true) } as unknown as Session;
  });
  return { router, got, s };
}

const sub = (filter: string, extra: Partial<Subscription> = {}): Subscription => ({
  filter,
  qos: 0,
  noLocal: false,
  retainAsPublished: false,
  retainHandling: 0,
  identifier: undefined,
  ...extra,
});

const msg = (topic: string, origin: string | undefined, qos: QoS = 0, retain = false): Message =>
  createMessage({ topic, payload: Buffer.from("x"), qos, retain, origin }, 0);

test("router: a No Local subscription skips its own client's messages on every repeat [MQTT-3.8.3-3]", () => {
  const { router, got, s } = routerWithSessions(["c1", "c2"]);
  router.add(s[0]!, sub("n/+", { noLocal: true }));
  router.add(s[1]!, sub("n/#"));
  for (let i = 0; i < 3; i++) {
    assert.equal(router.route(msg("n/x", "c1")).matched, 1);
    assert.equal(router.route(msg("n/x", "c2")).matched, 2);
  }
  assert.equal(got.get("c1")!.length, 3);
  assert.equal(got.get("c2")!.length, 6);
});

test("router: repeated routes keep the merged QoS, identifiers and Retain As Published per session", () => {
  const { router, got, s } = routerWithSessions(["c1", "c2", "c3"]);
  router.add(s[0]!, sub("m/+", { qos: 1, identifier: 7 }));
  router.add(s[0]!, sub("m/#", { qos: 2, identifier: 9 }));
  router.add(s[1]!, sub("m/x", { retainAsPublished: true }));
  router.add(s[2]!, sub("#"));
  for (let i = 0; i < 3; i++) router.route(msg("m/x", undefined, 2, true));
  for (const d of got.get("c1")!) {
    assert.equal(d.qos, 2);
    assert.deepEqual([...d.subscriptionIds!].sort(), [7, 9]);
  }
  for (const d of got.get("c2")!) assert.equal(d.retain, true);
  for (const d of got.get("c3")!) assert.equal(d.retain, false); // [MQTT-3.3.1-9]
  // QoS 1/2 deliveries stay one object per session and message (persistence keys on them).
  const c1 = got.get("c1")!;
  assert.equal(new Set(c1).size, 3);
});

test("router: a QoS 0 message's plain deliveries share one object; other sessions get their own", () => {
  const { router, got, s } = routerWithSessions(["c1", "c2", "c3"]);
  router.add(s[0]!, sub("q/#"));
  router.add(s[1]!, sub("q/+"));
  router.add(s[2]!, sub("q/x", { identifier: 3 }));
  router.route(msg("q/x", undefined, 1));
  const [d1, d2, d3] = ["c1", "c2", "c3"].map((c) => got.get(c)![0]!);
  assert.equal(d1, d2);
  assert.equal(d1!.qos, 0);
  assert.notEqual(d3, d1);
  assert.deepEqual(d3!.subscriptionIds, [3]);
});

test("a cache of size 0 never keeps a plan", () => {
  const cache = new RouteCache(0);
  for (let i = 0; i < 3000; i++) {
    assert.equal(cache.get("t", 0), null);
    cache.store("t", plan());
  }
  assert.equal(cache.size, 0);
});

test("the remembered last topic is forgotten with its plan: eviction and a version change", () => {
  const cache = new RouteCache(2);
  const pa = plan();
  cache.get("a", 0);
  cache.store("a", pa);
  assert.equal(cache.get("a", 0), pa, "found (and remembered)");
  for (const t of ["b", "c"]) {
    cache.get(t, 0);
    cache.store(t, plan()); // "c" evicts "a"
  }
  assert.equal(cache.get("a", 0), undefined, "an evicted topic is a miss, though it was the last one found");
  const pc = cache.get("c", 0)!;
  assert.notEqual(pc, undefined);
  assert.equal(cache.get("c", 1), undefined, "another index version: a miss");
});

test("router: results without a refusal are shared and frozen; a refusal gets its own", () => {
  const { router, s } = routerWithSessions(["c1", "c2"]);
  router.add(s[0]!, sub("r/#"));
  router.add(s[1]!, sub("r/+"));
  const a = router.route(msg("r/x", undefined));
  const b = router.route(msg("r/y", undefined));
  assert.deepEqual(a, { matched: 2, refused: 0 });
  assert.equal(a, b, "one object for the same outcome");
  assert.equal(Object.isFrozen(a), true, "a caller cannot change what the next one gets");
  router.add({ clientId: "full", deliver: () => false } as unknown as Session, sub("r/#"));
  const c = router.route(msg("r/z", undefined, 1));
  assert.deepEqual(c, { matched: 3, refused: 1 });
  assert.equal(Object.isFrozen(c), false);
});
