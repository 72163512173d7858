// `npm run bench:ops` (also `npm run bench -- --ops`): what operations features cost Wharf (issue 15 targets).
// The same TCP fan-in and fan-out throughput runs as the main bench (bench/scenarios/throughput.ts, every delivery
// checked, loss reported), against Wharf started from a config file in each variant:
//   off      management server disabled (no metrics), no webhook, no tracing
//   off2     (only when listed) off again, a second broker per round: off against off is the noise of the run
//   ops      management on: Prometheus metrics with per-QoS counts and the latency histograms (the defaults), plus
//            one webhook subscribed to client.connected / client.disconnected (a local HTTP sink)
//   tracing  ops + OpenTelemetry tracing at sampleRatio 0.01, OTLP/HTTP protobuf to a local sink
//   ops-nolatency (only when listed) ops with management.latencyMetrics: false (no message timed for the latency
//            histogram)
//   metrics  (only when listed) ops without the webhook: the management server and its metrics alone
//   hook     (only when listed) the webhook alone (management disabled): ops split in two, to see which half costs
//   scrape   (only when listed) ops + a Prometheus scrape (GET /metrics) before the load and one 1.5 s into it: does
//            the management server's HTTP (node:http sockets in the broker's thread) slow the broker afterwards?
//   tracing0 (only when listed) ops + tracing enabled at sampleRatio 0: the tracer installed, nothing recorded; against
//            ops it is what the unsampled path costs
//   bare     the broker core and its TCP listener without the server composition (bench/ops/bare-broker.ts): no
//            metrics registry, webhook dispatcher, event listeners, tracer or management server in the process; `off`
//            against `bare` is what the disabled operations wiring costs ("zero cost when disabled"; the core's
//            seams are in both)
//   base     (only with WHARF_BENCH_BASE_ROOT=<checkout of an older commit>) that checkout, as `off`
//   base-ops (only when listed, with WHARF_BENCH_BASE_ROOT) that checkout, as `ops`: a code A/B of the ops overhead
//   base-tracing (only when listed, with WHARF_BENCH_BASE_ROOT) that checkout, as `tracing`: a code A/B of tracing
// Variants run interleaved, round after round, so that drift of the machine spreads evenly; the median per variant
// is reported with its ratio to `off`. Two figures per run: throughput (msg/s delivered), and the broker's CPU time
// per delivered message (process CPU over the window / messages; µs). On a shared machine the second is the steadier
// measure of what a feature costs: time the broker waited for a CPU taken by other processes is not in it. For it the
// least of the rounds is reported too, with its ratio to off's least: other processes only ever add to it (cache and
// memory-bus contention; the broker's GC mode in fan-in QoS 1).
// Windows: publishing runs --warmup=S (2.5 s) before the main window opens; a first window of the same length from
// 0.5 s (the warm-up of stops 10-16) is measured too and reported in a table of its own. Why: V8 log timestamps
// (--node-flags='--log-code --log-deopt', --log-dir) put ~200 optimising compiles and ~75 deoptimisations of a
// tracing broker in the first 0.5 s of load, 36 compiles inside the 0.5-2.5 s window (the traced path's encoder,
// then broker functions compiled again), and ~11 with no deoptimisation from 2.5 to 4.5 s (docs/benchmarks.md,
// stop 17): the first window measures a fresh broker's warm-up, the main one the steady state.
// Options (--rounds and --budget: the last one given counts, so `npm run bench:ops-fan-in -- --budget=380` overrides
// the script's): --rounds=N (3), --measure=S (2 s windows), --only=<substring of the scenario id>, --variants=off,tracing
// (a subset; default off,ops,tracing[,base]; `bare` and `tracing0` only when listed: npm run bench:ops-bare),
// --ratio=R (the tracing variant's sampleRatio instead of 0.01: at 0.1 a profile shows the traced path ten times
// larger; --base-ratio=R: base-tracing's, default --ratio's: with WHARF_BENCH_BASE_ROOT=<this checkout>, two sample
// ratios of the same code interleaved, which tells a cost per trace from one every message pays once any message is
// traced), --node-flags='<flags>' (Node/V8 flags for every broker: GC experiments), --prof=<dir> (each broker runs
// with node --cpu-prof, a directory <scenario>-<variant>-r<round> per run; summarise with
// bench/tools/cpuprofile-top.ts), --ab-flags='<flags>' (each variant also runs as `<variant>+` with these node flags
// added, interleaved: an A/B of node flags in one run), --log-dir=<dir> (each broker's output saved there; with
// --node-flags=--trace-gc-nvp it shows what every scavenge kept), --snapshot-at=<ms> (SIGUSR2 to each broker that
// long after its start: with --node-flags='--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=<dir>', a heap snapshot),
// --probe-inside (the CPU probe printed with each round also runs in the middle of the window; it takes ~0.1 s of both
// CPUs there, so that window's throughput is lower: a diagnosis of slow rounds, docs/benchmarks.md stop 21).
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import os from "node:os";
import { BROKERS, makeContext, type RunningBroker } from "../brokers/index.ts";
import { freePort, installSignalHandlers, killAllChildren, spawnManaged, waitForPort } from "../lib/children.ts";
import { pinGenerator, pinned } from "../lib/machine.ts";
import { launcherNodeFlags, wharfCommand, type WharfCommand } from "../lib/wharf-launcher.ts";
import { PROTOCOL } from "../lib/mqtt-packets.ts";
import type { RunSpec } from "../scenarios/catalog.ts";
import { runThroughput } from "../scenarios/throughput.ts";
import * as settings from "../scenarios/settings.ts";
import { threadCpuSeconds, type IoReading } from "../lib/proc-stats.ts";
import { probeCpus, probeCpusLater, type CpuProbe } from "../lib/cpu-probe.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
let profDir = "";
/** --log-dir=<dir>: each broker's output saved there as <scenario>-<variant>-r<round>.log. */
let logDir = "";
let profiling = false;
/** --probe-inside: the machine probe (bench/lib/cpu-probe.ts) also in the middle of each main window. */
let probeInside = false;
/** --threads: print each broker thread's CPU in the window. */
let showThreads = false;
/** The tracing variant's sampleRatio: 0.01 (the issue's target); --ratio=<r> magnifies the traced path in a profile. */
let sampleRatio = 0.01;
/** --base-ratio=<r>: the base-tracing variant's sampleRatio (default: --ratio's). */
let baseSampleRatio = 0.01;
/** --node-flags=<flags>: V8/Node flags for every broker of the run, space-separated (GC experiments). */
let nodeFlags: string[] = [];
/** --ab-flags=none: the B runs start node without the launcher's flags (WHARF_NODE_FLAGS replaced). */
const NO_LAUNCHER_FLAGS = "none";
type Variant =
  | "off"
  | "off2"
  | "ops"
  | "ops-nolatency"
  | "metrics"
  | "hook"
  | "scrape"
  | "tracing"
  | "tracing0"
  | "bare"
  | "base"
  | "base-ops"
  | "base-tracing";

