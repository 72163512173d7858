// src/admin/prom.ts loads prom-client's parts without its index (which loads @opentelemetry/api): its classes must
// be the index's own, and its default metrics the series prom-client's collectDefaultMetrics registers.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as promClient from "prom-client";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "../../../src/admin/prom.ts";

test("prom: the metric classes are prom-client's own", () => {
  assert.equal(Registry, promClient.Registry);
  assert.equal(Counter, promClient.Counter);
  assert.equal(Gauge, promClient.Gauge);
  assert.equal(Histogram, promClient.Histogram);
});

/** Per metric, in registration order: name, help, type and the label names of each sample. */
async function shape(registry: promClient.Registry): Promise<string[]> {
  const out: string[] = [];
  for (const m of await registry.getMetricsAsJSON()) {
    const labels = new Set(
      m.values.map((v) => {
        // Histograms' samples name their series (_bucket, _sum, _count); the type leaves the field out.
        const name = "metricName" in v && typeof v.metricName === "string" ? v.metricName : m.name;
        return `${name}{${Object.keys(v.labels).sort().join(",")}}`;
      }),
    );
    out.push(`${m.name} ${m.type} ${m.help} ${m.aggregator} ${[...labels].sort().join(" ")}`);
  }
  return out;
}

test("prom: the default metrics are the series of prom-client's collectDefaultMetrics, in its order", async () => {
  const ours = new Registry();
  const theirs = new Registry();
  collectDefaultMetrics(ours, 20);
  promClient.collectDefaultMetrics({ register: theirs, eventLoopMonitoringPrecision: 20 });
  const expected = await shape(theirs);
  assert.ok(expected.length > 15, `prom-client registered ${expected.length} metrics`);
  assert.ok(expected.some((line) => line.startsWith("process_cpu_seconds_total counter ")));
  assert.deepEqual(await shape(ours), expected);
  ours.clear();
  theirs.clear();
});

test("prom: the process CPU counters add the CPU used since the registry was built, user + system = total", async () => {
  const registry = new Registry();
  const before = process.cpuUsage();
  collectDefaultMetrics(registry, 20);
  const t0 = process.cpuUsage(before);
  let x = 0;
  while (process.cpuUsage(before).user - t0.user < 30_000) x += Math.sqrt(x + 1); // ~30 ms of user CPU
  assert.ok(x > 0);
  const read = async (name: string): Promise<number> => {
    const m = await registry.getSingleMetric(name)?.get();
    return m?.values[0]?.value ?? Number.NaN;
  };
  const user = await read("process_cpu_user_seconds_total");
  const system = await read("process_cpu_system_seconds_total");
  const total = await read("process_cpu_seconds_total");
  const spent = process.cpuUsage(before);
  assert.ok(user >= 0.03, `user ${user}`);
  assert.ok(user + system <= (spent.user + spent.system) / 1e6 + 1e-6, `user ${user} + system ${system}`);
  assert.ok(Math.abs(user + system - total) < 1e-9, `total ${total}`);
  const again = await read("process_cpu_seconds_total");
  assert.ok(again >= total, "a counter never goes down");
  registry.clear();
});
