import assert from "node:assert/strict";
import { test } from "node:test";
import { renderResults, renderTargets } from "../../../bench/lib/report.ts";
import type { RunResult } from "../../../bench/scenarios/result.ts";
import { mergeStormRounds } from "../../../bench/scenarios/storm.ts";

function round(connectsPerSec: number, us: number, kb: number, extra: Partial<RunResult> = {}): RunResult {
  return {
    id: "storm/5000-conns/v3.1.1",
    kind: "storm",
    broker: "wharf",
    status: "ok",
    notes: [],
    brokerCpu: 0.9,
    generatorCpu: 0.25,
    otherCpu: 0,
    storm: {
      mode: "hold",
      connections: 5000,
      connected: 5000,
      connectsPerSec,
      brokerCpuUsPerConnect: us,
      generatorCpuUsPerConnect: 30,
      rssBeforeKb: 100_000,
      rssAfterKb: 100_000 + kb * 5000,
      rssPerConnectionKb: kb,
      stillOpen: 5000,
    },
    ...extra,
  };
}

test("storm rounds: medians of every figure, every round kept, the median round's other fields", () => {
  const merged = mergeStormRounds([
    round(9_000, 110, 4.5),
    round(12_000, 80, 3.5, { generatorCpu: 0.4 }),
    round(11_000, 85, 3.6),
  ]);
  assert.equal(merged.status, "ok");
  assert.equal(merged.storm?.connectsPerSec, 11_000);
  assert.equal(merged.storm?.brokerCpuUsPerConnect, 85);
  assert.equal(merged.storm?.rssPerConnectionKb, 3.6);
  assert.equal(merged.generatorCpu, 0.25);
  assert.deepEqual(
    merged.storm?.rounds?.map((r) => r.connectsPerSec),
    [9_000, 12_000, 11_000],
  );
});

test("storm rounds: a failed round fails the row (a median must not hide lost connections)", () => {
  const merged = mergeStormRounds([
    round(12_000, 80, 3.5),
    round(0, 0, 0, { status: "error", notes: ["storm: 3 failed connects"] }),
    round(11_000, 85, 3.6),
  ]);
  assert.equal(merged.status, "error");
  assert.ok(merged.notes.some((n) => n.startsWith("round 2: storm: 3 failed connects")));
});

test("storm rounds: one round is returned unchanged", () => {
  const one = round(10_500, 90, 3.9);
  assert.equal(mergeStormRounds([one]), one);
});

test("storm rounds: the report shows the range and how many rounds held each target", () => {
  const merged = mergeStormRounds([round(9_000, 110, 4.5), round(12_000, 80, 3.5), round(11_000, 85, 3.6)]);
  const md = renderResults([merged], ["wharf"]);
  assert.match(md, /11k \(9k–12k\), median of 3/);
  assert.match(md, /85 \(80–110\)/);
  assert.match(md, /3\.60 \(3\.50–4\.50\)/);
  const t = renderTargets([merged]);
  assert.match(
    t,
    /✅ storm\/5000-conns\/v3\.1\.1 rate: 11k connects\/s \(≥10k\) \(median of 3 fresh-broker rounds; 2 of 3 held it\)/,
  );
  assert.match(
    t,
    /✅ storm\/5000-conns\/v3\.1\.1 memory: 3\.60 KB per idle connection \(≤4\) \(median of 3 fresh-broker rounds; 2 of 3 held it\)/,
  );
});
