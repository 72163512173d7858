// Durable queues end to end (issue 11): 16 publishers -> `$queue/bench` (8 partitions, ordering partition) -> 4
// consumers in one group, 100 B, against the real CLI with LMDB storage. Publish -> deliver -> ack: a publisher's
// PUBACK comes after the durable append (sync: fsync'd; batched: the batch window), each consumer PUBACKs every
// delivery at once (3.1.1: the PUBACK acknowledges it, so the engine deletes it: docs/queues.md).
//
// Two shapes: unpaced (every publisher keeps `window` PUBLISHes in flight: the most the broker takes) and paced
// (`rate` msg/s in total over 1 ms ticks: publish -> delivery latency). msgs/s = distinct messages delivered to
// (and acked by) the consumers per second over the window; lost = messages sent (and PUBACKed) that no consumer
// received by the end of the drain; dup = deliveries of a message already seen (at least once: none expected).
// Used by `npm run bench` (catalog: queue/…, Wharf only) and by `npm run bench:queues` (bench/queues/throughput.ts).
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import type net from "node:net";
import { loadavg } from "node:os";
import { PerformanceObserver, monitorEventLoopDelay } from "node:perf_hooks";
import { join } from "node:path";
import { onHarnessExit } from "../lib/children.ts";
import { varintBytes } from "../lib/mqtt-packets.ts";
import { processCpuSeconds, threadCpuSeconds, threadCpuShares } from "../lib/proc-stats.ts";
import { Framer, Samples, open, packet, str, until } from "../lib/raw-mqtt.ts";
import { summarizeLatency } from "../lib/stats.ts";
import { shareInPauses } from "../lib/tail-attribution.ts";
import type { LatencySummary } from "../lib/stats.ts";
import { startWharf } from "../lib/wharf-cli.ts";
import type { BrokerId } from "../brokers/index.ts";
import type { RunSpec } from "./catalog.ts";
import { STATUS, failed, skipped } from "./result.ts";
import type { RunResult } from "./result.ts";
import { LATENCY_RATE } from "./settings.ts";
import type { Timing } from "./settings.ts";

export interface QueueCaseOptions {
  /** Storage durability (`sync`, `batched`, `none`) or `memory`. */
  mode: string;
  paced: boolean;
  publishers: number;
  consumers: number;
  partitions: number;
  prefetch: number;
  /** QoS 1 PUBLISHes in flight per publisher. */
  window: number;
  /** Paced: msg/s in total. */
  rate: number;
  payload: number;
  warmupMs: number;
  measureMs: number;
  /** Where the LMDB directory goes (a real disk: fsync on tmpfs costs nothing). */
  dataRoot: string;
}

export interface QueueCaseResult {
  publishedPerSec: number;
  deliveredPerSec: number;
  measuredMs: number;
  e2e: LatencySummary;
  sent: number;
  lost: number;
  duplicates: number;
  /** Broker CPU over the window, fraction of one core. */
  brokerCpu: number;
  /**
   * The broker's CPU by thread over the window, fractions of one core, largest first: "main" (the event loop:
   * JavaScript and GC pauses) is the single-threaded limit; LMDB commits on libuv's pool ("libuv-worker"); V8's
   * platform workers ("node") do concurrent GC and compiles.
   */
  brokerThreads: [string, number][];
  /** This harness's CPU (publishers + consumers) over the window, fraction of one core: on a 2-core machine the
   * clients compete with the broker, so a broker below 100% may be waiting for them. */
  clientCpu: number;
  /**
   * p99 of this harness's event-loop delay over the window, ms: a delivery is timestamped when the harness gets to
   * read it, so an e2e p99 near this figure is the generator's, not the broker's.
   */
  clientLoopP99: number;
  /** The broker's event-loop delay and GC pauses from its start + warm-up on (bench/tools/loop-stats.mjs). */
  broker: BrokerLoopStats | undefined;
  /** Paced: what the messages at or above the p99 were in flight during (shares 0..1 of them; NaN: no data). */
  tail: TailAttribution | undefined;
  /**
   * When something went wrong (messages lost, duplicated, or the broker gone before the end of the window): the
   * broker's exit status if it exited, and the tail of its stdout/stderr, to tell a crash from a stall.
   */
  brokerTrouble: string | undefined;
  load: string;
}

/**
 * Which stalls a round's slowest messages (latency >= its p99) were in flight during: a GC pause of the broker, a
 * stall of the broker's loop (its 1 ms probe late by > 2 ms: GC, a long turn, or the machine not running it), a GC
 * pause of this harness, a stall of this harness's 1 ms pacing tick (it timestamps a delivery when it gets to read
 * it), and none of these. A message can overlap several; `none` is the share overlapping none.
 */
