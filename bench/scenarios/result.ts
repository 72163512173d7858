// The shape of one run's result (one scenario on one broker), as printed and stored in JSON.

import type { BrokerId } from "../brokers/index.ts";
import type { DeliveryTotals, PublisherDelivery } from "../lib/seq-checker.ts";
import type { GeneratorStalls } from "../lib/loop-probe.ts";
import type { IoReading } from "../lib/proc-stats.ts";
import type { LatencySummary } from "../lib/stats.ts";

export const STATUS = {
  /** Measured, generator had headroom. Loss, if any, is in `notes` and `delivery`. */
  ok: "ok",
  /** Measured, but the generator was saturated (or similar): the number understates the broker. */
  invalid: "invalid",
  /** The run failed (broker crashed, refused a client, timed out). */
  error: "error",
  /** Not run for this broker (protocol unsupported, broker not runnable, scenario pending). */
  skipped: "skipped",
} as const;
export type RunStatus = (typeof STATUS)[keyof typeof STATUS];

export interface StormResult {
  /** hold: N connections opened and held idle; churn: connect + CONNACK + DISCONNECT + close cycles (storm.ts). */
  mode?: "hold" | "churn";
  /** hold: connections asked for; churn: cycles completed in the window. */
  connections: number;
  connected: number;
  connectsPerSec: number;
  /** Broker CPU time per connect (hold: per connect; churn: per full cycle), microseconds. */
  brokerCpuUsPerConnect?: number;
  /** The generator's own CPU time per connect, microseconds. */
  generatorCpuUsPerConnect?: number;
  rssBeforeKb: number;
  rssAfterKb: number;
  /** hold only: (RSS after the idle hold - before) / connections. */
  rssPerConnectionKb?: number;
  /** Connections still open at the end of the idle hold. */
  stillOpen: number;
  /**
   * Held storm run in several fresh-broker rounds (storm.ts mergeStormRounds): every round's figures, in run order.
   * The fields above are then medians over the rounds that measured something.
   */
  rounds?: StormRound[];
}

export interface StormRound {
  connectsPerSec: number;
  brokerCpuUsPerConnect?: number;
  generatorCpuUsPerConnect?: number;
  rssPerConnectionKb?: number;
  /** Shares of one core over the connect phase. */
  brokerCpu?: number;
  generatorCpu?: number;
  otherCpu?: number;
  /** Load average (1 min) when the round ended. */
  load1?: number;
}

/** The slow-consumer scenario (1 -> 10, one subscriber never reads): healthy rate with and without it. */
export interface SlowConsumerResult {
  /** Deliveries/s to the 9 healthy subscribers together, all 10 reading (baseline phase). */
  baselinePerSec: number;
  /** The same with the 10th subscriber stuck (msgsPerSec of the run). */
  stuckPerSec: number;
  /** stuckPerSec / baselinePerSec. */
  healthyShare: number;
  /** Messages the healthy subscribers lost in the stuck phase (should be 0). */
  healthyLost: number;
  /** Messages the stuck subscriber never got (read after the phase, drained for up to drainMaxMs). */
  stuckMissed: number;
  /** Broker's own count of dropped messages ($SYS/broker/messages/dropped), when it publishes one. */
  brokerDropped: number | null;
  /** Broker VmRSS at the start and end of the stuck phase and its peak (VmHWM), KB. */
  rssStartKb: number;
  rssEndKb: number;
  /** Length of the stuck phase's measurement window. */
  stuckMs: number;
  /** Whether the phase was cut short because the broker's RSS passed the harness's safety limit. */
  rssLimitHit: boolean;
}

/** A broker's event-loop delay and GC pauses over a window (bench/tools/loop-stats.mjs; WHARF_BENCH_LOOP_STATS=1). */
export interface BrokerLoopStats {
  spanMs: number;
  loopMs: { p50: number; p99: number; p999: number; max: number };
  gc: { count: number; totalMs: number; maxMs: number; over2: number; over5: number; over10: number };
  /** Each pause in the window: [start on CLOCK_MONOTONIC, duration], ms (at most 5,000). */
  pauses?: [number, number][];
}

/** One round of a latency scenario (run.ts repeats it, interleaved between brokers; lib/latency-rounds.ts). */
export interface LatencyRound {
  round: number;
  status: RunStatus;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  samples: number;
  /** 1-minute load average at the window's end (the larger of start and end). */
  load1: number;
  otherCpu: number;
  brokerCpu: number;
  brokerWaited: number;
  brokerHelperCpu: number;
  /** Share of the messages at or above the round's p99 / p99.9 that were in flight during a broker GC pause. */
  gcInTail?: { p99: number; p999: number };
  generator?: GeneratorStalls;
  brokerLoop?: BrokerLoopStats;
}

