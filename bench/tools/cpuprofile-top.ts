// Summarise a V8 .cpuprofile (node --cpu-prof): self time aggregated by function + file, top N.
// Usage: node --import tsx bench/tools/cpuprofile-top.ts <file.cpuprofile|dir> [N] [--inclusive=<regex>]...
// A directory: its largest .cpuprofile (with `--import tsx` the loader's worker thread writes a small one too).
// --inclusive=<regex> (repeatable): also the share of busy time whose stack holds a frame whose "function url"
// matches (e.g. --inclusive=opentelemetry --inclusive='src/admin/'), the frame's callees included.
// --under=<regex>: the self-time table counts only samples under such a frame (what a feature's cost is made of).
// --skip-ms=<ms>: ignore the first <ms> of the profile (startup: module loading and compilation).
// --until-ms=<ms>: ignore samples after <ms> (with --skip-ms: one phase of a run, e.g. one storm round).
// --segments: list the busy stretches (separated by >= 200 ms idle) with their start/end ms, to pick those bounds.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const inclusive = process.argv
  .slice(2)
  .filter((a) => a.startsWith("--inclusive="))
  .map((a) => a.slice(12));
let file = args[0];
if (file === undefined) {
  console.error("usage: cpuprofile-top.ts <file.cpuprofile|dir> [N] [--inclusive=<regex>]...");
  process.exit(2);
}
if (statSync(file).isDirectory()) {
  const dir = file;
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".cpuprofile"))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).size - statSync(a).size);
  if (files[0] === undefined) throw new Error(`no .cpuprofile in ${dir}`);
  file = files[0];
}
const topN = Number(args[1] ?? "25");
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;

const byId = new Map<number, ProfileNode>();
for (const n of profile.nodes) byId.set(n.id, n);
const parentOf = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
const under = process.argv.find((a) => a.startsWith("--under="))?.slice(8);
const skipUs = Number(process.argv.find((a) => a.startsWith("--skip-ms="))?.slice(10) ?? 0) * 1000;
const untilUs = Number(process.argv.find((a) => a.startsWith("--until-ms="))?.slice(11) ?? Infinity) * 1000;
if (process.argv.includes("--segments")) {
  // A stretch ends at the first 200 ms without a busy sample.
  let t = 0;
  let start = -1;
  let last = 0;
  let busyUs = 0;
  const print = (): void =>
    console.log(
      `busy ${(start / 1000).toFixed(0)}–${(last / 1000).toFixed(0)} ms: ${(busyUs / 1000).toFixed(0)} ms busy`,
    );
  profile.samples.forEach((id, i) => {
    t += profile.timeDeltas[i] ?? 0;
    if (byId.get(id)?.callFrame.functionName === "(idle)") return;
    if (start >= 0 && t - last >= 200_000) {
      print();
      start = -1;
    }
    if (start < 0) {
      start = t;
      busyUs = 0;
    }
    busyUs += profile.timeDeltas[i] ?? 0;
    last = t;
  });
  if (start >= 0) print();
  process.exit(0);
}
if (under !== undefined) inclusive.push(under);
const patterns = inclusive.map((re) => new RegExp(re));
const inclusiveUs = patterns.map(() => 0);
/** Which patterns some frame of the node's stack matches (memoised per node). */
const stackMatches = new Map<number, boolean[]>();
function matchesOf(id: number): boolean[] {
  const known = stackMatches.get(id);
  if (known !== undefined) return known;
  const node = byId.get(id)!;
  const parent = parentOf.get(id);
  const up = parent === undefined ? patterns.map(() => false) : matchesOf(parent);
  const text = `${node.callFrame.functionName} ${node.callFrame.url}`;
  const mine = patterns.map((re, i) => up[i]! || re.test(text));
  stackMatches.set(id, mine);
  return mine;
}

// Each sample's time delta is charged to the node sampled (self time).
const selfUs = new Map<string, number>();
let total = 0;
let elapsed = 0;
profile.samples.forEach((id, i) => {
  const node = byId.get(id);
  const dt = profile.timeDeltas[i] ?? 0;
  elapsed += dt;
  if (node === undefined || elapsed < skipUs || elapsed > untilUs) return;
  const cf = node.callFrame;
  const url = cf.url.replace(/^file:\/\/.*?\/(src|node_modules)\//, "$1/");
  const key = `${cf.functionName === "" ? "(anonymous)" : cf.functionName}\t${url === "" ? "(native)" : url}:${String(cf.lineNumber + 1)}`;
  total += dt;
  if (under === undefined || cf.functionName === "(idle)" || matchesOf(id)[patterns.length - 1] === true) {
    selfUs.set(key, (selfUs.get(key) ?? 0) + dt);
  }
  if (patterns.length > 0 && cf.functionName !== "(idle)") {
    matchesOf(id).forEach((m, i) => {
      if (m) inclusiveUs[i] = inclusiveUs[i]! + dt;
    });
  }
});

// "(idle)" is time the thread waited for events: percentages are of the busy (non-idle) time.
let idle = 0;
for (const [key, us] of selfUs) if (key.startsWith("(idle)\t")) idle += us;
const busy = Math.max(1, total - idle);
for (const key of [...selfUs.keys()]) if (key.startsWith("(idle)\t")) selfUs.delete(key);
const rows = [...selfUs.entries()].sort((a, b) => b[1] - a[1]).slice(0, topN);
console.log(
  `${file}: sampled ${(total / 1000).toFixed(0)} ms, busy ${(busy / 1000).toFixed(0)} ms (% below are of busy)`,
);
inclusive.forEach((re, i) => {
  if (under !== undefined && i === inclusive.length - 1) return;
  const us = inclusiveUs[i]!;
  console.log(
    `inclusive ${((100 * us) / busy).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  /${re}/`,
  );
});
for (const [key, us] of rows) {
  const [fn, where] = key.split("\t");
  console.log(
    `${((100 * us) / busy).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${fn ?? ""}  ${where ?? ""}`,
  );
}
