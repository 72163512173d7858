// One latency round with the C generator (bench/tools/latgen.c, bench/lib/latgen.ts): the same shape as the Node
// round in latency.ts (publishers -> 1 subscriber, QoS 1, paced per 1 ms tick, samples of messages sent in the
// window, a drain for stragglers), measured without the Node generator's own GC, JIT and timer stalls. The broker's
// CPU is read between the tool's "window open" and "window closed" lines.
import os from "node:os";
import type { RunningBroker } from "../brokers/index.ts";
import { runLatgen } from "../lib/latgen.ts";
import { summarizeLatency } from "../lib/stats.ts";
import { shareInPauses } from "../lib/tail-attribution.ts";
import { BrokerLoopWindow } from "./broker-loop.ts";
import type { LatencySpec } from "./catalog.ts";
import { WindowMeters, measuredResult, runTag, type WindowReading } from "./common.ts";
import { deliveryNotes, type RunResult } from "./result.ts";
import { BROKER_INFLIGHT, type Timing } from "./settings.ts";

export async function runLatencyC(spec: LatencySpec, broker: RunningBroker, timing: Timing): Promise<RunResult> {
  const meters = new WindowMeters(broker.proc.pid);
  const brokerLoop = new BrokerLoopWindow(broker);
  let window: WindowReading | undefined;
  let load0 = Number.NaN;
  const r = await runLatgen({
    port: broker.port,
    protocol: spec.protocol,
    prefix: runTag(),
    publishers: spec.publishers,
    rate: spec.rate,
    warmupMs: timing.latencyRoundWarmupMs,
    windowMs: timing.latencyRoundMs,
    drainMs: timing.drainMaxMs,
    payload: spec.payload,
    inflight: BROKER_INFLIGHT,
    onWindowOpen: () => {
      load0 = os.loadavg()[0]!;
      brokerLoop.open();
      meters.start();
    },
    onWindowClose: () => {
      window = meters.stop();
      brokerLoop.close();
    },
  });
  if (window === undefined) throw new Error("latgen never closed its window");
  const seconds = r.windowMs / 1000;
  // The tool's CPU stands in for the generator's (this process only waited).
  const reading: WindowReading = { ...window, generatorCpu: r.cpuSeconds / seconds };
  const failure = broker.proc.exit !== null ? `broker exited during the run (${broker.proc.exit})` : null;
  const delivery = {
    expected: r.sent,
    received: r.delivered,
    lost: r.lost,
    lostAtTail: 0,
    duplicates: r.duplicates,
    reordered: r.reordered,
    unexpected: 0,
    stray: 0,
  };
  const notes = deliveryNotes(delivery, 1);
  const loop = brokerLoop.read();
  const latency = summarizeLatency(r.samples.slice());
  const pauses = loop.brokerLoop?.pauses;
  const gcInTail =
    pauses === undefined
      ? undefined
      : {
          p99: shareInPauses(r.samples, r.sentAt, pauses, latency.p99),
          p999: shareInPauses(r.samples, r.sentAt, pauses, latency.p999),
        };
  if (loop.brokerLoop !== undefined) delete loop.brokerLoop.pauses; // not kept in the JSON: hundreds per run
  if (r.windowFullTicks > 0)
    notes.push(`publisher window (${BROKER_INFLIGHT}) full on ${r.windowFullTicks} ticks: rate not held`);
  return {
    ...measuredResult(spec.id, "latency", broker, reading, failure, notes),
    msgsPerSec: r.deliveredInWindow / seconds,
    publishedPerSec: r.sentInWindow / seconds,
    latency,
    latencySamples: r.samples,
    generatorStalls: { loopP99Ms: r.tickLateP99Ms, loopMaxMs: r.tickLateMaxMs, gcCount: 0, gcTotalMs: 0, gcMaxMs: 0 },
    load1: Math.max(load0, os.loadavg()[0]!),
    ...loop,
    ...(gcInTail !== undefined ? { gcInTail } : {}),
    delivery,
    perPublisher: r.perPublisher.map((p, i) => ({
      publisher: i,
      sent: p.sent,
      received: p.received,
      lost: p.sent - p.received,
      lostAtTail: 0,
      duplicates: 0,
      reordered: 0,
      unexpected: 0,
      expected: p.sent,
    })),
  };
}