export interface RunResult {
  id: string;
  kind: "throughput" | "latency" | "storm" | "slow" | "pending";
  broker: BrokerId;
  status: RunStatus;
  /** Human-readable flags: loss, duplicates, generator saturation, errors. */
  notes: string[];
  /** Length of the measurement window. */
  measuredMs?: number;
  /** The measurement window on the wall clock (Date.now() ms): what a broker-side log is cut to (bench/ops). */
  window?: { startMs: number; endMs: number };
  /** Unique messages delivered to subscribers per second within the window. */
  msgsPerSec?: number;
  /** Throughput runs with Timing.firstWindowMs: the first window's rate, broker CPU (cores) and wall-clock span. */
  first?: { msgsPerSec: number; brokerCpu: number; window: { startMs: number; endMs: number } };
  /** Messages published per second within the window (each counted once, before fan-out). */
  publishedPerSec?: number;
  delivery?: DeliveryTotals & { stray: number };
  perPublisher?: PublisherDelivery[];
  latency?: LatencySummary;
  /** Latency runs: the raw samples of one round (dropped once the rounds are merged; not in the JSON). */
  latencySamples?: Float64Array;
  /** Latency runs: the generator's own stalls over the window. */
  generatorStalls?: GeneratorStalls;
  /** Latency runs: 1-minute load average around the window. */
  load1?: number;
  /** Latency runs of Wharf with WHARF_BENCH_LOOP_STATS=1: its event-loop delay and GC pauses in the window. */
  brokerLoop?: BrokerLoopStats;
  /** C generator + broker loop stats: share of the p99 / p99.9 tail in flight during a broker GC pause. */
  gcInTail?: { p99: number; p999: number };
  /**
   * Latency runs over several rounds: each round, and the summary of all rounds' samples pooled. `latency` then
   * holds the MEDIAN over rounds of each percentile (max: the largest).
   */
  latencyRounds?: LatencyRound[];
  pooledLatency?: LatencySummary;
  storm?: StormResult;
  /** Broker CPU over the window, fraction of one core (from /proc/<pid>/stat). */
  brokerCpu?: number;
  brokerRssKb?: number;
  brokerPeakRssKb?: number;
  /** Load generator CPU over the window, fraction of one core (process.cpuUsage). */
  generatorCpu?: number;
  /** CPU used by everything else on the machine during the window (noise), fraction of one core. */
  otherCpu?: number;
  /** Fraction of the window the broker / generator main thread waited for a CPU (run queue). */
  brokerWaited?: number;
  generatorWaited?: number;
  /** CPU of the broker's threads other than its main thread (a Node broker's GC/compiler workers), fraction of a core. */
  brokerHelperCpu?: number;
  /** The broker's read/write system calls and their bytes over the window (bench/lib/proc-stats.ts processIo). */
  brokerIo?: IoReading;
  /** Times QoS 0 publishers paused on the end-to-end backlog cap. */
  lagCapPauses?: number;
  /** QoS 1: messages PUBACKed to their publisher that no subscriber ever received. */
  ackedLost?: number;
  slow?: SlowConsumerResult;
}

export function skipped(id: string, kind: RunResult["kind"], broker: BrokerId, reason: string): RunResult {
  return { id, kind, broker, status: STATUS.skipped, notes: [reason] };
}

export function failed(id: string, kind: RunResult["kind"], broker: BrokerId, reason: string): RunResult {
  return { id, kind, broker, status: STATUS.error, notes: [reason] };
}

/** Adds the delivery flags every run reports: loss (with %), duplicates, reordering, corrupt payloads. */
export function deliveryNotes(d: DeliveryTotals & { stray: number }, qos: number): string[] {
  const notes: string[] = [];
  if (d.lost > 0) {
    const pct = d.expected > 0 ? ((100 * d.lost) / d.expected).toFixed(d.lost * 1000 < d.expected ? 3 : 1) : "?";
    const where =
      d.lostAtTail === d.lost
        ? ", all at the end of streams (undelivered when the drain wait ended)"
        : d.lostAtTail > 0
          ? `, ${d.lostAtTail} of them at the end of streams`
          : "";
    notes.push(`${qos > 0 ? "QoS 1 LOSS" : "loss"}: ${d.lost} of ${d.expected} messages (${pct}%)${where}`);
  }
  if (d.duplicates > 0) notes.push(`duplicates: ${d.duplicates}`);
  if (d.reordered > 0) notes.push(`reordered: ${d.reordered}`);
  if (d.unexpected > 0 || d.stray > 0) notes.push(`corrupt/unexpected payloads: ${d.unexpected + d.stray}`);
  return notes;
}
