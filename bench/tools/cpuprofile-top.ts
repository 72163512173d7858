// Summarise a V8 .cpuprofile (node --cpu-prof): self time aggregated by function + file, top N.
// Usage: node --import tsx bench/tools/cpuprofile-top.ts <file.cpuprofile> [N]
import { readFileSync } from "node:fs";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const file = process.argv[2];
if (file === undefined) {
  console.error("usage: cpuprofile-top.ts <file.cpuprofile> [N]");
  process.exit(2);
}
const topN = Number(process.argv[3] ?? "25");
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;

const byId = new Map<number, ProfileNode>();
for (const n of profile.nodes) byId.set(n.id, n);

// Each sample's time delta is charged to the node sampled (self time).
const selfUs = new Map<string, number>();
let total = 0;
profile.samples.forEach((id, i) => {
  const node = byId.get(id);
  const dt = profile.timeDeltas[i] ?? 0;
  if (node === undefined) return;
  const cf = node.callFrame;
  const url = cf.url.replace(/^file:\/\/.*?\/(src|node_modules)\//, "$1/");
  const key = `${cf.functionName === "" ? "(anonymous)" : cf.functionName}\t${url === "" ? "(native)" : url}:${String(cf.lineNumber + 1)}`;
  selfUs.set(key, (selfUs.get(key) ?? 0) + dt);
  total += dt;
});

// "(idle)" is time the thread waited for events: percentages are of the busy (non-idle) time.
let idle = 0;
for (const [key, us] of selfUs) if (key.startsWith("(idle)\t")) idle += us;
const busy = Math.max(1, total - idle);
for (const key of [...selfUs.keys()]) if (key.startsWith("(idle)\t")) selfUs.delete(key);
const rows = [...selfUs.entries()].sort((a, b) => b[1] - a[1]).slice(0, topN);
console.log(`sampled ${(total / 1000).toFixed(0)} ms, busy ${(busy / 1000).toFixed(0)} ms (% below are of busy)`);
for (const [key, us] of rows) {
  const [fn, where] = key.split("\t");
  console.log(
    `${((100 * us) / busy).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${fn ?? ""}  ${where ?? ""}`,
  );
}
