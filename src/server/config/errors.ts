import type { ConfigIssue } from "./schema.ts";
import { WharfError } from "../../util/index.ts";

/** Stable machine-readable codes of config errors. */
export const ConfigErrorCode = {
  /** The config does not validate (or is not well-formed YAML): see `errors`. */
  Invalid: "CONFIG_INVALID",
  /** The config file could not be read. */
  Unreadable: "CONFIG_UNREADABLE",
} as const;
export type ConfigErrorCodeValue = (typeof ConfigErrorCode)[keyof typeof ConfigErrorCode];

/**
 * Every problem found in a config, all at once. `message` is readable as is: one line per error,
 * `path: message` (path dotted like `listeners[0].port`, or `file:line:col` for YAML syntax).
 */
export class ConfigError extends WharfError<ConfigErrorCodeValue> {
  override readonly name = "ConfigError";
  readonly errors: readonly ConfigIssue[];
  /** The config file involved, if any. */
  readonly file: string | undefined;

  constructor(code: ConfigErrorCodeValue, errors: readonly ConfigIssue[], file?: string) {
    const where = file === undefined ? "" : ` in ${file}`;
    const head =
      code === ConfigErrorCode.Unreadable
        ? `cannot read config file${file === undefined ? "" : ` ${file}`}`
        : `invalid configuration${where} (${errors.length} error${errors.length === 1 ? "" : "s"})`;
    super(code, [`${head}:`, ...errors.map((e) => `  ${formatIssue(e)}`)].join("\n"));
    this.errors = errors;
    this.file = file;
  }
}

export function formatIssue(e: ConfigIssue): string {
  return e.path === "" ? e.message : `${e.path}: ${e.message}`;
}
