// Rate-limited log lines about one client or one condition (issue #14: two clients fighting over one client id
// wrote 74,000 lines, 13 MB, in 10 s). Each connection logs through a logger limited by a key — its remote IP
// address until the CONNECT is accepted, then its client id — so one client (or one flood from one address) gets
// at most 5 lines per 10 s at info and above, the rest counted and reported as `suppressed` in its next line,
// while every other client's lines are unaffected. One LogLimiter per broker, found through a WeakMap so the core
// interfaces stay as they are. debug and trace lines are not limited (they are off by default, on for diagnosis).
import { LogLimiter } from "../util/index.ts";
import type { Clock, LogFn, Logger } from "../util/index.ts";

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

/** `logger` with its info / warn / error lines limited under `key` (child loggers share the key). */
export function limitLogger(broker: { readonly clock: Clock }, logger: Logger, key: string): Logger {
  const limiter = limiterOf(broker);
  const at =
    (level: Level): LogFn =>
    (objOrMsg: object | string, msg?: string): void => {
      if (typeof objOrMsg === "string") limiter.log(logger, level, key, {}, objOrMsg);
      else limiter.log(logger, level, key, objOrMsg as Record<string, unknown>, msg ?? "");
    };
  return {
    trace: logger.trace.bind(logger),
    debug: logger.debug.bind(logger),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    child: (bindings) => limitLogger(broker, logger.child(bindings), key),
  };
}
