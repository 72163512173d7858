// Throughput scenarios: publishers send as fast as flow control allows, subscribers count and check
// every message; msgs/s = unique messages delivered to subscribers inside the measurement window.
//   QoS 0: batches of PUBLISHes, next batch once the socket drained (TCP backpressure).
//   QoS 1: QOS1_WINDOW messages in flight per publisher, refilled as PUBACKs arrive.
//   Both: an end-to-end backlog cap (LAG_CAP_*) so a broker that queues without limit cannot eat RAM;
//   open-loop specs (issue #10) have none: publishers are held back by TCP (and QoS 1 windows) only.

import type { RunningBroker } from "../brokers/index.ts";
import type { BenchClient } from "../lib/client.ts";
import { PAYLOAD_HEADER } from "../lib/mqtt-packets.ts";
import { PublishBuilder } from "../lib/publisher.ts";
import { SubscriberLedger, summarizeDelivery } from "../lib/seq-checker.ts";
import { buildTopology, type RunSpec } from "./catalog.ts";
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
import {
  BATCH_BYTES,
  OPEN_LOOP_DRAIN_MS,
  LAG_CAP_BYTES,
  LAG_CAP_MESSAGES,
  QOS1_REFILL,
  QOS1_WINDOW,
  type Timing,
} from "./settings.ts";

type ThroughputSpec = Extract<RunSpec, { kind: "throughput" }>;

/** Shared delivery counters of one run. */
class Flow {
  publishing = true;
  /** Unique messages delivered, all subscribers together. */
  delivered = 0;
  /** Deliveries given up on while paused at the backlog cap (counted as lost in the final check). */
  writtenOff = 0;
  lagCapPauses = 0;
  badPayloads = 0;
  private parked: (() => void)[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly builders: readonly PublishBuilder[],
    private readonly capMessages: number,
  ) {}

  expected(): number {
    let n = 0;
    for (const b of this.builders) n += b.expectedDeliveries;
    return n;
  }

  overCap(): boolean {
    return this.expected() - this.delivered - this.writtenOff > this.capMessages;
  }

  /** Parks a publisher until the backlog is below the cap, or delivery has stalled for 300 ms. */
  park(resume: () => void): void {
    this.lagCapPauses++;
    this.parked.push(resume);
    if (this.timer !== null) return;
    let last = this.delivered;
    let lastChange = performance.now();
    this.timer = setInterval(() => {
      const now = performance.now();
      if (this.delivered !== last) {
        last = this.delivered;
        lastChange = now;
      } else if (now - lastChange > 300) {
        this.writtenOff = this.expected() - this.delivered; // the broker dropped these (or is stuck)
      }
      if (!this.publishing || !this.overCap()) this.release();
    }, 2);
  }

  release(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    for (const fn of this.parked.splice(0)) setImmediate(fn);
  }
}

