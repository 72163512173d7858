// Per-connection memory of the broker: RSS/heap before and after N idle MQTT connections (from a child process).
// Usage: node --expose-gc --import tsx bench/tools/conn-memory.ts   (BASELINE=1: a bare net.Server for comparison)
import net from "node:net";
import { Broker } from "../../src/broker/index.ts";
import { listenTcp } from "../../src/transport/tcp/index.ts";
import { createLogger } from "../../src/server/index.ts";
import { fork } from "node:child_process";

const N = 5000;
const logger = createLogger({ level: "warn", format: "json" } as never);
const broker = new Broker({}, process.env["NOLOG"] === "1" ? {} : { logger });
// BASELINE=1: a bare net.Server that answers CONNACK (what Node's sockets alone cost).
const baseline = process.env["BASELINE"] === "1";
const bare = net.createServer((s) => s.on("data", () => s.write(Buffer.from([0x20, 2, 0, 0]))));
const l = baseline
  ? await new Promise<{ port: number }>((r) =>
      bare.listen(0, "127.0.0.1", () => r({ port: (bare.address() as net.AddressInfo).port })),
    )
  : await listenTcp(broker, { host: "127.0.0.1", port: 0 });
const g = (globalThis as { gc?: () => void }).gc!;
const snap = () => {
  g();
  g();
  const m = process.memoryUsage();
  return m;
};
const before = snap();
const heapSnap = process.env["SNAP"] === "1";
if (heapSnap) (await import("node:v8")).writeHeapSnapshot("/tmp/prof/before.heapsnapshot");
const child = fork(new URL("./conn-memory-clients.mjs", import.meta.url).pathname, [String(l.port), String(N)]);
await new Promise<void>((r) => child.on("message", () => r()));
await new Promise((r) => setTimeout(r, 500));
const after = snap();
if (heapSnap) (await import("node:v8")).writeHeapSnapshot("/tmp/prof/after.heapsnapshot");
for (const k of ["rss", "heapUsed", "external", "arrayBuffers"] as const)
  console.log(k, ((after[k] - before[k]) / N / 1024).toFixed(2), "KB/conn");
child.kill();
process.exit(0);
