// Allocation profile of the QoS 1 latency path (issue #10): starts a Wharf server in this process (default config,
// memory storage, log level warn, management on an ephemeral port, as `npm run bench` runs it), drives the latency
// scenario's load at it with the C generator (bench/tools/latgen.c: 4 QoS 1 publishers -> 1 subscriber, 100 B,
// 10,000 msg/s), and prints the bytes allocated per message by allocation site (V8's sampling heap profiler,
// collected objects included: what the scavenges pay for), top N, for MQTT 3.1.1 or 5.0.
// Usage: node --import tsx bench/tools/lat-alloc.ts [--v5] [--seconds=3] [N]
import { startInProcessWharf } from "../lib/inprocess-wharf.ts";
import { startHeapSampling, type HeapSampling } from "../lib/heap-sampling.ts";
import { runLatgen } from "../lib/latgen.ts";
import { PROTOCOL } from "../lib/mqtt-packets.ts";

const argv = process.argv.slice(2);
const v5 = argv.includes("--v5");
const seconds = Number(argv.find((a) => a.startsWith("--seconds="))?.slice(10) ?? 3);
const top = Number(argv.find((a) => /^\d+$/.test(a)) ?? 30);
const server = await startInProcessWharf();
const port = server.port;

// The generator's warm-up (1 s) warms the JIT; the window is profiled.
let sampling: Promise<HeapSampling> | undefined;
let stopped: Promise<{ total: number; sites: [string, number][] }> | undefined;
const r = await runLatgen({
  port,
  protocol: v5 ? PROTOCOL.v5 : PROTOCOL.v311,
  prefix: `alloc${process.pid}`,
  publishers: 4,
  rate: 10_000,
  warmupMs: 1000,
  windowMs: seconds * 1000,
  drainMs: 5000,
  payload: 100,
  inflight: 1000,
  onWindowOpen: () => {
    sampling = startHeapSampling();
  },
  onWindowClose: () => {
    stopped = sampling!.then((s) => s.stop());
  },
});
const { total, sites } = await stopped!;
const count = r.deliveredInWindow;
console.log(
  `${v5 ? "MQTT 5.0" : "MQTT 3.1.1"}: ${count} messages in the window; sampled allocations ${(total / count).toFixed(0)} B per message`,
);
for (const [site, bytes] of sites.slice(0, top)) {
  console.log(`${(bytes / count).toFixed(0).padStart(7)} B  ${site}`);
}
await server.close();
