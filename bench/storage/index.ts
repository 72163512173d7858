// Storage throughput: the broker's QoS 1 publish path — store a message, enqueue a reference to it for one
// session, commit — with 1, 16 and 64 concurrent writers in each durability mode, on LMDB in a temp directory
// (and the memory store as a baseline).
//
// Usage: npm run bench:storage [-- --time 2000 --writers 1,16,64,256 --modes sync,batched,none --payload 100]
//
// "acked/s": commit() promises resolved per second (what a publisher sees: PUBACK rate).
// "durable/s": the same messages over the time until flush() confirmed them all committed and fsync'd.
// "ops/batch": LMDB transactions' average size (group commit at work). "loop p99/max": event-loop delay.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { openLmdbStorage, openMemoryStorage } from "../../src/storage/index.ts";
import type { DurabilityMode, Storage, StoredMessage } from "../../src/storage/index.ts";

const args = process.argv.slice(2);
function flag(name: string, dflt: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? dflt) : dflt;
}
const TIME_MS = Number(flag("time", "2000"));
const WRITERS = flag("writers", "1,16,64,256").split(",").map(Number);
const MODES = flag("modes", "sync,batched,none").split(",") as DurabilityMode[];
const PAYLOAD = Number(flag("payload", "100"));

interface Row {
  store: string;
  mode: DurabilityMode;
  writers: number;
  messages: number;
  ackedPerSec: number;
  durablePerSec: number;
  opsPerBatch: number;
  loopP99Ms: number;
  loopMaxMs: number;
}

const template: StoredMessage = {
  topic: "bench/storage/sensor/42",
  payload: Buffer.alloc(PAYLOAD, 0x61),
  qos: 1,
  retain: false,
  properties: { userProperties: [["unit", "celsius"]] },
};

async function measure(store: Storage, label: string, mode: DurabilityMode, writers: number): Promise<Row> {
  await store.flush();
  const { batches: b0, ops: o0 } = store.stats;
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  let messages = 0;
  const start = performance.now();
  const end = start + TIME_MS;
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      const session = `session-${w}`;
      while (performance.now() < end) {
        const id = store.messages.store(template);
        store.sessions.enqueue(session, id, { qos: 1, retain: false });
        await store.commit();
        messages++;
      }
    }),
  );
  const acked = performance.now();
  await store.flush();
  const durable = performance.now();
  loop.disable();
  const { batches, ops } = store.stats;
  return {
    store: label,
    mode,
    writers,
    messages,
    ackedPerSec: Math.round((messages / (acked - start)) * 1000),
    durablePerSec: Math.round((messages / (durable - start)) * 1000),
    opsPerBatch: Math.round((ops - o0) / Math.max(1, batches - b0)),
    loopP99Ms: Math.round(loop.percentile(99) / 1e5) / 10,
    loopMaxMs: Math.round(loop.max / 1e5) / 10,
  };
}

const rows: Row[] = [];
const print = (r: Row): void => {
  console.log(
    [
      r.store.padEnd(7),
      r.mode.padEnd(8),
      String(r.writers).padStart(7),
      String(r.messages).padStart(9),
      String(r.ackedPerSec).padStart(10),
      String(r.durablePerSec).padStart(10),
      String(r.opsPerBatch).padStart(9),
      `${r.loopP99Ms}/${r.loopMaxMs}`.padStart(14),
    ].join(" "),
  );
};

console.log(
  `storage bench: ${TIME_MS} ms per case, payload ${PAYLOAD} B, writers ${WRITERS.join(",")}, node ${process.version}`,
);
console.log("store   mode     writers  messages    acked/s  durable/s ops/batch loop p99/max ms");
for (const mode of MODES) {
  const dir = mkdtempSync(join(tmpdir(), "wharf-bench-storage-"));
  try {
    const store = await openLmdbStorage({ path: join(dir, "data"), durability: mode });
    for (const writers of WRITERS) {
      const r = await measure(store, "lmdb", mode, writers);
      rows.push(r);
      print(r);
    }
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
{
  const store = await openMemoryStorage({ durability: "sync" });
  for (const writers of WRITERS) {
    const r = await measure(store, "memory", "sync", writers);
    rows.push(r);
    print(r);
  }
  await store.close();
}

const out = join(dirname(fileURLToPath(import.meta.url)), "..", "results", "storage.json");
mkdirSync(dirname(out), { recursive: true });
writeFileSync(
  out,
  JSON.stringify({ date: new Date().toISOString(), timeMs: TIME_MS, payload: PAYLOAD, rows }, null, 2),
);
console.log(`results: ${out}`);