export interface TailAttribution {
  threshold: number;
  samples: number;
  brokerGc: number;
  brokerStall: number;
  harnessGc: number;
  harnessStall: number;
  none: number;
  /** The broker's loop stalls over the window: count and longest (ms). */
  brokerStalls: { count: number; maxMs: number };
  harnessStalls: { count: number; maxMs: number };
}

export interface BrokerLoopStats {
  loopMs: { p50: number; p99: number; p999: number; max: number };
  gc: { count: number; totalMs: number; maxMs: number; over2: number; over5: number; over10: number };
  /** Storage commits over the window: batches, ops (puts and deletes) and the seconds they took. */
  storage?: { batches: number; ops: number; seconds: number };
  spanMs: number;
  /** With WHARF_ALLOC_SITES=1 in the environment: bytes allocated over the window, in all and by site. */
  alloc?: { total: number; sites: [string, number][] };
  /** GC pauses and (paced runs) loop stalls over the window, [start, duration] in CLOCK_MONOTONIC ms. */
  pauses?: [number, number][];
  stalls?: [number, number][];
}

/** This process's performance.now() on CLOCK_MONOTONIC's ms scale (what loop-stats.mjs stamps the broker's with). */
const MONO_ORIGIN = Number(process.hrtime.bigint()) / 1e6 - performance.now();

export const QUEUE_DEFAULTS = {
  publishers: 16,
  consumers: 4,
  partitions: 8,
  prefetch: 256,
  window: 64,
  rate: 10_000,
  payload: 100,
} as const;

const QUEUE = "bench";

class Consumer {
  received = 0;
  constructor(
    readonly socket: net.Socket,
    shared: {
      seen: Set<number>;
      duplicates: number;
      measuring: boolean;
      e2e: Samples;
      sentAt: Samples;
      delivered: number;
    },
  ) {
    let acks: Buffer[] = [];
    const framer = new Framer((first, buf, start, end) => {
      if (first >> 4 === 9) this.#onSuback();
      if (first >> 4 !== 3) return;
      const topicLen = buf.readUInt16BE(start);
      let p = start + 2 + topicLen;
      if (((first >> 1) & 3) > 0) {
        acks.push(Buffer.from([0x40, 2, buf[p]!, buf[p + 1]!])); // 3.1.1 PUBACK = ack of the delivery
        p += 2;
      }
      if (end - p < 14) return;
      const sentAt = buf.readDoubleLE(p);
      const id = buf.readUInt16LE(p + 8) * 2 ** 32 + buf.readUInt32LE(p + 10);
      this.received++;
      if (shared.seen.has(id)) {
        shared.duplicates++;
        return;
      }
      shared.seen.add(id);
      shared.delivered++;
      if (shared.measuring) {
        shared.e2e.add(performance.now() - sentAt);
        shared.sentAt.add(sentAt);
      }
    });
    socket.on("data", (chunk: Buffer) => {
      framer.push(chunk);
      if (acks.length > 0) {
        socket.write(acks.length === 1 ? acks[0]! : Buffer.concat(acks));
        acks = [];
      }
    });
  }
  #onSuback: () => void = () => undefined;

