// What `npm test` prints about CPU at its end: the CPU seconds of everything it ran, and how busy the machine's
// cores were, per 10 s of the run. Why: on two cores the suite is CPU-bound; idle cores (a tail of waiting tests)
// and CPU seconds (what each change costs) are the two figures that explain its wall time. Linux only (/proc);
// elsewhere it prints nothing.
import { readFileSync, rmSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, relative, sep } from "node:path";

const ticksPerSecond = 100; // USER_HZ: /proc reports CPU times in 1/100 s on every Linux architecture

/** [busy, total] jiffies of all cores since boot, or undefined without /proc. */
function machineTicks() {
  try {
    const fields = readFileSync("/proc/stat", "utf8").split("\n", 1)[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0); // idle + iowait
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0); // guest time is already counted in user
    return [total - idle, total];
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds of this process (`own`) and of the children it has waited for, their descendants included
 * (`children`), from /proc/self/stat; throws without /proc. scripts/cpu-report.mjs uses it too.
 */
export function selfCpuSeconds() {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const f = stat
    .slice(stat.lastIndexOf(")") + 2)
    .split(" ")
    .map(Number);
  // Fields 14-17 of proc(5) (utime stime cutime cstime) are 11-14 here (two fields before the command name).
  return {
    own: ((f[11] ?? 0) + (f[12] ?? 0)) / ticksPerSecond,
    children: ((f[13] ?? 0) + (f[14] ?? 0)) / ticksPerSecond,
  };
}

/** CPU seconds of this process and of the children it has waited for (their descendants included). */
function treeSeconds() {
  try {
    const { own, children } = selfCpuSeconds();
    return own + children;
  } catch {
    return undefined;
  }
}

/** Starts sampling; `summary()` returns the lines to print (empty without /proc). */
export function watchCpu(windowSeconds = 10) {
  const windows = [];
  let last = machineTicks();
  const timer = setInterval(() => {
    const now = machineTicks();
    if (now === undefined || last === undefined) return;
    const busy = now[0] - last[0];
    const total = now[1] - last[1];
    windows.push(total > 0 ? busy / total : 0);
    last = now;
  }, windowSeconds * 1000);
  timer.unref();
  return {
    summary() {
      clearInterval(timer);
      const tree = treeSeconds();
      if (tree === undefined || windows.length === 0) return [];
      const cores = availableParallelism();
      const pct = (x) => `${Math.round(x * 100)}`;
      return [
        `[wharf] CPU: ${tree.toFixed(0)} s over the run (every process it started and waited for)`,
        `[wharf] machine's ${cores} cores busy per ${windowSeconds} s (%, other work included): ${windows.map(pct).join(" ")}`,
      ];
    },
  };
}

/**
 * The lines about CPU per test file: what scripts/cpu-report.mjs logged to `log` (one JSON line per test process:
 * its own CPU seconds and its waited-for children's), largest first, under the test files' source names. Removes
 * the log. Empty when nothing was logged (not Linux).
 */
export function cpuByTestFile(log, root, top = 15) {
  let text;
  try {
    text = readFileSync(log, "utf8");
    rmSync(log, { force: true });
  } catch {
    return [];
  }
  const build = join(root, ".build") + sep;
  const rows = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const { file, own, children } = JSON.parse(line);
    if (/scripts[/\\]run-tests\.mjs$/.test(file)) continue; // the runner: its children are the rows below
    const source = file.startsWith(build) ? file.slice(build.length).replace(/\.js$/, ".ts") : relative(root, file);
    rows.push({ source, own, children, total: own + children });
  }
  if (rows.length === 0) return [];
  rows.sort((a, b) => b.total - a.total);
  const sum = rows.reduce((n, r) => n + r.total, 0);
  const shown = rows.slice(0, top);
  const rest = rows.slice(top).reduce((n, r) => n + r.total, 0);
  return [
    `[wharf] CPU of the test files, ${sum.toFixed(0)} s (own + the children they waited for: brokers, CLI runs, npm…):`,
    ...shown.map((r) => `[wharf]   ${r.total.toFixed(1).padStart(6)} s  ${r.source} (own ${r.own.toFixed(1)})`),
    ...(rest > 0 ? [`[wharf]   ${rest.toFixed(1).padStart(6)} s  ${rows.length - shown.length} other files`] : []),
  ];
}
