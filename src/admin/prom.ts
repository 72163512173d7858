// prom-client's metric classes and its default process metrics, loaded without prom-client's index. The index
// loads every part of the package (Summary with tdigest and bintrees, the Pushgateway, the cluster aggregator) and,
// through its process-CPU metric, all of @opentelemetry/api (48 files), which that metric reads only when
// exemplars are enabled; Wharf never enables them. So a server with tracing off loads no OpenTelemetry at all
// (issue 15: zero cost when disabled); tracing, when enabled, loads the API itself (src/admin/tracing.ts).
// From tsc's dist/ (what `wharfmq/server` embedders import) an LMDB start opened 358 files instead of 421 and took
// 0.26 s of CPU instead of 0.29 (8 alternating pairs, 2026-12-07; `require("prom-client")` 0.08-0.09 s against 0.02
// for the four classes, `node -e 0` 0.02). The CLI bundle (scripts/bundle-cli.mjs) bundles prom-client and the API,
// where a file costs little: there the difference is inside the noise (0.134 against 0.136 s, 14 rounds;
// docs/benchmarks.md, issue 9 stop 21).
//
// The paths are prom-client 15's `lib/` files (the package has no `exports` map, so they are reachable);
// test/unit/admin/prom.test.ts checks that these classes are the index's and that the default metrics below are
// the series `collectDefaultMetrics` registers, in its order, with its help and types.
import { createRequire } from "node:module";
import type * as PromClient from "prom-client";

const requireHere = createRequire(import.meta.url);
const part = <T>(path: string): T => requireHere(`prom-client/lib/${path}`) as T;

export type Registry = PromClient.Registry;
export type Counter<T extends string = string> = PromClient.Counter<T>;
export type Gauge<T extends string = string> = PromClient.Gauge<T>;
export type Histogram<T extends string = string> = PromClient.Histogram<T>;

export const Registry = part<typeof PromClient.Registry>("registry");
export const Counter = part<typeof PromClient.Counter>("counter");
export const Gauge = part<typeof PromClient.Gauge>("gauge");
export const Histogram = part<typeof PromClient.Histogram>("histogram");

/** One of prom-client's default metrics: registers its series in `registry`. */
type DefaultMetric = (registry: Registry, config: { register: Registry; eventLoopMonitoringPrecision: number }) => void;

/**
 * prom-client's `collectDefaultMetrics` list after its process-CPU metric, in its order (lib/defaultMetrics.js);
 * `processResources` only where Node has `process.getActiveResourcesInfo`, as there.
 */
const AFTER_CPU = [
  "processStartTime",
  "osMemoryHeap",
  "processOpenFileDescriptors",
  "processMaxFileDescriptors",
  "eventLoopLag",
  ...(typeof process.getActiveResourcesInfo === "function" ? ["processResources"] : []),
  "processHandles",
  "processRequests",
  "heapSizeAndUsed",
  "heapSpacesSizeAndUsed",
  "version",
  "gc",
];

/**
 * The series of prom-client's `collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision })`,
 * without exemplars: the process-CPU counters as prom-client's lib/metrics/processCpuTotal.js makes them (CPU
 * since the registry was built, all three set by the first one's collect), then prom-client's own others.
 */
export function collectDefaultMetrics(registry: Registry, eventLoopMonitoringPrecision: number): void {
  let last = process.cpuUsage();
  const user = new Counter({
    name: "process_cpu_user_seconds_total",
    help: "Total user CPU time spent in seconds.",
    registers: [registry],
    collect() {
      const now = process.cpuUsage();
      const userMicros = now.user - last.user;
      const systemMicros = now.system - last.system;
      last = now;
      user.inc(userMicros / 1e6);
      system.inc(systemMicros / 1e6);
      total.inc((userMicros + systemMicros) / 1e6);
    },
  });
  const system = new Counter({
    name: "process_cpu_system_seconds_total",
    help: "Total system CPU time spent in seconds.",
    registers: [registry],
  });
  const total = new Counter({
    name: "process_cpu_seconds_total",
    help: "Total user and system CPU time spent in seconds.",
    registers: [registry],
  });
  const config = { register: registry, eventLoopMonitoringPrecision };
  for (const name of AFTER_CPU) part<DefaultMetric>(`metrics/${name}`)(registry, config);
}
