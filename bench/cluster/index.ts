// `npm run bench:cluster`: 3 Wharf nodes (separate processes) with a real etcd, against a single Wharf node.
//  - fanin: cross-node fan-in at QoS 0. Publishers on n1 and n2, the subscriber on n3: every message crosses the
//    inter-node transport once. Unpaced (publishers write as fast as their sockets take it); loss is reported (QoS 0
//    may be dropped under overload, on a node or on an inter-node link). Issue 16 target: >= 50 % of single-node.
//    The single node and the cluster run side by side (the idle one costs next to nothing) and `--fanin-rounds`
//    rounds alternate between them (single first, then cluster first, …), so a change of the machine's load hits
//    both; each round prints the CPU of every process (% of one core, µs per delivered message).
//  - takeover: a persistent session with queued QoS 1 messages moved node to node (takeover.ts). Issue 16 target:
//    takeover <= 100 ms p99; single-node reconnects as the baseline.
//
//   node --import tsx bench/cluster/index.ts [--scenario all|fanin|takeover] [--seconds 5] [--publishers 4]
//     [--payload 64] [--fanin-rounds 3] [--rounds 200] [--queued 5]
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { BenchClient } from "../lib/client.ts";
import { PROTOCOL, encodePublishHeader } from "../lib/mqtt-packets.ts";
import { processCpuSeconds } from "../lib/proc-stats.ts";
import { clusterConfig, etcdPid, killLast, pidOf, startEtcd, startWharf, stopAll } from "./nodes.ts";
import { takeover } from "./takeover.ts";

const { values } = parseArgs({
  options: {
    scenario: { type: "string", default: "all" },
    seconds: { type: "string", default: "5" },
    publishers: { type: "string", default: "4" },
    payload: { type: "string", default: "64" },
    "fanin-rounds": { type: "string", default: "3" },
    rounds: { type: "string", default: "200" },
    queued: { type: "string", default: "5" },
  },
});
const SCENARIO = values.scenario;
const ROUNDS = Number(values.rounds);
const FANIN_ROUNDS = Number(values["fanin-rounds"]);
const QUEUED = Number(values.queued);
const SECONDS = Number(values.seconds);
const PUBLISHERS = Number(values.publishers);
const PAYLOAD = Number(values.payload);
const TOPIC = "bench/fanin";

interface Result {
  sent: number;
  received: number;
  seconds: number;
  rate: number;
}

/**
 * Publishers on `pubPorts` (round-robin), one subscriber on `subPort`; QoS 0, unpaced. `watch`: processes whose CPU
 * over the window is printed (name → pid; this generator is added).
 */
