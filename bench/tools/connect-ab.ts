// Broker CPU per connect cycle, two Wharf checkouts A/B interleaved (issue #10). On a shared, busy machine a wall
// rate says little and even CPU time per operation moves with the load; alternating short windows between the two
// brokers exposes both to the same conditions, so their ratio is what the change did.
// Both brokers run as `npm run bench` runs Wharf (default config, --log-level warn, management on an ephemeral
// port, memory storage), pinned to CPU 0; the C storm generator (bench/tools/connstorm.c) runs on CPU 1 and keeps
// 100 cycles in flight: TCP connect + CONNECT + CONNACK + DISCONNECT + the broker's close + close.
// Usage: node --import tsx bench/tools/connect-ab.ts <checkout A> [checkout B = this one] [rounds = 10]
import { fileURLToPath } from "node:url";
import { churnConnections } from "../lib/connstorm.ts";
import { freePort, installSignalHandlers, spawnManaged, waitForPort } from "../lib/children.ts";
import { pinGenerator, pinned } from "../lib/machine.ts";
import { processCpuSeconds } from "../lib/proc-stats.ts";
import { wharfCommand } from "../lib/wharf-launcher.ts";

const here = fileURLToPath(new URL("../..", import.meta.url));
const [rootA, rootB = here, roundsArg = "10"] = process.argv.slice(2);
if (rootA === undefined) {
  console.error("usage: connect-ab.ts <checkout A> [checkout B] [rounds]");
  process.exit(2);
}
installSignalHandlers();
const pin = pinGenerator(false);
const WINDOW_MS = 1000;

async function start(root: string): Promise<{ root: string; pid: number; port: number; stop: () => Promise<void> }> {
  const port = await freePort();
  const args = ["start", "--host", "127.0.0.1", "--port", String(port)];
  args.push("--log-level", "warn", "--management-port", "0", "--storage", "memory");
  const run = wharfCommand(root, args); // through each checkout's launcher (bin/wharf.js), with its node flags
  const [cmd, argv] = pinned(pin.brokerCpu, run.cmd, run.args);
  const proc = spawnManaged(cmd, argv, root, run.env);
  await waitForPort(proc, port, 30_000);
  return { root, pid: proc.pid, port, stop: () => proc.stop() };
}

const brokers = [await start(rootA), await start(rootB)];
const totals = brokers.map(() => ({ cycles: 0, cpu: 0, perRound: [] as number[] }));
for (const b of brokers) await churnConnections(b.port, 4, "warm", 100, 0, 3000); // JIT warm-up
const rounds = Number(roundsArg);
for (let r = 0; r < rounds; r++) {
  // ABAB… then BABA… on alternate rounds, so neither always goes first.
  const order = r % 2 === 0 ? [0, 1] : [1, 0];
  for (const i of order) {
    const b = brokers[i]!;
    const cpu0 = processCpuSeconds(b.pid);
    const res = await churnConnections(b.port, 4, `ab${r}x${i}`, 100, 0, WINDOW_MS);
    if (res.windowErrors > 0) throw new Error(`${b.root}: ${res.windowErrors} failed cycles, first: ${res.firstError}`);
    const cpu = processCpuSeconds(b.pid) - cpu0;
    // Every cycle the broker worked on in this window, including the last ones completed after the window closed.
    const t = totals[i]!;
    t.cycles += res.inWindow;
    t.cpu += cpu;
    t.perRound.push((cpu * 1e6) / Math.max(1, res.inWindow));
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`pinning: ${pin.note}; ${rounds} rounds of ${WINDOW_MS} ms per broker`);
brokers.forEach((b, i) => {
  const t = totals[i]!;
  console.log(
    `${i === 0 ? "A" : "B"} ${b.root}: ${t.cycles} cycles, broker CPU ${((t.cpu * 1e6) / t.cycles).toFixed(1)} µs/cycle ` +
      `(median of rounds ${median(t.perRound).toFixed(1)}, min ${Math.min(...t.perRound).toFixed(1)})`,
  );
});
const [a, b] = totals;
console.log(`B/A broker CPU per cycle: ${((b!.cpu / b!.cycles / (a!.cpu / a!.cycles)) * 100).toFixed(1)} %`);
for (const x of brokers) await x.stop();
