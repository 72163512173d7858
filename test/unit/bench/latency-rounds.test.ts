import assert from "node:assert/strict";
import { test } from "node:test";
import { parseArgs, ArgsError } from "../../../bench/lib/args.ts";
import {
  median,
  mergeRounds,
  pairedWins,
  roundOrder,
  runUnlessGeneratorStalled,
} from "../../../bench/lib/latency-rounds.ts";
import { GENERATOR_STALL_RERUNS } from "../../../bench/scenarios/settings.ts";
import { renderResults, renderTargets } from "../../../bench/lib/report.ts";
import { shareInPauses } from "../../../bench/lib/tail-attribution.ts";
import { summarizeLatency } from "../../../bench/lib/stats.ts";
import type { BrokerId } from "../../../bench/brokers/index.ts";
import type { RunResult } from "../../../bench/scenarios/result.ts";

/** A measured latency round whose samples are `values` (ms). */
function round(broker: BrokerId, values: number[], extra: Partial<RunResult> = {}): RunResult {
  const samples = Float64Array.from(values);
  return {
    id: "latency/qos1/10k-per-s/v3.1.1",
    kind: "latency",
    broker,
    status: "ok",
    notes: [],
    msgsPerSec: 10_000,
    brokerCpu: 0.1,
    brokerRssKb: 100 * 1024,
    otherCpu: 0,
    latency: summarizeLatency(Float64Array.from(values)),
    latencySamples: samples,
    generatorStalls: { loopP99Ms: 1.1, loopMaxMs: 2.5, gcCount: 1, gcTotalMs: 0.4, gcMaxMs: 0.4 },
    load1: 0.5,
    ...extra,
  };
}

/** 100 samples: 99 of `base` and one of `tail` (so p99 = base, p99.9 = max = tail). */
const hundred = (base: number, tail: number): number[] => [...Array<number>(99).fill(base), tail];

test("median of odd and even counts, NaN ignored, empty is NaN", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([5, Number.NaN, 1]), 3);
  assert.ok(Number.isNaN(median([])));
});

test("rounds are interleaved: the given order in even rounds, reversed in odd ones", () => {
  const b = ["wharf", "mosquitto"];
  assert.deepEqual(
    [0, 1, 2, 3].map((r) => roundOrder(b, r).join(",")),
    ["wharf,mosquitto", "mosquitto,wharf", "wharf,mosquitto", "mosquitto,wharf"],
  );
});

test("merged rounds: median of each percentile, largest max, pooled samples, per-round detail, no raw samples", () => {
  const m = mergeRounds([
    round("wharf", hundred(0.2, 5)),
    round("wharf", hundred(0.4, 1)),
    round("wharf", hundred(0.3, 2)),
  ]);
  assert.equal(m.status, "ok");
  assert.equal(m.latency?.p99, 0.3); // rounds' p99: 0.2, 0.4, 0.3
  assert.equal(m.latency?.p999, 2); // rounds' p99.9 (= their max): 5, 1, 2
  assert.equal(m.latency?.max, 5);
  assert.equal(m.latency?.samples, 300);
  assert.equal(m.pooledLatency?.samples, 300);
  assert.equal(m.pooledLatency?.p99, 0.4); // 297 values ≤ 0.4, then 1, 2, 5: the 297th of 300 is 0.4
  assert.equal(m.pooledLatency?.p999, 5);
  assert.equal(m.latencyRounds?.length, 3);
  assert.deepEqual(
    m.latencyRounds?.map((r) => [r.round, r.p99, r.generator?.loopMaxMs]),
    [
      [1, 0.2, 2.5],
      [2, 0.4, 2.5],
      [3, 0.3, 2.5],
    ],
  );
  assert.equal(m.latencySamples, undefined);
  assert.ok(!JSON.stringify(m).includes("latencySamples"));
});

test("a failed round is listed with its note but not counted", () => {
  const failed: RunResult = { id: "x", kind: "latency", broker: "wharf", status: "error", notes: ["broker exited"] };
  const m = mergeRounds([round("wharf", hundred(0.2, 1)), failed, round("wharf", hundred(0.6, 1))]);
  assert.equal(m.latency?.p99, 0.4);
  assert.equal(m.latencyRounds?.length, 3);
  assert.equal(m.latencyRounds?.[1]?.status, "error");
  assert.ok(m.notes.includes("round 2: broker exited"));
  const none = mergeRounds([failed]);
  assert.equal(none.status, "error");
  assert.equal(none.latency, undefined);
});

