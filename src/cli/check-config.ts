// `wharf check-config FILE`: validate without starting anything.
import { ConfigError, loadConfig } from "../server/config/index.ts";
import type { CliIo } from "./program.ts";
import { lazyRequire } from "../util/lazy.ts";

// Only `--print` needs the YAML writer; `wharf start` imports this file for reportConfigError().
const yaml = lazyRequire<typeof import("yaml")>("yaml");

/** 0 if `file` is a valid config, 1 (every error printed to stderr) if not. */
export function checkConfig(file: string, opts: { print: boolean }, io: CliIo): number {
  try {
    const config = loadConfig(file);
    io.out(opts.print ? yaml().stringify(config) : `${file}: OK\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.err(`${reportConfigError(err)}\n`);
    return 1;
  }
}

/** A ConfigError as the CLI prints it: a heading, then one error per line. */
export function reportConfigError(err: ConfigError): string {
  return `wharf: ${err.message}`;
}
