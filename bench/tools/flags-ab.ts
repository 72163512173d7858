// A/B of node flag sets for the broker (bin/wharf.js's list, issue #10): the same throughput scenarios as the main
// bench, one fresh broker per run, the sets interleaved round after round (the order rotates), so drift of a shared
// machine spreads evenly. Reports per set the median msg/s and the broker's CPU per delivered message (process CPU
// over the window / messages: the steadier figure when other processes take CPU), with loss.
// Each set reaches the launcher as WHARF_NODE_FLAGS (so "" = no flags; "default" = the launcher's own list).
// Usage: node --import tsx bench/tools/flags-ab.ts [--rounds=3] [--measure=2] [--only=<id substring>,…] <set>…
//   e.g. bench/tools/flags-ab.ts --only=fan-in/qos0/100B/v3.1.1,fan-in/qos1/100B/v3.1.1 default ""
import os from "node:os";
import { fileURLToPath } from "node:url";
import { BROKERS, makeContext, startBroker } from "../brokers/index.ts";
import { installSignalHandlers } from "../lib/children.ts";
import { pinGenerator } from "../lib/machine.ts";
import { allSpecs, type RunSpec } from "../scenarios/catalog.ts";
import { runThroughput } from "../scenarios/throughput.ts";
import * as settings from "../scenarios/settings.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const rounds = Number(opt("rounds") ?? 3);
const measure = Number(opt("measure") ?? 2);
const only = (opt("only") ?? "fan-in/qos0/100B/v3.1.1,fan-in/qos1/100B/v3.1.1").split(",");
// Only these three are options: a flag set may itself start with "--" (e.g. "--maglev"), so it is not dropped.
const isOption = (a: string): boolean => ["rounds", "measure", "only"].some((n) => a.startsWith(`--${n}=`));
const sets = argv.filter((a) => !isOption(a));
if (sets.length === 0) {
  console.error("usage: flags-ab.ts [--rounds=N] [--measure=S] [--only=ids] <flag set>… ('default' = the launcher's)");
  process.exit(2);
}
installSignalHandlers();
const specs = allSpecs(settings.FULL.stormConnections).filter(
  (s): s is Extract<RunSpec, { kind: "throughput" }> => s.kind === "throughput" && only.includes(s.id),
);
const pin = pinGenerator(false);
const ctx = makeContext(root, pin.brokerCpu);
const timing: settings.Timing = { ...settings.FULL, warmupMs: 500, measureMs: measure * 1000 };
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
console.log(
  `${pin.note}; ${rounds} rounds × ${measure} s; load ${os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(", ")}`,
);
for (const spec of specs) {
  const rate = sets.map(() => [] as number[]);
  const cpu = sets.map(() => [] as number[]);
  const lost = sets.map(() => 0);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < sets.length; k++) {
      const i = (k + r) % sets.length;
      const set = sets[i]!;
      if (set === "default") delete process.env["WHARF_NODE_FLAGS"];
      else process.env["WHARF_NODE_FLAGS"] = set;
      const broker = await startBroker(BROKERS.wharf, ctx);
      try {
        const res = await runThroughput(spec, broker, timing);
        const us = ((res.brokerCpu ?? Number.NaN) * 1e6) / (res.msgsPerSec ?? Number.NaN);
        rate[i]!.push(res.msgsPerSec ?? Number.NaN);
        cpu[i]!.push(us);
        lost[i]! += res.delivery?.lost ?? 0;
        console.log(
          `  ${spec.id} [${set}] round ${r + 1}: ${Math.round(res.msgsPerSec ?? 0)} msg/s, ` +
            `broker ${Math.round((res.brokerCpu ?? 0) * 100)}% (${us.toFixed(3)} µs/msg), lost ${res.delivery?.lost ?? "?"}`,
        );
      } finally {
        await broker.proc.stop();
      }
    }
  }
  for (let i = 0; i < sets.length; i++) {
    console.log(
      `${spec.id} [${sets[i]}]: median ${Math.round(median(rate[i]!))} msg/s, ${median(cpu[i]!).toFixed(3)} µs/msg ` +
        `(${cpu[i]!.map((x) => x.toFixed(3)).join(", ")}), lost ${lost[i]}`,
    );
  }
}
console.log(
  `load after: ${os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(", ")}`,
);
process.exit(0);
