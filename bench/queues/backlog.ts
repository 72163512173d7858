// Durable-queue backlog: memory and restart time with N queued messages (issue 11: 1,000,000 messages of 100 B
// must cost <= 300 MB RSS over an empty broker, and a restart with them <= 5 s).
//
// Usage: npm run bench:queue-backlog [-- --messages 1000000 --payload 100 --partitions 8 --drain 200000]
//
// Each phase runs in its own Node process (RSS is per process and never shrinks much once grown):
//   empty  an engine (the broker's queue path: QueueEngine over StorageQueueStore over LMDB) on an empty store;
//   fill   the same, then N publishes (durability none, flushed at the end); RSS measured after a full GC;
//   open   a fresh process opens the filled store as the broker does: the restart (the data-file check in a child
//          process, storage open + engine recovery) is timed, wall and CPU (the check's CPU is its child's), RSS
//          measured after a full GC; then `--drain` messages are consumed and acked (bodies read back from LMDB),
//          checking every seq arrives once. The fill closes cleanly, so the open restores the queue index from
//          the snapshot (src/storage/snapshot.ts); `--no-snapshot` fills without one (the open scans, as after a
//          crash).
// "RSS over empty" = RSS of fill/open minus RSS of empty. The load average is printed with the figures.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { QueueEngine, StorageQueueStore } from "../../src/queues/index.ts";
import type { QueueDelivery } from "../../src/queues/index.ts";
import { openLmdbStorage } from "../../src/storage/index.ts";
import { probeDirectory } from "../../src/storage/lmdb-check.ts";
import type { Storage } from "../../src/storage/index.ts";

const args = process.argv.slice(2);
function flag(name: string, dflt: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? dflt) : dflt;
}
const MESSAGES = Number(flag("messages", "1000000"));
const PAYLOAD = Number(flag("payload", "100"));
const PARTITIONS = Number(flag("partitions", "8"));
const DRAIN = Number(flag("drain", "200000"));
const QUEUE = "bench/backlog";
const SNAPSHOT = !args.includes("--no-snapshot");

interface PhaseResult {
  phase: string;
  rssMb: number;
  anonMb: number;
  fileMb: number;
  heapMb: number;
  ms: number;
  depth: number;
  drained?: number;
  drainPerSec?: number;
  duplicates?: number;
  times?: typeof openTimes;
}

/**
 * RSS after a full GC, and its split from /proc/self/status: anonymous memory (heap, buffers, malloc: what the
 * process holds) and file-backed pages (mostly LMDB's memory map: page cache the kernel reclaims at will).
 */
function gcAndMeasure(): { rssMb: number; anonMb: number; fileMb: number; heapMb: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) gc?.();
  const m = process.memoryUsage();
  const status = readFileSync("/proc/self/status", "utf8");
  const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? NaN);
  return {
    rssMb: m.rss / 2 ** 20,
    anonMb: kb("RssAnon") / 1024,
    fileMb: kb("RssFile") / 1024,
    heapMb: m.heapUsed / 2 ** 20,
  };
}

/**
 * Wall and CPU time of the last open(): the data-file check (lmdb-probe.mjs, a child process: its CPU from this
 * process's reaped-children times), storage (LMDB open, index rebuild or snapshot, audit) and engine recovery.
 */
const openTimes = {
  probeMs: 0,
  probeCpuMs: 0,
  storageMs: 0,
  storageCpuMs: 0,
  engineMs: 0,
  engineCpuMs: 0,
  snapshot: "",
};

