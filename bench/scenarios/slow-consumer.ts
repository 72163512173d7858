// Slow consumer (issue #10): 1 publisher -> 10 subscribers of one topic, QoS 0, open loop. Two phases on the
// same broker process:
//   1. baseline: all 10 subscribers read; the 9 "healthy" ones' delivery rate is measured;
//   2. stuck: 10 fresh subscribers, the 10th never reads its socket (paused right after SUBACK, so the kernel
//      buffers fill and the broker sees a client that stopped reading). The healthy rate is measured again
//      over a long window (60 s in a full run) while the broker's RSS is sampled every second.
// Result: healthy rate stuck / baseline (target >= 90 %), the healthy subscribers' loss (target 0), what the
// stuck one missed once it reads again, the broker's own drop counter ($SYS/broker/messages/dropped, as
// last published) and the RSS at start and end of the stuck window. A broker whose RSS passes
// RSS_SAFETY_LIMIT_KB is stopped early (it would otherwise eat the shared machine) and the run says so.

import type { RunningBroker } from "../brokers/index.ts";
import type { BenchClient } from "../lib/client.ts";
import { PAYLOAD_HEADER } from "../lib/mqtt-packets.ts";
import { processMemory } from "../lib/proc-stats.ts";
import { PublishBuilder } from "../lib/publisher.ts";
import { SubscriberLedger, summarizeDelivery, type DeliveryTotals } from "../lib/seq-checker.ts";
import type { RunSpec } from "./catalog.ts";
import { WindowMeters, closeAll, connectMany, measuredResult, runFailure, runTag, sleep } from "./common.ts";
import { deliveryNotes, type RunResult, type SlowConsumerResult } from "./result.ts";
import { BATCH_BYTES, type Timing } from "./settings.ts";

type SlowSpec = Extract<RunSpec, { kind: "slow" }>;

export const SLOW = { subscribers: 10, topic: "bench/slow" } as const;
/** The harness stops a stuck phase when the broker's RSS passes this (KB): 2 GiB. */
export const RSS_SAFETY_LIMIT_KB = 2 * 1024 * 1024;

interface Phase {
  /** Deliveries/s to the healthy subscribers (all but the last) inside the window. */
  healthyPerSec: number;
  healthy: DeliveryTotals;
  stuck: DeliveryTotals | null;
  rssStartKb: number;
  rssEndKb: number;
  windowMs: number;
  rssLimitHit: boolean;
  brokerDropped: number | null;
  reading: ReturnType<WindowMeters["stop"]>;
  failure: string | null;
}

export async function runSlowConsumer(spec: SlowSpec, broker: RunningBroker, timing: Timing): Promise<RunResult> {
  const base = await phase(spec, broker, timing, false, timing.slowBaseWarmupMs, timing.slowBaseMeasureMs);
  if (base.failure !== null) return measuredResult(spec.id, "slow", broker, base.reading, base.failure, []);
  const stuck = await phase(spec, broker, timing, true, timing.slowWarmupMs, timing.slowMeasureMs);
  const notes = deliveryNotes({ ...stuck.healthy, stray: 0 }, 0).map((n) => `healthy subscribers: ${n}`);
  if (stuck.rssLimitHit) {
    notes.push(`stuck phase stopped after ${(stuck.windowMs / 1000).toFixed(0)} s: broker RSS passed 2 GiB`);
  }
  const result: SlowConsumerResult = {
    baselinePerSec: base.healthyPerSec,
    stuckPerSec: stuck.healthyPerSec,
    healthyShare: base.healthyPerSec > 0 ? stuck.healthyPerSec / base.healthyPerSec : Number.NaN,
    healthyLost: stuck.healthy.lost,
    stuckMissed: stuck.stuck?.lost ?? 0,
    brokerDropped: stuck.brokerDropped,
    rssStartKb: stuck.rssStartKb,
    rssEndKb: stuck.rssEndKb,
    stuckMs: Math.round(stuck.windowMs),
    rssLimitHit: stuck.rssLimitHit,
  };
  return {
    ...measuredResult(spec.id, "slow", broker, stuck.reading, stuck.failure, notes),
    msgsPerSec: stuck.healthyPerSec,
    delivery: { ...stuck.healthy, stray: 0 },
    slow: result,
  };
}

