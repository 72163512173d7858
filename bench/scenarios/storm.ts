// Connection storm, two shapes, both driven by the C generator (bench/tools/connstorm.c, run on the generator's
// CPU), so that the generator is not what limits the rate:
//  - hold: open N connections (TCP connect + CONNECT + successful CONNACK, `stormConcurrency` at a time) as fast
//    as possible, then hold them idle and read the broker's VmRSS: per-connection memory is
//    (RSS after holding N idle connections - RSS before) / N. connects/s = N / time until the last CONNACK.
//  - churn: keep `stormConcurrency` connect cycles going for a warm-up plus the measurement window; one cycle =
//    TCP connect + CONNECT + successful CONNACK + DISCONNECT + the broker closing its side + close.
//    connects/s = cycles completed inside the window / window.
// Both report the broker's CPU per connect and the generator's own CPU (its headroom).

import type { RunningBroker } from "../brokers/index.ts";
import { churnConnections, holdConnections, type HoldRun } from "../lib/connstorm.ts";
import { processMemory, tcpExtCounter } from "../lib/proc-stats.ts";
import type { RunSpec } from "./catalog.ts";
import { WindowMeters, measuredResult, runTag, sleep, type WindowReading } from "./common.ts";
import os from "node:os";
import { median } from "../lib/latency-rounds.ts";
import { STATUS, type RunResult, type StormRound } from "./result.ts";
import type { Timing } from "./settings.ts";

type StormSpec = Extract<RunSpec, { kind: "storm" }>;

/** The generator is a child process: move its CPU from "other processes" to the generator's column. */
function withTool(w: WindowReading, toolCpuSeconds: number): WindowReading {
  const tool = toolCpuSeconds / (w.elapsedMs / 1000);
  return { ...w, generatorCpu: w.generatorCpu + tool, otherCpu: Math.max(0, w.otherCpu - tool) };
}

export async function runStorm(spec: StormSpec, broker: RunningBroker, timing: Timing): Promise<RunResult> {
  return spec.mode === "churn" ? runChurn(spec, broker, timing) : runHold(spec, broker, timing);
}

async function runHold(spec: StormSpec, broker: RunningBroker, timing: Timing): Promise<RunResult> {
  let run: HoldRun | undefined;
  try {
    await sleep(300); // let a freshly started broker settle before the baseline reading
    const before = processMemory(broker.proc.pid).rssKb;
    const meters = new WindowMeters(broker.proc.pid);
    const overflows0 = tcpExtCounter("ListenOverflows");
    meters.start();
    run = holdConnections(broker.port, spec.protocol, runTag(), spec.connections, timing.stormConcurrency);
    const reading = await run.connected;
    const window = withTool(meters.stop(), reading.cpuSeconds);
    const overflows = tcpExtCounter("ListenOverflows") - overflows0;
    await sleep(timing.stormHoldMs);
    const after = processMemory(broker.proc.pid);
    const stillOpen = await run.release();
    run = undefined;

    const failure =
      broker.proc.exit !== null
        ? `broker exited during the run (${broker.proc.exit})`
        : reading.errors > 0
          ? `storm: ${reading.errors} failed connects, first: ${reading.firstError}`
          : null;
    const notes: string[] = [];
    if (overflows > 0) notes.push(`listen backlog overflowed ${overflows}× (SYNs dropped and retried)`);
    if (stillOpen < reading.connected)
      notes.push(`${reading.connected - stillOpen} idle connections were dropped by the broker`);
    const seconds = reading.elapsedMs / 1000;
    return {
      ...measuredResult(spec.id, "storm", broker, window, failure, notes),
      storm: {
        mode: "hold",
        connections: spec.connections,
        connected: reading.connected,
        connectsPerSec: reading.connected / seconds,
        brokerCpuUsPerConnect: (window.brokerCpu * (window.elapsedMs / 1000) * 1e6) / Math.max(1, reading.connected),
        generatorCpuUsPerConnect: (reading.cpuSeconds * 1e6) / Math.max(1, reading.connected),
        rssBeforeKb: before,
        rssAfterKb: after.rssKb,
        rssPerConnectionKb: (after.rssKb - before) / spec.connections,
        stillOpen,
      },
      // Memory after the idle hold, not at the end of the connect phase.
      brokerRssKb: after.rssKb,
      brokerPeakRssKb: after.peakKb,
      load1: os.loadavg()[0]!,
    };
  } finally {
    run?.kill();
  }
}

