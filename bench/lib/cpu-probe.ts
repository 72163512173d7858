// How fast a CPU runs right now: bench/tools/cpu-probe.c (a fixed chain of dependent loads from L2 and integer
// arithmetic) on the given CPU, in nanoseconds of its own CPU time per iteration. bench:ops runs it on the broker's
// CPU before and after each round: a broker that costs 40 % more per message while the probe also runs slower is the
// machine (another guest on the same physical core, the host's clock), not the broker's code. ~0.1 s per call.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { cToolBinary } from "./c-tool.ts";
import { pinned } from "./machine.ts";

const SOURCE = fileURLToPath(new URL("../tools/cpu-probe.c", import.meta.url));
/** 20M iterations: ~0.1 s at ~5 ns each, long enough for the clock's resolution, short beside a round. */
const ITERATIONS = 20_000_000;

/** ns of CPU per probe iteration on `cpu` (null: wherever the scheduler puts it); NaN when it cannot run. */
export function probeCpu(cpu: number | null): number {
  try {
    const [cmd, args] = pinned(cpu, cToolBinary(SOURCE, "the CPU probe"), [String(ITERATIONS)]);
    const out = execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    return Number(out.split(" ")[0]);
  } catch {
    return Number.NaN;
  }
}
