// Durable queues end to end over real sockets (issue 11): 16 publishers -> `$queue/bench` (8 partitions,
// ordering partition) -> 4 consumers in one group, 100 B, against the real CLI with LMDB storage in a temp
// directory. Publish -> deliver -> ack: a publisher's PUBACK comes after the durable append (sync: fsync'd;
// batched: the batch window), each consumer PUBACKs every delivery at once (3.1.1: the PUBACK acknowledges it,
// so the engine deletes it: docs/queues.md).
//
// Usage: npm run bench:queues [-- --time 3000 --modes sync,batched --window 64 --rate 10000 --payload 100]
//
// Per mode two cases, each on a fresh broker:
//   unpaced  every publisher keeps `window` PUBLISHes in flight: the most the broker takes;
//   paced    `rate` msg/s in total (spread over the 16 publishers, 1 ms ticks): publish -> delivery latency.
// msgs/s = distinct messages delivered to (and acked by) the consumers per second over the measured window;
// e2e = publish (send) -> delivery at a consumer, same process clock. Lost = messages a publisher sent (and
// got a PUBACK for) that no consumer received by the end of the drain; dup = deliveries of a message seen before
// (at least once: none expected without failures). The load average is printed: everything shares 2 cores.
import { mkdtempSync, rmSync } from "node:fs";
import type net from "node:net";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { installSignalHandlers, onHarnessExit } from "../lib/children.ts";
import { varintBytes } from "../lib/mqtt-packets.ts";
import { processCpuSeconds } from "../lib/proc-stats.ts";
import { Framer, Samples, open, packet, str, until } from "../lib/raw-mqtt.ts";
import { startWharf } from "../lib/wharf-cli.ts";
import { formatMs, formatRate, summarizeLatency } from "../lib/stats.ts";

const args = process.argv.slice(2);
function flag(name: string, dflt: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? dflt) : dflt;
}
const TIME_MS = Number(flag("time", "3000"));
const WARMUP_MS = Number(flag("warmup", "700"));
const MODES = flag("modes", "sync,batched").split(",");
const CASES = flag("cases", "unpaced,paced").split(",");
const WINDOW = Number(flag("window", "64"));
const RATE = Number(flag("rate", "10000"));
const PAYLOAD = Math.max(16, Number(flag("payload", "100")));
const PUBLISHERS = Number(flag("publishers", "16"));
const CONSUMERS = Number(flag("consumers", "4"));
const PARTITIONS = Number(flag("partitions", "8"));
const PREFETCH = Number(flag("prefetch", "256"));
const QUEUE = "bench";

interface Row {
  mode: string;
  kind: string;
  publishedPerSec: number;
  deliveredPerSec: number;
  e2eP50: number;
  e2eP99: number;
  lost: number;
  duplicates: number;
  brokerCpuPct: number;
  load: string;
}

