// Where the QoS 1 tail of `npm run bench:auth --diagnose` comes from, per phase (issue #14): loaded with --import
// into the broker it measures the event-loop delay (perf_hooks, 1 ms resolution: it adds one timer wakeup per ms
// to the broker, so only with --diagnose) and, from /proc/self/task/*/schedstat, the CPU time and the time spent
// runnable but waiting for a CPU of the main thread, the argon2 worker threads (nice 19 or SCHED_IDLE) and the
// other threads (libuv pool, V8). `threadSample()` is also used by auth-bench.ts for the probe client's own thread.
// On SIGUSR2 the broker writes one line `SCHED-PROBE {json}` to stderr with the figures since the last one.
import { readdirSync, readFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";

export interface ThreadSample {
  /** ns on a CPU */
  run: number;
  /** ns runnable, waiting for a CPU */
  wait: number;
  /** times it got a CPU */
  slices: number;
}

const ZERO: ThreadSample = { run: 0, wait: 0, slices: 0 };

export function threadSample(pid: number | "self", tid: number | string): ThreadSample {
  try {
    const [run, wait, slices] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8")
      .trim()
      .split(" ")
      .map(Number);
    return { run: run ?? 0, wait: wait ?? 0, slices: slices ?? 0 };
  } catch {
    return ZERO; // the thread exited
  }
}

type Group = "main" | "hash" | "other";

function groupOf(tid: string): Group {
  if (Number(tid) === process.pid) return "main";
  try {
    const st = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
    const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
    return f[38] === "5" || f[16] === "19" ? "hash" : "other"; // policy SCHED_IDLE, or nice 19
  } catch {
    return "other";
  }
}

function snapshot(): Map<string, { group: Group; s: ThreadSample }> {
  const out = new Map<string, { group: Group; s: ThreadSample }>();
  for (const tid of readdirSync("/proc/self/task")) out.set(tid, { group: groupOf(tid), s: threadSample("self", tid) });
  return out;
}

export function diff(a: ThreadSample, b: ThreadSample): ThreadSample {
  return { run: b.run - a.run, wait: b.wait - a.wait, slices: b.slices - a.slices };
}

/** ms of CPU, ms waiting, and the mean wait per slice in µs. */
export function summary(s: ThreadSample) {
  return {
    cpuMs: +(s.run / 1e6).toFixed(1),
    waitMs: +(s.wait / 1e6).toFixed(1),
    slices: s.slices,
    waitPerSliceUs: s.slices > 0 ? +(s.wait / s.slices / 1e3).toFixed(1) : 0,
  };
}

if (process.env.WHARF_SCHED_PROBE === "1") {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  let last = snapshot();
  process.on("SIGUSR2", () => {
    const now = snapshot();
    const groups: Record<Group, ThreadSample> = { main: { ...ZERO }, hash: { ...ZERO }, other: { ...ZERO } };
    for (const [tid, { group, s }] of now) {
      const d = diff(last.get(tid)?.s ?? ZERO, s);
      const g = groups[group];
      g.run += d.run;
      g.wait += d.wait;
      g.slices += d.slices;
    }
    last = now;
    const ms = (ns: number) => +(ns / 1e6).toFixed(3);
    const line = {
      loopDelay: { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), p999: ms(h.percentile(99.9)), max: ms(h.max) },
      main: summary(groups.main),
      hash: summary(groups.hash),
      other: summary(groups.other),
    };
    h.reset();
    process.stderr.write(`SCHED-PROBE ${JSON.stringify(line)}\n`);
  });
}
