// Command line of `npm run bench -- [options]`.

import { BROKER_IDS, type BrokerId } from "../brokers/index.ts";

export interface BenchArgs {
  quick: boolean;
  only: string[];
  brokers: BrokerId[];
  pin: boolean;
  /** true: always write docs/benchmarks.md; false: never; null: only after a full, unfiltered run. */
  writeDocs: boolean | null;
  /** Overrides the measurement window of throughput runs (seconds). */
  measureSeconds: number | null;
  /** Overrides the number of interleaved rounds of the latency scenarios (default 5, quick 1). */
  rounds: number | null;
  /** Overrides the number of fresh-broker rounds of the held storm (default 5, quick 1). */
  stormRounds: number | null;
  /** The latency scenarios' generator (default: c). */
  latencyGen: "c" | "node" | null;
  help: boolean;
}

export const USAGE = `Usage: npm run bench -- [options]

  --quick                 ~one-minute subset with short windows
  --only <substr>[,<s>]   run only scenarios whose id contains one of the substrings
                          (ids look like fan-in/qos0/100B/v3.1.1, latency/qos1/10k-per-s/v5, storm/5000-conns/v3.1.1)
  --brokers <a,b>         brokers to run: ${BROKER_IDS.join(",")} (default: all)
  --measure <seconds>     measurement window of throughput runs (default 3, quick 1)
  --rounds <n>            rounds of each latency scenario, interleaved between brokers (default 5, quick 1)
  --storm-rounds <n>      fresh-broker rounds of the held storm, interleaved between brokers (default 5, quick 1)
  --latency-gen <c|node>  latency generator: the C tool bench/tools/latgen.c (default) or the Node clients
  --no-pin                do not pin broker / load generator to CPUs
  --write-docs            update docs/benchmarks.md even after a partial run
  --no-docs               never update docs/benchmarks.md (default: updated after a full, unfiltered run)
  --ops                   instead: the operations overhead bench (metrics, webhook, tracing vs off; bench/ops)
  -h, --help              this text`;

export class ArgsError extends Error {
  readonly code = "BENCH_ARGS";
}

export function parseArgs(argv: readonly string[]): BenchArgs {
  const out: BenchArgs = {
    quick: false,
    only: [],
    brokers: [...BROKER_IDS],
    pin: true,
    writeDocs: null,
    measureSeconds: null,
    rounds: null,
    stormRounds: null,
    latencyGen: null,
    help: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]!;
    const eq = raw.indexOf("=");
    const flag = raw.startsWith("--") && eq > 0 ? raw.slice(0, eq) : raw;
    const value = (): string => {
      if (raw.startsWith("--") && eq > 0) return raw.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) throw new ArgsError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case "--quick":
        out.quick = true;
        break;
      case "--only":
        out.only.push(...splitList(value()));
        break;
      case "--brokers": {
        const list = splitList(value());
        for (const b of list) {
          if (!(BROKER_IDS as readonly string[]).includes(b)) {
            throw new ArgsError(`unknown broker "${b}" (known: ${BROKER_IDS.join(", ")})`);
          }
        }
        out.brokers = BROKER_IDS.filter((b) => list.includes(b));
        break;
      }
      case "--measure": {
        const s = Number(value());
        if (!(s > 0 && s <= 60)) throw new ArgsError("--measure takes seconds in (0, 60]");
        out.measureSeconds = s;
        break;
      }
      case "--rounds": {
        const r = Number(value());
        if (!(Number.isInteger(r) && r >= 1 && r <= 50)) throw new ArgsError("--rounds takes an integer in [1, 50]");
        out.rounds = r;
        break;
      }
      case "--storm-rounds": {
        const r = Number(value());
        if (!(Number.isInteger(r) && r >= 1 && r <= 50))
          throw new ArgsError("--storm-rounds takes an integer in [1, 50]");
        out.stormRounds = r;
        break;
      }
      case "--latency-gen": {
        const g = value();
        if (g !== "c" && g !== "node") throw new ArgsError('--latency-gen takes "c" or "node"');
        out.latencyGen = g;
        break;
      }
      case "--no-pin":
        out.pin = false;
        break;
      case "--write-docs":
        out.writeDocs = true;
        break;
      case "--no-docs":
        out.writeDocs = false;
        break;
      case "-h":
      case "--help":
        out.help = true;
        break;
      default:
        throw new ArgsError(`unknown option "${raw}"`);
    }
  }
  if (out.brokers.length === 0) throw new ArgsError("--brokers selected no broker");
  return out;
}

function splitList(v: string): string[] {
  return v
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/** A full run: not quick, no scenario filter, every broker, default window. */
export function isFullRun(a: BenchArgs): boolean {
  return (
    !a.quick &&
    a.only.length === 0 &&
    a.brokers.length === BROKER_IDS.length &&
    a.measureSeconds === null &&
    a.rounds === null &&
    a.stormRounds === null &&
    a.latencyGen === null
  );
}

/** `--name value` of a standalone bench script's command line, or `dflt`. */
export function flagValue(argv: readonly string[], name: string, dflt: string): string {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? (argv[i + 1] ?? dflt) : dflt;
}
