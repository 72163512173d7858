// Config sections of the operations layer (src/admin): `management` (the HTTP server for health,
// metrics, the admin API and the dashboard) and `webhooks`. Kept apart from
// wharf-config.ts, which imports them, so that several people can extend the schema at once.
import { WEBHOOK_EVENTS } from "../../admin/webhooks/events.ts";
import { validateTopicFilter } from "../../topics/index.ts";
import { anyStr, array, bool, formatValue, int, object, oneOf, refine, required, str } from "./schema.ts";
import type { Infer, Schema } from "./schema.ts";

const U16 = 65_535;

/** A token is stored only as its SHA-256 digest: `sha256:` + 64 hex digits (`wharf token` prints one). */
export const TOKEN_HASH_RE = /^sha256:[0-9a-f]{64}$/;

const tokenSchema = object({
  /** Who holds the token: logged with every admin call it authorizes, never the token itself. */
  name: required(str({ default: "" })),
  hash: required(
    str({
      default: "",
      check: (s) => (TOKEN_HASH_RE.test(s) ? undefined : "sha256:<64 lowercase hex digits> (see `wharf token`)"),
    }),
  ),
});

const tlsSchema = object({
  enabled: bool(false),
  /** PEM files; read at start and again on reload (certificate rotation). */
  certFile: anyStr(""),
  keyFile: anyStr(""),
  /** CA bundle to verify client certificates against; "" = no client certificates asked for. */
  caFile: anyStr(""),
  /** With caFile: refuse clients without a valid certificate (mTLS). */
  requireClientCert: bool(false),
});

export const managementSchema = refine(
  object({
    enabled: bool(true),
    host: str({ default: "127.0.0.1" }),
    port: int({ min: 0, max: U16, default: 8080 }),
    tls: tlsSchema,
    tokens: refine(array(tokenSchema, []), (tokens, path, issues) => {
      const seen = new Map<string, number>();
      tokens.forEach((t, i) => {
        const first = seen.get(t.name);
        if (first === undefined) seen.set(t.name, i);
        else issues.push({ path: `${path}[${i}].name`, message: `same name as ${path}[${first}]`, value: t.name });
      });
    }),
    /** Serve the web dashboard at `/`. */
    dashboard: bool(true),
    /** Export messages in/out by QoS (read from broker counters at scrape time; false: totals only). */
    metricsByQos: bool(true),
    /** The publish-to-delivery latency histogram (false: not measured, nothing per message). */
    latencyMetrics: bool(true),
    /** Every Nth routed message is timed (1 = every message); each of its first deliveries is one observation. */
    latencySampleEvery: int({ min: 1, max: 1_000_000, default: 64 }),
  }),
  (m, path, issues) => {
    if (m.tls.enabled && (m.tls.certFile === "" || m.tls.keyFile === "")) {
      issues.push({ path: `${path}.tls`, message: "tls.enabled needs certFile and keyFile", value: m.tls });
    }
  },
);

function filterProblem(filter: string): string | undefined {
  try {
    validateTopicFilter(filter);
    return undefined;
  } catch (err) {
    return `a valid topic filter (${err instanceof Error ? err.message : String(err)})`;
  }
}

function urlProblem(s: string): string | undefined {
  try {
    const u = new URL(s);
    return u.protocol === "http:" || u.protocol === "https:" ? undefined : "an http:// or https:// URL";
  } catch {
    return "an http:// or https:// URL";
  }
}

const webhookSchema = object({
  name: required(str({ default: "" })),
  url: required(str({ default: "", check: urlProblem })),
  /** Event types sent to this endpoint; empty = all. */
  events: array(oneOf(WEBHOOK_EVENTS, "client.connected"), []),
  /** Message events (published, delivered, acknowledged, dropped) only for topics matching one of these. */
  topics: array(str({ default: "#", check: filterProblem }), ["#"]),
  /** HMAC-SHA256 key for the `X-Wharf-Signature` header; "" = unsigned. */
  secret: anyStr(""),
  /** Events per POST (a JSON array). */
  batchSize: int({ min: 1, max: 10_000, default: 100 }),
  /** How long an event may wait for its batch to fill before it is sent anyway. */
  batchDelayMs: int({ min: 0, max: 60_000, default: 200 }),
  timeoutMs: int({ min: 100, max: 120_000, default: 5_000 }),
  /** Retries of one batch after its first attempt (then the batch is dropped and counted). */
  maxRetries: int({ min: 0, max: 100, default: 5 }),
  /** First retry delay; doubles on each retry up to backoffMaxMs, with ±20 % jitter. */
  backoffMs: int({ min: 1, max: 600_000, default: 500 }),
  backoffMaxMs: int({ min: 1, max: 3_600_000, default: 30_000 }),
  /** Events held while the endpoint is slow or down; beyond it new events are dropped and counted. */
  bufferSize: int({ min: 1, max: 1_000_000, default: 10_000 }),
  /** Consecutive failed attempts that open the circuit breaker. */
  breakerThreshold: int({ min: 1, max: 1_000, default: 5 }),
  /** How long the breaker stays open before one trial request (half-open). */
  breakerResetMs: int({ min: 100, max: 3_600_000, default: 30_000 }),
});

export const webhooksSchema = refine(array(webhookSchema, []), (hooks, path, issues) => {
  const seen = new Map<string, number>();
  hooks.forEach((h, i) => {
    const first = seen.get(h.name);
    if (first === undefined) seen.set(h.name, i);
    else issues.push({ path: `${path}[${i}].name`, message: `same name as ${path}[${first}]`, value: h.name });
  });
});

/** A number in [0, 1] (a sampling ratio). */
function ratio(defaultValue: number): Schema<number> {
  const describe = "a number 0..1";
  return {
    describe,
    defaultValue,
    parse(input, path, issues) {
      if (input === undefined) return defaultValue;
      if (typeof input === "number" && Number.isFinite(input) && input >= 0 && input <= 1) return input;
      issues.push({ path, message: `expected ${describe}, got ${formatValue(input)}`, value: input });
      return defaultValue;
    },
  };
}

export const TRACING_EXPORTERS = ["otlp", "console"] as const;
export const TRACING_PROTOCOLS = ["http/protobuf", "http/json"] as const;

/** OpenTelemetry tracing (src/admin/tracing.ts, docs/operations.md "Tracing"). */
export const tracingSchema = object({
  enabled: bool(false),
  /**
   * Share of the traces that start at the broker which are recorded (TraceIdRatioBased). A PUBLISH or CONNECT that
   * carries a `traceparent` user property follows its sampled flag instead (ParentBased).
   */
  sampleRatio: ratio(0.01),
  /** otlp: OTLP/HTTP JSON POSTs to `endpoint`; console: one line per span on stdout (debugging). */
  exporter: oneOf(TRACING_EXPORTERS, "otlp"),
  endpoint: str({ default: "http://127.0.0.1:4318/v1/traces", check: urlProblem }),
  /**
   * otlp's body encoding (OTEL_EXPORTER_OTLP_PROTOCOL's values): http/protobuf (the OTLP default; ~40 % of the bytes
   * and less than half the broker's CPU per span of http/json), or http/json.
   */
  protocol: oneOf(TRACING_PROTOCOLS, "http/protobuf"),
  /** The `service.name` resource attribute. */
  serviceName: str({ default: "wharf" }),
});

export type ManagementConfig = Infer<typeof managementSchema>;
export type TracingConfig = Infer<typeof tracingSchema>;
export type ManagementTokenConfig = ManagementConfig["tokens"][number];
export type WebhookConfig = Infer<typeof webhookSchema>;
