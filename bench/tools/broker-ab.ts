// A/B of the QoS 1 latency scenario (issue #10: p99 at 10,000 msg/s, 4 publishers -> 1 subscriber), or with
// --throughput=<scenario id> of a throughput scenario (msg/s and broker CPU per message), across broker variants,
// interleaved round after round (the order rotates, every round on fresh broker processes), so drift of
// a shared machine spreads evenly over the variants. Each variant is one of:
//   mosquitto          Mosquitto as `npm run bench` runs it
//   default            Wharf with the launcher's node flags (bin/wharf.js)
//   +<flags>           Wharf with the launcher's flags plus <flags>, e.g. "+--single-threaded-gc"
//   =<flags>           Wharf with exactly <flags> (WHARF_NODE_FLAGS), e.g. "=" for none
//   root=<dir>         Wharf from another checkout (WHARF_BENCH_WHARF_ROOT; e.g. a `git archive` of main + node_modules)
// Reports per variant the median over rounds of p50 / p99 / p99.9 with their range, the rounds it had the lowest
// p99 of all variants, the generator's worst stall, and (WHARF_BENCH_LOOP_STATS=1) the broker's GC share of the tail.
// Usage: node --import tsx bench/tools/broker-ab.ts [--rounds=6] [--protocol=v3.1.1|v5] [--gen=c|node]
//          [--throughput=<id> [--measure=2]] <variant>…
//   e.g. bash /work/bench.sh node --import tsx bench/tools/broker-ab.ts --rounds=8 mosquitto default "+--single-threaded-gc"
//        bash /work/bench.sh node --import tsx bench/tools/broker-ab.ts --throughput=fan-in/qos1/100B/v3.1.1 default root=/tmp/base
import os from "node:os";
import { fileURLToPath } from "node:url";
import { BROKERS, makeContext, startBroker } from "../brokers/index.ts";
import { installSignalHandlers, killAllChildren } from "../lib/children.ts";
import { median } from "../lib/latency-rounds.ts";
import { launcherNodeFlags } from "../lib/wharf-launcher.ts";
import { pinGenerator } from "../lib/machine.ts";
import { PROTOCOL } from "../lib/mqtt-packets.ts";
import { formatMs } from "../lib/stats.ts";
import { allSpecs, type RunSpec } from "../scenarios/catalog.ts";
import { runLatency } from "../scenarios/latency.ts";
import { runThroughput } from "../scenarios/throughput.ts";
import type { RunResult } from "../scenarios/result.ts";
import * as settings from "../scenarios/settings.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const rounds = Number(opt("rounds") ?? 6);
const protocol = opt("protocol") === "v5" ? PROTOCOL.v5 : PROTOCOL.v311;
const gen = opt("gen") === "node" ? "node" : "c";
const throughputId = opt("throughput");
const variants = argv.filter((a) => !a.startsWith("--"));
if (variants.length === 0) {
  console.error(
    "usage: broker-ab.ts [--rounds=N] [--protocol=v3.1.1|v5] [--gen=c|node] [--throughput=<id>] <variant>…",
  );
  process.exit(2);
}

/** Sets the environment the harness reads for `variant`; returns the broker to start. */
function apply(variant: string): "wharf" | "mosquitto" {
  delete process.env["WHARF_NODE_FLAGS"];
  delete process.env["WHARF_BENCH_WHARF_ROOT"];
  if (variant === "mosquitto") return "mosquitto";
  if (variant.startsWith("root=")) process.env["WHARF_BENCH_WHARF_ROOT"] = variant.slice(5);
  else if (variant.startsWith("+"))
    process.env["WHARF_NODE_FLAGS"] = [...launcherNodeFlags(root), variant.slice(1)].join(" ");
  else if (variant.startsWith("=")) process.env["WHARF_NODE_FLAGS"] = variant.slice(1);
  else if (variant !== "default") throw new Error(`unknown variant "${variant}"`);
  return "wharf";
}