/** CPU of waited-for children (utime + stime of reaped children, /proc/self/stat fields 16-17, in ticks of 10 ms). */
function childCpuMs(): number {
  const f = readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
  return (Number(f[13]) + Number(f[14])) * 10;
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function open(dir: string, check: boolean): Promise<{ storage: Storage; engine: QueueEngine }> {
  let t = performance.now();
  let c = childCpuMs();
  if (check) await probeDirectory(dir, 32); // what openLmdbStorage does first (verify: true, the broker's default)
  openTimes.probeMs = performance.now() - t;
  openTimes.probeCpuMs = childCpuMs() - c;
  t = performance.now();
  c = cpuMs();
  const storage = await openLmdbStorage({
    path: dir,
    durability: "none",
    verify: false,
    snapshotMinEntries: SNAPSHOT ? undefined : 0,
  });
  openTimes.storageMs = performance.now() - t;
  openTimes.storageCpuMs = cpuMs() - c;
  openTimes.snapshot = storage.openSnapshot.status;
  t = performance.now();
  c = cpuMs();
  const engine = new QueueEngine({
    store: new StorageQueueStore(storage),
    config: [{ name: QUEUE, partitions: PARTITIONS, ordering: "partition", limits: { maxDepth: 0, maxBytes: 0 } }],
  });
  openTimes.engineMs = performance.now() - t;
  openTimes.engineCpuMs = cpuMs() - c;
  return { storage, engine };
}

async function phase(name: string, dir: string): Promise<PhaseResult> {
  const t0 = performance.now();
  const { storage, engine } = await open(dir, name === "open");
  const openMs = performance.now() - t0;
  if (name === "empty") {
    return { phase: name, ...gcAndMeasure(), ms: openMs, depth: 0 };
  }
  if (name === "fill") {
    const payload = Buffer.alloc(PAYLOAD, 0x61);
    const t1 = performance.now();
    for (let i = 0; i < MESSAGES; i++) {
      const r = engine.publish(QUEUE, { payload, partitionKey: i % 4 === 0 ? `k${i % 1000}` : undefined });
      if (!r.ok) throw new Error(r.reason);
      if (i % 2000 === 1999) await engine.commit(); // waits for the disk once maxPendingOps are pending
    }
    await storage.flush();
    const ms = performance.now() - t1;
    const depth = engine.info(QUEUE)?.depth ?? 0;
    const m = gcAndMeasure();
    engine.close();
    await storage.close();
    return { phase: name, ...m, ms, depth };
  }
  // open: the restart is `open` above; then drain part of the backlog.
  const depth = engine.info(QUEUE)?.depth ?? 0;
  const m = gcAndMeasure();
  const seen = new Set<number>();
  let duplicates = 0;
  let got = 0;
  const t2 = performance.now();
  await new Promise<void>((resolve) => {
    const pending: QueueDelivery[] = [];
    let scheduled = false;
    let finished = false;
    const flush = (): void => {
      scheduled = false;
      if (finished) return;
      for (const d of pending.splice(0)) engine.ack(d.queue, d.group, d.messageId);
      if (got >= Math.min(DRAIN, depth)) {
        finished = true;
        resolve();
      }
    };
    const link = {
      id: "drain",
      send: (d: QueueDelivery) => {
        if (seen.has(d.seq)) duplicates++;
        seen.add(d.seq);
        got++;
        if (d.payload.length !== PAYLOAD) throw new Error(`body of ${d.seq}: ${d.payload.length} bytes`);
        pending.push(d);
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      },
    };
    if (depth === 0 || DRAIN === 0) resolve();
    else engine.join(QUEUE, undefined, link, { prefetch: 1000 });
  });
  const drainMs = performance.now() - t2;
  engine.close();
  await storage.close();
  return {
    phase: name,
    ...m,
    ms: openMs,
    depth,
    drained: got,
    drainPerSec: got / (drainMs / 1000),
    duplicates,
    times: { ...openTimes },
  };
}

async function main(): Promise<void> {
  const p = flag("phase", "");
  if (p !== "") {
    process.stdout.write(JSON.stringify(await phase(p, flag("dir", ""))) + "\n");
    return;
  }
  const self = fileURLToPath(import.meta.url);
  const run = (name: string, dir: string): PhaseResult => {
    const out = execFileSync(
      process.execPath,
      ["--expose-gc", "--import", "tsx", self, ...args, "--phase", name, "--dir", dir],
      { encoding: "utf8", maxBuffer: 1 << 20, stdio: ["ignore", "pipe", "inherit"] },
    );
    return JSON.parse(out.trim().split("\n").pop()!) as PhaseResult;
  };
  const emptyDir = mkdtempSync(join(tmpdir(), "wharf-qb-empty-"));
  const dir = mkdtempSync(join(tmpdir(), "wharf-qb-"));
  try {
    const load = loadavg()
      .map((x) => x.toFixed(2))
      .join(" ");
    const empty = run("empty", emptyDir);
    const fill = run("fill", dir);
    const reopened = run("open", dir);
    const fmt = (x: number): string => x.toFixed(0);
    console.log(`queue backlog: ${MESSAGES} messages x ${PAYLOAD} B, ${PARTITIONS} partitions (load ${load})`);
    const split = (r: PhaseResult): string =>
      `anon ${fmt(r.anonMb)} MB = +${fmt(r.anonMb - empty.anonMb)}, file-backed ${fmt(r.fileMb)} MB, heap ${fmt(r.heapMb)} MB`;
    console.log(`  empty engine:  RSS ${fmt(empty.rssMb)} MB (${split(empty)})`);
    console.log(
      `  filled:        RSS ${fmt(fill.rssMb)} MB = +${fmt(fill.rssMb - empty.rssMb)} MB over empty (${split(fill)}), ` +
        `depth ${fill.depth}, fill ${fmt(fill.ms)} ms (${fmt(MESSAGES / (fill.ms / 1000))} msg/s, durability none)`,
    );
    console.log(
      `  restarted:     check + open + recovery ${fmt(reopened.ms)} ms, RSS ${fmt(reopened.rssMb)} MB = +${fmt(reopened.rssMb - empty.rssMb)} MB over empty ` +
        `(${split(reopened)}), depth ${reopened.depth}`,
    );
    const t = reopened.times;
    if (t !== undefined) {
      console.log(
        `                 data-file check ${fmt(t.probeMs)} ms (child cpu ${fmt(t.probeCpuMs)} ms), ` +
          `storage open ${fmt(t.storageMs)} ms (cpu ${fmt(t.storageCpuMs)} ms, index snapshot ${t.snapshot}), ` +
          `engine recovery ${fmt(t.engineMs)} ms (cpu ${fmt(t.engineCpuMs)} ms)`,
      );
    }
    if (reopened.drained !== undefined) {
      console.log(
        `  drained:       ${reopened.drained} delivered + acked at ${fmt(reopened.drainPerSec ?? 0)} msg/s (bodies read back from LMDB), duplicates ${reopened.duplicates}`,
      );
    }
    const lost = MESSAGES - reopened.depth;
    console.log(
      `  lost across the restart: ${lost}; load after: ${loadavg()
        .map((x) => x.toFixed(2))
        .join(" ")}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(emptyDir, { recursive: true, force: true });
  }
}

await main();
