// Rate-limited log lines about one client or one condition (issue #14: two clients fighting over one client id
// wrote 74,000 lines, 13 MB, in 10 s). Each connection logs through a logger limited by a key — its remote IP
// address until the CONNECT is accepted, then its client id — so one client (or one flood from one address) gets
// at most 5 lines per 10 s at info and above, the rest counted and reported as `suppressed` in its next line,
// while every other client's lines are unaffected. One LogLimiter per broker, found through a WeakMap so the core
// interfaces stay as they are. debug and trace lines are not limited (they are off by default, on for diagnosis).
import { LogLimiter } from "../util/index.ts";
import type { Clock, Logger } from "../util/index.ts";

const limiters = new WeakMap<object, LogLimiter>();

function limiterOf(broker: { readonly clock: Clock }): LogLimiter {
  let l = limiters.get(broker);
  if (l === undefined) {
    l = new LogLimiter(broker.clock);
    limiters.set(broker, l);
  }
  return l;
}

type Level = "info" | "warn" | "error";

/** Logs one line through the broker's limiter under `key`. */
export function limitedLog(
  broker: { readonly clock: Clock },
  logger: Logger,
  level: Level,
  key: string,
  obj: Record<string, unknown>,
  msg: string,
): void {
  limiterOf(broker).log(logger, level, key, obj, msg);
}

/**
 * `logger` with its info / warn / error lines limited under `key` (child loggers share the key), and `bindings`
 * (e.g. the client id) added by a child logger.
 *
 * Made for every connection, twice (before and after CONNECT), so it costs nothing until a line is written: the
 * child logger and the key (a LogKeySource: computed on the first limited line) are made on first use, and a line at a
 * level the logger does not write is dropped before the limiter (the default level writes ~2 info lines per
 * connection; at warn, a connection storm used to pay a pino child, a limiter window and two lines per connect).
 */
/** Computes a logger's limiter key on its first limited line (an object, so a connection needs no closure). */
export interface LogKeySource {
  logKey(): string;
}

export function limitLogger(
  broker: { readonly clock: Clock },
  logger: Logger,
  key: string | LogKeySource,
  bindings?: Record<string, unknown>,
): Logger {
  return new LimitedLogger(limiterOf(broker), logger, key, bindings);
}

class LimitedLogger implements Logger {
  #target: Logger | undefined = undefined;
  #key: string | LogKeySource;

  constructor(
    private readonly limiter: LogLimiter,
    private readonly parent: Logger,
    key: string | LogKeySource,
    private readonly bindings: Record<string, unknown> | undefined,
  ) {
    this.#key = key;
  }

  get #logger(): Logger {
    return (this.#target ??= this.bindings === undefined ? this.parent : this.parent.child(this.bindings));
  }

  #off(level: Level | "debug" | "trace"): boolean {
    return this.parent.isLevelEnabled?.(level) === false;
  }

  #limited(level: Level, objOrMsg: object | string, msg?: string): void {
    if (this.#off(level)) return;
    let key = this.#key;
    if (typeof key !== "string") this.#key = key = key.logKey();
    if (typeof objOrMsg === "string") this.limiter.log(this.#logger, level, key, {}, objOrMsg);
    else this.limiter.log(this.#logger, level, key, objOrMsg as Record<string, unknown>, msg ?? "");
  }

  trace(objOrMsg: object | string, msg?: string): void {
    if (this.#off("trace")) return;
    if (typeof objOrMsg === "string") this.#logger.trace(objOrMsg);
    else this.#logger.trace(objOrMsg, msg);
  }

  debug(objOrMsg: object | string, msg?: string): void {
    if (this.#off("debug")) return;
    if (typeof objOrMsg === "string") this.#logger.debug(objOrMsg);
    else this.#logger.debug(objOrMsg, msg);
  }

  info(objOrMsg: object | string, msg?: string): void {
    this.#limited("info", objOrMsg, msg);
  }

  warn(objOrMsg: object | string, msg?: string): void {
    this.#limited("warn", objOrMsg, msg);
  }

  error(objOrMsg: object | string, msg?: string): void {
    this.#limited("error", objOrMsg, msg);
  }

  child(bindings: Record<string, unknown>): Logger {
    return new LimitedLogger(this.limiter, this.#logger.child(bindings), this.#key, undefined);
  }

  isLevelEnabled(level: string): boolean {
    return this.parent.isLevelEnabled?.(level) !== false;
  }
}
