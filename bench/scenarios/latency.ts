// Latency at a fixed rate: one QoS 1 publisher paced at `rate` msg/s (a due-count every timer tick,
// ~1 ms), one subscriber; latency = receive time - send time stamped in the payload (same clock,
// same process). Only messages sent inside the measurement window are sampled, and the run waits
// for the stragglers so slow messages are never left out of the tail.

import type { RunningBroker } from "../brokers/index.ts";
import type { BenchClient } from "../lib/client.ts";
import { PAYLOAD_HEADER } from "../lib/mqtt-packets.ts";
import { PublishBuilder } from "../lib/publisher.ts";
import { SubscriberLedger, summarizeDelivery } from "../lib/seq-checker.ts";
import { summarizeLatency } from "../lib/stats.ts";
import type { RunSpec } from "./catalog.ts";
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
import { deliveryNotes, type RunResult } from "./result.ts";
import { BROKER_INFLIGHT, type Timing } from "./settings.ts";

type LatencySpec = Extract<RunSpec, { kind: "latency" }>;

const TOPIC = "bench/latency";

export async function runLatency(spec: LatencySpec, broker: RunningBroker, timing: Timing): Promise<RunResult> {
  const tag = runTag();
  const clients: BenchClient[] = [];
  try {
    const [sub] = await connectMany(broker, spec.protocol, [`${tag}-s0`]);
    clients.push(sub!);
    await sub!.subscribe([TOPIC], spec.qos);
    const [pub] = await connectMany(broker, spec.protocol, [`${tag}-p0`]);
    clients.push(pub!);

    const seqs = new Uint32Array(1);
    const builder = new PublishBuilder(
      [{ topic: TOPIC, streamId: 0, fanout: 1 }],
      1,
      spec.protocol,
      spec.payload,
      seqs,
    );
    const ledger = new SubscriberLedger([0]);
    const samples = new Float64Array(Math.ceil((spec.rate * timing.latencyMeasureMs) / 1000) * 2 + 1000);
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

    // The publisher's window only matters when the broker falls far behind; then the rate drops and we say so.
    let inflight = 0;
    let windowFullTicks = 0;
    let running = true;
    pub!.pubackHandler = () => {
      inflight--;
    };
    const t0 = performance.now();
    let sent = 0;
    const tick = (): void => {
      if (!running || pub!.closed) return;
      const now = performance.now();
      const due = Math.floor(((now - t0) * spec.rate) / 1000) - sent;
      const n = Math.min(due, BROKER_INFLIGHT - inflight);
      if (n < due) windowFullTicks++;
      if (n > 0) {
        builder.writeTo(pub!.socket, n, now);
        sent += n;
        inflight += n;
      }
      setTimeout(tick, 1);
    };
    tick();

    const meters = new WindowMeters(broker.proc.pid);
    await sleep(timing.latencyWarmupMs);
    windowStart = performance.now();
    const delivered0 = delivered;
    const sent0 = sent;
    meters.start();
    await sleep(timing.latencyMeasureMs);
    windowEnd = performance.now();
    const delivered1 = delivered;
    const sent1 = sent;
    const window = meters.stop();
    running = false;

    const drainStart = performance.now();
    while (
      (delivered < sent || inflight > 0) &&
      performance.now() - drainStart < timing.drainMaxMs &&
      runFailure(broker, clients) === null
    ) {
      await sleep(10);
    }

    const failure = runFailure(broker, clients);
    const { total, perPublisher } = summarizeDelivery([ledger], seqs, [0], 1);
    const notes = deliveryNotes(total, 1);
    if (windowFullTicks > 0)
      notes.push(`publisher window (${BROKER_INFLIGHT}) full on ${windowFullTicks} ticks: rate not held`);
    const seconds = window.elapsedMs / 1000;
    return {
      ...measuredResult(spec.id, "latency", broker, window, failure, notes),
      msgsPerSec: (delivered1 - delivered0) / seconds,
      publishedPerSec: (sent1 - sent0) / seconds,
      latency: summarizeLatency(samples.subarray(0, sampled)),
      delivery: total,
      perPublisher,
    };
  } finally {
    await closeAll(clients);
  }
}
