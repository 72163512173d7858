// Persisted QoS 1 end to end over real sockets (issue #5): N publishers -> Wharf (the real CLI, LMDB storage in a
// temp directory) -> one persistent-session subscriber (clean session 0, so every message is written: inflight
// entry, body, reference count, and removed again at the subscriber's PUBACK). A publisher's PUBACK comes only
// after the commit holding its message (sync: fsync'd; batched/none: see docs/storage.md), so each publisher
// keeps a window of QoS 1 messages in flight, as MQTT's Receive Maximum allows, and group commit can batch them.
//
// Usage: npm run bench:persist [-- --time 3000 --publishers 1,16,64 --modes sync,batched,none,memory
//                                  --window 32 --payload 100]
//
// Per case: msgs/s = PUBACKs received by the publishers per second over the measured window (after a warm-up);
// "ack p99" = publish -> PUBACK (what a publisher waits for: the commit); "e2e p99" = publish -> delivery at the
// subscriber. "memory" is the memory store (same code path, no disk) as a baseline. Load average is printed:
// the generator shares the machine with the broker.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { varintBytes } from "../lib/mqtt-packets.ts";
import { Framer, Samples, open, packet, str, until } from "../lib/raw-mqtt.ts";
import { startWharf } from "../lib/wharf-cli.ts";
import { installSignalHandlers, onHarnessExit } from "../lib/children.ts";
import { processCpuSeconds } from "../lib/proc-stats.ts";
import { formatMs, formatRate, summarizeLatency } from "../lib/stats.ts";

const args = process.argv.slice(2);
function flag(name: string, dflt: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? dflt) : dflt;
}
const TIME_MS = Number(flag("time", "3000"));
const WARMUP_MS = Number(flag("warmup", "700"));
const PUBLISHERS = flag("publishers", "1,16,64").split(",").map(Number);
const MODES = flag("modes", "sync,batched,none,memory").split(",");
const WINDOW = Number(flag("window", "32"));
const PAYLOAD = Math.max(16, Number(flag("payload", "100")));
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

// ---- one case ---------------------------------------------------------------------------------------------

interface Row {
  mode: string;
  publishers: number;
  msgsPerSec: number;
  deliveredPerSec: number;
  ackP50: number;
  ackP99: number;
  e2eP99: number;
  lost: number;
  duplicates: number;
  /** Broker process CPU (all threads: main, LMDB writer) per acknowledged message, µs: steadier than msgs/s. */
  brokerCpuUsPerMsg: number;
  /** Broker process CPU over the window, % of one core. */
  brokerCpuPct: number;
}

const TOPIC = "bench/persist/";

class Subscriber {
  received = 0;
  duplicates = 0;
  measuring = false;
  readonly e2e = new Samples();
  readonly #seen = new Set<number>();
  private constructor(readonly socket: net.Socket) {
    const framer = new Framer((first, buf, start, end) => this.#onPacket(first, buf, start, end));
    let acks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => {
      framer.push(chunk);
      acks = this.#acks;
      this.#acks = [];
      if (acks.length > 0) socket.write(acks.length === 1 ? acks[0]! : Buffer.concat(acks));
    });
  }
  #acks: Buffer[] = [];

  static async connect(port: number): Promise<Subscriber> {
    const socket = await open(port, "persist-sub", false); // persistent session: every message is written
    const sub = new Subscriber(socket);
    const suback = new Promise<void>((resolve) => (sub.#onSuback = resolve));
    socket.write(packet(0x82, Buffer.concat([Buffer.from([0, 1]), str(`${TOPIC}#`), Buffer.from([1])])));
    await suback;
    return sub;
  }
  #onSuback: () => void = () => undefined;

  /** Forgets the previous case's message ids (each case numbers its messages from 0 again). */
  reset(): void {
    this.#seen.clear();
    this.received = 0;
    this.duplicates = 0;
  }

  #onPacket(first: number, buf: Buffer, start: number, end: number): void {
    const type = first >> 4;
    if (type === 9) {
      this.#onSuback();
      return;
    }
    if (type !== 3) return;
    const topicLen = buf.readUInt16BE(start);
    let p = start + 2 + topicLen;
    const qos = (first >> 1) & 3;
    if (qos > 0) {
      this.#acks.push(Buffer.from([0x40, 2, buf[p]!, buf[p + 1]!]));
      p += 2;
    }
    if (end - p < 8) return;
    const sentAt = buf.readDoubleLE(p);
    const id = buf.readUInt16LE(p + 8) * 2 ** 32 + buf.readUInt32LE(p + 10);
    if (this.#seen.has(id)) {
      this.duplicates++;
      return;
    }
    this.#seen.add(id);
    this.received++;
    if (this.measuring) this.e2e.add(performance.now() - sentAt);
  }
}

class Publisher {
  sent = 0;
  acked = 0;
  running = true;
  readonly #sentAt = new Float64Array(65536);
  #nextId = 0;
  readonly #header: Buffer;
  readonly #packet: Buffer;
  readonly #payloadAt: number;
  readonly #idAt: number;

