import { test } from "node:test";
import assert from "node:assert/strict";
import { SubscriptionIndex, TopicError, topicMatches } from "../../../src/topics/index.ts";
import { Rng } from "../../helpers/codec-random.ts";

const SEED = Number(process.env["WHARF_TEST_SEED"] ?? Date.now() % 1_000_000);

const TOPIC_LEVELS = ["a", "b", "$x", ""] as const;
const FILTER_LEVELS = ["a", "b", "$x", "", "+"] as const;

function randomTopic(rnd: Rng): string {
  for (;;) {
    const n = 1 + rnd.int(4);
    const t = Array.from({ length: n }, () => rnd.pick(TOPIC_LEVELS)).join("/");
    if (t !== "") return t; // [MQTT-4.7.3-1] a topic name is never empty
  }
}

function randomFilter(rnd: Rng): string {
  for (;;) {
    const n = 1 + rnd.int(4);
    const levels: string[] = Array.from({ length: n }, () => rnd.pick(FILTER_LEVELS));
    if (rnd.bool(0.3)) levels[n - 1] = "#";
    const f = levels.join("/");
    if (f !== "") return f;
  }
}

type Model = Map<string, Map<string, number>>;

/**
 * topicMatches(filter, topic), asked once per pair: it is pure, and one property test below asks it ~1.1 M times for
 * ~220 k distinct pairs (692 filters, ~320 topics; seed 298008), each call splitting both strings. The two tests took
 * 1.37 (1.29-1.79) s of CPU with a call per ask and 1.00 (0.87-1.20) s with the memo (5 alternating runs, 2026-12-07).
 * The oracle's answers are the same; matchAll is still asked for every drawn topic. One memo per test, so its ~220 k
 * entries are garbage once the test ends (the unit tests share one process).
 */
type MatchMemo = Map<string, Map<string, boolean>>;
function matchesOnce(memo: MatchMemo, filter: string, topic: string): boolean {
  let byFilter = memo.get(topic);
  if (byFilter === undefined) memo.set(topic, (byFilter = new Map()));
  let m = byFilter.get(filter);
  if (m === undefined) byFilter.set(filter, (m = topicMatches(filter, topic)));
  return m;
}

function bruteForce(memo: MatchMemo, model: Model, topic: string): string[] {
  const out: string[] = [];
  for (const [filter, subs] of model) {
    if (!matchesOnce(memo, filter, topic)) continue;
    for (const [key, value] of subs) out.push(`${filter}|${key}|${value}`);
  }
  return out.sort();
}

function indexed(index: SubscriptionIndex<number>, topic: string): string[] {
  return index
    .matchAll(topic)
    .map((m) => `${m.filter}|${m.key}|${m.value}`)
    .sort();
}

function modelSize(model: Model): number {
  let n = 0;
  for (const subs of model.values()) n += subs.size;
  return n;
}

/** Trie nodes the model needs: one per distinct level prefix of its filters. */
function expectedNodes(model: Model): number {
  const prefixes = new Set<string>();
  for (const filter of model.keys()) {
    const levels = filter.split("/");
    for (let i = 1; i <= levels.length; i++) prefixes.add(levels.slice(0, i).join("/"));
  }
  return prefixes.size;
}

function checkAgainstModel(
  memo: MatchMemo,
  index: SubscriptionIndex<number>,
  model: Model,
  rnd: Rng,
  topics: number,
): void {
  assert.equal(index.size, modelSize(model));
  assert.equal(index.nodeCount, expectedNodes(model));
  // The model does not change during one check, so the brute force's answer for a topic drawn again is the one it
  // gave before (the index is still asked every time). Random topics repeat often (at most 340 distinct, short ones
  // most): the brute force over ~700 filters per topic was 1.6 of this file's ~3 s of CPU.
  const expected = new Map<string, string[]>();
  for (let i = 0; i < topics; i++) {
    const topic = randomTopic(rnd);
    let want = expected.get(topic);
    if (want === undefined) expected.set(topic, (want = bruteForce(memo, model, topic)));
    assert.deepEqual(indexed(index, topic), want, `topic ${JSON.stringify(topic)} seed ${SEED}`);
  }
}

