// How fast the machine runs right now (bench/tools/cpu-probe.c), for bench:ops before and after each round: the
// broker's CPU's own speed (a fixed chain of dependent loads from L2 and integer arithmetic, ns of CPU time per
// iteration) and the latency between the broker's and the load generator's CPUs (a cache line bounced between two
// pinned threads, ns per round trip). A broker that costs 40 % more per message while either figure moved is the
// machine, not the broker's code. ~0.1 s per call; NaN figures when not pinned or the tool cannot run.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { cToolBinary } from "./c-tool.ts";

const SOURCE = fileURLToPath(new URL("../tools/cpu-probe.c", import.meta.url));
/** 20M iterations: ~0.1 s at ~5 ns each, long enough for the clock's resolution, short beside a round. */
const ITERATIONS = 20_000_000;

export interface CpuProbe {
  /** ns of CPU per iteration of the L2 chain on the broker's CPU. */
  iterNs: number;
  /** ns per round trip of a cache line between the broker's and the generator's CPU (fastest batch). */
  tripNs: number;
}

export function probeCpus(brokerCpu: number | null, generatorCpu: number | null): CpuProbe {
  if (brokerCpu === null || generatorCpu === null) return { iterNs: Number.NaN, tripNs: Number.NaN };
  try {
    const bin = cToolBinary(SOURCE, "the CPU probe");
    const out = execFileSync(bin, [String(brokerCpu), String(generatorCpu), String(ITERATIONS)], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).split(" ");
    return { iterNs: Number(out[0]), tripNs: Number(out[1]) };
  } catch {
    return { iterNs: Number.NaN, tripNs: Number.NaN };
  }
}