const SPECS: Extract<RunSpec, { kind: "throughput" }>[] = [
  { kind: "throughput", id: "fan-in/qos0/100B/v5", family: "fan-in", qos: 0, payload: 100, protocol: PROTOCOL.v5 },
  { kind: "throughput", id: "fan-in/qos1/100B/v5", family: "fan-in", qos: 1, payload: 100, protocol: PROTOCOL.v5 },
  { kind: "throughput", id: "fan-out/qos0/100B/v5", family: "fan-out", qos: 0, payload: 100, protocol: PROTOCOL.v5 },
  { kind: "throughput", id: "fan-out/qos1/100B/v5", family: "fan-out", qos: 1, payload: 100, protocol: PROTOCOL.v5 },
];

/**
 * A local HTTP endpoint that answers 200 to everything (webhook and OTLP sink), counting requests. In a process of
 * its own, not pinned: in the bench's process it would share the load generator's CPU, and at 1 % tracing of ~1M
 * msg/s it reads ~20,000 spans (~6 MB) a second, which took throughput from the generator and counted it as the
 * broker's loss. (A collector normally runs on another machine; here it costs the 2-CPU machine ~2-5 % of a core.)
 */
async function sink(): Promise<{ url: string; requests: () => Promise<number>; close: () => void }> {
  const code = `let n=0;const s=require("node:http").createServer((q,r)=>{q.resume();q.on("end",()=>{n++;r.end("{}")})});
s.listen(0,"127.0.0.1",()=>console.log(s.address().port));
require("node:readline").createInterface({input:process.stdin}).on("line",()=>console.log(n)).on("close",()=>process.exit(0));`;
  const child = spawn(process.execPath, ["-e", code], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const port = (await lines.next()).value as string | undefined;
  if (port === undefined) throw new Error("the HTTP sink did not start");
  return {
    url: `http://127.0.0.1:${port.trim()}`,
    requests: async () => {
      child.stdin.write("count\n");
      return Number((await lines.next()).value);
    },
    close: () => child.stdin.end(),
  };
}

function config(variant: Variant, port: number, sinkUrl: string, managementPort: number): string {
  const lines = [
    `listeners: [{ host: 127.0.0.1, port: ${port} }]`,
    "storage: { type: memory }",
    "log: { level: warn }",
    "sys: { interval: 0 }",
  ];
  const hook = `webhooks: [{ name: conn, url: "${sinkUrl}/hook", events: [client.connected, client.disconnected] }]`;
  if (variant === "off" || variant === "off2" || variant === "base") lines.push("management: { enabled: false }");
  else if (variant === "hook") lines.push("management: { enabled: false }", hook);
  else {
    // ops-nolatency: the publish-to-delivery latency histogram off (what the every-64th timed message costs).
    const extra = variant === "ops-nolatency" ? ", latencyMetrics: false" : "";
    lines.push(`management: { port: ${managementPort}${extra} }`);
    if (variant !== "metrics") lines.push(hook);
  }
  if (variant === "tracing" || variant === "tracing0" || variant === "base-tracing") {
    const ratio = variant === "tracing0" ? 0 : variant === "base-tracing" ? baseSampleRatio : sampleRatio;
    lines.push(`tracing: { enabled: true, sampleRatio: ${ratio}, endpoint: "${sinkUrl}/v1/traces" }`);
  }
  return lines.join("\n") + "\n";
}

async function startWharf(
  variant: Variant,
  ctx: ReturnType<typeof makeContext>,
  sinkUrl: string,
  baseRoot: string | undefined,
  profile: string | undefined,
  gcLog: string,
  extraFlags: readonly string[] = [],
): Promise<RunningBroker & { managementPort: number; spawnedAt: number }> {
  const port = await freePort();
  const managementPort = variant === "scrape" ? await freePort() : 0;
  const file = join(ctx.tmp, `wharf-ops-${variant}-${port}.yaml`);
  writeFileSync(file, config(variant, port, sinkUrl, managementPort));
  const old = variant === "base" || variant === "base-ops" || variant === "base-tracing";
  const cwd = old ? baseRoot! : root;
  // One directory per run: the tsx loader's worker thread writes a profile of its own next to the main thread's
  // (the larger file is the broker).
  const prof = profile === undefined || !profiling ? [] : ["--cpu-prof", `--cpu-prof-dir=${join(profDir, profile)}`];
  // The GC meter is plain JavaScript: bin/wharf.js registers tsx itself, after node's own --import preloads.
  const extra = [...nodeFlags, ...prof, "--import", pathToFileURL(join(root, "bench/ops/gc-meter.mjs")).href];
  // Wharf as users start it: `wharf start` through bin/wharf.js, which execs node with the launcher's flags (its
  // `flags=` lines); ours are appended. `bare` (no CLI) and `base` (a checkout older than the launcher) get the
  // launcher's flags of this checkout explicitly, so that only the code differs. --ab-flags=none: no launcher flags.
  const launcher = extraFlags[0] === NO_LAUNCHER_FLAGS ? [] : launcherNodeFlags(root);
  const own = extraFlags.filter((f) => f !== NO_LAUNCHER_FLAGS);
  let run: WharfCommand;
  if (variant === "bare") {
    run = {
      cmd: process.execPath,
      args: [...launcher, ...own, ...extra, "--import", "tsx", "bench/ops/bare-broker.ts", String(port)],
      env: {},
    };
  } else {
    run = wharfCommand(cwd, ["start", "--config", file], [...(old ? launcher : []), ...own, ...extra]);
    // Replacing the launcher's list (WHARF_NODE_FLAGS) instead of adding to it: here only for --ab-flags=none.
    if (!old && launcher.length === 0 && run.env["WHARF_NODE_FLAGS"] !== undefined)
      run.env["WHARF_NODE_FLAGS"] = [...own, ...extra].join(" ");
  }
  const [cmd, argv] = pinned(ctx.cpu, run.cmd, run.args);
  const spawnedAt = Date.now();
  const proc = spawnManaged(cmd, argv, cwd, { ...run.env, WHARF_GC_LOG: gcLog });
  if (logDir !== "" && profile !== undefined) {
    // --log-dir: the broker's whole output (with --node-flags=--trace-gc: every collection and why it ran).
    const out = createWriteStream(join(logDir, `${profile}.log`));
    proc.child.stdout?.pipe(out);
    proc.child.stderr?.pipe(out);
  }
  try {
    await waitForPort(proc, port, 30_000);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return { def: BROKERS.wharf, proc, port, managementPort, spawnedAt };
}

/** One Prometheus-style scrape of the broker's /metrics (the `scrape` variant); the text's length. */
async function scrape(port: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  return (await res.text()).length;
}

/**
 * The broker's GC pauses within the measurement window (gc-meter.mjs), as a share of its busy time there, and how many
 * mark-compacts; undefined when the broker left no log (killed). The pauses are wall time: on a busy machine they
 * include time the main thread waited for the CPU, so they are divided by the window × (CPU + run-queue wait).
 */
function gcInWindow(
  file: string,
  window: { startMs: number; endMs: number } | undefined,
  busy: number,
): { share: number; majors: number; oldSpaceMB: number } | undefined {
  if (window === undefined || !(busy > 0) || !existsSync(file)) return undefined;
  const { entries, oldSpace } = JSON.parse(readFileSync(file, "utf8")) as {
    entries: [number, number, number][];
    oldSpace: [number, number][];
  };
  const oldSpaceMB = oldSpace.filter(([t]) => t <= window.startMs).at(-1)?.[1] ?? Number.NaN;
  let ms = 0;
  let majors = 0;
  for (const [start, duration, major] of entries) {
    const from = Math.max(start, window.startMs);
    const to = Math.min(start + duration, window.endMs);
    if (to <= from) continue;
    ms += to - from;
    majors += major;
  }
  return { share: Math.min(1, ms / ((window.endMs - window.startMs) * busy)), majors, oldSpaceMB };
}

/**
 * Per-thread CPU of the broker, sampled every 100 ms during a run, so that a window's CPU can be split into the main
 * thread (JavaScript, GC pauses) and the others (V8's platform threads: concurrent marking and compilation; the HTTP
 * worker; libuv): the broker is pinned to one core, so every thread's CPU is taken from the main thread's core.
 */
function threadSampler(
  pid: number,
  httpWorker: boolean,
): {
  stop(): void;
  split(window: { startMs: number; endMs: number } | undefined): Map<string, number> | undefined;
} {
  const samples: [number, Map<string, number>][] = [];
  const take = (): void => {
    samples.push([Date.now(), threadCpuSeconds(pid, true)]);
  };
  take();
  const timer = setInterval(take, 100);
  const at = (ms: number): Map<string, number> | undefined =>
    samples.reduce<[number, Map<string, number>] | undefined>(
      (best, s) => (best === undefined || Math.abs(s[0] - ms) < Math.abs(best[0] - ms) ? s : best),
      undefined,
    )?.[1];
  return {
    stop: () => clearInterval(timer),
    split(window) {
      if (window === undefined) return undefined;
      const a = at(window.startMs);
      const b = at(window.endMs);
      if (a === undefined || b === undefined) return undefined;
      const out = new Map<string, number>();
      // The HTTP worker (webhook/OTLP variants) is the thread started last, a "node" like V8's platform threads,
      // which start with the process: the highest "node#<tid - pid>".
      const nodeTids = [...b.keys()].filter((n) => n.startsWith("node#")).map((n) => Number(n.slice(5)));
      const worker = httpWorker && nodeTids.length > 0 ? `node#${Math.max(...nodeTids)}` : "";
      const each: string[] = [];
      for (const [name, s] of b) {
        const d = s - (a.get(name) ?? 0);
        const key = name === "main" ? "main" : name === worker ? "worker" : "other";
        if (d > 0) out.set(key, (out.get(key) ?? 0) + d);
        if (d > 0) each.push(`${name} ${(d * 1000).toFixed(0)} ms`);
      }
      // --threads: every thread's CPU in the window (which of V8's platform threads, libuv's pool, the worker).
      if (showThreads) console.log(`    threads in the window: ${each.join(", ")}`);
      return out;
    },
  };
}

/**
 * When the first window opens (ms after publishing starts; the main window's warm-up until stop 16). A run with
 * --warmup above this + the window measures both: the first window keeps the figures comparable with earlier stops.
 */
const FIRST_WINDOW_MS = 500;
/** Default --warmup (s). */
const DEFAULT_WARMUP_S = 2.5;

/** A run whose GC took less than this share of the broker's CPU is in the fast mode (the slow one: 26-38 %). */
const FAST_GC = 0.15;

const pct = (x: number): string => (Number.isFinite(x) ? `${(x * 100).toFixed(1)} %` : "?");

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0
    ? Number.NaN
    : s.length % 2 === 1
      ? s[(s.length - 1) / 2]!
      : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

export async function runOpsBench(argv: readonly string[]): Promise<void> {
  const rounds = Number(argv.findLast((a) => a.startsWith("--rounds="))?.slice(9) ?? 3);
  const budgetS = Number(argv.findLast((a) => a.startsWith("--budget="))?.slice(9) ?? 0);
  const measure = Number(argv.find((a) => a.startsWith("--measure="))?.slice(10) ?? 2);
  const only = argv.find((a) => a.startsWith("--only="))?.slice(7);
  const baseRoot = process.env["WHARF_BENCH_BASE_ROOT"];
  const wanted = argv
    .find((a) => a.startsWith("--variants="))
    ?.slice(11)
    .split(",");
  const variants = (
    [
      "off",
      "off2",
      "ops",
      "ops-nolatency",
      "metrics",
      "hook",
      "scrape",
      "tracing",
      "tracing0",
      "bare",
      ...(baseRoot === undefined ? [] : (["base", "base-ops", "base-tracing"] as const)),
    ] as Variant[]
  ).filter((v) => (wanted === undefined ? ["off", "ops", "tracing", "base"].includes(v) : wanted.includes(v))); // only when asked for
  nodeFlags = (argv.find((a) => a.startsWith("--node-flags="))?.slice(13) ?? "").split(" ").filter((f) => f !== "");
  // --ab-flags=<flags>: every variant runs twice per round, as itself and as `<variant>+` with these flags added
  // (an interleaved A/B of node flags).
  const abFlags = (argv.find((a) => a.startsWith("--ab-flags="))?.slice(11) ?? "").split(" ").filter((f) => f !== "");
  const runs = variants.flatMap((v) =>
    abFlags.length === 0
      ? [{ name: v, variant: v, extra: [] as string[] }]
      : [
          { name: v, variant: v, extra: [] as string[] },
          { name: `${v}+`, variant: v, extra: abFlags },
        ],
  );
  sampleRatio = Number(argv.find((a) => a.startsWith("--ratio="))?.slice(8) ?? 0.01);
  baseSampleRatio = Number(argv.find((a) => a.startsWith("--base-ratio="))?.slice(13) ?? sampleRatio);
  profDir = resolve(argv.find((a) => a.startsWith("--prof="))?.slice(7) ?? "");
  profiling = argv.some((a) => a.startsWith("--prof="));
  showThreads = argv.includes("--threads");
  probeInside = argv.includes("--probe-inside");
  logDir = argv.find((a) => a.startsWith("--log-dir="))?.slice(10) ?? "";
  if (logDir !== "") mkdirSync(logDir, { recursive: true });
  // --warmup=S: publishing before the main window opens. With more than FIRST_WINDOW_MS + the window, a first window
  // (the old 0.5 s warm-up's) is measured too and reported in a table of its own (see FIRST_WINDOW_MS).
  const warmup = Number(argv.find((a) => a.startsWith("--warmup="))?.slice(9) ?? DEFAULT_WARMUP_S);
  const timing: settings.Timing = {
    ...settings.FULL,
    warmupMs: warmup * 1000,
    measureMs: measure * 1000,
    firstWindowMs: FIRST_WINDOW_MS,
  };
  const pinning = pinGenerator(argv.includes("--no-pin"));
  const ctx = makeContext(root, pinning.brokerCpu);
  const s = await sink();
  console.log(`ops overhead bench: ${rounds} rounds × ${measure} s windows; ${pinning.note}`);
  console.log(
    `load average before: ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(", ")}`,
  );
  const specs = SPECS.filter((x) => only === undefined || x.id.includes(only));
  const rows: string[] = [];
  const firstRows: string[] = [];
  const probeLines: string[] = [];
  const started = performance.now();
  let roundsDone = 0;
  for (const [si, spec] of specs.entries()) {
    const rates: Record<string, number[]> = {};
    const cpuUs: Record<string, number[]> = {};
    const losses: Record<string, number> = {};
    const gcShares: Record<string, number[]> = {};
    // The broker's CPU per message on its main thread and on all its other threads (threadSampler).
    const mainCpu: Record<string, number[]> = {};
    const otherCpu: Record<string, number[]> = {};
    let scenarioRounds = 0;
    // Per round, for the paired ratios (each variant against off of the same round, which ran beside it).
    const roundRates: Record<string, number[]> = {};
    const roundCpu: Record<string, number[]> = {};
    const probes: ProbedRound[] = [];
    // The first window's figures per round (--warmup above FIRST_WINDOW_MS + the window).
    const firstRates: Record<string, number[]> = {};
    const firstCpu: Record<string, number[]> = {};
    for (let r = 0; r < rounds; r++) {
      // --budget=<s>: whole rounds only, none started that would end past the budget (at the pace of the rounds so
      // far, the scenarios still to run included), so that the bench lock's 240 s kill never loses the whole run.
      if (budgetS > 0 && roundsDone > 0) {
        const perRound = (performance.now() - started) / 1000 / roundsDone;
        const left = rounds - r + (specs.length - 1 - si) * Math.max(1, scenarioRounds);
        if ((performance.now() - started) / 1000 + perRound * left > budgetS && scenarioRounds >= 3) {
          console.log(`  ${spec.id}: stopped after ${scenarioRounds} rounds (--budget=${budgetS} s)`);
          break;
        }
      }
      // The variants' order rotates from round to round: no variant always runs first after the previous one's
      // exit, or last (position effects of the sink's state, the page cache, the other processes' rhythm).
      const order = runs.map((_, i) => runs[(i + r) % runs.length]!);
      for (const { name: v, variant, extra } of order) {
        const name = `${spec.id.replaceAll("/", "-")}-${v}-r${r + 1}`;
        const gcLog = join(ctx.tmp, `gc-${name}.json`);
        rmSync(gcLog, { force: true });
        const probeBefore = probeCpus(pinning.brokerCpu, pinning.generatorCpu);
        const broker = await startWharf(
          variant,
          ctx,
          s.url,
          baseRoot,
          profiling || logDir !== "" ? name : undefined,
          gcLog,
          extra,
        );
        let res: Awaited<ReturnType<typeof runThroughput>>;
        // The scrape variant: one scrape before the load (the stream code then knows the HTTP server's sockets before
        // it is optimised for the broker's), one during it.
        let scrapeTimer: NodeJS.Timeout | undefined;
        if (variant === "scrape") {
          await scrape(broker.managementPort);
          const mp = broker.managementPort;
          scrapeTimer = setTimeout(() => void scrape(mp).catch(() => undefined), 1500);
        }
        // --snapshot-at=<ms>: a heap snapshot of the broker that long after its start (diagnosis; needs
        // --node-flags='--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=<dir>').
        const snapAt = Number(argv.find((a) => a.startsWith("--snapshot-at="))?.slice(14) ?? 0);
        const snap = snapAt > 0 ? setTimeout(() => process.kill(broker.proc.pid, "SIGUSR2"), snapAt) : undefined;
        const threads = threadSampler(
          broker.proc.pid,
          variant !== "off" && variant !== "off2" && variant !== "metrics" && variant !== "bare",
        );
        // --probe-inside: the machine probe once more, in the middle of the main window (the load starts a few
        // tens of ms after runThroughput is called: close enough for a 2 s window).
        let inside: Promise<CpuProbe> | undefined;
        const insideTimer = probeInside
          ? setTimeout(
              () => {
                inside = probeCpusLater(pinning.brokerCpu, pinning.generatorCpu);
              },
              timing.warmupMs + timing.measureMs / 2,
            )
          : undefined;
        try {
          res = await runThroughput(spec, broker, timing);
        } finally {
          clearTimeout(insideTimer);
          threads.stop();
          clearTimeout(snap);
          clearTimeout(scrapeTimer);
          await broker.proc.stop(); // the GC log is written at exit
        }
        const probeAfter = probeCpus(pinning.brokerCpu, pinning.generatorCpu);
        const probeIn = inside === undefined ? undefined : await inside;
        // Inside the window when measured there; else the two around it (the larger round trip: it slows by steps,
        // ~50 against ~300 ns, when the host moves a vCPU).
        const probe = probeIn?.iterNs ?? (probeBefore.iterNs + probeAfter.iterNs) / 2;
        const trip = probeIn?.tripNs ?? Math.max(probeBefore.tripNs, probeAfter.tripNs);
        (rates[v] ??= []).push(res.msgsPerSec ?? Number.NaN);
        const perMsg = ((res.brokerCpu ?? Number.NaN) * 1e6) / (res.msgsPerSec ?? Number.NaN);
        const split = threads.split(res.window);
        const msgs =
          (res.msgsPerSec ?? Number.NaN) *
          (res.window === undefined ? Number.NaN : (res.window.endMs - res.window.startMs) / 1000);
        const mainUs = ((split?.get("main") ?? Number.NaN) * 1e6) / msgs;
        const otherUs = (((split?.get("other") ?? 0) + (split?.get("worker") ?? 0)) * 1e6) / msgs;
        const workerUs = ((split?.get("worker") ?? 0) * 1e6) / msgs;
        (mainCpu[v] ??= []).push(mainUs);
        (otherCpu[v] ??= []).push(otherUs);
        (cpuUs[v] ??= []).push(perMsg);
        const gc = gcInWindow(gcLog, res.window, (res.brokerCpu ?? Number.NaN) + (res.brokerWaited ?? 0));
        (gcShares[v] ??= []).push(gc?.share ?? Number.NaN);
        losses[v] = (losses[v] ?? 0) + (res.delivery?.lost ?? 0);
        const flags = res.notes.filter((n) => !n.startsWith("publishers paused"));
        const gcText =
          gc === undefined
            ? "gc ?"
            : `gc ${pct(gc.share)} of its busy time, ${gc.majors} mark-compacts, old space ${gc.oldSpaceMB.toFixed(1)} MB at the window's start`;
        (roundRates[v] ??= [])[r] = res.msgsPerSec ?? Number.NaN;
        const firstPerMsg = res.first === undefined ? Number.NaN : (res.first.brokerCpu * 1e6) / res.first.msgsPerSec;
        (firstRates[v] ??= [])[r] = res.first?.msgsPerSec ?? Number.NaN;
        (firstCpu[v] ??= [])[r] = firstPerMsg;
        const firstText =
          res.first === undefined
            ? ""
            : `first window ${Math.round(res.first.msgsPerSec)} msg/s at ${firstPerMsg.toFixed(3)} µs/msg; then `;
        (roundCpu[v] ??= [])[r] = perMsg;
        // The load generator (this process, on the other CPU, its code long optimised): its CPU per message moves
        // with the machine and with the broker's batching, not with the broker's own code.
        const genUs = ((res.generatorCpu ?? Number.NaN) * 1e6) / (res.msgsPerSec ?? Number.NaN);
        probes.push({ variant: v, probe, trip, perMsg, genUs });
        // --log-dir: where the window fell in the broker's life (ms after its spawn), to place the timestamps of a
        // V8 log (--node-flags='--log-code --log-deopt --logfile=…': µs since V8 started) against it.
        if (logDir !== "" && res.window !== undefined)
          writeFileSync(
            join(logDir, `${name}.window`),
            [res.first?.window, res.window]
              .filter((w) => w !== undefined)
              .map((w) => `${w.startMs - broker.spawnedAt} ${w.endMs - broker.spawnedAt}\n`)
              .join(""),
          );
        console.log(
          `  ${spec.id} ${v.padEnd(8)} round ${r + 1}: ${firstText}${Math.round(res.msgsPerSec ?? 0)} msg/s, broker ${Math.round((res.brokerCpu ?? 0) * 100)}% cpu (${perMsg.toFixed(3)} µs/msg: main ${mainUs.toFixed(3)}, other threads ${otherUs.toFixed(3)} (HTTP worker ${workerUs.toFixed(3)}); ${gcText}; ${ioText(res.brokerIo, msgs)}; CPU probe ${probe.toFixed(2)} ns, CPU to CPU ${Math.round(probeBefore.tripNs)}/${Math.round(probeAfter.tripNs)} ns${probeIn === undefined ? "" : `, inside the window ${probeIn.iterNs.toFixed(2)} ns and ${Math.round(probeIn.tripNs)} ns`}; generator ${genUs.toFixed(3)} µs/msg), lost ${res.delivery?.lost ?? "?"}${flags.length > 0 ? ` ⚠ ${flags.join("; ")}` : ""}`,
        );
      }
      scenarioRounds++;
      roundsDone++;
    }
    probeLines.push(probeSummary(spec.id, probes));
    const ref = rates.off === undefined ? runs[0]!.name : "off";
    /** Median over the rounds of (variant / reference) within each round. */
    const paired = (per: Record<string, number[]>, v: string): number =>
      median((per[v] ?? []).map((x, i) => x / per[ref]![i]!).filter((x) => Number.isFinite(x)));
    const off = median(rates[ref] ?? []);
    const offCpu = median(cpuUs[ref] ?? []);
    for (const { name: v } of runs) {
      const m = median(rates[v] ?? []);
      const ratio = m / off;
      const c = median(cpuUs[v] ?? []);
      const cs = cpuUs[v] ?? [];
      const cMin = Math.min(...cs);
      const gcs = gcShares[v] ?? [];
      // The runs in the fast GC mode (fan-in QoS 1 is bimodal: ~5 % or 26-38 %): their median CPU per message.
      const fast = cs.filter((_, i) => gcs[i]! < FAST_GC);
      const fastText = fast.length === 0 ? "–" : `${median(fast).toFixed(3)} (${fast.length})`;
      const fr = median(firstRates[v] ?? []) / median(firstRates[ref] ?? []);
      const fc = median(firstCpu[v] ?? []) / median(firstCpu[ref] ?? []);
      const fcs = (firstCpu[v] ?? []).filter((x) => Number.isFinite(x));
      if (fcs.length > 0)
        firstRows.push(
          `| ${spec.id} | ${v} | ${Math.round(median(firstRates[v] ?? [])).toLocaleString("en-US")} | ${v === ref ? "" : `${((1 - fr) * 100).toFixed(1)} %`} | ${median(fcs).toFixed(3)} (${Math.min(...fcs).toFixed(3)}–${Math.max(...fcs).toFixed(3)}) | ${v === ref ? "" : `${((fc - 1) * 100).toFixed(1)} %`} | ${v === ref ? "" : `${((1 - paired(firstRates, v)) * 100).toFixed(1)} % / ${((paired(firstCpu, v) - 1) * 100).toFixed(1)} %`} |`,
        );
      rows.push(
        `| ${spec.id} | ${v} | ${Math.round(m).toLocaleString("en-US")} (${(rates[v] ?? []).length}) | ${v === ref ? "1.00" : ratio.toFixed(2)} | ${v === ref ? "" : `${((1 - ratio) * 100).toFixed(1)} %`} | ${c.toFixed(3)} (${cMin.toFixed(3)}–${Math.max(...cs).toFixed(3)}) | ${v === ref ? "" : `${((c / offCpu - 1) * 100).toFixed(1)} %`} | ${v === ref ? "" : `${((cMin / Math.min(...(cpuUs[ref] ?? [])) - 1) * 100).toFixed(1)} %`} | ${v === ref ? "" : `${((1 - paired(roundRates, v)) * 100).toFixed(1)} % / ${((paired(roundCpu, v) - 1) * 100).toFixed(1)} %`} | ${median(mainCpu[v] ?? []).toFixed(3)} / ${median(otherCpu[v] ?? []).toFixed(3)} | ${gcs.map(pct).join(", ")} | ${fastText} | ${losses[v] ?? 0} |`,
      );
    }
  }
  console.log(
    `load average after: ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(", ")}`,
  );
  console.log(`webhook/OTLP sink requests: ${await s.requests()}`);
  s.close();
  console.log(
    `\n| scenario | variant | msg/s: median (rounds) | vs off | throughput lost vs off | broker CPU µs/msg: median (min–max) | CPU/msg vs off: medians | CPU/msg vs off: minima | paired by round (median of per-round ratios): throughput lost / CPU/msg | CPU µs/msg, medians: main thread / other threads | GC share of broker CPU, per round | CPU µs/msg, median of rounds with GC < ${pct(FAST_GC)} (rounds) | lost messages |`,
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const r of rows) console.log(r);
  console.log("");
  for (const l of probeLines) console.log(l);
  if (firstRows.length === 0) return;
  console.log(
    `\nFirst window (${FIRST_WINDOW_MS / 1000}-${FIRST_WINDOW_MS / 1000 + measure} s after publishing starts: the warm-up of stops 10-16)`,
  );
  console.log(
    "| scenario | variant | msg/s: median | throughput lost vs off | broker CPU µs/msg: median (min–max) | CPU/msg vs off: medians | paired by round: throughput lost / CPU/msg |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- |");
  for (const r of firstRows) console.log(r);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  installSignalHandlers();
  runOpsBench(process.argv.slice(2))
    .then(() => {
      killAllChildren();
      process.exit(0);
    })
    .catch((err: unknown) => {
      killAllChildren();
      console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    });
}

/**
 * The broker's system calls per message over the window, and bytes per call: a broker that reads in small batches
 * pays the per-read costs (a read, a decode loop, a flush) over fewer messages.
 */
function ioText(io: IoReading | undefined, msgs: number): string {
  if (io === undefined || !Number.isFinite(io.reads)) return "io ?";
  const perK = (n: number): string => ((n * 1000) / msgs).toFixed(1);
  const per = (bytes: number, calls: number): string =>
    (calls > 0 ? Math.round(bytes / calls) : 0).toLocaleString("en-US");
  return `${perK(io.reads)} reads / 1000 msgs, ${per(io.readBytes, io.reads)} B each; ${perK(io.writes)} writes, ${per(io.writeBytes, io.writes)} B each`;
}

/** A round this much above its variant's median CPU per message counts as slow (the modes are ~1.0 and ~1.4 µs). */
const SLOW_ROUND = 1.2;

interface ProbedRound {
  variant: string;
  /** bench/tools/cpu-probe.c on the broker's CPU, ns per iteration: mean of the runs before and after the round. */
  probe: number;
  /** bench/tools/cpu-probe.c: ns per round trip between the broker's and the generator's CPU, before or after. */
  trip: number;
  perMsg: number;
  /** The load generator's CPU per message in the same window. */
  genUs: number;
}

/**
 * Whether the slow rounds of a scenario are the machine's: the correlation over its rounds between the CPU probe and
 * the broker's CPU per message relative to the median of its variant (so that variants of different cost pool).
 */
function probeSummary(id: string, rounds: readonly ProbedRound[]): string {
  const ok = rounds.filter((r) => Number.isFinite(r.probe) && Number.isFinite(r.perMsg) && Number.isFinite(r.genUs));
  if (ok.length < 3) return `CPU probe, ${id}: too few rounds`;
  const mid = new Map<string, number>();
  for (const v of new Set(ok.map((r) => r.variant)))
    mid.set(v, median(ok.filter((r) => r.variant === v).map((r) => r.perMsg)));
  const rel = ok.map((r) => r.perMsg / mid.get(r.variant)!);
  const probeR = pearson(
    ok.map((r) => r.probe),
    rel,
  );
  const tripR = pearson(
    ok.map((r) => r.trip),
    rel,
  );
  const genR = pearson(
    ok.map((r) => r.genUs),
    rel,
  );
  const xs = ok.map((r) => r.probe);
  // Slow rounds in the order the brokers ran: a per-process mode (a coin toss at each start) scatters them, a
  // machine that runs slower for a while puts consecutive brokers of every variant into it.
  const order = rel.map((x) => (x >= SLOW_ROUND ? "S" : "·")).join("");
  const slow = rel.filter((x) => x >= SLOW_ROUND).length;
  return `CPU probe on the broker's CPU, ${id}: ${median(xs).toFixed(2)} ns per iteration (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}) over ${ok.length} rounds; correlation with the broker's CPU per message (relative to its variant's median): r = ${probeR.toFixed(2)}; CPU to CPU round trip ${median(ok.map((r) => r.trip)).toFixed(0)} ns (${Math.min(...ok.map((r) => r.trip)).toFixed(0)}–${Math.max(...ok.map((r) => r.trip)).toFixed(0)}), against it r = ${tripR.toFixed(2)}; the load generator's CPU per message against it: r = ${genR.toFixed(2)}. Rounds ≥ ${SLOW_ROUND}× their variant's median CPU per message: ${slow} of ${ok.length}, in the order run: ${order}`;
}

/** Pearson's correlation coefficient of two equally long series (NaN when either is constant). */
function pearson(xs: readonly number[], ys: readonly number[]): number {
  const mean = (a: readonly number[]): number => a.reduce((x, y) => x + y, 0) / a.length;
  const mx = mean(xs);
  const my = mean(ys);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < xs.length; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
    syy += (ys[i]! - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
}
