// How fast the machine runs right now (bench/tools/cpu-probe.c), for bench:ops before and after each round: the
// broker's CPU's own speed (a fixed chain of dependent loads from L2 and integer arithmetic, ns of CPU time per
// iteration) and the latency between the broker's and the load generator's CPUs (a cache line bounced between two
// pinned threads, ns per round trip). A broker that costs 40 % more per message while either figure moved is the
// machine, not the broker's code. ~0.1 s per call; NaN figures when not pinned or the tool cannot run.
import { execFile, execFileSync } from "node:child_process";
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

const NONE: CpuProbe = { iterNs: Number.NaN, tripNs: Number.NaN };

function parse(out: string): CpuProbe {
  const [iter, trip] = out.split(" ");
  return { iterNs: Number(iter), tripNs: Number(trip) };
}

/** The probe's binary (compiled on first use) and its arguments. */
function command(brokerCpu: number, generatorCpu: number): [string, string[]] {
  return [cToolBinary(SOURCE, "the CPU probe"), [String(brokerCpu), String(generatorCpu), String(ITERATIONS)]];
}

/** Between rounds: blocks for the ~0.1 s the probe takes. */
export function probeCpus(brokerCpu: number | null, generatorCpu: number | null): CpuProbe {
  if (brokerCpu === null || generatorCpu === null) return NONE;
  try {
    const [bin, args] = command(brokerCpu, generatorCpu);
    return parse(execFileSync(bin, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }));
  } catch {
    return NONE;
  }
}

/**
 * Inside a window (bench:ops --probe-inside): the same without blocking the load generator. It takes ~0.1 s of the
 * broker's CPU and spins a thread on the generator's for the round trips, so it lowers that window's throughput;
 * CPU per message, being CPU time over messages, stays comparable.
 */
export function probeCpusLater(brokerCpu: number | null, generatorCpu: number | null): Promise<CpuProbe> {
  if (brokerCpu === null || generatorCpu === null) return Promise.resolve(NONE);
  const [bin, args] = command(brokerCpu, generatorCpu);
  return new Promise((resolve) => {
    execFile(bin, args, { encoding: "utf8" }, (err, out) => resolve(err === null ? parse(out) : NONE));
  });
}
