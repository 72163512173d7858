// The ONE schema of Wharf's YAML config file. The TypeScript type, the defaults and the
// validation all derive from it; docs/configuration.md and config/wharf.example.yaml document it
// (a test checks both name every key and that the example holds exactly the defaults).
import { saslPrep } from "../../broker/auth/index.ts";
import { validateScramUser } from "../../broker/authenticators.ts";
import { DEFAULT_BROKER_OPTIONS } from "../../broker/options.ts";
import { overloadSchema } from "./overload-schema.ts";
import { aclSchema, authSecurityKeys, checkAuthSection, mqttSecurityKeys, type AclConfig } from "./security.ts";
import { array, bool, anyStr, int, object, oneOf, optional, refine, required, str, type Infer } from "./schema.ts";
import { managementSchema, tracingSchema, webhooksSchema } from "./ops-config.ts";
import { queuesSchema } from "./queues.ts";
import { clusterSchema } from "./cluster.ts";

import { listenersOf, listenersSchema, MAX_PACKET_SIZE } from "./listeners.ts";

export { LISTENER_TYPES, DEFAULT_PORTS, MAX_PACKET_SIZE, WS_DEFAULTS } from "./listeners.ts";
export type { ListenerConfig, ListenerType, TlsConfig, WsConfig } from "./listeners.ts";
import { MAX_UINT16 as U16 } from "../../util/index.ts";

import { LOG_FORMATS, LOG_LEVELS, STORAGE_TYPES } from "./choices.ts";
export { LOG_FORMATS, LOG_LEVELS, STORAGE_TYPES } from "./choices.ts";
export const DURABILITY_MODES = ["sync", "batched", "none"] as const;
export const SHARED_SUBSCRIPTION_STRATEGIES = ["round-robin", "random", "sticky", "least-inflight"] as const;
export const OUTBOUND_TOPIC_ALIAS_POLICIES = ["auto", "off"] as const;
/** 0x9C Use another server, 0x9D Server moved (YAML 1.2 reads 0x9c as 156). */
export const REDIRECT_REASON_CODES = [0x9c, 0x9d] as const;

const d = DEFAULT_BROKER_OPTIONS;

/** Maps 1:1 onto BrokerOptions (src/broker/options.ts); defaults are the broker's. */
const mqttSchema = object({
  ...mqttSecurityKeys, // pre-CONNECT limits, session caps, memory budget, rate limits (security.ts)
  maxPacketSize: int({ min: 2, max: MAX_PACKET_SIZE, default: d.maxPacketSize }),
  maxInflight: int({ min: 1, max: U16, default: d.maxInflight }),
  receiveMaximum: int({ min: 1, max: U16, default: d.receiveMaximum }),
  maxKeepAlive: int({ min: 0, max: U16, default: d.maxKeepAlive }),
  maxQueuedMessages: int({ min: 0, default: d.maxQueuedMessages }),
  maxQueuedBytes: int({ min: 0, default: d.maxQueuedBytes }),
  queueQos0Offline: bool(d.queueQos0Offline),
  allowAnonymous: bool(d.allowAnonymous),
  maximumQoS: oneOf([0, 1, 2] as const, d.maximumQoS),
  retainAvailable: bool(d.retainAvailable),
  wildcardSubscriptionAvailable: bool(d.wildcardSubscriptionAvailable),
  subscriptionIdentifiersAvailable: bool(d.subscriptionIdentifiersAvailable),
  sharedSubscriptionAvailable: bool(d.sharedSubscriptionAvailable),
  sharedSubscriptionStrategy: oneOf(SHARED_SUBSCRIPTION_STRATEGIES, d.sharedSubscriptionStrategy),
  topicAliasMaximum: int({ min: 0, max: U16, default: d.topicAliasMaximum }),
  outboundTopicAliases: oneOf(OUTBOUND_TOPIC_ALIAS_POLICIES, d.outboundTopicAliases),
  clientIdPrefix: anyStr(d.clientIdPrefix),
  connectTimeout: int({ min: 0, max: 86_400, default: d.connectTimeout }),
  closeTimeout: int({ min: 0, max: 86_400, default: d.closeTimeout }),
  responseInformation: anyStr(d.responseInformation),
  validatePayloadFormat: bool(d.validatePayloadFormat),
  maxSubscriptionsPerSession: int({ min: 0, default: d.maxSubscriptionsPerSession }),
  /** BrokerOptions.serverRedirect; an empty serverReference means no redirection (null). */
  serverRedirect: object({
    serverReference: anyStr(""),
    reasonCode: oneOf(REDIRECT_REASON_CODES, 0x9c),
  }),
});

