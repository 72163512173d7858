// Rate-limited logging: at most `burst` lines per key per `intervalMs`; the lines dropped meanwhile are counted
// and reported in the next line that gets through (`suppressed: N`). Keys name one client or one condition
// ("takeover:<clientId>"), so a takeover fight between two clients sharing an id (issue #14: 74,000 lines in 10 s)
// costs a few lines per second instead of filling the disk, while other clients' lines are unaffected.
import type { Clock } from "./clock.ts";
import type { Logger } from "./logger.ts";

type Level = "trace" | "debug" | "info" | "warn" | "error";

interface Window {
  start: number;
  count: number;
  suppressed: number;
}

export interface LogLimiterOptions {
  /** Lines per key per interval (default 5). */
  burst?: number;
  /** Window length in ms (default 10,000). */
  intervalMs?: number;
  /** Keys tracked at once (default 10,000); beyond it the oldest window is forgotten. */
  maxKeys?: number;
}

export class LogLimiter {
  readonly #windows = new Map<string, Window>();
  readonly #burst: number;
  readonly #interval: number;
  readonly #maxKeys: number;

  constructor(
    private readonly clock: Pick<Clock, "now">,
    opts: LogLimiterOptions = {},
  ) {
    this.#burst = opts.burst ?? 5;
    this.#interval = opts.intervalMs ?? 10_000;
    this.#maxKeys = opts.maxKeys ?? 10_000;
  }

  /** Logs `msg` at `level` unless `key` is over its budget; returns whether the line was written. */
  log(logger: Logger, level: Level, key: string, obj: Record<string, unknown>, msg: string): boolean {
    const now = this.clock.now();
    let w = this.#windows.get(key);
    if (w === undefined || now - w.start >= this.#interval) {
      const suppressed = w?.suppressed ?? 0;
      if (w !== undefined) this.#windows.delete(key); // re-insert: Map order = age
      else if (this.#windows.size >= this.#maxKeys) {
        const oldest = this.#windows.keys().next();
        if (oldest.done !== true) this.#windows.delete(oldest.value);
      }
      w = { start: now, count: 0, suppressed: 0 };
      this.#windows.set(key, w);
      if (suppressed > 0) obj = { ...obj, suppressed };
    }
    if (w.count >= this.#burst) {
      w.suppressed++;
      return false;
    }
    w.count++;
    logger[level](obj, msg);
    return true;
  }
}