installSignalHandlers();
const pin = pinGenerator(false);
const ctx = makeContext(root, pin.brokerCpu);
const timing: settings.Timing = {
  ...settings.FULL,
  latencyGen: gen,
  warmupMs: 500,
  measureMs: Number(opt("measure") ?? 2) * 1000,
};
const spec = {
  kind: "latency" as const,
  id: `latency/qos1/10k-per-s/${protocol === PROTOCOL.v5 ? "v5" : "v3.1.1"}`,
  qos: 1 as const,
  payload: 100,
  rate: settings.LATENCY_RATE,
  publishers: settings.LATENCY_PUBLISHERS,
  protocol,
};
const load = (): string =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(", ");
if (throughputId !== undefined) {
  const tspec = allSpecs(settings.FULL.stormConnections).find(
    (x): x is Extract<RunSpec, { kind: "throughput" }> => x.kind === "throughput" && x.id === throughputId,
  );
  if (tspec === undefined) throw new Error(`no throughput scenario ${throughputId}`);
  console.log(`${tspec.id}, ${pin.note}; ${rounds} rounds × ${timing.measureMs} ms; load ${load()}`);
  const rate = variants.map(() => [] as number[]);
  const cpu = variants.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < variants.length; k++) {
      const i = (k + r) % variants.length;
      const broker = await startBroker(BROKERS[apply(variants[i]!)], ctx);
      try {
        const res = await runThroughput(tspec, broker, timing);
        const us = ((res.brokerCpu ?? Number.NaN) * 1e6) / (res.msgsPerSec ?? Number.NaN);
        rate[i]!.push(res.msgsPerSec ?? Number.NaN);
        cpu[i]!.push(us);
        console.log(
          `  [${variants[i]}] round ${r + 1}: ${Math.round(res.msgsPerSec ?? 0)} msg/s, broker ` +
            `${Math.round((res.brokerCpu ?? 0) * 100)}% (${us.toFixed(3)} µs/msg), lost ${res.delivery?.lost ?? "?"}` +
            (res.notes.length > 0 ? ` ⚠ ${res.notes.join("; ")}` : ""),
        );
      } finally {
        await broker.proc.stop();
      }
    }
  }
  for (let i = 0; i < variants.length; i++) {
    console.log(
      `[${variants[i]}] median ${Math.round(median(rate[i]!))} msg/s, ${median(cpu[i]!).toFixed(3)} µs/msg ` +
        `(${cpu[i]!.map((x) => x.toFixed(3)).join(", ")})`,
    );
  }
  console.log(`load after: ${load()}`);
  killAllChildren();
  process.exit(0);
}
console.log(
  `${spec.id}, ${gen} generator, ${pin.note}; ${rounds} rounds × ${timing.latencyRoundMs} ms; load ${load()}`,
);
const results = variants.map(() => [] as RunResult[]);
for (let r = 0; r < rounds; r++) {
  for (let k = 0; k < variants.length; k++) {
    const i = (k + r) % variants.length;
    const id = apply(variants[i]!);
    const broker = await startBroker(BROKERS[id], ctx);
    try {
      const res = await runLatency(spec, broker, timing);
      results[i]!.push(res);
      const l = res.latency;
      const t = res.gcInTail;
      console.log(
        `  [${variants[i]}] round ${r + 1}: p50 ${formatMs(l?.p50 ?? NaN)} p99 ${formatMs(l?.p99 ?? NaN)} ` +
          `p99.9 ${formatMs(l?.p999 ?? NaN)} max ${formatMs(l?.max ?? NaN)}, gen stall max ` +
          `${formatMs(res.generatorStalls?.loopMaxMs ?? NaN)}, broker ${Math.round((res.brokerCpu ?? 0) * 100)}% ` +
          `(helpers ${((res.brokerHelperCpu ?? 0) * 100).toFixed(1)}%)` +
          (res.brokerLoop ? `, GC ${res.brokerLoop.gc.count}× max ${formatMs(res.brokerLoop.gc.maxMs)}` : "") +
          (t ? `, tail in GC ${Math.round(t.p99 * 100)}% / ${Math.round(t.p999 * 100)}%` : "") +
          `, load ${(res.load1 ?? NaN).toFixed(2)}${res.notes.length > 0 ? ` ⚠ ${res.notes.join("; ")}` : ""}`,
      );
    } finally {
      await broker.proc.stop();
    }
  }
}
const p99 = (res: RunResult): number => res.latency?.p99 ?? Number.NaN;
for (let i = 0; i < variants.length; i++) {
  const rs = results[i]!;
  const range = (f: (x: RunResult) => number): string => {
    const v = rs.map(f).filter((x) => Number.isFinite(x));
    return `${formatMs(median(v))} (${formatMs(Math.min(...v))}–${formatMs(Math.max(...v))})`;
  };
  // Rounds in which this variant had the lowest p99 of all variants (round r of each variant ran in the same minute).
  const best = rs.filter((res, r) => results.every((other) => !(p99(other[r]!) < p99(res)))).length;
  console.log(
    `[${variants[i]}] p50 ${range((x) => x.latency?.p50 ?? NaN)}, p99 ${range(p99)}, ` +
      `p99.9 ${range((x) => x.latency?.p999 ?? NaN)}; lowest p99 in ${best} of ${rs.length} rounds; gen stall max ` +
      formatMs(Math.max(...rs.map((x) => x.generatorStalls?.loopMaxMs ?? 0))),
  );
}
console.log(`load after: ${load()}`);
killAllChildren();
process.exit(0);
