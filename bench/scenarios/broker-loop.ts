// With WHARF_BENCH_LOOP_STATS=1, Wharf runs with bench/tools/loop-stats.mjs preloaded (brokers/index.ts): a scenario
// opens and closes its window with SIGUSR2 and reads the broker's event-loop delay and GC pauses over it.
import { existsSync, readFileSync, rmSync } from "node:fs";
import { brokerLoopStatsFile, type RunningBroker } from "../brokers/index.ts";
import type { BrokerLoopStats } from "./result.ts";

export class BrokerLoopWindow {
  readonly #on: boolean;
  readonly #file: string;

  constructor(private readonly broker: RunningBroker) {
    this.#on = broker.def.id === "wharf" && process.env["WHARF_BENCH_LOOP_STATS"] === "1";
    this.#file = brokerLoopStatsFile(broker.port);
  }

  open(): void {
    if (!this.#on) return;
    rmSync(this.#file, { force: true });
    this.broker.proc.child.kill("SIGUSR2");
  }

  close(): void {
    if (this.#on) this.broker.proc.child.kill("SIGUSR2");
  }

  /** The window's reading (undefined when off, or when the broker wrote none). */
  read(): { brokerLoop?: BrokerLoopStats } {
    if (!this.#on || !existsSync(this.#file)) return {};
    try {
      const line = readFileSync(this.#file, "utf8").split("\n")[0]!;
      rmSync(this.#file, { force: true });
      return { brokerLoop: JSON.parse(line) as BrokerLoopStats };
    } catch {
      return {};
    }
  }
}
