import assert from "node:assert/strict";
import { test } from "node:test";
import { formatRate, percentileSorted, ratio, summarizeLatency } from "../../../bench/lib/stats.ts";

test("nearest-rank percentile: smallest value with at least p% of samples at or below it", () => {
  const a = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
  assert.equal(percentileSorted(a, 50), 50);
  assert.equal(percentileSorted(a, 99), 99);
  assert.equal(percentileSorted(a, 99.9), 100);
  assert.equal(percentileSorted(a, 100), 100);
  assert.equal(percentileSorted(a, 0), 1);
  assert.equal(percentileSorted(a, 0.5), 1);
  assert.equal(percentileSorted(a, 1.5), 2);
});

test("percentiles of tiny and empty sets", () => {
  assert.equal(percentileSorted([7], 99.9), 7);
  assert.equal(percentileSorted([1, 2], 50), 1);
  assert.equal(percentileSorted([1, 2], 51), 2);
  assert.ok(Number.isNaN(percentileSorted([], 50)));
  assert.throws(() => percentileSorted([1], 101), RangeError);
});

test("summarizeLatency sorts numerically (not as strings) and reports p50/p99/p99.9/max/mean", () => {
  const samples = new Float64Array(1000);
  for (let i = 0; i < 1000; i++) samples[i] = ((i * 7919) % 1000) + 1; // a permutation of 1..1000
  samples[17] = 10_000; // replaces one value with an outlier
  const s = summarizeLatency(samples);
  assert.equal(s.samples, 1000);
  assert.equal(s.max, 10_000);
  assert.ok(s.p50 >= 499 && s.p50 <= 501, `p50 ${s.p50}`);
  assert.ok(s.p99 >= 989 && s.p99 <= 991, `p99 ${s.p99}`);
  assert.ok(s.p999 >= 999 && s.p999 <= 1000, `p99.9 ${s.p999}`);
  assert.ok(s.mean > 500 && s.mean < 520);
});

test("formatRate and ratio", () => {
  assert.equal(formatRate(512), "512");
  assert.equal(formatRate(45_678), "45.7k");
  assert.equal(formatRate(123_456), "123k");
  assert.equal(formatRate(1_234_567), "1.23M");
  assert.equal(formatRate(9999.6), "10k");
  assert.equal(formatRate(999_999), "1M");
  assert.equal(formatRate(4_740_000), "4.74M");
  assert.equal(ratio(3, 2), 1.5);
  assert.equal(ratio(3, 0), null);
  assert.equal(ratio(undefined, 2), null);
});
