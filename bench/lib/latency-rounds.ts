// Merges the rounds of a latency scenario into one result per broker. Why rounds: one 5 s run's p99 moved by more
// than the gap between the brokers (Wharf 0.58 then 1.64 ms on the same code, stop 12), so the harness runs
// several rounds on fresh brokers, interleaved (W M M W W …: neither broker always goes first), and reports the
// median over rounds of each percentile with its range, the pooled percentiles of all samples, and how many
// paired rounds (same minute, same machine load) each broker won.

import { STATUS, type LatencyRound, type RunResult } from "../scenarios/result.ts";
import { GENERATOR_STALLED_P99_MS, GENERATOR_STALL_RERUNS } from "../scenarios/settings.ts";
import { formatMs, summarizeLatency, type LatencySummary } from "./stats.ts";

export function median(xs: readonly number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const m = v.length >> 1;
  return v.length % 2 === 1 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

/** The order brokers run in round `r` (0-based): as given in even rounds, reversed in odd ones. */
export function roundOrder<T>(brokers: readonly T[], r: number): T[] {
  return r % 2 === 0 ? [...brokers] : [...brokers].reverse();
}

function roundOf(r: RunResult, i: number): LatencyRound {
  const l = r.latency;
  return {
    round: i + 1,
    status: r.status,
    p50: l?.p50 ?? Number.NaN,
    p99: l?.p99 ?? Number.NaN,
    p999: l?.p999 ?? Number.NaN,
    max: l?.max ?? Number.NaN,
    samples: l?.samples ?? 0,
    load1: r.load1 ?? Number.NaN,
    otherCpu: r.otherCpu ?? Number.NaN,
    brokerCpu: r.brokerCpu ?? Number.NaN,
    brokerWaited: r.brokerWaited ?? Number.NaN,
    brokerHelperCpu: r.brokerHelperCpu ?? Number.NaN,
    ...(r.gcInTail ? { gcInTail: r.gcInTail } : {}),
    ...(r.generatorStalls ? { generator: r.generatorStalls } : {}),
    ...(r.brokerLoop ? { brokerLoop: r.brokerLoop } : {}),
  };
}

/**
 * One result from a broker's rounds (in round order). `latency` holds the median over the measured rounds of each
 * percentile and the largest max; `pooledLatency` the percentiles of every sample; the window readings (CPU, RSS,
 * rate) are medians too. Rounds that failed stay listed with their notes; only measured ones are counted.
 */
export function mergeRounds(rounds: readonly RunResult[]): RunResult {
  const first = rounds[0]!;
  const ok = rounds.filter((r) => r.status !== STATUS.error && r.status !== STATUS.skipped && r.latency);
  const notes = [
    ...new Set(rounds.flatMap((r, i) => r.notes.map((n) => (rounds.length > 1 ? `round ${i + 1}: ${n}` : n)))),
  ];
  if (ok.length === 0) {
    const { latencySamples: _drop, ...rest } = first;
    return { ...rest, notes, latencyRounds: rounds.map(roundOf) };
  }
  let total = 0;
  for (const r of ok) total += r.latencySamples?.length ?? 0;
  const pooled = new Float64Array(total);
  let at = 0;
  for (const r of ok) {
    if (r.latencySamples) pooled.set(r.latencySamples, at);
    at += r.latencySamples?.length ?? 0;
  }
  const pick = (f: (l: LatencySummary) => number): number => median(ok.map((r) => f(r.latency!)));
  const med = (f: (r: RunResult) => number | undefined): number => median(ok.map((r) => f(r) ?? Number.NaN));
  const base = ok[Math.floor((ok.length - 1) / 2)]!;
  const { latencySamples: _samples, ...rest } = base;
  const pooledSummary = summarizeLatency(pooled);
  return {
    ...rest,
    status: ok.some((r) => r.status === STATUS.ok) ? STATUS.ok : STATUS.invalid,
    notes,
    msgsPerSec: med((r) => r.msgsPerSec),
    publishedPerSec: med((r) => r.publishedPerSec),
    brokerCpu: med((r) => r.brokerCpu),
    brokerRssKb: med((r) => r.brokerRssKb),
    otherCpu: med((r) => r.otherCpu),
    generatorCpu: med((r) => r.generatorCpu),
    latency: {
      samples: total,
      p50: pick((l) => l.p50),
      p99: pick((l) => l.p99),
      p999: pick((l) => l.p999),
      max: Math.max(...ok.map((r) => r.latency!.max)),
      mean: pooledSummary.mean,
    },
    pooledLatency: pooledSummary,
    latencyRounds: rounds.map(roundOf),
  };
}

/** Rounds in which broker `a`'s p99 was at most `b`'s, out of the rounds both measured (paired by round number). */
export function pairedWins(a: RunResult, b: RunResult, f: (r: LatencyRound) => number): { wins: number; of: number } {
  const ra = a.latencyRounds ?? [];
  const rb = b.latencyRounds ?? [];
  let wins = 0;
  let of = 0;
  for (const x of ra) {
    const y = rb.find((r) => r.round === x.round);
    if (y === undefined || !Number.isFinite(f(x)) || !Number.isFinite(f(y))) continue;
    of++;
    if (f(x) <= f(y)) wins++;
  }
  return { wins, of };
}

/** The generator's own 1 ms ticks ran late enough that the round measured the generator (settings.ts). */
export function generatorStalled(r: RunResult): boolean {
  return (r.generatorStalls?.loopP99Ms ?? 0) > GENERATOR_STALLED_P99_MS;
}

/**
 * Runs one latency round, and runs it again (fresh brokers; at most GENERATOR_STALL_RERUNS times) while the generator
 * stalled in it: the same rule for every broker. The round kept names the discarded ones in its notes; a round still
 * stalled after the reruns is kept and flagged.
 */
export async function runUnlessGeneratorStalled(
  runOnce: () => Promise<RunResult>,
  onDiscarded: (r: RunResult) => void = () => {},
): Promise<RunResult> {
  const discarded: string[] = [];
  let res = await runOnce();
  while (generatorStalled(res) && discarded.length < GENERATOR_STALL_RERUNS) {
    discarded.push(`p99 ${formatMs(res.latency?.p99 ?? Number.NaN)}, ${genDelay(res)}`);
    onDiscarded(res);
    res = await runOnce();
  }
  const notes = [...res.notes];
  if (discarded.length > 0)
    notes.push(
      `run again after the generator stalled (> ${GENERATOR_STALLED_P99_MS} ms): discarded ${discarded.join("; ")}`,
    );
  if (generatorStalled(res)) notes.push(`generator stalled: ${genDelay(res)}`);
  return { ...res, notes };
}

const genDelay = (r: RunResult): string => `gen loop delay p99 ${formatMs(r.generatorStalls?.loopP99Ms ?? Number.NaN)}`;
