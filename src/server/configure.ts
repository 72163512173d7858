// Runtime configuration of an embedded broker (createBroker's configure(), docs/embedding.md "Runtime
// configuration"): one call takes a partial config, validates the result with the YAML schema (the same path-named
// errors), and applies it only if every changed key can change live; otherwise nothing changes and the error names
// each key that cannot. Live: the log level, the ACL, and the broker limits read where they are used
// (src/broker/reconfigure.ts).
import { isDeepStrictEqual } from "node:util";
import type { Broker } from "../broker/index.ts";
import {
  ConfigError,
  ConfigErrorCode,
  embeddedConfigSchema,
  validateConfig,
  type DeepPartial,
  type WharfConfig,
} from "./config/index.ts";

import { toBrokerOptions } from "./index.ts";

/** Config keys (dotted; a rate limit with its fields) that configure() changes live. */
export const LIVE_CONFIG_KEYS = [
  "log.level",
  "acl",
  "mqtt.maxInflight",
  "mqtt.maxKeepAlive",
  "mqtt.maxSubscriptionsPerSession",
  "mqtt.maxSessions",
  "mqtt.publishRate",
  "mqtt.publishByteRate",
  "mqtt.connectionRatePerIp",
] as const;

const isLive = (path: string): boolean => LIVE_CONFIG_KEYS.some((k) => path === k || path.startsWith(`${k}.`));

/** What configure() changed (dotted paths; empty when the call changed nothing). */
export interface ConfigureResult {
  changed: string[];
}

/** What configure() acts on. */
export interface ConfigureTargets {
  readonly broker: Broker;
  /** Sets the logger's level; undefined when the logger has none to set (an injected logger without `level`). */
  readonly setLogLevel: ((level: WharfConfig["log"]["level"]) => void) | undefined;
}

/**
 * The config after `changes` (validated: ConfigError with every problem by path) and the changed paths; throws
 * ConfigError naming each changed key that cannot change at runtime. Applies nothing.
 */
export function planConfigure(
  current: WharfConfig,
  changes: DeepPartial<WharfConfig>,
  targets: ConfigureTargets,
): { next: WharfConfig; changed: string[] } {
  if (typeof changes !== "object" || changes === null || Array.isArray(changes)) {
    throw new ConfigError(ConfigErrorCode.Invalid, [
      { path: "", message: "expected a mapping of config keys", value: changes },
    ]);
  }
  const next = validateConfig(overlay(current, changes), undefined, embeddedConfigSchema);
  const changed = diff(current, next, "");
  const issues = changed
    .filter((p) => !isLive(p) || (p === "log.level" && targets.setLogLevel === undefined))
    .map((path) => ({
      path,
      message: isLive(path)
        ? "cannot change: the injected logger has no level to set"
        : `cannot change at runtime (restart the broker); live: ${LIVE_CONFIG_KEYS.join(", ")}`,
      value: valueAt(next, path),
    }));
  if (issues.length > 0) throw new ConfigError(ConfigErrorCode.Invalid, issues);
  return { next, changed };
}

/** Applies a plan made by planConfigure. */
export function applyConfigure(next: WharfConfig, changed: readonly string[], targets: ConfigureTargets): void {
  if (changed.length === 0) return;
  const o = toBrokerOptions(next);
  const touches = (k: string): boolean => changed.some((p) => p === k || p.startsWith(`${k}.`));
  targets.broker.reconfigure({
    ...(touches("mqtt.maxInflight") ? { maxInflight: o.maxInflight } : {}),
    ...(touches("mqtt.maxKeepAlive") ? { maxKeepAlive: o.maxKeepAlive } : {}),
    ...(touches("mqtt.maxSubscriptionsPerSession") ? { maxSubscriptionsPerSession: o.maxSubscriptionsPerSession } : {}),
    ...(touches("mqtt.maxSessions") ? { maxSessions: o.maxSessions } : {}),
    ...(touches("mqtt.publishRate") ? { publishRate: o.publishRate } : {}),
    ...(touches("mqtt.publishByteRate") ? { publishByteRate: o.publishByteRate } : {}),
    ...(touches("mqtt.connectionRatePerIp") ? { connectionRatePerIp: o.connectionRatePerIp } : {}),
    ...(touches("acl") ? { acl: o.acl, aclDefault: o.aclDefault, aclReadMode: o.aclReadMode } : {}),
  });
  if (touches("log.level")) targets.setLogLevel!(next.log.level);
}

/** `over` laid on `base`: mappings merge key by key; a list or a scalar replaces (an ACL rule list is given whole). */
function overlay(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (!isMapping(base) || !isMapping(over)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = overlay(base[k], v);
  return out;
}

/** Dotted paths of the leaves (lists whole) where `a` and `b` differ. */
function diff(a: unknown, b: unknown, path: string): string[] {
  if (isDeepStrictEqual(a, b)) return [];
  if (!isMapping(a) || !isMapping(b)) return [path];
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].flatMap((k) => diff(a[k], b[k], path === "" ? k : `${path}.${k}`));
}

function valueAt(config: unknown, path: string): unknown {
  let v = config;
  for (const k of path.split(".")) v = isMapping(v) ? v[k] : undefined;
  return v;
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}
