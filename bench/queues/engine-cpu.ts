// CPU per message of the queue engine over LMDB storage, without sockets: the queue and storage part of what the
// broker does per message in `npm run bench:queues` (publish -> commit -> deliver -> ack), measured as CPU time of
// this process (main thread + LMDB's write thread) per message, which a loaded machine distorts far less than a
// rate. Publishers keep `window` appends each waiting for their commit (the PUBACK point); consumers ack each
// delivery on the next turn (a socket round trip's worth of delay, no more). Like sockets, a publisher whose commit
// resolved publishes its next message in a later event-loop turn (all such publishers in one turn: one socket read
// each), not in the commit's microtask: in batched mode commit() resolves at once, and republishing from the
// microtask ran thousands of appends before any consumer's ack could run (a backlog no broker builds: its
// publishers wait for a PUBACK on the wire). `--storm` keeps that older shape for comparison.
//
// Usage: npm run bench:queue-engine [-- --messages 200000 --modes sync,batched --publishers 16 --window 64
//                                       --consumers 4 --partitions 8 --prefetch 256 --payload 100 --storm
//                                       --alloc 30]
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { QueueEngine, StorageQueueStore } from "../../src/queues/index.ts";
import type { QueueDelivery } from "../../src/queues/index.ts";
import { openLmdbStorage } from "../../src/storage/index.ts";
import type { DurabilityMode } from "../../src/storage/index.ts";
import { flagValue } from "../lib/args.ts";
import { startHeapSampling } from "../lib/heap-sampling.ts";
import type { HeapSampling } from "../lib/heap-sampling.ts";

const flag = (name: string, dflt: string): string => flagValue(process.argv, name, dflt);
const MESSAGES = Number(flag("messages", "200000"));
const PUBLISHERS = Number(flag("publishers", "16"));
const WINDOW = Number(flag("window", "64"));
const CONSUMERS = Number(flag("consumers", "4"));
const PARTITIONS = Number(flag("partitions", "8"));
const PREFETCH = Number(flag("prefetch", "256"));
const PAYLOAD = Number(flag("payload", "100"));
const QUEUE = "bench";
const STORM = process.argv.includes("--storm");
/** `--alloc N`: also print the top N allocation sites per message (V8's sampling heap profiler, collected included). */
const ALLOC = Number(flag("alloc", "0"));

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function printAllocs(sampling: HeapSampling | undefined, messages: number): Promise<void> {
  if (sampling === undefined) return;
  const { total, sites } = await sampling.stop();
  console.log(`  sampled allocations: ${(total / messages).toFixed(0)} B per message`);
  for (const [site, bytes] of sites.slice(0, ALLOC))
    console.log(`  ${(bytes / messages).toFixed(0).padStart(6)} B  ${site}`);
}

async function run(mode: DurabilityMode): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "wharf-qe-"));
  const storage = await openLmdbStorage({ path: dir, durability: mode, verify: false });
  const engine = new QueueEngine({
    store: new StorageQueueStore(storage),
    config: [{ name: QUEUE, partitions: PARTITIONS, ordering: "partition", prefetch: PREFETCH }],
  });
  const payload = Buffer.alloc(PAYLOAD, 0x61);
  let published = 0;
  let acked = 0;
  let maxDepth = 0;
  let acks: QueueDelivery[] = [];
  let ackScheduled = false;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((r) => (done = r));
  const ackAll = (): void => {
    ackScheduled = false;
    const batch = acks;
    acks = [];
    for (const d of batch) engine.ack(d.queue, d.group, d.seq);
    maxDepth = Math.max(maxDepth, engine.info(QUEUE)?.depth ?? 0);
    acked += batch.length;
    if (acked === MESSAGES) void engine.commit().then(done);
  };
  for (let i = 0; i < CONSUMERS; i++) {
    engine.join(QUEUE, undefined, {
      id: `c${i}`,
      send: (d) => {
        acks.push(d);
        if (!ackScheduled) {
          ackScheduled = true;
          setImmediate(ackAll);
        }
      },
    });
  }
  // Publishers whose PUBACK is due, republishing in the next turn (one setImmediate for all of them).
  let due = 0;
  let dueScheduled = false;
  const publishDue = (): void => {
    dueScheduled = false;
    const n = due;
    due = 0;
    for (let i = 0; i < n; i++) publishOne();
  };
  const acked1 = (): void => {
    if (STORM) {
      publishOne();
      return;
    }
    due++;
    if (!dueScheduled) {
      dueScheduled = true;
      setImmediate(publishDue);
    }
  };
  const failed = (e: unknown): void => {
    throw e;
  };
  const publishOne = (): void => {
    if (published >= MESSAGES) return;
    published++;
    const r = engine.publish(QUEUE, { payload });
    if (!r.ok) throw new Error(r.reason);
    engine.commit().then(acked1, failed);
  };
  const allocs = ALLOC > 0 ? await startHeapSampling() : undefined;
  const t0 = performance.now();
  const c0 = cpuMs();
  for (let i = 0; i < PUBLISHERS * WINDOW; i++) publishOne();
  await finished;
  const ms = performance.now() - t0;
  const cpu = cpuMs() - c0;
  await printAllocs(allocs, MESSAGES);
  const stats = storage.stats;
  engine.close();
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
  console.log(
    [
      mode.padEnd(8),
      `${((cpu * 1000) / MESSAGES).toFixed(1)} µs cpu/msg`.padStart(16),
      `${Math.round(MESSAGES / (ms / 1000))} msg/s`.padStart(14),
      `${stats.batches} batches, ${(stats.ops / MESSAGES).toFixed(2)} ops/msg`.padStart(28),
      `max depth ${maxDepth}`.padStart(16),
      `  load ${loadavg()
        .map((x) => x.toFixed(1))
        .join(" ")}`,
    ].join(" "),
  );
}

console.log(
  `queue engine cpu: ${MESSAGES} x ${PAYLOAD} B, ${PUBLISHERS} x ${WINDOW} appends in flight, ${CONSUMERS} consumers ` +
    `(prefetch ${PREFETCH}), ${PARTITIONS} partitions${STORM ? ", republishing from the commit's microtask" : ""}; ` +
    `node ${process.version}`,
);
for (const mode of flag("modes", "sync,batched").split(",")) await run(mode as DurabilityMode);