for (const cacheSize of [0, 16]) {
  test(`property: matchAll equals brute-force topicMatches over random filters, adds and removes [MQTT-4.7] (cache ${cacheSize}, seed ${SEED})`, () => {
    const rnd = new Rng(SEED + cacheSize);
    const index = new SubscriptionIndex<number>({ cacheSize });
    const model: Model = new Map();
    const memo: MatchMemo = new Map();
    const keys = Array.from({ length: 8 }, (_, i) => `c${i}`);
    let value = 0;
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 600; i++) {
        const filter = randomFilter(rnd);
        const key = rnd.pick(keys);
        let subs = model.get(filter);
        if (subs === undefined) model.set(filter, (subs = new Map()));
        const isNew = !subs.has(key);
        subs.set(key, ++value);
        assert.equal(index.add(filter, key, value), isNew);
        // Interleave matches with mutations so that stale cache entries would be seen.
        if (i % 50 === 0) checkAgainstModel(memo, index, model, rnd, 5);
      }
      checkAgainstModel(memo, index, model, rnd, 300);
      for (let i = 0; i < 500; i++) {
        const filter = randomFilter(rnd);
        const key = rnd.pick(keys);
        const subs = model.get(filter);
        const existed = subs?.delete(key) ?? false;
        if (subs?.size === 0) model.delete(filter);
        assert.equal(index.remove(filter, key), existed);
        assert.equal(index.get(filter, key), undefined);
        if (i % 50 === 0) checkAgainstModel(memo, index, model, rnd, 5);
      }
      checkAgainstModel(memo, index, model, rnd, 300);
      for (const [filter, subs] of model) for (const [key, v] of subs) assert.equal(index.get(filter, key), v);
    }
  });
}

test("'#' matches the parent level and wildcard-first filters skip $ topics in the index [MQTT-4.7.1-2] [MQTT-4.7.2-1]", () => {
  const index = new SubscriptionIndex<string>();
  for (const f of ["#", "+", "+/#", "$SYS/#", "$SYS/+", "sport/#", "sport/+", "sport"]) index.add(f, "c", f);
  const filtersFor = (topic: string): string[] =>
    index
      .matchAll(topic)
      .map((m) => m.filter)
      .sort();
  assert.deepEqual(filtersFor("$SYS"), ["$SYS/#"]);
  assert.deepEqual(filtersFor("$SYS/load"), ["$SYS/#", "$SYS/+"]);
  assert.deepEqual(filtersFor("sport"), ["#", "+", "+/#", "sport", "sport/#"]);
  assert.deepEqual(filtersFor("sport/"), ["#", "+/#", "sport/#", "sport/+"]);
});

test("add replaces the value of an existing (filter, key) and reports whether it was new", () => {
  const index = new SubscriptionIndex<{ qos: number }>();
  assert.equal(index.add("a/+", "c1", { qos: 0 }), true);
  assert.equal(index.add("a/+", "c1", { qos: 2 }), false);
  assert.equal(index.size, 1);
  assert.deepEqual(index.get("a/+", "c1"), { qos: 2 });
  assert.deepEqual(index.matchAll("a/b"), [{ filter: "a/+", key: "c1", value: { qos: 2 } }]);
  assert.equal(index.get("a/+", "c2"), undefined);
  assert.equal(index.get("a/b", "c1"), undefined);
});

test("add rejects invalid filters with a TopicError and changes nothing [MQTT-4.7.1-2] [MQTT-4.7.1-3]", () => {
  const index = new SubscriptionIndex<number>();
  for (const bad of ["sport/tennis#", "sport/#/ranking", "a+", "", "a\u0000"]) {
    assert.throws(() => index.add(bad, "c", 1), TopicError, bad);
  }
  assert.equal(index.size, 0);
  assert.equal(index.nodeCount, 0);
});

test("remove of an unknown filter or key returns false", () => {
  const index = new SubscriptionIndex<number>();
  index.add("a/b", "c1", 1);
  assert.equal(index.remove("a/b", "c2"), false);
  assert.equal(index.remove("a", "c1"), false);
  assert.equal(index.remove("a/b/c", "c1"), false);
  assert.equal(index.remove("a/b", "c1"), true);
  assert.equal(index.remove("a/b", "c1"), false);
  assert.equal(index.size, 0);
});

