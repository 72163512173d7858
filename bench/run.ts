// `npm run bench`: Wharf vs Mosquitto vs Aedes, side by side. Starts every broker itself on a free
// loopback port (one fresh broker process per run), drives it from this process with raw sockets,
// checks every delivery, and writes bench/results/<timestamp>.json + latest.json (and, after a
// full run, docs/benchmarks.md). See docs/benchmarks.md for the method.

import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { BROKERS, MOSQUITTO_BIN, makeContext, startBroker, type BrokerDef, type BrokerId } from "./brokers/index.ts";
import { ArgsError, USAGE, isFullRun, parseArgs, type BenchArgs } from "./lib/args.ts";
import { installSignalHandlers, killAllChildren } from "./lib/children.ts";
import { updateDocs } from "./lib/docs.ts";
import { mergeRounds, roundOrder, runUnlessGeneratorStalled } from "./lib/latency-rounds.ts";
import { collectMachineInfo, pinGenerator } from "./lib/machine.ts";
import { renderMeta, renderResults, renderTargets, type ReportMeta } from "./lib/report.ts";
import { formatMs, formatRate } from "./lib/stats.ts";
import { allSpecs, protocolName, resultKind, selectSpecs, type RunSpec } from "./scenarios/catalog.ts";
import { runLatency } from "./scenarios/latency.ts";
import { runQueue } from "./scenarios/queue.ts";
import { failed, skipped, type RunResult } from "./scenarios/result.ts";
import * as settings from "./scenarios/settings.ts";
import { runSlowConsumer } from "./scenarios/slow-consumer.ts";
import { mergeStormRounds, runStorm } from "./scenarios/storm.ts";
import { runThroughput } from "./scenarios/throughput.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const RUN_TIMEOUT_MS = 180_000;
/** Share of noisy runs above which a full run leaves docs/benchmarks.md alone. */
const MAX_NOISY_SHARE = 0.1;