test("paired rounds: a broker wins a round when its p99 is at most the other's in the same round", () => {
  const w = mergeRounds([
    round("wharf", hundred(0.2, 1)),
    round("wharf", hundred(0.5, 1)),
    round("wharf", hundred(0.3, 1)),
  ]);
  const m = mergeRounds([
    round("mosquitto", hundred(0.3, 1)),
    round("mosquitto", hundred(0.4, 1)),
    round("mosquitto", hundred(0.3, 1)),
  ]);
  assert.deepEqual(
    pairedWins(w, m, (x) => x.p99),
    { wins: 2, of: 3 },
  );
  const targets = renderTargets([w, m]);
  assert.match(targets, /✅ latency\/qos1\/10k-per-s\/v3\.1\.1: p99 0\.30 ms vs Mosquitto 0\.30 ms/);
  assert.match(targets, /Wharf ≤ Mosquitto in 2 of 3 paired rounds/);
  const table = renderResults([w, m], ["wharf", "mosquitto"]);
  assert.match(table, /\| Wharf \| 3 \| 0\.30 ms \| 0\.30 ms \(0\.20–0\.50\) \|/);
  assert.match(table, /\| 2\/3 \|/);
});

test("--rounds takes an integer from 1 to 50; a run with --rounds is not a full run", () => {
  assert.equal(parseArgs(["--rounds", "7"]).rounds, 7);
  assert.equal(parseArgs([]).rounds, null);
  for (const bad of ["0", "51", "2.5", "x"]) assert.throws(() => parseArgs(["--rounds", bad]), ArgsError);
});

test("tail attribution: share of the samples at or above a threshold in flight during a GC pause", () => {
  // Four messages: [sent, latency] = [0, 1], [10, 5], [20, 5], [30, 0.5]; one pause at 12-13 ms.
  const sent = Float64Array.from([0, 10, 20, 30]);
  const lat = Float64Array.from([1, 5, 5, 0.5]);
  const pauses: [number, number][] = [[12, 1]];
  assert.equal(shareInPauses(lat, sent, pauses, 5), 0.5); // of the two 5 ms messages, the first overlaps 12-13
  assert.equal(shareInPauses(lat, sent, pauses, 1), 1 / 3);
  // A pause that ends exactly when a message was sent still counts (the message waited for the loop to come back).
  assert.equal(shareInPauses(lat, sent, [[19, 1]], 5), 0.5);
  assert.equal(shareInPauses(lat, sent, [[26, 1]], 5), 0); // after the 20 ms message arrived (25)
  assert.equal(shareInPauses(lat, sent, [], 5), 0);
  assert.ok(Number.isNaN(shareInPauses(lat, sent, pauses, 100)));
});

/** A round whose generator's tick delay p99 was `genP99` ms. */
const genRound = (p99: number, genP99: number): RunResult =>
  round("mosquitto", hundred(p99, p99 * 2), {
    generatorStalls: { loopP99Ms: genP99, loopMaxMs: genP99 * 3, gcCount: 0, gcTotalMs: 0, gcMaxMs: 0 },
  });

test("a round in which the generator stalled is run again; the kept round names the discarded one", async () => {
  const queue = [genRound(1.9, 0.9), genRound(0.36, 0.05)];
  const discarded: RunResult[] = [];
  let calls = 0;
  const kept = await runUnlessGeneratorStalled(
    () => Promise.resolve(queue[calls++]!),
    (r) => discarded.push(r),
  );
  assert.equal(calls, 2);
  assert.equal(discarded.length, 1);
  assert.equal(kept.latency?.p99, 0.36);
  assert.equal(kept.notes.length, 1);
  assert.match(
    kept.notes[0]!,
    /run again after the generator stalled.*discarded p99 1\.90 ms, gen loop delay p99 0\.90 ms/,
  );
});

test("a quiet round runs once; a generator that keeps stalling is kept after the reruns, flagged", async () => {
  let calls = 0;
  const quiet = await runUnlessGeneratorStalled(() => (calls++, Promise.resolve(genRound(0.3, 0.27))));
  assert.equal(calls, 1);
  assert.deepEqual(quiet.notes, []);
  calls = 0;
  const stuck = await runUnlessGeneratorStalled(() => (calls++, Promise.resolve(genRound(2, 0.6))));
  assert.equal(calls, 1 + GENERATOR_STALL_RERUNS);
  assert.equal(stuck.latency?.p99, 2);
  assert.match(stuck.notes.join(" | "), /discarded .*; .* \| generator stalled: gen loop delay p99 0\.60 ms/);
});