test("filtersOf and removeKey cover every filter of one key and leave other keys alone", () => {
  const index = new SubscriptionIndex<number>();
  const mine = ["a/#", "a/+/c", "$SYS/#", "x", "#"];
  mine.forEach((f, i) => index.add(f, "client-1", i));
  index.add("a/#", "client-2", 100);
  index.add("$share/g", "other", 101); // a plain filter whose first level is "$share"
  index.add("a/+/c", "$share/g", 102);
  assert.deepEqual(index.filtersOf("client-1").sort(), [...mine].sort());
  assert.deepEqual(index.filtersOf("nobody"), []);
  assert.equal(index.removeKey("client-1"), mine.length);
  assert.equal(index.removeKey("client-1"), 0);
  assert.deepEqual(index.filtersOf("client-1"), []);
  assert.equal(index.size, 3);
  assert.deepEqual(
    index
      .matchAll("a/b/c")
      .map((m) => m.key)
      .sort(),
    ["$share/g", "client-2"],
  );
  // Nodes left: a, a/#, a/+, a/+/c, $share, $share/g.
  assert.equal(index.nodeCount, 6);
  index.removeKey("client-2");
  index.removeKey("other");
  index.removeKey("$share/g");
  assert.equal(index.nodeCount, 0);
  assert.equal(index.size, 0);
});

test("memory: adding then removing 10k random filters leaves no trie nodes", () => {
  const rnd = new Rng(SEED);
  const words = ["a", "b", "c", "d", "e", "", "+", "$x", "sensor", "temp"];
  const index = new SubscriptionIndex<number>({ cacheSize: 8 });
  const added: [string, string][] = [];
  while (added.length < 10_000) {
    const n = 1 + rnd.int(7);
    const levels = Array.from({ length: n }, () => (rnd.bool(0.2) ? `w${rnd.int(1000)}` : rnd.pick(words)));
    if (rnd.bool(0.2)) levels.push("#");
    const filter = levels.join("/");
    if (filter === "") continue;
    const key = `k${rnd.int(50)}`;
    if (index.add(filter, key, added.length)) added.push([filter, key]);
    if (added.length % 1000 === 0) index.matchAll(randomTopic(rnd)); // fill the cache now and then
  }
  assert.equal(index.size, 10_000);
  assert.ok(index.nodeCount > 1000, `nodeCount ${index.nodeCount}`);
  // Remove in a random order (Fisher-Yates shuffle).
  for (let i = added.length - 1; i > 0; i--) {
    const j = rnd.int(i + 1);
    [added[i], added[j]] = [added[j]!, added[i]!];
  }
  for (const [filter, key] of added) assert.equal(index.remove(filter, key), true);
  assert.equal(index.size, 0);
  assert.equal(index.nodeCount, 0);
  assert.equal(index.cachedTopics, 0);
  assert.deepEqual(index.matchAll("a/b"), []);
});

// 10k unrelated filters against 10 (2,000 of each kind below): a match whose visits grew with any kind of them would
// visit thousands of nodes more. (It used 100k: 0.7-0.9 s of CPU to build, against ~0.07 s for 10k, for the same assertion.)
test("scale: trie nodes visited by a match are the same with 10 or 10k unrelated subscriptions", () => {
  const topic = "sensors/room1/temp";
  const related = [
    "sensors/room1/temp",
    "sensors/+/temp",
    "sensors/#",
    "#",
    "+/room1/+",
    "sensors/room1/#",
    "+/+/+",
    "sensors/room1/temp/#",
    "+/#",
    "sensors/room1/+",
  ];
  const visitsFor = (index: SubscriptionIndex<number>): { visits: number; matches: string[] } => {
    const before = index.visitedNodes;
    const matches: string[] = [];
    index.match(topic, (key, _value, filter) => matches.push(`${filter}|${key}`));
    return { visits: index.visitedNodes - before, matches: matches.sort() };
  };
  const build = (unrelated: number): SubscriptionIndex<number> => {
    const index = new SubscriptionIndex<number>();
    related.forEach((f, i) => index.add(f, `c${i}`, i));
    // Unrelated filters: other first levels, siblings of every visited node, children below the matched leaf,
    // and '$' topics; none of them can match the topic.
    for (let i = 0; i < unrelated; i++) {
      switch (i % 5) {
        case 0:
          index.add(`other${i}/+/temp`, `u${i}`, i);
          break;
        case 1:
          index.add(`sensors/room${i + 2}/temp`, `u${i}`, i);
          break;
        case 2:
          index.add(`sensors/room1/t${i}`, `u${i}`, i);
          break;
        case 3:
          index.add(`sensors/room1/temp/x${i}/+`, `u${i}`, i);
          break;
        default:
          index.add(`$SYS/+/${i}`, `u${i}`, i);
      }
    }
    return index;
  };
  const small = visitsFor(build(10));
  const large = visitsFor(build(10_000));
  assert.equal(small.matches.length, related.length);
  assert.deepEqual(large.matches, small.matches);
  assert.ok(small.visits > 0);
  assert.equal(large.visits, small.visits);
});