export async function runThroughput(spec: ThroughputSpec, broker: RunningBroker, timing: Timing): Promise<RunResult> {
  const topo = buildTopology(spec.family);
  const tag = runTag();
  const clients: BenchClient[] = [];
  try {
    const subs = await connectMany(
      broker,
      spec.protocol,
      topo.subscribers.map((_, i) => `${tag}-s${i}`),
      { persistent: spec.persistent === true },
    );
    clients.push(...subs);
    await Promise.all(subs.map((c, i) => c.subscribe(topo.subscribers[i]!, spec.qos)));
    const pubs = await connectMany(
      broker,
      spec.protocol,
      topo.publishers.map((_, i) => `${tag}-p${i}`),
    );
    clients.push(...pubs);

    const seqs = new Uint32Array(topo.streamCount);
    const publisherOf = new Int32Array(topo.streamCount);
    const expectedStreams: number[][] = topo.subscribers.map(() => []);
    topo.publishers.forEach((topics, p) => {
      for (const t of topics) {
        publisherOf[t.streamId] = p;
        for (const s of t.subscribers) expectedStreams[s]!.push(t.streamId);
      }
    });
    const ledgers = expectedStreams.map((ids) => new SubscriberLedger(ids));
    const builders = topo.publishers.map(
      (topics) =>
        new PublishBuilder(
          topics.map((t) => ({ topic: t.topic, streamId: t.streamId, fanout: t.subscribers.length })),
          spec.qos,
          spec.protocol,
          spec.payload,
          seqs,
        ),
    );
    const packetBytes = spec.payload + 32;
    // Open loop: no backlog cap at all, so a broker that reads faster than it writes shows it (loss or RSS).
    const cap = spec.openLoop === true ? Infinity : Math.min(LAG_CAP_MESSAGES, Math.floor(LAG_CAP_BYTES / packetBytes));
    const flow = new Flow(builders, cap);
    const window = spec.qos1Window ?? QOS1_WINDOW;

    subs.forEach((sub, i) => {
      sub.coalesceReads = true;
      installSubscriber(sub, ledgers[i]!, flow, spec.payload);
    });
    const inflight = pubs.map(() => 0);
    const meters = new WindowMeters(broker.proc.pid);

    // Go: start every publisher.
    pubs.forEach((pub, i) => {
      const b = builders[i]!;
      if (spec.qos === 0) {
        const n = b.batchCount(BATCH_BYTES);
        const pump = (): void => {
          if (!flow.publishing || pub.closed) return;
          if (flow.overCap()) return flow.park(pump);
          if (b.writeTo(pub.socket, n, performance.now())) setImmediate(pump);
          else pub.socket.once("drain", pump);
        };
        pump();
      } else {
        let parked = false;
        const refill = (): void => {
          const room = window - inflight[i]!;
          // Refill in steps of QOS1_REFILL: a broker that acks each PUBLISH in its own segment would
          // otherwise have the generator write one message per syscall. The window stays >= 90% full.
          if (!flow.publishing || room < QOS1_REFILL || pub.closed || parked) return;
          // A broker acks QoS 1 once queued, not once delivered: the backlog cap bounds its queue too.
          if (flow.overCap()) {
            parked = true;
            flow.park(() => {
              parked = false;
              refill();
            });
            return;
          }
          inflight[i]! += room;
          b.writeTo(pub.socket, room, performance.now());
        };
        pub.pubackHandler = () => {
          inflight[i]!--;
        };
        pub.chunkHandler = refill;
        refill();
      }
    });

    // Timing.firstWindowMs: a window of the same length while the broker is still warming up (bench:ops), then the
    // main window from warmupMs.
    let first: RunResult["first"];
    const firstAt = timing.firstWindowMs;
    if (firstAt !== undefined && firstAt + timing.measureMs <= timing.warmupMs) {
      await sleep(firstAt);
      const d0 = flow.delivered;
      meters.start();
      const startMs = Date.now();
      await sleep(timing.measureMs);
      const w = meters.stop();
      first = {
        msgsPerSec: (flow.delivered - d0) / (w.elapsedMs / 1000),
        brokerCpu: w.brokerCpu,
        window: { startMs, endMs: Date.now() },
      };
      await sleep(timing.warmupMs - firstAt - timing.measureMs);
    } else await sleep(timing.warmupMs);
    const delivered0 = flow.delivered;
    const built0 = sumBuilt(builders);
    meters.start();
    const windowStart = Date.now();
    await sleep(timing.measureMs);
    const delivered1 = flow.delivered;
    const built1 = sumBuilt(builders);
    const reading = meters.stop();
    const wallWindow = { startMs: windowStart, endMs: Date.now() };
    flow.publishing = false;
    flow.release();

    // Drain: wait for what is still in flight (bounded), then check every stream. Open loop: what the publishers
    // wrote may still sit in their own socket buffers (several MB each when a broker pushes back), so wait longer.
    const drainMaxMs = spec.openLoop === true ? Math.max(timing.drainMaxMs, OPEN_LOOP_DRAIN_MS) : timing.drainMaxMs;
    const drainStart = performance.now();
    let last = flow.delivered;
    let lastChange = drainStart;
    for (;;) {
      const now = performance.now();
      const acked = spec.qos === 0 || inflight.every((n) => n === 0);
      if ((flow.delivered >= flow.expected() && acked) || runFailure(broker, clients) !== null) break;
      if (flow.delivered !== last) {
        last = flow.delivered;
        lastChange = now;
      }
      if (now - lastChange > timing.drainIdleMs || now - drainStart > drainMaxMs) break;
      await sleep(10);
    }

    const failure = runFailure(broker, clients);
    const { total, perPublisher } = summarizeDelivery(ledgers, seqs, publisherOf, pubs.length);
    const notes = deliveryNotes(total, spec.qos);
    if (flow.badPayloads > 0) notes.push(`payloads of the wrong size: ${flow.badPayloads}`);
    const unacked = inflight.reduce((a, b) => a + b, 0);
    if (unacked > 0) notes.push(`${unacked} QoS 1 PUBLISHes never acknowledged`);
    // Every QoS 1 message lost beyond the unacknowledged ones was PUBACKed to its publisher and never delivered.
    const ackedLost = spec.qos === 1 ? Math.max(0, total.lost - unacked) : 0;
    if (ackedLost > 0) notes.push(`PUBACKed but never delivered: ${ackedLost}`);
    if (spec.openLoop === true) notes.push("open loop (no backlog cap)");
    const seconds = reading.elapsedMs / 1000;
    return {
      ...measuredResult(spec.id, "throughput", broker, reading, failure, notes),
      msgsPerSec: (delivered1 - delivered0) / seconds,
      publishedPerSec: (built1 - built0) / seconds,
      window: wallWindow,
      ...(first === undefined ? {} : { first }),
      delivery: total,
      perPublisher,
      lagCapPauses: flow.lagCapPauses,
      ...(spec.qos === 1 ? { ackedLost } : {}),
    };
  } finally {
    await closeAll(clients);
  }
}

function sumBuilt(builders: readonly PublishBuilder[]): number {
  let n = 0;
  for (const b of builders) n += b.built;
  return n;
}

/** Counts and checks every PUBLISH; QoS 1 PUBACKs are batched into one write per socket chunk. */
function installSubscriber(sub: BenchClient, ledger: SubscriberLedger, flow: Flow, payloadSize: number): void {
  const ack = ackBatcher(sub);
  sub.publishHandler = (buf, start, end, qos, packetId) => {
    if (end - start !== payloadSize) flow.badPayloads++;
    if (
      ledger.record(buf.readUInt32LE(start + PAYLOAD_HEADER.streamId), buf.readUInt32LE(start + PAYLOAD_HEADER.seq))
    ) {
      flow.delivered++;
    }
    if (qos > 0) ack(packetId);
  };
}
