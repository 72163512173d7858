// Broker-side resource readings from /proc, so every broker (C or Node) is measured the same way.

import { readFileSync, readdirSync } from "node:fs";
import { execFileSync } from "node:child_process";

let clockTicks: number | undefined;

/** USER_HZ: the unit of utime/stime in /proc/<pid>/stat (100 on practically every Linux). */
export function clockTicksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** utime + stime of a process in seconds, or NaN when it is gone. */
export function processCpuSeconds(pid: number): number {
  try {
    return parseStatCpuTicks(readFileSync(`/proc/${pid}/stat`, "utf8")) / clockTicksPerSecond();
  } catch {
    return Number.NaN;
  }
}

/** utime + stime (fields 14 and 15) from a /proc/<pid>/stat line; the comm field may hold spaces. */
export function parseStatCpuTicks(stat: string): number {
  const close = stat.lastIndexOf(")");
  if (close < 0) throw new Error("unexpected /proc/<pid>/stat format");
  const fields = stat.slice(close + 2).split(" ");
  // fields[0] is field 3 (state), so field n is fields[n - 3].
  return Number(fields[11]) + Number(fields[12]);
}

/**
 * CPU seconds per thread of a process, summed by thread name: the main thread (JavaScript, GC pauses) is "main",
 * the others go by their comm (V8 platform workers are named "node", libuv's pool "libuv-worker", …), suffixed with
 * `#<tid - pid>` when `byTid` (one entry per thread). Threads that end between the listing and the read are skipped.
 */
