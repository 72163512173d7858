// `wharf start` flags and how they map onto the config (they override the file's values).
import type { DeepPartial, LogFormat, LogLevel, WharfConfig } from "../server/config/index.ts";

export type StorageType = WharfConfig["storage"]["type"];

export interface StartFlags {
  config?: string;
  host?: string;
  port?: number;
  logLevel?: LogLevel;
  logFormat?: LogFormat;
  storage?: StorageType;
  dataDir?: string;
  /** Port of the management server (management.port); 0 = any free port. */
  managementPort?: number;
}

/**
 * Flags as config overrides. `--host`/`--port` apply to the first listener (the only one in the
 * default config); further listeners come from the config file only.
 */
export function startOverrides(flags: StartFlags): DeepPartial<WharfConfig> {
  const out: DeepPartial<WharfConfig> = {};
  if (flags.host !== undefined || flags.port !== undefined) {
    out.listeners = [{ ...pick("host", flags.host), ...pick("port", flags.port) }];
  }
  if (flags.logLevel !== undefined || flags.logFormat !== undefined) {
    out.log = { ...pick("level", flags.logLevel), ...pick("format", flags.logFormat) };
  }
  if (flags.storage !== undefined || flags.dataDir !== undefined) {
    out.storage = { ...pick("type", flags.storage), ...pick("dataDir", flags.dataDir) };
  }
  if (flags.managementPort !== undefined) out.management = { port: flags.managementPort };
  return out;
}

function pick<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}
