import assert from "node:assert/strict";
import { test } from "node:test";
import {
  QUICK_IDS,
  WILDCARD,
  allSpecs,
  buildTopology,
  selectSpecs,
  FAMILIES,
} from "../../../bench/scenarios/catalog.ts";

/**
 * MQTT filter matching (4.7), written independently of Wharf's topics layer, on levels split once: the test below
 * matches ~4 M filter/topic pairs, and splitting both strings per pair was 1.8 s of the unit shard's CPU.
 */
function matches(f: readonly string[], t: readonly string[]): boolean {
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

test("every topology routes each topic to exactly the subscribers it declares", () => {
  for (const family of FAMILIES) {
    const topo = buildTopology(family);
    const filterLevels = topo.subscribers.map((filters) => filters.map((f) => f.split("/")));
    const streamIds = new Set<number>();
    for (const topics of topo.publishers) {
      for (const [k, t] of topics.entries()) {
        assert.ok(!streamIds.has(t.streamId), `${family}: stream ${t.streamId} used twice`);
        streamIds.add(t.streamId);
        // 40,000 wildcard topics x 10,000 filters is too many pairs: match a spread sample of topics.
        if (topics.length > 100 && k % 101 !== 0) continue;
        const topicLevels = t.topic.split("/");
        const receivers = filterLevels.flatMap((filters, s) => {
          const n = filters.filter((f) => matches(f, topicLevels)).length;
          assert.ok(n <= 1, `${family}: ${t.topic} matches ${n} filters of subscriber ${s} (overlap)`);
          return n === 1 ? [s] : [];
        });
        assert.deepEqual(receivers, [...t.subscribers], `${family}: ${t.topic}`);
      }
    }
    assert.equal(streamIds.size, topo.streamCount);
  }
});

test("shapes match issue #6: 4→1, 1→50, 50 pairs, 10 subscribers × 1,000 wildcard filters", () => {
  const fanIn = buildTopology("fan-in");
  assert.deepEqual([fanIn.publishers.length, fanIn.subscribers.length], [4, 1]);
  const fanOut = buildTopology("fan-out");
  assert.deepEqual([fanOut.publishers.length, fanOut.subscribers.length], [1, 50]);
  const pairs = buildTopology("pairs");
  assert.deepEqual([pairs.publishers.length, pairs.subscribers.length], [50, 50]);
  const wc = buildTopology("wildcard");
  assert.equal(wc.subscribers.length, WILDCARD.subscribers);
  for (const filters of wc.subscribers) {
    assert.equal(new Set(filters).size, WILDCARD.filtersPerSubscriber);
    assert.ok(filters.every((f) => f.includes("+") || f.includes("#")));
  }
  // consecutive messages of a publisher go to different subscribers
  const first = wc.publishers[0]!.slice(0, WILDCARD.subscribers).map((t) => t.subscribers[0]);
  assert.equal(new Set(first).size, WILDCARD.subscribers);
});

test("the full matrix: 4 families × QoS 0/1 × 100 B/4 KB × 3.1.1/5.0, open loop, slow consumer, latency, storm and persisted QoS 1", () => {
  const all = allSpecs(5000);
  const paced = all.filter(
    (s) => s.kind === "throughput" && s.persistent !== true && s.openLoop !== true && s.transport === undefined,
  );
  assert.equal(paced.length, 32);
  assert.deepEqual(
    all.filter((s) => s.kind === "throughput" && s.openLoop === true).map((s) => s.id),
    [
      "fan-in/qos0/100B/v3.1.1/open",
      "fan-out/qos0/100B/v3.1.1/open",
      "pairs/qos0/100B/v3.1.1/open",
      "fan-in/qos1/100B/v3.1.1/open64",
    ],
  );
  assert.deepEqual(
    all.filter((s) => s.kind === "slow").map((s) => s.id),
    ["slow-consumer/qos0/100B/v3.1.1"],
  );
  assert.deepEqual(
    all.filter((s) => s.kind === "throughput" && s.persistent === true).map((s) => s.id),
    ["persisted/qos1/100B/v3.1.1"],
  );
  assert.equal(all.filter((s) => s.kind === "latency").length, 2);
  assert.equal(all.filter((s) => s.kind === "storm").length, 2); // hold and churn (issue #10)
  assert.equal(new Set(all.map((s) => s.id)).size, all.length);
});

test("--quick keeps the quick list (plus storm); --only filters by substring", () => {
  const all = allSpecs(5000);
  const quick = selectSpecs(all, true, []);
  for (const id of QUICK_IDS)
    assert.ok(
      quick.some((s) => s.id === id),
      `${id} missing from the catalog`,
    );
  assert.ok(quick.length < all.length / 2);
  assert.deepEqual(
    selectSpecs(all, false, ["fan-in/qos1/4KB"]).map((s) => s.id),
    ["fan-in/qos1/4KB/v3.1.1", "fan-in/qos1/4KB/v5"],
  );
  assert.deepEqual(
    selectSpecs(all, false, ["storm", "latency/qos1/10k-per-s/v5"]).map((s) => s.kind),
    ["latency", "storm", "storm"],
  );
});

test("issue 13 transport rows: fan-in and fan-out, QoS 0 and 1, 100 B over TLS and WebSocket, in the main catalog", () => {
  const all = allSpecs(5000);
  const rows = all.filter((s) => s.kind === "throughput" && s.transport !== undefined);
  assert.deepEqual(
    rows.map((s) => s.id),
    ["tls", "ws"].flatMap((t) =>
      ["fan-in", "fan-out"].flatMap((f) => [0, 1].map((q) => `${t}/${f}/qos${q}/100B/v3.1.1`)),
    ),
  );
  for (const s of rows) {
    assert.ok(s.kind === "throughput" && s.id.startsWith(`${s.transport}/${s.family}/qos${s.qos}/`));
  }
  // --only tls/ and --only ws/ select exactly these rows
  assert.equal(selectSpecs(all, false, ["tls/", "ws/"]).length, 8);
});
