// Config resolution: defaults <- YAML file <- overrides (CLI flags), validated as a whole so that
// every error, wherever it came from, is reported at once against the final value.
import { readFileSync } from "node:fs";
import { lazyRequire } from "../../util/lazy.ts";
import { ConfigError, ConfigErrorCode } from "./errors.ts";
import { isPlainObject, type ConfigIssue, type Schema } from "./schema.ts";
import { wharfConfigSchema, type WharfConfig } from "./wharf-config.ts";

/** Every key optional, recursively; lists hold partial items (merged by index, see below). */
export type DeepPartial<T> = T extends readonly (infer U)[]
  ? DeepPartial<U>[]
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;

/** The YAML parser, loaded with the first config file (a start from flags alone does not need it). */
const yaml = lazyRequire<typeof import("yaml")>("yaml");

/** Parses YAML text; syntax errors become a ConfigError naming `file:line:col`. */
export function parseConfigText(text: string, file = "<config>"): unknown {
  const { LineCounter, parseDocument } = yaml();
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, lineCounter, uniqueKeys: true });
  const problems = [...doc.errors, ...doc.warnings];
  if (problems.length > 0) {
    const issues: ConfigIssue[] = problems.map((e) => {
      const { line, col } = lineCounter.linePos(e.pos[0]);
      return { path: "", message: `${file}:${line}:${col}: YAML syntax error: ${e.message}`, value: undefined };
    });
    throw new ConfigError(ConfigErrorCode.Invalid, issues, file);
  }
  try {
    return doc.toJS();
  } catch (err) {
    // e.g. an alias to an anchor that does not exist: only detected while converting.
    const message = `${file}: YAML error: ${err instanceof Error ? err.message : String(err)}`;
    throw new ConfigError(ConfigErrorCode.Invalid, [{ path: "", message, value: undefined }], file);
  }
}

/** Validates a raw (parsed YAML) config, filling defaults; throws ConfigError with every issue. */
export function validateConfig(
  raw: unknown,
  file?: string,
  schema: Schema<WharfConfig> = wharfConfigSchema,
): WharfConfig {
  const issues: ConfigIssue[] = [];
  const config = schema.parse(raw, "", issues);
  if (issues.length > 0) throw new ConfigError(ConfigErrorCode.Invalid, issues, file);
  return config;
}

/**
 * Lays `over` on top of `base`: mappings merge key by key, lists merge item by item (so an
 * override `{ listeners: [{ port: 0 }] }` changes only the first listener's port), anything
 * else is replaced. When `base` holds a value of another kind than `over` (a file error), the
 * file's value is kept so that validation reports it rather than the override hiding it.
 */
export function mergeOverrides(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (base === undefined || base === null) return over;
  if (Array.isArray(over)) {
    if (!Array.isArray(base)) return base;
    const out: unknown[] = [...(base as unknown[])];
    over.forEach((v, i) => {
      out[i] = mergeOverrides(out[i], v);
    });
    return out;
  }
  if (isPlainObject(over)) {
    if (!isPlainObject(base)) return base;
    const out: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(over)) out[k] = mergeOverrides(base[k], v);
    return out;
  }
  return over;
}

/** Reads and parses a YAML config file (not yet validated). */
export function readConfigFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ConfigError(ConfigErrorCode.Unreadable, [{ path: "", message: reason, value: file }], file);
  }
  return parseConfigText(text, file);
}

/**
 * The effective config: defaults <- `file` (YAML, optional) <- `overrides`, validated as a
 * whole. Throws ConfigError (code CONFIG_INVALID / CONFIG_UNREADABLE) listing every problem.
 */
export function loadConfig(file?: string, overrides?: DeepPartial<WharfConfig>): WharfConfig {
  const raw = file === undefined ? undefined : readConfigFile(file);
  return validateConfig(mergeOverrides(raw, overrides), file);
}
