// Hot reload (SIGHUP, POST /api/v1/config/reload): re-reads the config file, and either changes nothing (the
// file is invalid, or a part that must be built first fails: the error names the key) or applies what can change
// live and reports the rest as needing a restart. Applied live: the mqtt limits of LIVE_OPTIONS, the ACL,
// authentication (password file, JWT, HTTP callout, mTLS, method order; not SCRAM users), admin tokens, webhooks,
// log level, the management server's TLS certificate (listener certificates: server.ts, after the file).
import { readFileSync } from "node:fs";
import { isDeepStrictEqual } from "node:util";
import type { ReloadOutcome, ReloadReport } from "../admin/index.ts";
import { LIVE_OPTIONS, type LiveOptions } from "../broker/index.ts";
import { ConfigError, formatIssue, loadConfig, type DeepPartial, type WharfConfig } from "./config/index.ts";

/** What a reload can change on the running server. */
export interface LiveTargets {
  setLogLevel?: ((level: WharfConfig["log"]["level"]) => void) | undefined;
  setTokens?: ((tokens: WharfConfig["management"]["tokens"]) => void) | undefined;
  setWebhooks?: ((webhooks: WharfConfig["webhooks"]) => void) | undefined;
  /** Reloads the management TLS certificate (throws if the files cannot be read). */
  setManagementTls?: ((tls: WharfConfig["management"]["tls"]) => void) | undefined;
  /** Applies broker options of LIVE_OPTIONS (mqtt limits, ACL). */
  setBrokerOptions?: ((patch: LiveOptions, next: WharfConfig) => void) | undefined;
  /**
   * Builds the authentication of `next` (reads the password file, keys, …) without using it yet; throws when it
   * cannot (the reload then changes nothing). commit() puts it in place of the current one, discard() drops it.
   */
  prepareAuth?: ((next: WharfConfig) => { commit(): void; discard(): void }) | undefined;
}

const LIVE_MQTT = new Set<string>(LIVE_OPTIONS.map((k) => `mqtt.${k}`));

/** Whether a changed path (changedPaths) can be applied to the running server. */
function isLive(path: string): boolean {
  if (["log.level", "management.tokens", "webhooks", "management.tls", "acl"].includes(path)) return true;
  // SCRAM users live in the broker's enhanced-authentication registry, built at start.
  if (path.startsWith("auth.")) return path !== "auth.scram";
  return LIVE_MQTT.has(path);
}

/** Sections whose changes are reported key by key. */
const SPLIT = new Set(["log", "management", "mqtt", "auth"]);

/** The dotted paths where `a` and `b` differ, down to the keys listed in LIVE (or a whole top-level section). */
export function changedPaths(a: WharfConfig, b: WharfConfig): string[] {
  const out: string[] = [];
  for (const key of Object.keys(b) as (keyof WharfConfig)[]) {
    const before = a[key] as unknown;
    const after = b[key] as unknown;
    if (isDeepStrictEqual(before, after)) continue;
    if (SPLIT.has(key)) {
      for (const sub of Object.keys(after as object)) {
        const x = (before as Record<string, unknown>)[sub];
        const y = (after as Record<string, unknown>)[sub];
        if (!isDeepStrictEqual(x, y)) out.push(`${key}.${sub}`);
      }
    } else {
      out.push(key);
    }
  }
  return out;
}

export class ConfigReloader {
  #current: WharfConfig;
  /** The TLS files' contents at the last (re)load: a rotated certificate under the same path is a change too. */
  #tlsFiles: string;

  constructor(
    readonly file: string | undefined,
    private readonly overrides: DeepPartial<WharfConfig> | undefined,
    initial: WharfConfig,
    private readonly targets: LiveTargets,
  ) {
    this.#current = initial;
    this.#tlsFiles = tlsFingerprint(initial);
  }

  get current(): WharfConfig {
    return this.#current;
  }