  subscribe(): Promise<void> {
    const done = new Promise<void>((resolve) => (this.#onSuback = resolve));
    this.socket.write(packet(0x82, Buffer.concat([Buffer.from([0, 1]), str(`$queue/${QUEUE}`), Buffer.from([1])])));
    return done;
  }
}

class Publisher {
  sent = 0;
  acked = 0;
  running = true;
  #nextId = 0;
  readonly #packet: Buffer;
  readonly #idAt: number;
  readonly #payloadAt: number;
  /** Paced: messages this publisher may have sent by now (undefined: unpaced). */
  allowance: number | undefined;

  constructor(
    readonly socket: net.Socket,
    readonly index: number,
    private readonly state: { measuring: boolean; acked: number },
    private readonly o: QueueCaseOptions,
  ) {
    const topic = str(`$queue/${QUEUE}`);
    const body = topic.length + 2 + o.payload;
    const header = Buffer.from([0x32, ...varintBytes(body)]);
    this.#packet = Buffer.alloc(header.length + body, 0x61);
    header.copy(this.#packet, 0);
    topic.copy(this.#packet, header.length);
    this.#idAt = header.length + topic.length;
    this.#payloadAt = this.#idAt + 2;
    const framer = new Framer((first) => {
      if (first >> 4 !== 4) return;
      this.acked++;
      if (this.state.measuring) this.state.acked++;
    });
    socket.on("data", (chunk: Buffer) => {
      framer.push(chunk);
      this.fill();
    });
  }

  /** Keeps up to `window` in flight (and, paced, within the allowance): one write per call. */
  fill(): void {
    if (!this.running) return;
    let n = this.o.window - (this.sent - this.acked);
    if (this.allowance !== undefined) n = Math.min(n, Math.floor(this.allowance) - this.sent);
    if (n <= 0) return;
    const out = Buffer.allocUnsafe(n * this.#packet.length);
    const now = performance.now();
    for (let i = 0; i < n; i++) {
      const at = i * this.#packet.length;
      this.#packet.copy(out, at);
      this.#nextId = this.#nextId >= 65535 ? 1 : this.#nextId + 1;
      out.writeUInt16BE(this.#nextId, at + this.#idAt);
      out.writeDoubleLE(now, at + this.#payloadAt);
      out.writeUInt16LE(this.index, at + this.#payloadAt + 8);
      out.writeUInt32LE(this.sent, at + this.#payloadAt + 10);
      this.sent++;
    }
    this.socket.write(out);
  }
}

export async function runQueueCase(o: QueueCaseOptions): Promise<QueueCaseResult> {
  const { mode } = o;
  const dir = mkdtempSync(join(o.dataRoot, "wharf-bench-queues-"));
  onHarnessExit(() => rmSync(dir, { recursive: true, force: true }));
  const loopStats = join(dir, "loop-stats.json");
  const { proc, port } = await startWharf(
    mode,
    join(dir, "data"),
    [
      "mqtt: { maxInflight: 4096 }",
      `queues: [{ name: ${QUEUE}, partitions: ${o.partitions}, ordering: partition, prefetch: ${o.prefetch} }]`,
      "management: { enabled: false }",
    ],
    { loopStats, loopStalls: o.paced },
  );
  let broker: BrokerLoopStats | undefined;
  try {
    const shared = {
      seen: new Set<number>(),
      duplicates: 0,
      measuring: false,
      e2e: new Samples(),
      sentAt: new Samples(),
      delivered: 0,
    };
    const consumers = await Promise.all(
      Array.from({ length: o.consumers }, async (_, i) => new Consumer(await open(port, `qc-${i}`, true), shared)),
    );
    for (const c of consumers) await c.subscribe();
    const state = { measuring: false, acked: 0 };
    const pubs = await Promise.all(
      Array.from(
        { length: o.publishers },
        async (_, i) => new Publisher(await open(port, `qp-${i}`, true), i, state, o),
      ),
    );
    let ticker: NodeJS.Timeout | undefined;
    /** This harness's GC pauses and pacing-tick stalls over the window, [start, duration] (performance.now() ms). */
    const ownGc: [number, number][] = [];
    const ownStalls: [number, number][] = [];
    const gcObserver = new PerformanceObserver((list) => {
      if (!shared.measuring) return;
      for (const e of list.getEntries()) ownGc.push([e.startTime, e.duration]);
    });
    gcObserver.observe({ entryTypes: ["gc"] });
    if (o.paced) {
      const t0 = performance.now();
      const per = o.rate / o.publishers / 1000; // per publisher per ms
      for (const p of pubs) p.allowance = 0;
      let last = t0;
      ticker = setInterval(() => {
        const now = performance.now();
        if (now - last > 2 && shared.measuring) ownStalls.push([last, now - last]);
        last = now;
        const due = (now - t0) * per;
        for (const p of pubs) {
          p.allowance = due;
          p.fill();
        }
      }, 1);
    } else for (const p of pubs) p.fill();
    await new Promise((r) => setTimeout(r, o.warmupMs));
    const delivered0 = shared.delivered;
    const cpu0 = processCpuSeconds(proc.pid);
    const threads0 = threadCpuSeconds(proc.pid, true);
    const own0 = process.cpuUsage();
    const e2e0 = shared.e2e.n;
    const loop = monitorEventLoopDelay({ resolution: 1 });
    loop.enable();
    proc.child.kill("SIGUSR2"); // the broker's loop-stats window opens
    state.measuring = true;
    shared.measuring = true;
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, o.measureMs));
    state.measuring = false;
    shared.measuring = false;
    loop.disable();
    proc.child.kill("SIGUSR2"); // … and closes
    const elapsed = performance.now() - t0;
    const cpu = processCpuSeconds(proc.pid) - cpu0;
    const brokerThreads = threadCpuShares(threads0, threadCpuSeconds(proc.pid, true), elapsed / 1000);
    const own = process.cpuUsage(own0);
    const delivered = shared.delivered - delivered0;
    if (ticker !== undefined) clearInterval(ticker);
    for (const p of pubs) p.running = false;
    const sent = (): number => pubs.reduce((s, p) => s + p.sent, 0);
    await until(() => pubs.every((p) => p.acked === p.sent), 30_000);
    await until(() => shared.delivered >= sent(), 30_000);
    gcObserver.disconnect();
    const samples = shared.e2e.take().slice(e2e0);
    const e2e = summarizeLatency(samples);
    if (existsSync(loopStats)) broker = JSON.parse(readFileSync(loopStats, "utf8").split("\n")[0]!) as BrokerLoopStats;
    let tail: TailAttribution | undefined;
    if (o.paced) {
      const sentAt = shared.sentAt.take().slice(e2e0);
      const mono = (xs: [number, number][]): [number, number][] => xs.map(([t, d]) => [t + MONO_ORIGIN, d]);
      const sentMono = sentAt.map((t) => t + MONO_ORIGIN);
      tail = attributeTail(samples, sentMono, e2e.p99, {
        brokerGc: broker?.pauses,
        brokerStall: broker?.stalls,
        harnessGc: mono(ownGc),
        harnessStall: mono(ownStalls),
      });
    }
    if (broker !== undefined) {
      delete broker.pauses;
      delete broker.stalls;
    }
    const lost = Math.max(0, sent() - shared.delivered);
    let brokerTrouble: string | undefined;
    if (lost > 0 || shared.duplicates > 0 || Number.isNaN(cpu) || proc.exit !== null) {
      const exit = proc.exit === null ? "still running" : `exited: ${JSON.stringify(proc.exit)}`;
      brokerTrouble = `broker ${exit}; its output: ${proc.output().slice(-1500) || "(none)"}`;
    }
    for (const s of [...pubs, ...consumers]) s.socket.destroy();
    return {
      publishedPerSec: Math.round((state.acked / elapsed) * 1000),
      deliveredPerSec: Math.round((delivered / elapsed) * 1000),
      measuredMs: elapsed,
      e2e,
      sent: sent(),
      lost,
      duplicates: shared.duplicates,
      brokerCpu: cpu / (elapsed / 1000),
      brokerThreads,
      clientCpu: (own.user + own.system) / 1000 / elapsed,
      clientLoopP99: loop.percentile(99) / 1e6,
      broker,
      tail,
      brokerTrouble,
      load: loadavg()
        .map((x) => x.toFixed(1))
        .join(" "),
    };
  } finally {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function attributeTail(
  latency: Float64Array,
  sentAt: Float64Array,
  threshold: number,
  sources: Record<"brokerGc" | "brokerStall" | "harnessGc" | "harnessStall", [number, number][] | undefined>,
): TailAttribution {
  const share = (xs: [number, number][] | undefined): number =>
    xs === undefined ? Number.NaN : shareInPauses(latency, sentAt, xs, threshold);
  const all = Object.values(sources).flatMap((xs) => xs ?? []);
  let samples = 0;
  for (const l of latency) if (l >= threshold) samples++;
  const summary = (xs: [number, number][] | undefined): { count: number; maxMs: number } => ({
    count: xs?.length ?? 0,
    maxMs: Math.max(0, ...(xs ?? []).map(([, d]) => d)),
  });
  return {
    threshold,
    samples,
    brokerGc: share(sources.brokerGc),
    brokerStall: share(sources.brokerStall),
    harnessGc: share(sources.harnessGc),
    harnessStall: share(sources.harnessStall),
    none: 1 - shareInPauses(latency, sentAt, all, threshold),
    brokerStalls: summary(sources.brokerStall),
    harnessStalls: summary(sources.harnessStall),
  };
}

type QueueSpec = Extract<RunSpec, { kind: "queue" }>;

/** One catalog run (`npm run bench`): Wharf runs it on a broker of its own (queue config, LMDB); others skip. */
export async function runQueue(
  spec: QueueSpec,
  broker: BrokerId,
  timing: Timing,
  dataRoot: string,
): Promise<RunResult> {
  const kind = spec.paced ? "latency" : "throughput";
  if (broker !== "wharf") return skipped(spec.id, kind, broker, "no durable queues (`$queue/` is Wharf's)");
  try {
    const r = await runQueueCase({
      ...QUEUE_DEFAULTS,
      payload: spec.payload,
      rate: LATENCY_RATE,
      mode: spec.durability,
      paced: spec.paced,
      warmupMs: spec.paced ? timing.latencyWarmupMs : timing.warmupMs,
      measureMs: spec.paced ? timing.latencyMeasureMs : timing.measureMs,
      dataRoot,
    });
    const notes: string[] = [];
    if (r.lost > 0) notes.push(`lost ${r.lost} of ${r.sent} acknowledged messages`);
    if (r.duplicates > 0) notes.push(`${r.duplicates} duplicate deliveries (at least once)`);
    return {
      id: spec.id,
      kind,
      broker,
      status: STATUS.ok,
      notes,
      measuredMs: r.measuredMs,
      msgsPerSec: r.deliveredPerSec,
      publishedPerSec: r.publishedPerSec,
      latency: r.e2e,
      brokerCpu: r.brokerCpu,
      ackedLost: r.lost,
    };
  } catch (err) {
    return failed(spec.id, kind, broker, (err as Error).message);
  }
}