test("match visitors must not mutate the index: add/remove/removeKey throw during a visit", () => {
  const index = new SubscriptionIndex<number>();
  index.add("a", "c1", 1);
  index.add("#", "c2", 2);
  const errors: unknown[] = [];
  index.match("a", (key) => {
    for (const op of [() => index.add("b", key, 0), () => index.remove("a", key), () => index.removeKey(key)]) {
      try {
        op();
      } catch (err) {
        errors.push(err);
      }
    }
  });
  assert.equal(errors.length, 6);
  assert.equal(index.size, 2);
  // After the visit, mutation works again (also after a visitor threw).
  assert.throws(() =>
    index.match("a", () => {
      throw new Error("boom");
    }),
  );
  assert.equal(index.remove("a", "c1"), true);
});

test("cache: hits are served without walking the trie, and any add/remove invalidates it", () => {
  const index = new SubscriptionIndex<number>({ cacheSize: 2 });
  index.add("a/+", "c1", 1);
  assert.deepEqual(index.matchAll("a/b"), [{ filter: "a/+", key: "c1", value: 1 }]);
  const visited = index.visitedNodes;
  assert.deepEqual(index.matchAll("a/b"), [{ filter: "a/+", key: "c1", value: 1 }]);
  assert.equal(index.visitedNodes, visited, "a hit walks no nodes");
  assert.equal(index.cachedTopics, 1);
  index.add("a/+", "c1", 5); // replacing a value invalidates too
  assert.equal(index.cachedTopics, 0);
  assert.deepEqual(index.matchAll("a/b"), [{ filter: "a/+", key: "c1", value: 5 }]);
  index.add("#", "c2", 6);
  assert.equal(index.matchAll("a/b").length, 2);
  index.remove("a/+", "c1");
  assert.deepEqual(index.matchAll("a/b"), [{ filter: "#", key: "c2", value: 6 }]);
  // Bounded, FIFO: the oldest cached topic is evicted, hits do not refresh.
  index.matchAll("x"); // cache: a/b, x
  index.matchAll("a/b"); // hit
  index.matchAll("y"); // evicts a/b
  assert.equal(index.cachedTopics, 2);
  const before = index.visitedNodes;
  index.matchAll("x");
  index.matchAll("y");
  assert.equal(index.visitedNodes, before, "x and y still cached");
  index.matchAll("a/b");
  assert.ok(index.visitedNodes > before, "a/b was evicted");
  assert.deepEqual(index.matchAll("a/b"), [{ filter: "#", key: "c2", value: 6 }]);
});

test("match does not overflow the call stack on filters and topics of 30k levels (valid: 60k bytes) [MQTT-4.7.3-3]", () => {
  const index = new SubscriptionIndex<number>();
  const depth = 30_000;
  index.add(Array<string>(depth).fill("+").join("/"), "plus", 1);
  index.add(Array<string>(depth).fill("a").join("/") + "/#", "hash", 2);
  index.add(Array<string>(depth).fill("a").join("/"), "exact", 3);
  const topic = Array<string>(depth).fill("a").join("/");
  assert.deepEqual(
    index
      .matchAll(topic)
      .map((m) => m.key)
      .sort(),
    ["exact", "hash", "plus"],
  );
  assert.equal(index.matchAll(topic + "/b").length, 1);
  assert.equal(index.removeKey("plus") + index.removeKey("hash") + index.removeKey("exact"), 3);
  assert.equal(index.nodeCount, 0);
});

test("a visitor may call match() again (read-only re-entrancy) and both walks stay correct", () => {
  const index = new SubscriptionIndex<number>();
  for (const f of ["a/+/c", "a/#", "+/b/+", "x/y"]) index.add(f, f, 0);
  const outer: string[] = [];
  const inner: string[] = [];
  index.match("a/b/c", (key) => {
    outer.push(key);
    index.match("x/y", (k) => inner.push(k));
  });
  assert.deepEqual(outer.sort(), ["+/b/+", "a/#", "a/+/c"]);
  assert.deepEqual(inner, ["x/y", "x/y", "x/y"]);
});