export function threadCpuSeconds(pid: number, byTid = false): Map<string, number> {
  const out = new Map<string, number>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  const hz = clockTicksPerSecond();
  for (const tid of tids) {
    try {
      let name = "main";
      if (tid !== String(pid)) {
        name = readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim();
        if (byTid) name += `#${Number(tid) - pid}`;
      }
      const s = parseStatCpuTicks(readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8")) / hz;
      out.set(name, (out.get(name) ?? 0) + s);
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

/** Per-name CPU between two threadCpuSeconds() readings, as fractions of one core over `seconds`, largest first. */
export function threadCpuShares(
  before: Map<string, number>,
  after: Map<string, number>,
  seconds: number,
): [string, number][] {
  return [...after]
    .map(([name, s]): [string, number] => [name, (s - (before.get(name) ?? 0)) / seconds])
    .filter(([, share]) => share > 0)
    .sort((a, b) => b[1] - a[1]);
}

export interface MemoryReading {
  /** Resident set size in KiB. */
  rssKb: number;
  /** Peak resident set size (VmHWM) in KiB. */
  peakKb: number;
}

export function processMemory(pid: number): MemoryReading {
  try {
    return parseStatusMemory(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return { rssKb: Number.NaN, peakKb: Number.NaN };
  }
}

export function parseStatusMemory(status: string): MemoryReading {
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, "m").exec(status);
    return m ? Number(m[1]) : Number.NaN;
  };
  return { rssKb: field("VmRSS"), peakKb: field("VmHWM") };
}

/**
 * A process's read and write system calls and their bytes so far (/proc/<pid>/io: syscr, rchar, syscw, wchar; every
 * thread's, files and sockets alike). Over a throughput window the broker's are almost all socket reads and writes:
 * bytes per read tell whether it read large batches or small ones (a broker that falls behind its publishers reads
 * more per call). NaN when unreadable.
 */
export interface IoReading {
  reads: number;
  readBytes: number;
  writes: number;
  writeBytes: number;
}

/** No reading (before a window opens, or /proc unreadable). */
export const NO_IO: IoReading = {
  reads: Number.NaN,
  readBytes: Number.NaN,
  writes: Number.NaN,
  writeBytes: Number.NaN,
};

export function processIo(pid: number): IoReading {
  const counts = procFields(pid, "io", /^(\w+):\s+(\d+)$/gm);
  return {
    reads: counts.get("syscr") ?? Number.NaN,
    readBytes: counts.get("rchar") ?? Number.NaN,
    writes: counts.get("syscw") ?? Number.NaN,
    writeBytes: counts.get("wchar") ?? Number.NaN,
  };
}

/** `name: number` fields of /proc/<pid>/<file> by a global regex of two groups; empty when unreadable. */
function procFields(pid: number, file: string, re: RegExp): Map<string, number> {
  const fields = new Map<string, number>();
  try {
    for (const m of readFileSync(`/proc/${pid}/${file}`, "utf8").matchAll(re)) fields.set(m[1]!, Number(m[2]));
  } catch {
    // the process is gone, or not ours to read
  }
  return fields;
}

/** CPU use of a process between two points, as a fraction of one core. */
export class CpuMeter {
  private cpu0: number;
  private t0: number;

  constructor(private readonly pid: number) {
    this.cpu0 = processCpuSeconds(pid);
    this.t0 = performance.now();
  }

  reset(): void {
    this.cpu0 = processCpuSeconds(this.pid);
    this.t0 = performance.now();
  }

  /** Fraction of one core used since construction / the last reset (1 = a full core). */
  read(): number {
    const seconds = (performance.now() - this.t0) / 1000;
    return seconds > 0 ? (processCpuSeconds(this.pid) - this.cpu0) / seconds : Number.NaN;
  }
}

/** The load generator's own CPU use (all threads of this process), as a fraction of one core. */
export class SelfCpuMeter {
  private u0 = process.cpuUsage();
  private t0 = performance.now();

  reset(): void {
    this.u0 = process.cpuUsage();
    this.t0 = performance.now();
  }

  read(): number {
    const d = process.cpuUsage(this.u0);
    const seconds = (performance.now() - this.t0) / 1000;
    return seconds > 0 ? (d.user + d.system) / 1e6 / seconds : Number.NaN;
  }
}

/**
 * CPU time of the whole machine that was spent in processes (user, nice, system) or stolen by the
 * hypervisor, in seconds. IRQ/softirq time is left out: loopback TCP work of the bench itself lands
 * there. Minus the broker's and the generator's own time, it shows how busy the rest of the machine was.
 */
export function machineBusySeconds(): number {
  try {
    return parseProcStatBusyTicks(readFileSync("/proc/stat", "utf8")) / clockTicksPerSecond();
  } catch {
    return Number.NaN;
  }
}

export function parseProcStatBusyTicks(procStat: string): number {
  const line = /^cpu\s+(.+)$/m.exec(procStat)?.[1];
  if (line === undefined) throw new Error("no aggregate cpu line in /proc/stat");
  const [user = 0, nice = 0, system = 0, , , , , steal = 0] = line.trim().split(/\s+/).map(Number);
  return user + nice + system + steal;
}

/**
 * Seconds the process's main thread spent runnable but waiting for a CPU (second field of
 * /proc/<pid>/schedstat). A broker or generator that waited noticeably was competing with other
 * work on its CPU, and its numbers understate it. NaN when schedstat is unavailable.
 */
export function runQueueWaitSeconds(pid: number | "self"): number {
  try {
    const fields = readFileSync(`/proc/${pid}/schedstat`, "utf8").trim().split(/\s+/);
    return Number(fields[1]) / 1e9;
  } catch {
    return Number.NaN;
  }
}

/**
 * Run time (s, nanosecond precision: first field of each thread's schedstat) of a process's main thread and of all
 * its other threads together. For a Node broker the others are V8's GC and compiler workers and libuv's pool: on a
 * broker pinned to one CPU, every millisecond they run is a millisecond the event loop cannot. NaN when unreadable.
 */
export function threadRunSeconds(pid: number): { main: number; helpers: number } {
  let main = Number.NaN;
  let helpers = 0;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      let ns: number;
      try {
        ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
      } catch {
        continue; // the thread ended meanwhile
      }
      if (tid === String(pid)) main = ns / 1e9;
      else helpers += ns / 1e9;
    }
  } catch {
    return { main: Number.NaN, helpers: Number.NaN };
  }
  return { main, helpers };
}

/** A TcpExt counter from /proc/net/netstat (e.g. ListenOverflows), machine-wide; NaN when unavailable. */
export function tcpExtCounter(name: string): number {
  try {
    return parseNetstatCounter(readFileSync("/proc/net/netstat", "utf8"), "TcpExt", name);
  } catch {
    return Number.NaN;
  }
}

export function parseNetstatCounter(netstat: string, group: string, name: string): number {
  const lines = netstat.split("\n").filter((l) => l.startsWith(`${group}:`));
  const names = lines[0]?.split(/\s+/) ?? [];
  const values = lines[1]?.split(/\s+/) ?? [];
  const i = names.indexOf(name);
  return i > 0 && values[i] !== undefined ? Number(values[i]) : Number.NaN;
}

/** Busy and total ticks of each CPU since boot (/proc/stat "cpuN" lines; busy = all but idle and iowait). */
export function cpuTicks(): { busy: number; total: number }[] {
  const out: { busy: number; total: number }[] = [];
  try {
    for (const line of readFileSync("/proc/stat", "utf8").split("\n")) {
      const m = /^cpu(\d+)\s+(.*)$/.exec(line);
      if (m === null) continue;
      const v = m[2]!.trim().split(/\s+/).map(Number);
      const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
      out[Number(m[1])] = { busy: total - v[3]! - v[4]!, total };
    }
  } catch {
    // not Linux: no readings
  }
  return out;
}

/** Fraction of each CPU that was busy between two cpuTicks() readings (whatever ran on it, this bench or not). */
export function cpuBusy(before: { busy: number; total: number }[], after: { busy: number; total: number }[]): number[] {
  return after.map((a, i) => {
    const b = before[i];
    return b === undefined || a.total === b.total ? Number.NaN : (a.busy - b.busy) / (a.total - b.total);
  });
}
