// Scheduler delays of one thread from a `perf sched record` file (issue #14, `npm run bench:auth -- --perf-sched`):
// every time the thread got a CPU after a wakeup, how long it had been runnable first (perf's "sch delay"), and
// which task was on that CPU just before it: the broker's own argon2 workers, another thread of the same process,
// or another process (the load generator, other people's builds). This is what the QoS 1 probe's tail is made of,
// counted without relying on a quiet machine: a delay behind another process is the machine's, not the design's.
import { execFileSync } from "node:child_process";

export interface DelayReport {
  wakeups: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
  /**
   * By what ran before on that CPU ("hash", "same process", a label of `known`, else the command name): wakeups,
   * how many waited >= 200 µs, the longest wait (µs) and the total (ms).
   */
  behind: Record<string, { n: number; over200: number; maxUs: number; totalMs: number }>;
}

/** `hashTids`: the thread ids of the argon2 workers (nice 19 / SCHED_IDLE threads of `pid`). */
export function schedDelays(
  file: string,
  pid: number,
  tid: number,
  hashTids: ReadonlySet<number>,
  known: ReadonlyMap<number, string> = new Map(),
): DelayReport {
  const out = execFileSync("perf", ["sched", "timehist", "-i", file], {
    encoding: "utf8",
    maxBuffer: 512 * 1024 * 1024,
    stdio: ["ignore", "pipe", "ignore"],
  });
  // "   41278.219870 [0000]  node[18482/18477]   0.000   0.004   0.006"
  const re = /^\s*[\d.]+\s+\[(\d+)\]\s+(.+?)\[(\d+)(?:\/(\d+))?\]\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)/;
  const lastOnCpu = new Map<string, string>();
  const delays: number[] = [];
  const behind: DelayReport["behind"] = {};
  for (const line of out.split("\n")) {
    const m = re.exec(line);
    if (m === null) continue;
    const [, cpu, comm, t, p, , schDelay] = m;
    const threadId = Number(t);
    const procId = p === undefined ? threadId : Number(p);
    const who =
      procId === pid
        ? hashTids.has(threadId)
          ? "hash"
          : threadId === tid
            ? "self"
            : "same process"
        : (known.get(procId) ?? comm!.trim());
    if (threadId === tid && procId === pid) {
      const us = Number(schDelay) * 1000;
      delays.push(us);
      const b = (behind[lastOnCpu.get(cpu!) ?? "?"] ??= { n: 0, over200: 0, maxUs: 0, totalMs: 0 });
      b.n++;
      if (us >= 200) b.over200++;
      b.maxUs = Math.max(b.maxUs, us);
      b.totalMs += us / 1000;
    }
    lastOnCpu.set(cpu!, who);
  }
  delays.sort((a, b) => a - b);
  const pct = (q: number) => +(delays[Math.min(delays.length - 1, Math.floor(q * delays.length))] ?? 0).toFixed(1);
  // The 8 largest totals, and always the argon2 workers and the load generator (the design's own costs).
  const top = Object.entries(behind)
    .sort((a, b) => b[1].totalMs - a[1].totalMs)
    .filter(([k], i) => i < 8 || k === "hash" || k === "storm")
    .map(([k, v]) => [k, { ...v, maxUs: +v.maxUs.toFixed(1), totalMs: +v.totalMs.toFixed(2) }]);
  return {
    wakeups: delays.length,
    p50Us: pct(0.5),
    p99Us: pct(0.99),
    maxUs: +(delays.at(-1) ?? 0).toFixed(1),
    behind: Object.fromEntries(top) as DelayReport["behind"],
  };
}

/** Thread ids of `pid` running at nice 19 or SCHED_IDLE: the argon2 workers. */
export function lowPriorityThreads(pid: number): Set<number> {
  const out = execFileSync("ps", ["-L", "-o", "tid=,ni=,cls=", "-p", String(pid)], { encoding: "utf8" });
  const tids = new Set<number>();
  for (const line of out.trim().split("\n")) {
    const [t, ni, cls] = line.trim().split(/\s+/);
    if (ni === "19" || cls === "IDL") tids.add(Number(t));
  }
  return tids;
}
