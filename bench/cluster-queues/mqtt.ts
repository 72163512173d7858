// `npm run bench:cluster-queues`: durable queues end to end over MQTT on a 3-node cluster (docs/cluster-queues.md).
// A real etcd and three `wharf start` processes; `--publishers` 3.1.1 publishers on n1 and n2 (alternating) keep
// `--window` QoS 1 PUBLISHes in flight each, to `--queues` queues (spread over the slots, so over the three owners);
// `--consumers` 3.1.1 consumers on n2 and n3 each consume every queue and PUBACK every delivery (the PUBACK settles
// it at the owner). Unpaced. A publish is counted when its PUBACK arrived (with `replication: sync`, after the
// slot's replica has it). Reported per replication mode: msg/s delivered (distinct messages, during the window),
// msg/s acknowledged to the publishers, lost = acknowledged but never delivered by the end of the drain,
// duplicates = deliveries of a message already seen (at least once: expected only after a failover).
//
//   node --import tsx bench/cluster-queues/mqtt.ts [--seconds 5] [--publishers 8] [--consumers 4] [--queues 8]
//        [--window 64] [--payload 100] [--replication sync|async|both]
import { mkdtempSync, rmSync } from "node:fs";
import type net from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startEtcd } from "../../test/helpers/etcd.ts";
import { installSignalHandlers, killAllChildren, onHarnessExit } from "../lib/children.ts";
import { varintBytes } from "../lib/mqtt-packets.ts";
import { Framer, open, packet, str, until } from "../lib/raw-mqtt.ts";
import { processCpuSeconds } from "../lib/proc-stats.ts";
import { startWharf } from "../lib/wharf-cli.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "5" },
    publishers: { type: "string", default: "8" },
    consumers: { type: "string", default: "4" },
    queues: { type: "string", default: "8" },
    window: { type: "string", default: "64" },
    payload: { type: "string", default: "100" },
    replication: { type: "string", default: "both" },
  },
});
const SECONDS = Number(values.seconds);
const PUBLISHERS = Number(values.publishers);
const CONSUMERS = Number(values.consumers);
const QUEUES = Number(values.queues);
const WINDOW = Number(values.window);
const PAYLOAD = Math.max(16, Number(values.payload));
const queueName = (i: number): string => `cq-bench-${i}`;

interface Shared {
  seen: Set<number>;
  duplicates: number;
  delivered: number;
}

