// Allocation profile of the connect path: starts a Wharf server in this process (default config, memory storage,
// log level warn, management on an ephemeral port, as `npm run bench` runs it), drives connect cycles at it with
// the C storm generator (bench/tools/connstorm.c), and prints the bytes allocated per connect cycle by allocation
// site (V8's sampling heap profiler, collected objects included), top N.
// Usage: node --import tsx bench/tools/conn-alloc.ts [--hold] [N]
//   default: churn (connect + CONNACK + DISCONNECT + close) for 3 s; --hold: 5,000 connections opened and held.
import { churnConnections, holdConnections } from "../lib/connstorm.ts";
import { startInProcessWharf } from "../lib/inprocess-wharf.ts";
import { startHeapSampling } from "../lib/heap-sampling.ts";

const hold = process.argv.includes("--hold");
const top = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 40);
const server = await startInProcessWharf();
const port = server.port;

// Warm up (JIT), then profile.
await churnConnections(port, 4, "warm", 100, 0, 1000);
const sampling = await startHeapSampling();
let count: number;
if (hold) {
  const run = holdConnections(port, 4, "prof", 5000, 100);
  count = (await run.connected).connected;
  await run.release();
} else {
  const r = await churnConnections(port, 4, "prof", 100, 0, 3000);
  count = r.inWindow;
}
const { total, sites } = await sampling.stop();
console.log(
  `${count} ${hold ? "held connects" : "connect cycles"}; sampled allocations ${(total / count).toFixed(0)} B per connect`,
);
for (const [site, bytes] of sites.slice(0, top)) {
  console.log(`${(bytes / count).toFixed(0).padStart(7)} B  ${site}`);
}
await server.close();
