// Long decoder fuzz run: npm run fuzz -- [--count N] [--seed S]
// Prints progress, counts and throughput; exits non-zero on the first invariant violation.
import { newStats, runFuzz } from "../helpers/codec-fuzz.ts";

const args = process.argv.slice(2);
function flag(name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(args[i + 1]) : dflt;
  if (!Number.isFinite(v)) throw new Error(`--${name} needs a number`);
  return v;
}
const count = flag("count", 5_000_000);
const seed = flag("seed", Date.now() % 0x7fffffff);
const BLOCK = 250_000;

console.log(`codec fuzz: ${count} inputs, seed ${seed}`);
const stats = newStats();
const t0 = process.hrtime.bigint();
try {
  for (let done = 0, block = 0; done < count; block++) {
    const n = Math.min(BLOCK, count - done);
    runFuzz(seed + block, n, stats);
    done += n;
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    console.log(`  ${done} inputs, ${(done / s).toFixed(0)} inputs/s, ${(stats.bytes / s / 1e6).toFixed(1)} MB/s`);
  }
} catch (e) {
  console.error(`FAILED (seed ${seed}): ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(
  `done: ${stats.inputs} inputs (${(stats.bytes / 1e6).toFixed(1)} MB) in ${secs.toFixed(1)} s, ${(stats.inputs / secs).toFixed(0)} inputs/s`,
);
console.log(`  packets decoded: ${stats.packets}, incomplete inputs: ${stats.incomplete}`);
console.log(`  CodecErrors: ${stats.codecErrors} ${JSON.stringify(stats.byCode)}`);
console.log(
  "  invariants held: only packets or CodecError, bounded steps, bufferedBytes <= maxPacketSize, stable re-encoding",
);
