// Held-storm rounds against ONE broker process (issue #10): why the first storm of a fresh broker costs more than
// later ones. Starts Wharf as `npm run bench` does (through bin/wharf.js and its node flags; default config, --log-level warn, management on an ephemeral
// port, memory storage, pinned to CPU 0), then runs <rounds> × (hold <connections> with the C generator on CPU 1,
// 100 in flight; wait 300 ms; release them; wait 300 ms), printing for each round the broker's CPU per connect (from
// /proc, all threads), split by thread (main = JavaScript and GC pauses; the V8 platform workers, named "node" =
// TurboFan compiles and concurrent GC), connects/s and RSS. Round 1 is what `storm/5000-conns` measures (a fresh
// broker); later rounds show the warm cost. The 300 ms pauses separate the phases in a profile's timeline
// (`cpuprofile-top.ts --segments`).
// Usage: node --import tsx bench/tools/storm-rounds.ts [rounds = 3] [connections = 5000]
//   WHARF_BENCH_NODE_ARGS="--trace-gc" adds node flags to the broker; STORM_ROUNDS_LOG=<file> keeps its output,
//     with a "=== round N starts" line where each round starts (to cut a --trace-gc / --trace-opt log by round).
//   STORM_ROUNDS_SERVER=bare runs bench/tools/bare-connack.mjs instead (bare Node: the floor); any other value is a
//     script run as `node <script> <port>`, e.g. bench/tools/raw-connack.mjs (bare Node on libuv's TCP handles, without
//     net.Socket: the floor of src/transport/tcp/raw.ts).
import { createWriteStream, readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { holdConnections } from "../lib/connstorm.ts";
import { freePort, installSignalHandlers, spawnManaged, waitForPort } from "../lib/children.ts";
import { pinGenerator, pinned } from "../lib/machine.ts";
import { wharfCommand } from "../lib/wharf-launcher.ts";
import { clockTicksPerSecond, parseStatCpuTicks, processCpuSeconds, processMemory } from "../lib/proc-stats.ts";

/** CPU seconds per thread name (main thread = the process's own name; V8 workers, libuv pool…), summed by name. */
function threadCpu(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const name =
        tid === String(pid)
          ? "main"
          : `${readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim()}#${Number(tid) - pid}`;
      const s = parseStatCpuTicks(readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8")) / clockTicksPerSecond();
      out.set(name, (out.get(name) ?? 0) + s);
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

/** Minor page faults, user and system CPU seconds of the whole process (/proc/<pid>/stat fields 10, 14, 15). */
function faultsAndCpu(pid: number): { minflt: number; user: number; sys: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // f[n - 3] is field n
  const hz = clockTicksPerSecond();
  return { minflt: Number(f[7]), user: Number(f[11]) / hz, sys: Number(f[12]) / hz };
}

const root = fileURLToPath(new URL("../..", import.meta.url));
const [roundsArg = "3", connsArg = "5000"] = process.argv.slice(2);
installSignalHandlers();
const pin = pinGenerator(false);
const extra = (process.env["WHARF_BENCH_NODE_ARGS"] ?? "").split(/\s+/).filter((a) => a !== "");
const port = await freePort();
const serverEnv = process.env["STORM_ROUNDS_SERVER"];
const server = serverEnv === "bare" ? fileURLToPath(new URL("./bare-connack.mjs", import.meta.url)) : serverEnv;
const wharfArgs = ["start", "--host", "127.0.0.1", "--port", String(port), "--log-level", "warn"];
wharfArgs.push("--management-port", "0", "--storage", "memory");
// Wharf through its launcher (bin/wharf.js, with its node flags), as `wharf start` and `npm run bench` run it.
const run =
  server !== undefined
    ? { cmd: process.execPath, args: [...extra, server, String(port)], env: {} }
    : wharfCommand(root, wharfArgs, extra);
const [cmd, argv] = pinned(pin.brokerCpu, run.cmd, run.args);
const proc = spawnManaged(cmd, argv, root, run.env);
const logPath = process.env["STORM_ROUNDS_LOG"];
const log = logPath !== undefined ? createWriteStream(logPath) : undefined;
if (log !== undefined) {
  proc.child.stdout?.pipe(log);
  proc.child.stderr?.pipe(log);
}
await waitForPort(proc, port, 30_000);
// STORM_ROUNDS_SETTLE_MS: how long the started broker idles before round 1 (300 ms, as the storm scenario waits).
await new Promise((r) => setTimeout(r, Number(process.env["STORM_ROUNDS_SETTLE_MS"] ?? 300)));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
console.log(`pinning: ${pin.note}; broker pid ${proc.pid}`);
for (let r = 1; r <= Number(roundsArg); r++) {
  const rss0 = processMemory(proc.pid).rssKb;
  const cpu0 = processCpuSeconds(proc.pid);
  const threads0 = threadCpu(proc.pid);
  const fc0 = faultsAndCpu(proc.pid);
  log?.write(`=== round ${r} starts\n`); // in the broker's output, to cut a --trace-opt/--trace-gc log by round
  const run = holdConnections(port, 4, `r${r}`, Number(connsArg), 100);
  const reading = await run.connected;
  const cpu = processCpuSeconds(proc.pid) - cpu0;
  const rss1 = processMemory(proc.pid).rssKb;
  const threads1 = threadCpu(proc.pid);
  const fc1 = faultsAndCpu(proc.pid);
  await sleep(300); // apart from the release in a profile's timeline (cpuprofile-top.ts --segments)
  await run.release();
  await sleep(300);
  console.log(
    `round ${r}: ${reading.connected} connects in ${reading.elapsedMs.toFixed(0)} ms = ` +
      `${((reading.connected / reading.elapsedMs) * 1000).toFixed(0)}/s, broker CPU ` +
      `${((cpu * 1e6) / Math.max(1, reading.connected)).toFixed(1)} µs/connect, ` +
      `RSS ${(rss0 / 1024).toFixed(1)} → ${(rss1 / 1024).toFixed(1)} MB, errors ${reading.errors}`,
  );
  const perThread = [...threads1]
    .map(([name, s]) => [name, ((s - (threads0.get(name) ?? 0)) * 1e6) / reading.connected] as const)
    .filter(([, us]) => us > 0)
    .map(([name, us]) => `${name} ${us.toFixed(1)}`);
  console.log(`  µs/connect by thread: ${perThread.join(", ")}`);
  // Kernel time and page faults: a fresh broker's heap grows by ~30 MB during the storm (one fault per 4 KB page).
  const per = (x: number): string => ((x * 1e6) / reading.connected).toFixed(1);
  console.log(
    `  user ${per(fc1.user - fc0.user)} µs, sys ${per(fc1.sys - fc0.sys)} µs per connect; ` +
      `${((fc1.minflt - fc0.minflt) / reading.connected).toFixed(2)} minor faults per connect`,
  );
}
await proc.stop();