function progress(line: string, done: boolean): void {
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[2K${line}${done ? "\n" : ""}`);
  else if (done) process.stderr.write(`${line}\n`);
}

const pctOf = (x: number): string => (Number.isFinite(x) ? `${Math.round(x * 100)}%` : "–");

function summary(r: RunResult): string {
  if (r.status === "skipped" || r.status === "error") return `${r.status}: ${r.notes[0] ?? ""}`;
  const parts: string[] = [];
  if (r.latency) {
    parts.push(
      `p50 ${formatMs(r.latency.p50)} p99 ${formatMs(r.latency.p99)} p99.9 ${formatMs(r.latency.p999)} max ${formatMs(r.latency.max)}`,
    );
    const g = r.generatorStalls;
    if (g) parts.push(`gen loop delay p99 ${formatMs(g.loopP99Ms)} max ${formatMs(g.loopMaxMs)}`);
    const b = r.brokerLoop;
    if (b)
      parts.push(
        `broker loop p99 ${formatMs(b.loopMs.p99)} max ${formatMs(b.loopMs.max)}, GC ${b.gc.count}× max ${formatMs(b.gc.maxMs)}`,
      );
    const t = r.gcInTail;
    if (t) parts.push(`in broker GC: ${pctOf(t.p99)} of the p99 tail, ${pctOf(t.p999)} of p99.9`);
    if (r.brokerHelperCpu !== undefined && r.brokerHelperCpu > 0)
      parts.push(`broker helper threads ${(r.brokerHelperCpu * 100).toFixed(1)}% cpu`);
    if (r.load1 !== undefined) parts.push(`load ${r.load1.toFixed(2)}`);
  } else if (r.slow)
    parts.push(
      `healthy ${formatRate(r.slow.stuckPerSec)}/s vs ${formatRate(r.slow.baselinePerSec)}/s (${Math.round(r.slow.healthyShare * 100)}%), ` +
        `RSS ${(r.slow.rssStartKb / 1024).toFixed(0)}→${(r.slow.rssEndKb / 1024).toFixed(0)} MB, stuck missed ${r.slow.stuckMissed}`,
    );
  else if (r.storm)
    parts.push(
      `${formatRate(r.storm.connectsPerSec)} conn/s` +
        (r.storm.rssPerConnectionKb !== undefined ? `, ${r.storm.rssPerConnectionKb.toFixed(2)} KB/conn` : "") +
        (r.storm.brokerCpuUsPerConnect !== undefined
          ? `, broker ${r.storm.brokerCpuUsPerConnect.toFixed(0)} µs/conn, gen ${(r.storm.generatorCpuUsPerConnect ?? 0).toFixed(0)} µs/conn`
          : ""),
    );
  else parts.push(`${formatRate(r.msgsPerSec ?? Number.NaN)} msg/s`);
  parts.push(`broker ${Math.round((r.brokerCpu ?? 0) * 100)}% cpu`, `gen ${Math.round((r.generatorCpu ?? 0) * 100)}%`);
  const flags = r.notes.filter((n) => !n.startsWith("publishers paused"));
  return `${parts.join(", ")}${flags.length > 0 ? ` ⚠ ${flags.join("; ")}` : ""}`;
}

async function runSpec(
  spec: RunSpec,
  def: BrokerDef,
  timing: settings.Timing,
  ctx: ReturnType<typeof makeContext>,
): Promise<RunResult> {
  if (spec.kind === "pending") return { ...skipped(spec.id, "pending", def.id, spec.reason) };
  if (spec.kind === "queue") return runQueue(spec, def.id, timing, ctx.dataRoot); // starts its own broker
  if (!def.protocols.includes(spec.protocol)) {
    return skipped(spec.id, spec.kind, def.id, `${def.label} does not speak MQTT ${protocolName(spec.protocol)}`);
  }
  const persistent = spec.kind === "throughput" && spec.persistent === true;
  if (persistent && def.noPersistence !== null) return skipped(spec.id, spec.kind, def.id, def.noPersistence);
  const listener = (spec.kind === "throughput" ? spec.transport : undefined) ?? "tcp";
  if (!def.listeners.includes(listener)) return skipped(spec.id, spec.kind, def.id, def.noListener);
  let broker;
  try {
    broker = await startBroker(def, ctx, persistent, listener);
  } catch (err) {
    return failed(spec.id, spec.kind, def.id, `broker did not start: ${(err as Error).message}`);
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    const run =
      spec.kind === "throughput"
        ? runThroughput(spec, broker, timing)
        : spec.kind === "latency"
          ? runLatency(spec, broker, timing)
          : spec.kind === "slow"
            ? runSlowConsumer(spec, broker, timing)
            : runStorm(spec, broker, timing);
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`run timed out after ${RUN_TIMEOUT_MS / 1000} s`)), RUN_TIMEOUT_MS);
    });
    const result = await Promise.race([run, timeout]);
    if (persistent) result.notes.push(def.persistenceNote);
    return result;
  } catch (err) {
    const exit = broker.proc.exit !== null ? ` (broker ${broker.proc.exit})` : "";
    return failed(spec.id, spec.kind, def.id, `${(err as Error).message}${exit}`);
  } finally {
    clearTimeout(timer);
    await broker.proc.stop();
  }
}

async function main(args: BenchArgs): Promise<void> {
  const started = new Date();
  const timing: settings.Timing = { ...(args.quick ? settings.QUICK : settings.FULL) };
  if (args.measureSeconds !== null) timing.measureMs = args.measureSeconds * 1000;
  const pinning = pinGenerator(!args.pin);
  const ctx = makeContext(root, pinning.brokerCpu);
  console.log(`Wharf benchmark harness (${args.quick ? "quick" : "full"} mode)`);
  console.log(`pinning: ${pinning.note}`);

  const brokerStatus: ReportMeta["brokers"] = [];
  const runnable: BrokerDef[] = [];
  for (const id of args.brokers) {
    const def = BROKERS[id];
    progress(`checking ${def.label}…`, false);
    const reason = await def.prepare(ctx);
    brokerStatus.push({ id, label: def.label, runnable: reason === null, reason });
    if (reason === null) runnable.push(def);
    progress(reason === null ? `${id}: ready` : `${id}: not runnable yet (${reason})`, true);
  }
  const machine = collectMachineInfo(root, MOSQUITTO_BIN);
  console.log(
    `machine: ${machine.nproc} CPUs (${machine.cpuModel}), node ${machine.node}, mosquitto ${machine.mosquitto}, aedes ${machine.aedes}`,
  );

  const specs = selectSpecs(allSpecs(timing.stormConnections), args.quick, args.only);
  if (specs.length === 0) throw new ArgsError(`--only ${args.only.join(",")} matches no scenario`);
  if (args.rounds !== null) timing.latencyRounds = args.rounds;
  if (args.stormRounds !== null) timing.stormRounds = args.stormRounds;
  if (args.latencyGen !== null) timing.latencyGen = args.latencyGen;
  const roundsOf = (spec: RunSpec): number =>
    spec.kind === "latency"
      ? timing.latencyRounds
      : spec.kind === "storm" && spec.mode === "hold"
        ? timing.stormRounds
        : 1;
  const total = specs.reduce((sum, spec) => sum + roundsOf(spec), 0) * args.brokers.length;
  const results: RunResult[] = [];
  let n = 0;
  for (const spec of specs) {
    // Latency and held-storm rounds are interleaved (lib/latency-rounds.ts): round 1 runs the brokers in the order given, round 2
    // in reverse, …, so a busy minute hits both; every round starts fresh broker processes.
    const rounds = roundsOf(spec);
    const byBroker = new Map<BrokerId, RunResult[]>(args.brokers.map((id) => [id, []]));
    for (let r = 0; r < rounds; r++) {
      for (const id of roundOrder(args.brokers, r)) {
        n++;
        const def = BROKERS[id];
        const round = rounds > 1 ? ` round ${r + 1}/${rounds}` : "";
        const head = `[${String(n).padStart(String(total).length)}/${total}] ${spec.id} · ${id}${round}`;
        progress(`${head} …`, false);
        const status = brokerStatus.find((b) => b.id === id);
        const runOnce = (): Promise<RunResult> =>
          runnable.includes(def)
            ? runSpec(spec, def, timing, ctx)
            : Promise.resolve(skipped(spec.id, resultKind(spec), id, `not runnable yet (${status?.reason ?? "?"})`));
        // A latency round in which the generator itself stalled is run again, for every broker alike.
        const res =
          spec.kind === "latency"
            ? await runUnlessGeneratorStalled(runOnce, (stalled) =>
                progress(`${head}: ${summary(stalled)} ⚠ generator stalled: round run again`, true),
              )
            : await runOnce();
        byBroker.get(id)!.push(res);
        progress(`${head}: ${summary(res)}`, true);
      }
    }
    for (const id of args.brokers) {
      const runs = byBroker.get(id)!;
      results.push(
        spec.kind === "latency" ? mergeRounds(runs) : spec.kind === "storm" ? mergeStormRounds(runs) : runs[0]!,
      );
    }
  }

  const meta: ReportMeta = {
    startedAt: started.toISOString(),
    durationS: (Date.now() - started.getTime()) / 1000,
    mode: isFullRun(args) ? "full" : args.quick ? "quick" : "partial",
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
    machine,
    pinning,
    brokers: brokerStatus,
    settings: {
      warmupMs: timing.warmupMs,
      measureMs: timing.measureMs,
      qos1Window: settings.QOS1_WINDOW,
      qos1Refill: settings.QOS1_REFILL,
      brokerInflight: settings.BROKER_INFLIGHT,
      batchBytes: settings.BATCH_BYTES,
      lagCapMB: settings.LAG_CAP_BYTES >> 20,
      lagCapMessages: settings.LAG_CAP_MESSAGES,
      latencyRate: settings.LATENCY_RATE,
      latencyMeasureMs: timing.latencyMeasureMs,
      latencyRoundWarmupMs: timing.latencyRoundWarmupMs,
      latencyRoundMs: timing.latencyRoundMs,
      latencyRounds: timing.latencyRounds,
      latencyGen: timing.latencyGen,
      stormConnections: timing.stormConnections,
      stormRounds: timing.stormRounds,
    },
  };
  const shown: BrokerId[] = args.brokers;
  const tables = renderResults(results, shown);
  const targets = renderTargets(results);
  console.log(`\n## Results\n\n${renderMeta(meta)}\n\n${tables}${targets ? `\n\n${targets}` : ""}\n`);

  const dir = join(root, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const json = JSON.stringify({ meta, results }, null, 2);
  const stamp = started.toISOString().replace(/[:.]/g, "-");
  writeFileSync(join(dir, `${stamp}.json`), json);
  writeFileSync(join(dir, "latest.json"), json);
  console.log(`results: bench/results/${stamp}.json (and latest.json)`);
  // A full run updates the docs only if the machine was quiet: published numbers must be comparable.
  const measuredRuns = results.filter((r) => r.status !== "skipped");
  const noisy = measuredRuns.filter((r) => (r.otherCpu ?? 0) > settings.NOISY_MACHINE).length;
  const quiet = noisy <= measuredRuns.length * MAX_NOISY_SHARE;
  if (args.writeDocs === true || (args.writeDocs === null && isFullRun(args) && quiet)) {
    updateDocs(join(root, "docs", "benchmarks.md"), meta, tables, targets);
    console.log("docs/benchmarks.md updated");
  } else if (args.writeDocs === null && isFullRun(args)) {
    console.log(
      `docs/benchmarks.md NOT updated: the machine was busy during ${noisy} of ${measuredRuns.length} runs ` +
        "(flagged noisy). Rerun on an idle machine, or force it with --write-docs.",
    );
  }
}

// `npm run bench -- --ops [--rounds=N] [--measure=S] [--only=<id>]`: the operations overhead bench (bench/ops).
if (process.argv.includes("--ops")) {
  installSignalHandlers();
  const { runOpsBench } = await import("./ops/index.ts");
  await runOpsBench(process.argv.slice(2).filter((a) => a !== "--ops"));
  killAllChildren();
  process.exit(0);
}

let args: BenchArgs;
try {
  args = parseArgs(process.argv.slice(2));
} catch (err) {
  console.error(`${(err as Error).message}\n\n${USAGE}`);
  process.exit(2);
}
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
installSignalHandlers();
main(args)
  .then(() => {
    killAllChildren();
    process.exit(0);
  })
  .catch((err: unknown) => {
    killAllChildren();
    console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