async function phase(
  spec: SlowSpec,
  broker: RunningBroker,
  timing: Timing,
  withStuck: boolean,
  warmupMs: number,
  measureMs: number,
): Promise<Phase> {
  const tag = runTag();
  const clients: BenchClient[] = [];
  const n = SLOW.subscribers;
  try {
    const subs = await connectMany(
      broker,
      spec.protocol,
      Array.from({ length: n }, (_, i) => `${tag}-s${i}`),
    );
    clients.push(...subs);
    await Promise.all(subs.map((c) => c.subscribe([SLOW.topic], 0)));
    const stuckSub = withStuck ? subs[n - 1]! : null;
    stuckSub?.socket.pause(); // never reads again until the phase is over
    // The broker's own drop counter, as it publishes it in $SYS (Wharf and Mosquitto: every 10 s).
    let brokerDropped: number | null = null;
    if (withStuck) {
      const [sys] = await connectMany(broker, spec.protocol, [`${tag}-sys`]);
      clients.push(sys!);
      sys!.publishHandler = (buf, start, end) => {
        const v = Number(buf.toString("utf8", start, end));
        if (Number.isFinite(v)) brokerDropped = v;
      };
      await sys!.subscribe(["$SYS/broker/messages/dropped"], 0).catch(() => undefined);
    }
    const [pub] = await connectMany(broker, spec.protocol, [`${tag}-p0`]);
    clients.push(pub!);

    const seqs = new Uint32Array(1);
    const ledgers = subs.map(() => new SubscriberLedger([0]));
    let healthyDelivered = 0;
    subs.forEach((sub, i) => {
      const ledger = ledgers[i]!;
      const healthy = sub !== stuckSub;
      if (healthy) sub.coalesceReads = true;
      sub.publishHandler = (buf, start) => {
        if (
          ledger.record(buf.readUInt32LE(start + PAYLOAD_HEADER.streamId), buf.readUInt32LE(start + PAYLOAD_HEADER.seq))
        )
          if (healthy) healthyDelivered++;
      };
    });
    const builder = new PublishBuilder(
      [{ topic: SLOW.topic, streamId: 0, fanout: n }],
      0,
      spec.protocol,
      spec.payload,
      seqs,
    );
    let publishing = true;
    const batch = builder.batchCount(BATCH_BYTES);
    const p = pub!;
    const pump = (): void => {
      if (!publishing || p.closed) return;
      if (builder.writeTo(p.socket, batch, performance.now())) setImmediate(pump);
      else p.socket.once("drain", pump);
    };
    pump();

    await sleep(warmupMs);
    const meters = new WindowMeters(broker.proc.pid);
    const d0 = healthyDelivered;
    const rssStartKb = processMemory(broker.proc.pid).rssKb;
    meters.start();
    let rssLimitHit = false;
    const t0 = performance.now();
    while (performance.now() - t0 < measureMs) {
      await sleep(Math.min(1000, measureMs - (performance.now() - t0)));
      if (
        runFailure(
          broker,
          clients.filter((c) => c !== stuckSub),
        ) !== null
      )
        break;
      if (processMemory(broker.proc.pid).rssKb > RSS_SAFETY_LIMIT_KB) {
        rssLimitHit = true;
        break;
      }
    }
    const d1 = healthyDelivered;
    const reading = meters.stop();
    const rssEndKb = reading.rssKb;
    publishing = false;

    // Let the healthy subscribers catch up, then the stuck one reads again and gets whatever it still can.
    const healthySubs = subs.filter((s) => s !== stuckSub);
    const healthyExpected = (): number => seqs[0]! * healthySubs.length;
    await drain(() => healthyDelivered, healthyExpected, timing);
    if (stuckSub !== null) {
      const ledger = ledgers[n - 1]!;
      stuckSub.socket.resume();
      await drain(
        () => ledger.total,
        () => seqs[0]!,
        timing,
      );
    }
    const failure = runFailure(
      broker,
      clients.filter((c) => c !== stuckSub),
    );
    const publisherOf = new Int32Array(1);
    const healthy = summarizeDelivery(
      ledgers.filter((_, i) => subs[i] !== stuckSub),
      seqs,
      publisherOf,
      1,
    ).total;
    const stuck = stuckSub !== null ? summarizeDelivery([ledgers[n - 1]!], seqs, publisherOf, 1).total : null;
    return {
      healthyPerSec: (d1 - d0) / (reading.elapsedMs / 1000),
      healthy,
      stuck,
      rssStartKb,
      rssEndKb,
      windowMs: reading.elapsedMs,
      rssLimitHit,
      brokerDropped,
      reading,
      failure,
    };
  } finally {
    await closeAll(clients);
  }
}

/** Waits until `count()` reaches `expected()`, nothing arrived for drainIdleMs, or drainMaxMs passed. */
async function drain(count: () => number, expected: () => number, timing: Timing): Promise<void> {
  const start = performance.now();
  let last = count();
  let lastChange = start;
  for (;;) {
    const now = performance.now();
    const c = count();
    if (c >= expected()) return;
    if (c !== last) {
      last = c;
      lastChange = now;
    }
    if (now - lastChange > timing.drainIdleMs || now - start > timing.drainMaxMs) return;
    await sleep(10);
  }
}