async function runChurn(spec: StormSpec, broker: RunningBroker, timing: Timing): Promise<RunResult> {
  await sleep(300);
  const before = processMemory(broker.proc.pid).rssKb;
  const meters = new WindowMeters(broker.proc.pid);
  const overflows0 = tcpExtCounter("ListenOverflows");
  const warmupMs = Math.min(timing.warmupMs, 500);
  const result = churnConnections(
    broker.port,
    spec.protocol,
    runTag(),
    timing.stormConcurrency,
    warmupMs,
    timing.measureMs,
  );
  // The tool times its own window; the broker's CPU is read over the same span (give or take the spawn, ~ms).
  await sleep(warmupMs);
  meters.start();
  const reading = await result;
  const window = withTool(meters.stop(), reading.cpuSeconds);
  const overflows = tcpExtCounter("ListenOverflows") - overflows0;
  const after = processMemory(broker.proc.pid);
  const failure =
    broker.proc.exit !== null
      ? `broker exited during the run (${broker.proc.exit})`
      : reading.windowErrors > 0
        ? `storm: ${reading.windowErrors} failed connect cycles in the window, first: ${reading.firstError}`
        : null;
  const notes: string[] = [];
  if (overflows > 0) notes.push(`listen backlog overflowed ${overflows}× (SYNs dropped and retried)`);
  const cycles = reading.inWindow;
  return {
    ...measuredResult(spec.id, "storm", broker, window, failure, notes),
    storm: {
      mode: "churn",
      connections: cycles,
      connected: cycles,
      connectsPerSec: reading.perSec,
      brokerCpuUsPerConnect: (window.brokerCpu * (window.elapsedMs / 1000) * 1e6) / Math.max(1, cycles),
      generatorCpuUsPerConnect: (reading.cpuSeconds * 1e6) / Math.max(1, cycles),
      rssBeforeKb: before,
      rssAfterKb: after.rssKb,
      stillOpen: 0,
    },
  };
}

/**
 * One row from a held storm's fresh-broker rounds (run.ts runs them interleaved between brokers): the median
 * round's result with every storm figure replaced by its median over the rounds that measured something, and
 * every round kept in `storm.rounds` (the report shows the range and the generator's busiest round). A single
 * round (or churn) is returned as it is.
 */
export function mergeStormRounds(runs: readonly RunResult[]): RunResult {
  if (runs.length === 1) return runs[0]!;
  const ok = runs.filter((r) => r.storm && (r.status === STATUS.ok || r.status === STATUS.invalid));
  const notes = [...new Set(runs.flatMap((r, i) => r.notes.map((n) => `round ${i + 1}: ${n}`)))];
  const rounds: StormRound[] = ok.map((r) => ({
    connectsPerSec: r.storm!.connectsPerSec,
    brokerCpuUsPerConnect: r.storm!.brokerCpuUsPerConnect,
    generatorCpuUsPerConnect: r.storm!.generatorCpuUsPerConnect,
    rssPerConnectionKb: r.storm!.rssPerConnectionKb,
    brokerCpu: r.brokerCpu,
    generatorCpu: r.generatorCpu,
    otherCpu: r.otherCpu,
    load1: r.load1,
  }));
  // A failed round fails the row: a median must not hide a round that lost connections.
  const failedRun = runs.find((r) => r.status === STATUS.error);
  if (ok.length === 0 || failedRun !== undefined) return { ...(failedRun ?? runs[0]!), notes };
  const byRate = [...ok].sort((a, b) => a.storm!.connectsPerSec - b.storm!.connectsPerSec);
  const base = byRate[(byRate.length - 1) >> 1]!;
  const med = (f: (x: StormRound) => number | undefined): number => median(rounds.map((x) => f(x) ?? Number.NaN));
  const rss = med((x) => x.rssPerConnectionKb);
  return {
    ...base,
    status: ok.some((r) => r.status === STATUS.ok) ? STATUS.ok : STATUS.invalid,
    notes,
    brokerCpu: med((x) => x.brokerCpu),
    generatorCpu: med((x) => x.generatorCpu),
    otherCpu: med((x) => x.otherCpu),
    storm: {
      ...base.storm!,
      connectsPerSec: med((x) => x.connectsPerSec),
      brokerCpuUsPerConnect: med((x) => x.brokerCpuUsPerConnect),
      generatorCpuUsPerConnect: med((x) => x.generatorCpuUsPerConnect),
      ...(Number.isFinite(rss) ? { rssPerConnectionKb: rss } : {}),
      rounds,
    },
  };
}
