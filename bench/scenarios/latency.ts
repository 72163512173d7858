// Latency at a fixed rate: `publishers` QoS 1 publishers (issue #10: 4) paced at `rate` msg/s together (each
// sends its due count every timer tick, ~1 ms), one subscriber; latency = receive time - send time stamped in
// the payload (same clock, same process). Only messages sent inside the measurement window are sampled, and the
// run waits for the stragglers so slow messages are never left out of the tail. One call is one round: run.ts
// repeats it on fresh brokers, interleaved between brokers, and lib/latency-rounds.ts reports the spread.
// Each round also records the generator's own stalls (lib/loop-probe.ts), and with WHARF_BENCH_LOOP_STATS=1
// Wharf's event-loop delay and GC pauses over the same window.

import os from "node:os";
import type { RunningBroker } from "../brokers/index.ts";
import type { BenchClient } from "../lib/client.ts";
import { GeneratorProbe } from "../lib/loop-probe.ts";
import { PAYLOAD_HEADER } from "../lib/mqtt-packets.ts";
import { PublishBuilder } from "../lib/publisher.ts";
import { SubscriberLedger, summarizeDelivery } from "../lib/seq-checker.ts";
import { summarizeLatency } from "../lib/stats.ts";
import type { LatencySpec } from "./catalog.ts";
import {
  WindowMeters,
  ackBatcher,
  closeAll,
  connectMany,
  measuredResult,
  runFailure,
  runTag,
  sleep,
} from "./common.ts";
import { BrokerLoopWindow } from "./broker-loop.ts";
import { runLatencyC } from "./latency-c.ts";
import { deliveryNotes, type BrokerLoopStats, type RunResult } from "./result.ts";
import { BROKER_INFLIGHT, type Timing } from "./settings.ts";

const TOPIC = "bench/latency";

/** One round, with the C generator (the default; plain TCP only) or the Node one (`--latency-gen node`). */
export function runLatency(spec: LatencySpec, broker: RunningBroker, timing: Timing): Promise<RunResult> {
  if (timing.latencyGen === "c" && broker.transport === undefined) return runLatencyC(spec, broker, timing);
  return runLatencyNode(spec, broker, timing);
}

async function runLatencyNode(spec: LatencySpec, broker: RunningBroker, timing: Timing): Promise<RunResult> {
  const tag = runTag();
  const clients: BenchClient[] = [];
  const probe = new GeneratorProbe();
  const brokerLoop = new BrokerLoopWindow(broker);
  try {
    const [sub] = await connectMany(broker, spec.protocol, [`${tag}-s0`]);
    clients.push(sub!);
    await sub!.subscribe([TOPIC], spec.qos);
    const n = spec.publishers;
    const pubs = await connectMany(
      broker,
      spec.protocol,
      Array.from({ length: n }, (_, i) => `${tag}-p${i}`),
    );
    clients.push(...pubs);

    // One stream per publisher, all on one topic.
    const seqs = new Uint32Array(n);
    const streams = Array.from({ length: n }, (_, i) => i);
    const builders = streams.map(
      (i) => new PublishBuilder([{ topic: TOPIC, streamId: i, fanout: 1 }], 1, spec.protocol, spec.payload, seqs),
    );
    const ledger = new SubscriberLedger(streams);
    const samples = new Float64Array(Math.ceil((spec.rate * timing.latencyRoundMs) / 1000) * 2 + 1000);
    let sampled = 0;
    let windowStart = Number.POSITIVE_INFINITY;
    let windowEnd = Number.POSITIVE_INFINITY;
    let delivered = 0;

    const ack = ackBatcher(sub!);
    sub!.publishHandler = (buf, start, _end, qos, packetId) => {
      const now = performance.now();
      const sentAt = buf.readDoubleLE(start + PAYLOAD_HEADER.sentAt);
      if (
        ledger.record(buf.readUInt32LE(start + PAYLOAD_HEADER.streamId), buf.readUInt32LE(start + PAYLOAD_HEADER.seq))
      ) {
        delivered++;
        if (sentAt >= windowStart && sentAt < windowEnd && sampled < samples.length) samples[sampled++] = now - sentAt;
      }
      if (qos > 0) ack(packetId);
    };

    // A publisher's window only matters when the broker falls far behind; then the rate drops and we say so.
    const inflight = new Int32Array(n);
    const sentBy = new Float64Array(n);
    let windowFullTicks = 0;
    let running = true;
    pubs.forEach((p, i) => {
      p.pubackHandler = () => {
        inflight[i]!--;
      };
    });
    const t0 = performance.now();
    let sent = 0;
    const perPublisherRate = spec.rate / n;
    const tick = (): void => {
      if (!running) return;
      const now = performance.now();
      for (let i = 0; i < n; i++) {
        const pub = pubs[i]!;
        if (pub.closed) return;
        const due = Math.floor(((now - t0) * perPublisherRate) / 1000) - sentBy[i]!;
        const k = Math.min(due, BROKER_INFLIGHT - inflight[i]!);
        if (k < due) windowFullTicks++;
        if (k > 0) {
          builders[i]!.writeTo(pub.socket, k, now);
          sentBy[i]! += k;
          sent += k;
          inflight[i]! += k;
        }
      }
      setTimeout(tick, 1);
    };
    tick();

    const meters = new WindowMeters(broker.proc.pid);
    await sleep(timing.latencyRoundWarmupMs);
    brokerLoop.open();
    windowStart = performance.now();
    const delivered0 = delivered;
    const sent0 = sent;
    const load0 = os.loadavg()[0]!;
    meters.start();
    probe.start();
    await sleep(timing.latencyRoundMs);
    windowEnd = performance.now();
    const generator = probe.stop();
    const delivered1 = delivered;
    const sent1 = sent;
    const window = meters.stop();
    brokerLoop.close();
    running = false;

    const drainStart = performance.now();
    while (
      (delivered < sent || inflight.some((x) => x > 0)) &&
      performance.now() - drainStart < timing.drainMaxMs &&
      runFailure(broker, clients) === null
    ) {
      await sleep(10);
    }

    const failure = runFailure(broker, clients);
    const { total, perPublisher } = summarizeDelivery([ledger], seqs, streams, n);
    const notes = deliveryNotes(total, 1);
    if (windowFullTicks > 0)
      notes.push(`publisher window (${BROKER_INFLIGHT}) full on ${windowFullTicks} ticks: rate not held`);
    const seconds = window.elapsedMs / 1000;
    const taken = samples.slice(0, sampled);
    return {
      ...measuredResult(spec.id, "latency", broker, window, failure, notes),
      msgsPerSec: (delivered1 - delivered0) / seconds,
      publishedPerSec: (sent1 - sent0) / seconds,
      latency: summarizeLatency(taken),
      latencySamples: taken,
      generatorStalls: generator,
      load1: Math.max(load0, os.loadavg()[0]!),
      ...withoutPauses(brokerLoop.read()),
      delivery: total,
      perPublisher,
    };
  } finally {
    await closeAll(clients);
  }
}

/** The pause list is for the C generator's tail attribution (latency-c.ts); the Node clients' clock differs. */
function withoutPauses(r: { brokerLoop?: BrokerLoopStats }): { brokerLoop?: BrokerLoopStats } {
  if (r.brokerLoop !== undefined) delete r.brokerLoop.pauses;
  return r;
}