  constructor(
    readonly socket: net.Socket,
    readonly index: number,
    private readonly ackLatency: Samples,
    private readonly state: { measuring: boolean; acked: number },
  ) {
    const topic = str(`${TOPIC}${index}`);
    const body = topic.length + 2 + PAYLOAD;
    this.#header = Buffer.from([0x32, ...varintBytes(body)]);
    this.#packet = Buffer.alloc(this.#header.length + body, 0x61);
    this.#header.copy(this.#packet, 0);
    topic.copy(this.#packet, this.#header.length);
    this.#idAt = this.#header.length + topic.length;
    this.#payloadAt = this.#idAt + 2;
    const framer = new Framer((first, buf, start) => {
      if (first >> 4 !== 4) return;
      const id = buf.readUInt16BE(start);
      this.acked++;
      if (this.state.measuring) {
        this.state.acked++;
        this.ackLatency.add(performance.now() - this.#sentAt[id]!);
      }
    });
    socket.on("data", (chunk: Buffer) => {
      framer.push(chunk);
      this.#fill();
    });
  }

  start(): void {
    this.#fill();
  }

  /** Keeps WINDOW messages in flight: one write for everything a read's PUBACKs made room for. */
  #fill(): void {
    if (!this.running) return;
    const n = WINDOW - (this.sent - this.acked);
    if (n <= 0) return;
    const out = Buffer.allocUnsafe(n * this.#packet.length);
    const now = performance.now();
    for (let i = 0; i < n; i++) {
      const at = i * this.#packet.length;
      this.#packet.copy(out, at);
      this.#nextId = this.#nextId >= 65535 ? 1 : this.#nextId + 1;
      out.writeUInt16BE(this.#nextId, at + this.#idAt);
      out.writeDoubleLE(now, at + this.#payloadAt);
      // Message id: publisher index and sequence (for duplicate/loss counting at the subscriber).
      out.writeUInt16LE(this.index, at + this.#payloadAt + 8);
      out.writeUInt32LE(this.sent, at + this.#payloadAt + 10);
      this.#sentAt[this.#nextId] = now;
      this.sent++;
    }
    this.socket.write(out);
  }
}

async function runCase(port: number, pid: number, sub: Subscriber, mode: string, n: number): Promise<Row> {
  sub.reset();
  const ackLatency = new Samples();
  const state = { measuring: false, acked: 0 };
  const pubs = await Promise.all(
    Array.from(
      { length: n },
      async (_, i) => new Publisher(await open(port, `persist-pub-${i}`, true), i, ackLatency, state),
    ),
  );
  for (const p of pubs) p.start();
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  const e2eStart = sub.e2e.n;
  const receivedStart = sub.received;
  const cpu0 = processCpuSeconds(pid);
  state.measuring = true;
  sub.measuring = true;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, TIME_MS));
  state.measuring = false;
  sub.measuring = false;
  const elapsed = performance.now() - t0;
  const cpu = processCpuSeconds(pid) - cpu0;
  const delivered = sub.received - receivedStart;
  for (const p of pubs) p.running = false;
  const sent = (): number => pubs.reduce((s, p) => s + p.sent, 0);
  await until(() => pubs.every((p) => p.acked === p.sent), 30_000);
  await until(() => sub.received >= sent(), 30_000);
  await Promise.all(
    pubs.map(
      (p) =>
        new Promise<void>((resolve) => {
          p.socket.once("close", () => resolve());
          p.socket.end(Buffer.from([0xe0, 0]));
        }),
    ),
  );
  const ack = summarizeLatency(ackLatency.take());
  const e2e = summarizeLatency(sub.e2e.take().slice(e2eStart));
  return {
    mode,
    publishers: n,
    msgsPerSec: Math.round((state.acked / elapsed) * 1000),
    deliveredPerSec: Math.round((delivered / elapsed) * 1000),
    ackP50: ack.p50,
    ackP99: ack.p99,
    e2eP99: e2e.p99,
    lost: Math.max(0, sent() - sub.received),
    duplicates: sub.duplicates,
    brokerCpuUsPerMsg: Math.round((cpu * 1e6) / Math.max(1, state.acked)),
    brokerCpuPct: Math.round((cpu * 1e5) / elapsed),
  };
}

installSignalHandlers();
console.log(
  `persist bench: QoS 1, ${TIME_MS} ms per case after ${WARMUP_MS} ms warm-up, window ${WINDOW} per publisher, ` +
    `payload ${PAYLOAD} B, node ${process.version}, load average ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} cores`,
);
console.log(
  "mode      publishers     msgs/s  delivered/s    ack p50    ack p99    e2e p99  lost  dup  broker cpu  µs/msg",
);
const rows: Row[] = [];
for (const mode of MODES) {
  const dir = mkdtempSync(join(tmpdir(), "wharf-bench-persist-"));
  onHarnessExit(() => rmSync(dir, { recursive: true, force: true }));
  const { proc, port } = await startWharf(mode, join(dir, "data"), [
    // Room for the subscriber's window and for bursts: nothing is refused or waits in a queue for a slot.
    "mqtt: { maxInflight: 4096, maxQueuedMessages: 100000 }",
  ]);
  try {
    const sub = await Subscriber.connect(port);
    for (const n of PUBLISHERS) {
      const r = await runCase(port, proc.pid, sub, mode, n);
      rows.push(r);
      console.log(
        [
          mode.padEnd(9),
          String(n).padStart(10),
          formatRate(r.msgsPerSec).padStart(10),
          formatRate(r.deliveredPerSec).padStart(12),
          formatMs(r.ackP50).padStart(10),
          formatMs(r.ackP99).padStart(10),
          formatMs(r.e2eP99).padStart(10),
          String(r.lost).padStart(5),
          String(r.duplicates).padStart(4),
          `${r.brokerCpuPct}%`.padStart(11),
          String(r.brokerCpuUsPerMsg).padStart(7),
        ].join(" "),
      );
    }
    sub.socket.destroy();
  } finally {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
const out = join(root, "bench", "results", "persist.json");
mkdirSync(dirname(out), { recursive: true });
writeFileSync(
  out,
  JSON.stringify(
    { date: new Date().toISOString(), timeMs: TIME_MS, window: WINDOW, payload: PAYLOAD, load: loadavg(), rows },
    null,
    2,
  ),
);
console.log(`results: ${out}`);