/** Consumes every queue (3.1.1, default group); PUBACKs each delivery as soon as it is read. */
class Consumer {
  #onSuback: () => void = () => undefined;
  constructor(
    readonly socket: net.Socket,
    shared: Shared,
  ) {
    let acks: Buffer[] = [];
    const framer = new Framer((first, buf, start, end) => {
      if (first >> 4 === 9) this.#onSuback();
      if (first >> 4 !== 3) return;
      let p = start + 2 + buf.readUInt16BE(start);
      if (((first >> 1) & 3) > 0) {
        acks.push(Buffer.from([0x40, 2, buf[p]!, buf[p + 1]!]));
        p += 2;
      }
      if (end - p < 16) return; // a readiness probe
      const id = buf.readUInt16LE(p) * 2 ** 32 + buf.readUInt32LE(p + 2);
      if (shared.seen.has(id)) shared.duplicates++;
      else {
        shared.seen.add(id);
        shared.delivered++;
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

  subscribe(): Promise<void> {
    const done = new Promise<void>((resolve) => (this.#onSuback = resolve));
    const filters = Array.from({ length: QUEUES }, (_, i) =>
      Buffer.concat([str(`$queue/${queueName(i)}`), Buffer.from([1])]),
    );
    this.socket.write(packet(0x82, Buffer.concat([Buffer.from([0, 1]), ...filters])));
    return done;
  }
}

/** Keeps WINDOW QoS 1 PUBLISHes in flight, round-robin over the queues; records which ids were acknowledged. */
class Publisher {
  sent = 0;
  acked = 0;
  running = true;
  closed = false;
  readonly ackedIds: number[] = [];
  readonly #inflight = new Map<number, number>();
  readonly #packets: { bytes: Buffer; idAt: number }[] = [];
  #packetId = 0;

  constructor(
    readonly socket: net.Socket,
    readonly index: number,
  ) {
    for (let q = 0; q < QUEUES; q++) {
      const topic = str(`$queue/${queueName(q)}`);
      const body = topic.length + 2 + PAYLOAD;
      const header = Buffer.from([0x32, ...varintBytes(body)]);
      const bytes = Buffer.alloc(header.length + body, 0x61);
      header.copy(bytes, 0);
      topic.copy(bytes, header.length);
      this.#packets.push({ bytes, idAt: header.length + topic.length });
    }
    const framer = new Framer((first, buf, start) => {
      if (first >> 4 !== 4) return;
      const pid = buf.readUInt16BE(start);
      const id = this.#inflight.get(pid);
      if (id === undefined) return;
      this.#inflight.delete(pid);
      this.acked++;
      this.ackedIds.push(id);
    });
    socket.on("data", (chunk: Buffer) => {
      framer.push(chunk);
      this.fill();
    });
    socket.on("close", () => (this.closed = true));
  }

  fill(): void {
    if (!this.running || this.closed) return;
    const n = WINDOW - this.#inflight.size;
    if (n <= 0) return;
    const parts: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      const t = this.#packets[(this.sent + this.index) % QUEUES]!;
      const b = Buffer.from(t.bytes);
      do this.#packetId = this.#packetId >= 65535 ? 1 : this.#packetId + 1;
      while (this.#inflight.has(this.#packetId));
      b.writeUInt16BE(this.#packetId, t.idAt);
      const id = this.index * 2 ** 32 + this.sent;
      b.writeUInt16LE(this.index, t.idAt + 2);
      b.writeUInt32LE(this.sent, t.idAt + 4);
      this.#inflight.set(this.#packetId, id);
      this.sent++;
      parts.push(b);
    }
    this.socket.write(Buffer.concat(parts));
  }
}

/** Publishes one short probe to every queue from `port` until each is acknowledged (every slot has an owner). */
async function ready(port: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    const s = await open(port, `probe-${port}-${attempt}`, true);
    let acked = 0;
    const framer = new Framer((first) => {
      if (first >> 4 === 4) acked++;
    });
    s.on("data", (c: Buffer) => framer.push(c));
    let closed = false;
    s.on("close", () => (closed = true));
    for (let q = 0; q < QUEUES; q++) {
      const topic = str(`$queue/${queueName(q)}`);
      s.write(packet(0x32, Buffer.concat([topic, Buffer.from([0, q + 1]), Buffer.from("probe")])));
    }
    await until(() => acked === QUEUES || closed, 5000);
    s.destroy();
    if (acked === QUEUES) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error("the clustered queues did not become ready within 60 s");
}

async function run(replication: string): Promise<void> {
  const etcd = await startEtcd();
  const dir = mkdtempSync(join(tmpdir(), "wharf-bench-cq-"));
  onHarnessExit(() => rmSync(dir, { recursive: true, force: true }));
  const nodes = [];
  for (const id of ["n1", "n2", "n3"]) {
    nodes.push(
      await startWharf("memory", join(dir, id, "data"), [
        "mqtt: { maxInflight: 4096 }",
        "management: { enabled: false }",
        `queues: [{ name: "cq-bench-*", prefetch: 256 }]`,
        "cluster:",
        "  enabled: true",
        `  nodeId: ${id}`,
        "  name: bench",
        `  etcd: { endpoints: ["${etcd.endpoint}"] }`,
        "  listen: { host: 127.0.0.1, port: 0 }",
        `  queues: { replication: ${replication} }`,
      ]),
    );
  }
  const [n1, n2, n3] = nodes.map((n) => n.port) as [number, number, number];
  for (const p of [n1, n2, n3]) await ready(p);

  const shared: Shared = { seen: new Set(), duplicates: 0, delivered: 0 };
  const consumers = await Promise.all(
    Array.from(
      { length: CONSUMERS },
      async (_, i) => new Consumer(await open(i % 2 === 0 ? n2 : n3, `c-${i}`, true), shared),
    ),
  );
  for (const c of consumers) await c.subscribe();
  const pubs = await Promise.all(
    Array.from(
      { length: PUBLISHERS },
      async (_, i) => new Publisher(await open(i % 2 === 0 ? n1 : n2, `p-${i}`, true), i),
    ),
  );
  const load = loadavg()[0]!.toFixed(2);
  // CPU seconds of each node, etcd and this generator over the window: µs per delivered message (the machine is
  // shared, so CPU per message says more than the wall rate).
  const pids = [...nodes.map((n) => n.proc.pid), etcd.pid];
  const cpu0 = pids.map(processCpuSeconds);
  const gen0 = process.cpuUsage();
  const d0 = shared.delivered;
  const a0 = pubs.reduce((n, p) => n + p.acked, 0);
  const t0 = performance.now();
  for (const p of pubs) p.fill();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const seconds = (performance.now() - t0) / 1000;
  const delivered = shared.delivered - d0;
  const acked = pubs.reduce((n, p) => n + p.acked, 0) - a0;
  const cpu = pids.map((pid, i) => processCpuSeconds(pid) - cpu0[i]!);
  const gen = process.cpuUsage(gen0);
  const perMsg = (s: number): string => `${Math.round((s * 1e6) / Math.max(1, delivered))}`;
  const cpuLine =
    `CPU over the window (% of one core, µs per delivered message): ` +
    ["n1", "n2", "n3", "etcd"]
      .map((n, i) => `${n} ${Math.round((cpu[i]! / seconds) * 100)}% ${perMsg(cpu[i]!)} µs`)
      .join(", ") +
    `, generator ${Math.round(((gen.user + gen.system) / 1e6 / seconds) * 100)}%; nodes together ${perMsg(cpu[0]! + cpu[1]! + cpu[2]!)} µs`;
  for (const p of pubs) p.running = false;
  // Drain: what was acknowledged must arrive.
  let last = -1;
  while (shared.delivered !== last) {
    last = shared.delivered;
    await new Promise((r) => setTimeout(r, 1000));
  }
  let lost = 0;
  let total = 0;
  for (const p of pubs) {
    total += p.ackedIds.length;
    for (const id of p.ackedIds) if (!shared.seen.has(id)) lost++;
  }
  const closed = pubs.filter((p) => p.closed).length;
  console.log(
    `replication ${replication}: delivered ${Math.round(delivered / seconds)} msg/s, acknowledged ${Math.round(acked / seconds)} msg/s ` +
      `over ${seconds.toFixed(1)} s; ${total} acknowledged in all, lost ${lost}, duplicates ${shared.duplicates}` +
      `${closed > 0 ? `, ${closed} publishers disconnected (refused publishes)` : ""} (load average ${load} at start)`,
  );
  console.log(`  ${cpuLine}`);
  for (const s of [...pubs.map((p) => p.socket), ...consumers.map((c) => c.socket)]) s.destroy();
  await Promise.all(nodes.map((n) => n.proc.stop()));
  await etcd.stop();
}

installSignalHandlers();
const modes = values.replication === "both" ? ["sync", "async"] : [values.replication];
console.log(
  `3 nodes, ${PUBLISHERS} publishers (n1, n2) x ${WINDOW} in flight -> ${QUEUES} queues -> ${CONSUMERS} consumers (n2, n3), ${PAYLOAD} B`,
);
for (const m of modes) await run(m);
killAllChildren();
process.exit(0);