async function fanIn(
  label: string,
  pubPorts: number[],
  subPort: number,
  watch: Record<string, number> = {},
): Promise<Result> {
  const sub = await BenchClient.connect({ port: subPort, clientId: `sub-${label}`, protocol: PROTOCOL.v311 });
  let received = 0;
  sub.coalesceReads = true;
  sub.publishHandler = () => {
    received++;
  };
  await sub.subscribe([TOPIC], 0);
  const pubs = await Promise.all(
    Array.from({ length: PUBLISHERS }, (_, i) =>
      BenchClient.connect({
        port: pubPorts[i % pubPorts.length]!,
        clientId: `pub-${label}-${i}`,
        protocol: PROTOCOL.v311,
      }),
    ),
  );
  // Interest must have reached the publishers' nodes: probe until a message arrives.
  const h = encodePublishHeader(TOPIC, 0, PROTOCOL.v311, PAYLOAD);
  const packet = Buffer.concat([h.bytes, Buffer.alloc(PAYLOAD, 1)]);
  const batch = Buffer.concat(Array.from({ length: 256 }, () => packet));
  for (let i = 0; received < pubs.length; i++) {
    for (const p of pubs) p.socket.write(packet);
    await new Promise((r) => setTimeout(r, 50));
    if (i > 400) throw new Error(`${label}: no route after 20 s`);
  }
  await new Promise((r) => setTimeout(r, 500));
  const start = received;
  let sent = 0;
  let running = true;
  const names = Object.keys(watch);
  const cpu0 = names.map((n) => processCpuSeconds(watch[n]!));
  const gen0 = process.cpuUsage();
  const t0 = performance.now();
  const pump = (p: BenchClient): void => {
    while (running && p.socket.write(batch)) sent += 256;
    if (running) {
      sent += 256; // the write that returned false was queued
      p.socket.once("drain", () => pump(p));
    }
  };
  for (const p of pubs) pump(p);
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  running = false;
  const seconds = (performance.now() - t0) / 1000;
  const atStop = received - start;
  const gen = process.cpuUsage(gen0);
  const cpu = [...names.map((n, i) => processCpuSeconds(watch[n]!) - cpu0[i]!), (gen.user + gen.system) / 1e6];
  const cpuLine = [...names, "generator"]
    .map(
      (n, i) =>
        `${n} ${Math.round((cpu[i]! / seconds) * 100)}% ${((cpu[i]! * 1e6) / Math.max(1, atStop)).toFixed(2)} µs`,
    )
    .join(", ");
  // Let what is in flight arrive (counted for loss, not for the rate).
  let last = -1;
  while (received !== last) {
    last = received;
    await new Promise((r) => setTimeout(r, 500));
  }
  const total = received - start;
  await Promise.all([...pubs, sub].map((c) => c.close().catch(() => undefined)));
  console.log(
    `${label}: ${Math.round(atStop / seconds)} msg/s delivered during ${seconds.toFixed(1)} s; sent ${sent}, ` +
      `received ${total} (loss ${(((sent - total) / sent) * 100).toFixed(2)} %)`,
  );
  console.log(`  CPU over the window (% of one core, per delivered message): ${cpuLine}; load ${load()}`);
  return { sent, received: total, seconds, rate: atStop / seconds };
}

const load = (): string =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");

async function main(): Promise<void> {
  console.log(`load average before: ${load()}`);
  const fanin = SCENARIO === "all" || SCENARIO === "fanin";
  const moves = SCENARIO === "all" || SCENARIO === "takeover";
  const single = await startWharf("single", undefined);
  if (moves) await takeover("single node reconnect", [single], ROUNDS, QUEUED);
  if (!fanin) killLast();

  const etcd = await startEtcd();
  const ports: number[] = [];
  for (const id of ["n1", "n2", "n3"]) ports.push(await startWharf(id, clusterConfig(id, etcd)));
  if (fanin) {
    const [n1, n2, n3] = ports as [number, number, number];
    const one = (): Promise<Result> => fanIn("single node", [single], single, { single: pidOf(single) });
    const three = (): Promise<Result> =>
      fanIn("3 nodes, publishers on n1+n2, subscriber on n3", [n1, n2], n3, {
        n1: pidOf(n1),
        n2: pidOf(n2),
        n3: pidOf(n3),
        etcd: etcdPid(),
      });
    const ratios: number[] = [];
    const singles: number[] = [];
    const clusters: number[] = [];
    for (let round = 0; round < FANIN_ROUNDS; round++) {
      console.log(`fan-in round ${round + 1} of ${FANIN_ROUNDS}`);
      let a: Result;
      let b: Result;
      if (round % 2 === 0) {
        a = await one();
        b = await three();
      } else {
        b = await three();
        a = await one();
      }
      singles.push(a.rate);
      clusters.push(b.rate);
      ratios.push(b.rate / a.rate);
      console.log(`  round ${round + 1}: cross-node / single-node ${((b.rate / a.rate) * 100).toFixed(0)} %`);
    }
    const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor((xs.length - 1) / 2)]!;
    console.log(
      `cross-node / single-node: median of the rounds' ratios ${(median(ratios) * 100).toFixed(0)} % ` +
        `(${ratios.map((r) => `${(r * 100).toFixed(0)} %`).join(", ")}); medians ${Math.round(median(clusters))} / ` +
        `${Math.round(median(singles))} msg/s`,
    );
  }
  if (moves) await takeover("3 nodes, takeover n1->n2->n3->n1", ports, ROUNDS, QUEUED);
  console.log(`load average after: ${load()}`);
  // BENCH_CPU_PROF=<dir>: the nodes write their profiles when they stop cleanly.
  if (process.env.BENCH_CPU_PROF !== undefined) await stopAll();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
