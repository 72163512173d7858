// FastHistogram (the publish-to-delivery latency histogram's hot-path implementation) prints exactly what
// prom-client's own Histogram prints for the same observations, in the text exposition and as JSON.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Histogram, Registry } from "prom-client";
import { FastHistogram } from "../../../src/admin/fast-histogram.ts";

const BUCKETS = [0.001, 0.01, 0.1, 1];
const OBSERVATIONS: [number, number][] = [
  [0, 0.0005],
  [0, 0.001], // on a bound: counted in that bucket (le is inclusive)
  [0, 0.05],
  [1, 3], // above the last bound: +Inf only
  [1, 0.2],
  [0, 0.0005],
  [2, 0],
];

function pair() {
  const ours = new Registry();
  const theirs = new Registry();
  const fast = new FastHistogram({
    name: "lat_seconds",
    help: "latency",
    label: "qos",
    series: ["0", "1", "2"],
    buckets: BUCKETS,
    registry: ours,
  });
  const ref = new Histogram({
    name: "lat_seconds",
    help: "latency",
    labelNames: ["qos"],
    buckets: BUCKETS,
    registers: [theirs],
  });
  for (const q of ["0", "1", "2"]) ref.zero({ qos: q });
  return { ours, theirs, fast, ref };
}

test("FastHistogram: the same exposition text and JSON as prom-client's Histogram for the same observations", async () => {
  const { ours, theirs, fast, ref } = pair();
  assert.equal(await ours.metrics(), await theirs.metrics(), "before any observation: zero series");
  for (const [q, v] of OBSERVATIONS) {
    fast.record(q, v);
    ref.observe({ qos: String(q) }, v);
  }
  const text = await ours.metrics();
  assert.equal(text, await theirs.metrics());
  assert.match(text, /^lat_seconds_bucket\{le="0.001",qos="0"\} 3$/m);
  assert.match(text, /^lat_seconds_bucket\{le="\+Inf",qos="1"\} 2$/m);
  assert.deepEqual(await ours.getMetricsAsJSON(), await theirs.getMetricsAsJSON());
  assert.deepEqual(fast.series(0), { count: 4, sum: 0.0005 + 0.001 + 0.05 + 0.0005 });
});

test("FastHistogram: an unknown series index or a non-finite value is ignored", async () => {
  const { ours, fast } = pair();
  const before = await ours.metrics();
  fast.record(3, 0.1);
  fast.record(-1, 0.1);
  fast.record(0, Number.NaN);
  fast.record(0, Number.POSITIVE_INFINITY);
  assert.equal(await ours.metrics(), before);
});
