// The server's logger: pino, JSON lines by default, human-readable (pino-pretty) on a terminal or
// when asked. Writes are synchronous: the volume at info is a few lines per connection (per-message
// logs are debug/trace only), and sync writes mean nothing is lost when the process exits.
import { pino, type DestinationStream, type Logger as PinoLogger } from "pino";
import { lazyRequire } from "../util/lazy.ts";
import type { Logger } from "../util/logger.ts";
import type { LogConfig, LogFormat } from "./config/index.ts";

/** pino-pretty, loaded only for `format: pretty` (or `auto` on a terminal): JSON logs do not need it. */
const pinoPretty = lazyRequire<typeof import("pino-pretty")>("pino-pretty");

export interface CreateLoggerOptions {
  /** Where lines go; default stdout. */
  destination?: DestinationStream;
  /** Whether the output is a terminal (decides `format: auto` and colours); default stdout's. */
  isTTY?: boolean;
}

/** `auto` means pretty on a terminal, JSON otherwise (files, pipes, log collectors). */
export function resolveLogFormat(format: LogFormat, isTTY: boolean): "json" | "pretty" {
  if (format === "auto") return isTTY ? "pretty" : "json";
  return format;
}

export function createLogger(config: LogConfig, opts: CreateLoggerOptions = {}): PinoLogger & Logger {
  const isTTY = opts.isTTY ?? process.stdout.isTTY;
  const format = resolveLogFormat(config.format, isTTY);
  const options = { name: "wharf", level: config.level };
  if (format === "pretty") {
    const pretty = pinoPretty()({
      colorize: isTTY,
      sync: true,
      translateTime: "SYS:HH:MM:ss.l",
      ignore: "pid,hostname,name",
      ...(opts.destination ? { destination: opts.destination } : { destination: 1 }),
    });
    return pino(options, pretty);
  }
  return pino(options, opts.destination ?? pino.destination({ dest: 1, sync: true }));
}