class Consumer {
  received = 0;
  constructor(
    readonly socket: net.Socket,
    shared: { seen: Set<number>; duplicates: number; measuring: boolean; e2e: Samples; delivered: number },
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
      if (shared.measuring) shared.e2e.add(performance.now() - sentAt);
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
  ) {
    const topic = str(`$queue/${QUEUE}`);
    const body = topic.length + 2 + PAYLOAD;
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

  /** Keeps up to WINDOW in flight (and, paced, within the allowance): one write per call. */
  fill(): void {
    if (!this.running) return;
    let n = WINDOW - (this.sent - this.acked);
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

async function runCase(mode: string, kind: string): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), "wharf-bench-queues-"));
  onHarnessExit(() => rmSync(dir, { recursive: true, force: true }));
  const { proc, port } = await startWharf(mode, join(dir, "data"), [
    "mqtt: { maxInflight: 4096 }",
    `queues: [{ name: ${QUEUE}, partitions: ${PARTITIONS}, ordering: partition, prefetch: ${PREFETCH} }]`,
    "management: { enabled: false }",
  ]);
  try {
    const shared = { seen: new Set<number>(), duplicates: 0, measuring: false, e2e: new Samples(), delivered: 0 };
    const consumers = await Promise.all(
      Array.from({ length: CONSUMERS }, async (_, i) => new Consumer(await open(port, `qc-${i}`, true), shared)),
    );
    for (const c of consumers) await c.subscribe();
    const state = { measuring: false, acked: 0 };
    const pubs = await Promise.all(
      Array.from({ length: PUBLISHERS }, async (_, i) => new Publisher(await open(port, `qp-${i}`, true), i, state)),
    );
    let ticker: NodeJS.Timeout | undefined;
    if (kind === "paced") {
      const t0 = performance.now();
      const per = RATE / PUBLISHERS / 1000; // per publisher per ms
      for (const p of pubs) p.allowance = 0;
      ticker = setInterval(() => {
        const due = (performance.now() - t0) * per;
        for (const p of pubs) {
          p.allowance = due;
          p.fill();
        }
      }, 1);
    } else for (const p of pubs) p.fill();
    await new Promise((r) => setTimeout(r, WARMUP_MS));
    const delivered0 = shared.delivered;
    const cpu0 = processCpuSeconds(proc.pid);
    const e2e0 = shared.e2e.n;
    state.measuring = true;
    shared.measuring = true;
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, TIME_MS));
    state.measuring = false;
    shared.measuring = false;
    const elapsed = performance.now() - t0;
    const cpu = processCpuSeconds(proc.pid) - cpu0;
    const delivered = shared.delivered - delivered0;
    if (ticker !== undefined) clearInterval(ticker);
    for (const p of pubs) p.running = false;
    const sent = (): number => pubs.reduce((s, p) => s + p.sent, 0);
    await until(() => pubs.every((p) => p.acked === p.sent), 30_000);
    await until(() => shared.delivered >= sent(), 30_000);
    const e2e = summarizeLatency(shared.e2e.take().slice(e2e0));
    for (const s of [...pubs, ...consumers]) s.socket.destroy();
    return {
      mode,
      kind,
      publishedPerSec: Math.round((state.acked / elapsed) * 1000),
      deliveredPerSec: Math.round((delivered / elapsed) * 1000),
      e2eP50: e2e.p50,
      e2eP99: e2e.p99,
      lost: Math.max(0, sent() - shared.delivered),
      duplicates: shared.duplicates,
      brokerCpuPct: Math.round((cpu * 1e5) / elapsed),
      load: loadavg()
        .map((x) => x.toFixed(1))
        .join(" "),
    };
  } finally {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

installSignalHandlers();
console.log(
  `queue bench: ${PUBLISHERS} publishers (window ${WINDOW}) -> $queue/${QUEUE} (${PARTITIONS} partitions, ordering partition, ` +
    `prefetch ${PREFETCH}) -> ${CONSUMERS} consumers, one group, ${PAYLOAD} B, ${TIME_MS} ms after ${WARMUP_MS} ms warm-up; ` +
    `paced = ${RATE} msg/s; node ${process.version}, ${availableParallelism()} cores, load ${loadavg()[0]!.toFixed(1)}`,
);
console.log(
  "mode      case       published/s  delivered/s    e2e p50    e2e p99  lost  dup  broker cpu  load (1/5/15)",
);
for (const mode of MODES) {
  for (const kind of CASES) {
    const r = await runCase(mode, kind);
    console.log(
      [
        mode.padEnd(9),
        kind.padEnd(9),
        formatRate(r.publishedPerSec).padStart(12),
        formatRate(r.deliveredPerSec).padStart(12),
        formatMs(r.e2eP50).padStart(10),
        formatMs(r.e2eP99).padStart(10),
        String(r.lost).padStart(5),
        String(r.duplicates).padStart(4),
        `${r.brokerCpuPct}%`.padStart(11),
        `  ${r.load}`,
      ].join(" "),
    );
  }
}
