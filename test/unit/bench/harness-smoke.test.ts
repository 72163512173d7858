// End to end: the harness against a real Mosquitto for a few hundred milliseconds.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { test } from "node:test";
import { BROKERS, MOSQUITTO_BIN, makeContext, startBroker } from "../../../bench/brokers/index.ts";
import { PROTOCOL } from "../../../bench/lib/mqtt-packets.ts";
import { runLatency } from "../../../bench/scenarios/latency.ts";
import { runSlowConsumer } from "../../../bench/scenarios/slow-consumer.ts";
import { QUICK } from "../../../bench/scenarios/settings.ts";
import { runThroughput } from "../../../bench/scenarios/throughput.ts";

// Windows long enough for what is asserted (messages flow, every stream checked, >100 latency samples), no longer:
// each window is a flood that Mosquitto forwards (mostly its kernel time sending). This file cost 6.4-8.4 s of CPU
// (Mosquitto 4-5.5 s of it) with 100 ms warm-ups, 300-500 ms windows and a 2 s drain below, 3.9-5.5 s with these
// (3 alternating pairs, load 3.5-5.5, 2026-12-07).
const timing = {
  ...QUICK,
  warmupMs: 50,
  measureMs: 100,
  latencyWarmupMs: 50,
  latencyRoundWarmupMs: 50,
  latencyRoundMs: 200,
};
const ctx = makeContext(process.cwd(), null);
const skip = existsSync(MOSQUITTO_BIN) ? false : `${MOSQUITTO_BIN} not installed`;
const hasCc = spawnSync(process.env["CC"] ?? "cc", ["--version"]).status === 0;

test(
  "QoS 1 fan-in over 5.0 against Mosquitto: messages flow, none lost, duplicated or reordered",
  {
    skip,
  },
  async (t) => {
    const broker = await startBroker(BROKERS.mosquitto, ctx);
    t.after(() => broker.proc.stop());
    const r = await runThroughput(
      { kind: "throughput", id: "fan-in/qos1/100B/v5", family: "fan-in", qos: 1, payload: 100, protocol: PROTOCOL.v5 },
      broker,
      timing,
    );
    assert.notEqual(r.status, "error", r.notes.join("; "));
    assert.ok((r.msgsPerSec ?? 0) > 0);
    assert.equal(r.delivery?.lost, 0);
    assert.equal(r.delivery?.duplicates, 0);
    assert.equal(r.delivery?.reordered, 0);
    assert.ok((r.delivery?.expected ?? 0) > 0);
    assert.equal(r.perPublisher?.length, 4);
    assert.ok(r.brokerRssKb !== undefined && r.brokerRssKb > 0);
  },
);

for (const latencyGen of ["c", "node"] as const) {
  const noCc = latencyGen === "c" && !hasCc ? "no C compiler (cc) for bench/tools/latgen.c" : false;
  test(
    `latency run (${latencyGen} generator) against Mosquitto samples every message sent in the window`,
    {
      skip: skip || noCc,
    },
    async (t) => {
      const broker = await startBroker(BROKERS.mosquitto, ctx);
      t.after(() => broker.proc.stop());
      const r = await runLatency(
        { kind: "latency", id: "latency", qos: 1, payload: 100, rate: 2000, publishers: 4, protocol: PROTOCOL.v311 },
        broker,
        { ...timing, latencyGen },
      );
      assert.notEqual(r.status, "error", r.notes.join("; "));
      assert.ok(r.latency !== undefined && r.latency.samples > 100, `samples ${r.latency?.samples}`);
      assert.ok(r.latency.p50 > 0 && r.latency.p50 <= r.latency.p99 && r.latency.p99 <= r.latency.max);
      assert.equal(r.latencySamples?.length, r.latency.samples);
      assert.equal(r.delivery?.lost, 0);
      assert.equal(r.delivery?.duplicates, 0);
      // 4 publishers, each with its own stream, all of them delivered.
      assert.equal(r.perPublisher?.length, 4);
      for (const p of r.perPublisher ?? []) assert.ok(p.sent > 0 && p.lost === 0, JSON.stringify(p));
      // The generator's own stalls over the window are reported next to the broker's figures.
      const g = r.generatorStalls;
      assert.ok(g !== undefined && g.loopMaxMs >= g.loopP99Ms && g.loopP99Ms >= 0, JSON.stringify(g));
      assert.ok((r.generatorCpu ?? 0) > 0); // (the broker's CPU is read in 10 ms ticks: 0 is possible in 300 ms)
      assert.ok(r.load1 !== undefined && r.load1 >= 0);
    },
  );
}

test("slow-consumer run against Mosquitto: both phases measure the healthy subscribers", { skip }, async (t) => {
  const broker = await startBroker(BROKERS.mosquitto, ctx);
  t.after(() => broker.proc.stop());
  const r = await runSlowConsumer(
    { kind: "slow", id: "slow-consumer/qos0/100B/v3.1.1", qos: 0, payload: 100, protocol: PROTOCOL.v311 },
    broker,
    {
      ...timing,
      slowBaseWarmupMs: 50,
      slowBaseMeasureMs: 100,
      slowWarmupMs: 50,
      slowMeasureMs: 200,
      // The healthy subscribers' backlog behind the stuck one is still arriving when this ends: what has not arrived
      // counts as lost, and only received + lost = expected is asserted. 2 s here kept Mosquitto busy 2.6 s.
      drainMaxMs: 500,
      drainIdleMs: 300,
    },
  );
  assert.notEqual(r.status, "error", r.notes.join("; "));
  assert.ok(r.slow !== undefined);
  assert.ok(r.slow.baselinePerSec > 0 && r.slow.stuckPerSec > 0);
  assert.ok(r.slow.rssStartKb > 0 && r.slow.rssEndKb > 0);
  assert.equal(r.delivery?.expected, r.delivery!.received + r.delivery!.lost);
});

for (const listener of ["tls", "ws"] as const) {
  test(`QoS 0 fan-in over ${listener} against Mosquitto (issue 13 rows): flows, none lost`, { skip }, async (t) => {
    const broker = await startBroker(BROKERS.mosquitto, ctx, false, listener);
    t.after(() => broker.proc.stop());
    assert.equal(broker.transport?.kind, listener);
    const id = `${listener}/fan-in/qos0/100B/v3.1.1`;
    const r = await runThroughput(
      { kind: "throughput", id, family: "fan-in", qos: 0, payload: 100, protocol: PROTOCOL.v311, transport: listener },
      broker,
      timing,
    );
    assert.notEqual(r.status, "error", r.notes.join("; "));
    assert.ok((r.msgsPerSec ?? 0) > 0);
    assert.equal(r.delivery?.lost, 0);
  });
}
