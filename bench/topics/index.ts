// Micro-benchmark of SubscriptionIndex.match: throughput with 10k / 100k subscriptions, with and without the
// topic -> result LRU cache, on three workloads. Prints a table; asserts nothing.
//   npm run bench:topics
import { availableParallelism, loadavg } from "node:os";
import { SubscriptionIndex, topicMatches } from "../../src/topics/index.ts";
import { Rng } from "../../test/helpers/codec-random.ts";

const SITES = 100;

/**
 * IoT-shaped filters over `site/<s>/dev/<d>/temp` topics. "fan-out": 70% exact, 20% `site/<s>/dev/+/temp`, 10%
 * `site/<s>/#`, so the wildcard subscribers of a site pile up (30 matches per topic at 10k subscriptions, 300 at
 * 100k). "low fan-out": 70% exact, 20% `site/<s>/dev/<d>/+`, 10% `site/<s>/dev/<d>/#` (about one match per topic).
 */
function makeFilters(n: number, rnd: Rng, fanOut: boolean): string[] {
  const devices = Math.max(1, Math.floor(n / SITES));
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const site = rnd.int(SITES);
    const dev = rnd.int(devices);
    const r = rnd.u32() / 0x100000000;
    if (r < 0.7) out.push(`site/${site}/dev/${dev}/temp`);
    else if (r < 0.9) out.push(fanOut ? `site/${site}/dev/+/temp` : `site/${site}/dev/${dev}/+`);
    else out.push(fanOut ? `site/${site}/#` : `site/${site}/dev/${dev}/#`);
  }
  return out;
}

function makeTopic(n: number, rnd: Rng): string {
  const devices = Math.max(1, Math.floor(n / SITES));
  return `site/${rnd.int(SITES)}/dev/${rnd.int(devices)}/temp`;
}

interface Workload {
  readonly name: string;
  /** Topics published, cycled through, UTF-8 encoded: each match decodes a fresh string, as the broker does. */
  readonly topics: Buffer[];
  /** Subscribe + unsubscribe once every this many matches (0: never). */
  readonly churnEvery: number;
}

function build(filters: string[], cacheSize: number): SubscriptionIndex<number> {
  const index = new SubscriptionIndex<number>({ cacheSize });
  filters.forEach((f, i) => index.add(f, `client-${i}`, i));
  return index;
}

let sink = 0;
const visit = (_key: string, value: number): void => {
  sink += value;
};

function run(index: SubscriptionIndex<number>, w: Workload, ops: number): number {
  const { topics, churnEvery } = w;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) {
    if (churnEvery > 0 && i % churnEvery === 0) {
      index.add("churn/+/x", "churner", i);
      index.remove("churn/+/x", "churner");
    }
    const t = topics[i % topics.length]!;
    index.match(t.toString("utf8", 0, t.length), visit);
  }
  const ns = Number(process.hrtime.bigint() - t0);
  return (ops / ns) * 1e9;
}

function fmt(opsPerSec: number): string {
  if (opsPerSec >= 1e6) return `${(opsPerSec / 1e6).toFixed(2)} M/s`;
  return opsPerSec >= 1e3 ? `${(opsPerSec / 1e3).toFixed(1)} k/s` : `${opsPerSec.toFixed(1)} /s`;
}

const OPS = 1_000_000;
const CACHE = 1024;
console.log(
  `SubscriptionIndex.match, ${OPS.toLocaleString("en")} matches per cell (best of 3), Node ${process.version}, ` +
    `load average ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} cores (a busy machine skews every cell)`,
);
console.log("subs     shape        workload                          no cache      cache=1024   avg matches");
for (const [n, fanOut] of [
  [10_000, false],
  [100_000, false],
  [10_000, true],
  [100_000, true],
] as const) {
  const rnd = new Rng(42);
  const shape = (fanOut ? "fan-out" : "low fan-out").padEnd(12);
  const filters = makeFilters(n, rnd, fanOut);
  const hot = Array.from({ length: 100 }, () => Buffer.from(makeTopic(n, rnd)));
  const wide = Array.from({ length: 50_000 }, () => Buffer.from(makeTopic(n, rnd)));
  const workloads: Workload[] = [
    { name: "100 hot topics", topics: hot, churnEvery: 0 },
    { name: "50k distinct topics", topics: wide, churnEvery: 0 },
    { name: "100 hot topics, sub churn /100", topics: hot, churnEvery: 100 },
  ];
  const plain = build(filters, 0);
  const cached = build(filters, CACHE);
  for (const w of workloads) {
    // Warm-up, then best of three to damp GC / JIT noise.
    run(plain, w, OPS / 10);
    run(cached, w, OPS / 10);
    let a = 0;
    let b = 0;
    for (let r = 0; r < 3; r++) {
      a = Math.max(a, run(plain, w, OPS));
      b = Math.max(b, run(cached, w, OPS));
    }
    let matches = 0;
    for (const t of w.topics.slice(0, 1000)) matches += plain.matchAll(t.toString()).length;
    const avg = matches / Math.min(1000, w.topics.length);
    console.log(
      `${String(n).padEnd(8)} ${shape} ${w.name.padEnd(33)} ${fmt(a).padStart(10)}   ${fmt(b).padStart(10)}   ${avg.toFixed(1)}`,
    );
  }
  // The reference matcher over every filter, for scale (what a list scan would cost).
  const t0 = process.hrtime.bigint();
  const sample = 100;
  for (let i = 0; i < sample; i++) {
    const topic = hot[i % hot.length]!.toString();
    for (const f of filters) if (topicMatches(f, topic)) sink++;
  }
  const bf = (sample / Number(process.hrtime.bigint() - t0)) * 1e9;
  console.log(`${String(n).padEnd(8)} ${shape} ${"brute force topicMatches scan".padEnd(33)} ${fmt(bf).padStart(10)}`);
}
if (sink === -1) console.log(sink); // keep the visitor's work observable