/** One SCRAM-SHA-256 user: checked like the broker will (stored credentials parsed, passwords SASLprep'ed). */
const scramUserSchema = refine(
  object({
    username: required(str({ default: "" })),
    password: optional(str({ default: "" })),
    credential: optional(str({ default: "" })),
  }),
  (user, path, issues) => {
    try {
      validateScramUser(user);
    } catch (err) {
      issues.push({ path, message: err instanceof Error ? err.message : String(err), value: user.username });
    }
  },
);

const authSchema = refine(
  object({
    ...authSecurityKeys, // methods, passwordFile, cache, rate limits, client-id binding (security.ts)
    /** 5.0 enhanced authentication with SCRAM-SHA-256 (docs/auth.md); empty = not offered. */
    scram: refine(array(scramUserSchema, []), (users, path, issues) => {
      const seen = new Map<string, number>();
      users.forEach((u, i) => {
        const name = saslPrep(u.username) ?? u.username; // "al\u00ADice" is "alice"
        const first = seen.get(name);
        if (first === undefined) seen.set(name, i);
        else
          issues.push({ path: `${path}[${i}].username`, message: `same user as ${path}[${first}]`, value: u.username });
      });
    }),
  }),
  checkAuthSection,
);

const storageShape = {
  type: oneOf(STORAGE_TYPES, "lmdb"),
  /** Relative paths resolve against the working directory. */
  dataDir: str({ default: "./data" }),
  durability: oneOf(DURABILITY_MODES, "sync"),
  batchIntervalMs: int({ min: 1, max: 60_000, default: 10 }),
  /**
   * The unix socket `wharf queues` talks to (queue-control.ts): `auto` = `<dataDir>/control.sock` with LMDB and none
   * with memory storage (no directory of its own); `off`; or a path (also with memory storage).
   */
  controlSocket: str({ default: "auto" }),
};
const storageSchema = object(storageShape);

const logShape = {
  level: oneOf(LOG_LEVELS, "info"),
  format: oneOf(LOG_FORMATS, "auto"),
};
const logSchema = object(logShape);

export const wharfConfigSchema = object({
  listeners: listenersSchema,
  mqtt: mqttSchema,
  sys: object({
    /** Seconds between $SYS publications; 0 disables them. */
    interval: int({ min: 0, max: 86_400, default: d.sysInterval }),
  }),
  acl: aclSchema, // {default, mode, rules} or just the rules (security.ts)
  auth: authSchema,
  storage: storageSchema,
  log: logSchema,
  /** Durable queues: per-name/pattern settings (docs/queues.md). */
  queues: queuesSchema,
  overload: overloadSchema,
  /** The management HTTP server: health, metrics, admin API, dashboard (docs/operations.md). */
  management: managementSchema,
  webhooks: webhooksSchema,
  /** OpenTelemetry tracing (docs/operations.md "Tracing"). */
  tracing: tracingSchema,
  /** Clustering on etcd (docs/cluster.md); off by default. */
  cluster: clusterSchema,
});

/**
 * The same schema for a broker embedded in a program (createBroker, src/server/create-broker.ts): the same keys,
 * types, checks and error paths; only three defaults differ, because a library should not open a port, write a
 * ./data directory or log at info unless asked: no listeners (purely in-process; an empty list is allowed),
 * memory storage, log level warn.
 */
export const embeddedConfigSchema = object({
  ...wharfConfigSchema.shape,
  listeners: listenersOf([], 0),
  storage: object({ ...storageShape, type: oneOf(STORAGE_TYPES, "memory") }),
  log: object({ ...logShape, level: oneOf(LOG_LEVELS, "warn") }),
});

export type WharfConfig = Infer<typeof wharfConfigSchema>;
export type AclRuleConfig = AclConfig["rules"][number];
export type StorageConfig = Infer<typeof storageSchema>;
export type AuthConfig = Infer<typeof authSchema>;
export type LogConfig = Infer<typeof logSchema>;
export type LogLevel = LogConfig["level"];
export type LogFormat = LogConfig["format"];

/** A fresh copy of the all-defaults config. */
export function defaultConfig(): WharfConfig {
  return structuredClone(wharfConfigSchema.defaultValue);
}