  async reload(): Promise<ReloadOutcome> {
    await Promise.resolve();
    if (this.file === undefined) {
      return { ok: false, message: "started without a config file: nothing to reload", errors: [] };
    }
    let next: WharfConfig;
    try {
      next = loadConfig(this.file, this.overrides);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      return {
        ok: false,
        message: err.message,
        errors: err.errors.map((e) => ({ path: e.path, message: formatIssue(e) })),
      };
    }
    const changed = changedPaths(this.#current, next);
    const tls = tlsFingerprint(next);
    if (next.management.tls.enabled && tls !== this.#tlsFiles && !changed.includes("management.tls")) {
      changed.push("management.tls");
    }
    const report: ReloadReport = { file: this.file, applied: [], restartRequired: [] };
    // Build what can fail before touching anything: then a failure changes nothing.
    let auth: { commit(): void; discard(): void } | undefined;
    if (this.targets.prepareAuth !== undefined && changed.some((p) => authPath(p))) {
      try {
        auth = this.targets.prepareAuth(next);
      } catch (err) {
        const path = errorPath(err) ?? "auth";
        const message = `${path}: ${err instanceof Error ? err.message : String(err)}`;
        return { ok: false, message, errors: [{ path, message }] };
      }
    }
    if (changed.includes("management.tls") && this.targets.setManagementTls !== undefined) {
      try {
        this.targets.setManagementTls(next.management.tls);
      } catch (err) {
        auth?.discard();
        const message = `management.tls: ${err instanceof Error ? err.message : String(err)}`;
        return { ok: false, message, errors: [{ path: "management.tls", message }] };
      }
    }
    const patch = brokerPatch(changed, next);
    if (Object.keys(patch).length > 0 && this.targets.setBrokerOptions !== undefined) {
      this.targets.setBrokerOptions(patch, next);
    }
    auth?.commit();
    for (const path of changed) {
      const live = isLive(path) && this.#apply(path, next);
      (live ? report.applied : report.restartRequired).push(path);
    }
    this.#current = next;
    this.#tlsFiles = tls;
    return { ok: true, report };
  }

  #apply(path: string, next: WharfConfig): boolean {
    const t = this.targets;
    switch (path) {
      case "log.level":
        if (t.setLogLevel === undefined) return false;
        t.setLogLevel(next.log.level);
        return true;
      case "management.tokens":
        if (t.setTokens === undefined) return false;
        t.setTokens(next.management.tokens);
        return true;
      case "webhooks":
        if (t.setWebhooks === undefined) return false;
        t.setWebhooks(next.webhooks);
        return true;
      case "management.tls":
        // Applied above (certificate rotation); switching TLS on or off needs a new listener.
        return t.setManagementTls !== undefined && this.#current.management.tls.enabled && next.management.tls.enabled;
      case "acl":
        return t.setBrokerOptions !== undefined; // applied above (brokerPatch)
      default:
        if (path.startsWith("auth.")) return t.prepareAuth !== undefined; // committed above
        if (path === "mqtt.allowAnonymous") return t.setBrokerOptions !== undefined && t.prepareAuth !== undefined;
        return path.startsWith("mqtt.") && t.setBrokerOptions !== undefined;
    }
  }
}

/** Changes that need the authentication rebuilt: its sections, and allowAnonymous (the chain applies it too). */
function authPath(path: string): boolean {
  return (path.startsWith("auth.") && path !== "auth.scram") || path === "mqtt.allowAnonymous";
}

/** The config key a build error is about, when the error says (PasswordFileError, JwtConfigError…). */
function errorPath(err: unknown): string | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (code === "AUTH_PASSWORD_FILE_INVALID") return "auth.passwordFile";
  if (code === "JWT_CONFIG_INVALID") return "auth.jwt";
  return undefined;
}

/** The live broker options among `changed`, from `next` (mqtt.<key> → <key>; acl → acl, aclDefault, aclReadMode). */
function brokerPatch(changed: readonly string[], next: WharfConfig): LiveOptions {
  const patch: Record<string, unknown> = {};
  for (const path of changed) {
    if (path === "acl") {
      patch.acl = next.acl.rules.map((rule) => ({ ...rule }));
      patch.aclDefault = next.acl.default;
      patch.aclReadMode = next.acl.mode;
    } else if (LIVE_MQTT.has(path)) {
      const key = path.slice("mqtt.".length) as keyof WharfConfig["mqtt"];
      const v = next.mqtt[key];
      patch[key] = typeof v === "object" ? { ...v } : v;
    }
  }
  return patch;
}

function tlsFingerprint(config: WharfConfig): string {
  const tls = config.management.tls;
  if (!tls.enabled) return "";
  const read = (f: string) => {
    try {
      return f === "" ? "" : readFileSync(f, "utf8");
    } catch {
      return `unreadable:${f}`;
    }
  };
  return [read(tls.certFile), read(tls.keyFile), read(tls.caFile)].join("\0");
}

const MASK = "********";
/** Keys whose string values are secrets, wherever they appear (new sections get masked without a change here). */
const SECRET_KEY = /(secret|password|credential|hash|passphrase|privateKey|apiKey)$/i;

/** The config with every secret-named string (token hashes, webhook secrets, passwords, credentials…) masked. */
export function maskSecrets(config: WharfConfig): unknown {
  const walk = (v: unknown, key: string): unknown => {
    if (typeof v === "string") return v !== "" && SECRET_KEY.test(key) ? MASK : v;
    if (Array.isArray(v)) return v.map((x) => walk(x, key));
    if (typeof v === "object" && v !== null) {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, k)]));
    }
    return v;
  };
  return walk(config, "");
}
