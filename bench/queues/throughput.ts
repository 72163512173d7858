// Durable queues end to end over real sockets (issue 11), standalone: the scenario of bench/scenarios/queue.ts
// (16 publishers -> `$queue/bench`, 8 partitions -> 4 consumers in one group, 100 B, publish -> deliver -> ack)
// for each durability mode, unpaced and paced, with more knobs than `npm run bench` offers.
//
// Usage: npm run bench:queues [-- --time 3000 --modes sync,batched --cases unpaced,paced --window 64 --rate 10000
//                                 --payload 100 --publishers 16 --consumers 4 --partitions 8 --prefetch 256
//                                 --rounds 1]
// --rounds N runs every case N times, each on a fresh broker (a paced p99 is one round's figure: several rounds show
// its spread, each with what its tail coincided with).
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { installSignalHandlers } from "../lib/children.ts";
import { formatMs, formatRate } from "../lib/stats.ts";
import { QUEUE_DEFAULTS, runQueueCase } from "../scenarios/queue.ts";

const args = process.argv.slice(2);
function flag(name: string, dflt: string | number): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? String(dflt)) : String(dflt);
}
const d = QUEUE_DEFAULTS;
const o = {
  publishers: Number(flag("publishers", d.publishers)),
  consumers: Number(flag("consumers", d.consumers)),
  partitions: Number(flag("partitions", d.partitions)),
  prefetch: Number(flag("prefetch", d.prefetch)),
  window: Number(flag("window", d.window)),
  rate: Number(flag("rate", d.rate)),
  payload: Math.max(16, Number(flag("payload", d.payload))),
  warmupMs: Number(flag("warmup", 700)),
  measureMs: Number(flag("time", 3000)),
  dataRoot: flag("data-root", tmpdir()),
};

installSignalHandlers();

/**
 * What one fsync costs on the data disk right now (sync mode acknowledges after one; a shared VM's disk varies a
 * lot): `n` × (4 KiB write + fdatasync) in `dir`, percentiles in ms.
 */
function fsyncCost(dir: string, n = 100): { p50: number; p99: number; max: number } {
  const file = join(mkdtempSync(join(dir, "wharf-fsync-")), "probe");
  const fd = openSync(file, "w");
  const block = Buffer.alloc(4096, 1);
  const t: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      writeSync(fd, block, 0, block.length, (i % 16) * 4096);
      const t0 = performance.now();
      fdatasyncSync(fd);
      t.push(performance.now() - t0);
    }
  } finally {
    closeSync(fd);
    rmSync(dirname(file), { recursive: true, force: true });
  }
  t.sort((a, b) => a - b);
  return { p50: t[Math.floor(n * 0.5)]!, p99: t[Math.floor(n * 0.99)]!, max: t[n - 1]! };
}
console.log(
  `queue bench: ${o.publishers} publishers (window ${o.window}) -> $queue/bench (${o.partitions} partitions, ordering ` +
    `partition, prefetch ${o.prefetch}) -> ${o.consumers} consumers, one group, ${o.payload} B, ${o.measureMs} ms after ` +
    `${o.warmupMs} ms warm-up; paced = ${o.rate} msg/s; node ${process.version}, ${availableParallelism()} cores, ` +
    `load ${loadavg()[0]!.toFixed(1)}`,
);
console.log(
  "mode      case       published/s  delivered/s    e2e p50    e2e p99  lost  dup  broker cpu  client cpu  client lag p99  load (1/5/15)",
);
for (const mode of flag("modes", "sync,batched").split(",")) {
  const f = fsyncCost(o.dataRoot);
  console.log(
    `${mode}: fsync (4 KiB write + fdatasync) on the data disk: p50 ${formatMs(f.p50)}, p99 ${formatMs(f.p99)}, ` +
      `max ${formatMs(f.max)}`,
  );
  const rounds = Math.max(1, Number(flag("rounds", 1)));
  for (const kind of flag("cases", "unpaced,paced").split(","))
    for (let round = 0; round < rounds; round++) {
      const r = await runQueueCase({ ...o, mode, paced: kind === "paced" });
      console.log(
        [
          mode.padEnd(9),
          kind.padEnd(9),
          formatRate(r.publishedPerSec).padStart(12),
          formatRate(r.deliveredPerSec).padStart(12),
          formatMs(r.e2e.p50).padStart(10),
          formatMs(r.e2e.p99).padStart(10),
          String(r.lost).padStart(5),
          String(r.duplicates).padStart(4),
          `${Math.round(r.brokerCpu * 100)}%`.padStart(11),
          `${Math.round(r.clientCpu * 100)}%`.padStart(11),
          formatMs(r.clientLoopP99).padStart(15),
          `  ${r.load}`,
        ].join(" "),
      );
      const threads = r.brokerThreads.map(([name, share]) => `${name} ${Math.round(share * 100)}%`).join(", ");
      console.log(
        `          broker cpu by thread: ${threads}; msg/s per main-thread core ${formatRate(
          r.deliveredPerSec / (r.brokerThreads.find(([n]) => n === "main")?.[1] ?? Number.NaN),
        )}`,
      );
      if (r.brokerTrouble !== undefined) console.log(`          ${r.brokerTrouble}`);
      const t = r.tail;
      if (t !== undefined) {
        const pc = (x: number): string => (Number.isNaN(x) ? "n/a" : `${Math.round(x * 100)} %`);
        console.log(
          `          tail (e2e >= p99 ${formatMs(t.threshold)}, ${t.samples} messages) in flight during: broker GC ` +
            `${pc(t.brokerGc)}, broker loop stall ${pc(t.brokerStall)} (${t.brokerStalls.count} stalls > 2 ms, longest ` +
            `${formatMs(t.brokerStalls.maxMs)}), harness GC ${pc(t.harnessGc)}, harness tick stall ` +
            `${pc(t.harnessStall)} (${t.harnessStalls.count}, longest ${formatMs(t.harnessStalls.maxMs)}); none of these ` +
            pc(t.none),
        );
      }
      const b = r.broker;
      if (b !== undefined) {
        console.log(
          `          broker loop delay p50/p99/max ${b.loopMs.p50}/${b.loopMs.p99}/${b.loopMs.max} ms; GC ${b.gc.count} pauses ` +
            `${Math.round(b.gc.totalMs)} ms in all (${((100 * b.gc.totalMs) / b.spanMs).toFixed(1)} % of the window), ` +
            `longest ${b.gc.maxMs.toFixed(1)} ms, ${b.gc.over2} over 2 ms, ${b.gc.over5} over 5 ms`,
        );
        const st = b.storage;
        if (st !== undefined && st.batches > 0) {
          const n = (r.deliveredPerSec * b.spanMs) / 1000;
          console.log(
            `          storage: ${st.batches} commits, ${(st.ops / n).toFixed(2)} LMDB ops per message delivered ` +
              `(a message still in flight at a batch cut costs 2: its entry written, then deleted), ` +
              `${((1000 * st.seconds) / st.batches).toFixed(2)} ms per commit`,
          );
        }
        if (b.alloc !== undefined) {
          // Sampled over the broker's window (SIGUSR2 to SIGUSR2), per message delivered in that window.
          const n = (r.deliveredPerSec * b.spanMs) / 1000;
          console.log(`          broker allocations: ${Math.round(b.alloc.total / n)} B per message; by site:`);
          for (const [site, bytes] of b.alloc.sites.slice(0, 30))
            console.log(`          ${String(Math.round(bytes / n)).padStart(6)} B  ${site}`);
        }
      }
    }
}
