// Allocation profile of the connect path: starts a Wharf server in this process (default config, memory storage,
// log level warn, management on an ephemeral port, as `npm run bench` runs it), drives connect cycles at it with
// the C storm generator (bench/tools/connstorm.c), and prints the bytes allocated per connect cycle by allocation
// site (V8's sampling heap profiler, collected objects included), top N.
// Usage: node --import tsx bench/tools/conn-alloc.ts [--hold] [N]
//   default: churn (connect + CONNACK + DISCONNECT + close) for 3 s; --hold: 5,000 connections opened and held.
import { Session } from "node:inspector/promises";
import { createLogger, loadConfig, startServer } from "../../src/server/index.ts";
import { churnConnections, holdConnections } from "../lib/connstorm.ts";

interface SamplingNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: SamplingNode[];
}

const hold = process.argv.includes("--hold");
const top = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 40);
const overrides = {
  listeners: [{ host: "127.0.0.1", port: 0 }],
  log: { level: "warn" as const },
  storage: { type: "memory" as const },
  management: { port: 0 },
};
const config = loadConfig(undefined, overrides);
const server = await startServer(config, { logger: createLogger(config.log), overrides });
const port = server.listeners.find((l) => l.type === "tcp")!.port;

// Warm up (JIT), then profile.
await churnConnections(port, 4, "warm", 100, 0, 1000);
const session = new Session();
session.connect();
await session.post("HeapProfiler.startSampling", {
  samplingInterval: 4096,
  includeObjectsCollectedByMajorGC: true,
  includeObjectsCollectedByMinorGC: true,
});
let count: number;
if (hold) {
  const run = holdConnections(port, 4, "prof", 5000, 100);
  count = (await run.connected).connected;
  await run.release();
} else {
  const r = await churnConnections(port, 4, "prof", 100, 0, 3000);
  count = r.inWindow;
}
const { profile } = (await session.post("HeapProfiler.stopSampling")) as { profile: { head: SamplingNode } };
session.disconnect();

const bySite = new Map<string, number>();
let total = 0;
const frameName = (f: SamplingNode["callFrame"]): string =>
  `${f.functionName || "(anonymous)"}  ${f.url.replace(/^.*\/wt\/[^/]+\//, "")}:${f.lineNumber + 1}`;
// Built-ins (Map, Array push, …) have no url: name their JS caller too.
const walk = (n: SamplingNode, parent = ""): void => {
  const here = frameName(n.callFrame);
  if (n.selfSize > 0) {
    const key = n.callFrame.url === "" ? `${here} ← ${parent}` : here;
    bySite.set(key, (bySite.get(key) ?? 0) + n.selfSize);
    total += n.selfSize;
  }
  for (const c of n.children) walk(c, here);
};
walk(profile.head);
console.log(
  `${count} ${hold ? "held connects" : "connect cycles"}; sampled allocations ${(total / count).toFixed(0)} B per connect`,
);
for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${(bytes / count).toFixed(0).padStart(7)} B  ${site}`);
}
await server.close();
