// Queue settings: the `queues:` list of the YAML config, each entry matching a queue name exactly or with MQTT
// wildcards (`orders/+`, `#`), over built-in defaults. Validation is pure (no YAML, no server): it reports every
// problem with the dotted path of the key and the value found, like the rest of the config.
import { isValidTopicFilter, topicMatches } from "../topics/index.ts";
import { MAX_REMAINING_LENGTH, MAX_UINT16 } from "../util/index.ts";
import { parseDuration } from "./duration.ts";

export const QueueType = { Classic: "classic", Stream: "stream" } as const;
export type QueueTypeValue = (typeof QueueType)[keyof typeof QueueType];

export const Ordering = { None: "none", Partition: "partition", Strict: "strict" } as const;
export type OrderingValue = (typeof Ordering)[keyof typeof Ordering];

export interface RetrySettings {
  /** Retries after the first delivery; past it the message goes to the DLQ. */
  maxRetries: number;
  /** ms */
  initialBackoff: number;
  /** ms */
  maxBackoff: number;
  multiplier: number;
  /** ms since the message was enqueued after which it is not retried again (0 = no limit). */
  totalTimeout: number;
}

export interface DlqSettings {
  enabled: boolean;
  /** Topic of the dead-letter queue; `$queue/dlq/<name>` when unset. */
  topic: string | undefined;
}

export interface LimitSettings {
  /** Messages in the queue (0 = unlimited). */
  maxDepth: number;
  /** Payload bytes in the queue (0 = unlimited). */
  maxBytes: number;
  /** Largest payload accepted (0 = only the broker's packet size limit). */
  maxMessageSize: number;
  /** ms a message may wait before it expires (0 = never; a publisher's Message Expiry Interval also applies). */
  messageTtl: number;
  /** Expired messages are dropped instead of moved to the DLQ with reason `expired`. */
  dropExpired: boolean;
}

export interface RetentionSettings {
  /** Stream: ms a message is kept after it was appended (0 = no limit). */
  maxAge: number;
  /** Stream: payload bytes kept (0 = no limit); the oldest messages go first. */
  maxBytes: number;
  /** Stream: messages kept (0 = no limit). */
  maxCount: number;
}

export interface QueueSettings {
  type: QueueTypeValue;
  partitions: number;
  ordering: OrderingValue;
  /** ms a delivery may stay unsettled before it counts as a nack (visibility timeout). */
  deliveryTimeout: number;
  /** Default per-consumer limit of unsettled deliveries. */
  prefetch: number;
  retry: RetrySettings;
  dlq: DlqSettings;
  limits: LimitSettings;
  retention: RetentionSettings;
}

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? Partial<T[K]> : T[K] };

/** One `queues:` entry: a name or pattern and the settings it overrides. */
export type QueueConfigEntry = DeepPartial<QueueSettings> & { name: string };

export const DEFAULT_QUEUE_SETTINGS: QueueSettings = {
  type: QueueType.Classic,
  partitions: 1,
  ordering: Ordering.None,
  deliveryTimeout: 30_000,
  prefetch: 16,
  retry: { maxRetries: 5, initialBackoff: 1000, maxBackoff: 60_000, multiplier: 2, totalTimeout: 0 },
  dlq: { enabled: true, topic: undefined },
  // Bounded by default: a queue is filled by clients, and its messages live in the broker's memory.
  limits: { maxDepth: 1_000_000, maxBytes: 256 * 1024 * 1024, maxMessageSize: 0, messageTtl: 0, dropExpired: false },
  retention: { maxAge: 7 * 86_400_000, maxBytes: 0, maxCount: 0 },
};

export const QUEUE_PREFIX = "$queue/";
export const DLQ_PREFIX = "dlq/";

/** Settings for the queue `name`: the exact entry if any, else the first pattern that matches, over the defaults. */
export function resolveQueueSettings(entries: readonly QueueConfigEntry[], name: string): QueueSettings {
  const entry = entries.find((e) => e.name === name) ?? entries.find((e) => topicMatches(e.name, name));
  const d = DEFAULT_QUEUE_SETTINGS;
  const s: QueueSettings =
    entry === undefined
      ? structuredClone(d)
      : {
          type: entry.type ?? d.type,
          partitions: entry.partitions ?? d.partitions,
          ordering: entry.ordering ?? d.ordering,
          deliveryTimeout: entry.deliveryTimeout ?? d.deliveryTimeout,
          prefetch: entry.prefetch ?? d.prefetch,
          retry: { ...d.retry, ...entry.retry },
          dlq: { ...d.dlq, ...entry.dlq },
          limits: { ...d.limits, ...entry.limits },
          retention: { ...d.retention, ...entry.retention },
        };
  if (s.ordering === Ordering.Strict) s.partitions = 1; // one partition, one message in flight per group
  if (name.startsWith(DLQ_PREFIX) && entry?.name !== name) {
    // A dead-letter queue has no dead-letter queue of its own unless configured by its exact name: a message
    // that fails there is retried (it is never dropped silently).
    s.dlq = { enabled: false, topic: undefined };
    s.retry = { ...s.retry, maxRetries: Number.MAX_SAFE_INTEGER, totalTimeout: 0 };
  }
  return s;
}

/** The queue name of the DLQ of `name` under `s` (a `$queue/…` topic in `dlq.topic`, or `dlq/<name>`). */
export function dlqNameOf(name: string, s: QueueSettings): string {
  const t = s.dlq.topic;
  if (t === undefined) return DLQ_PREFIX + name;
  return t.startsWith(QUEUE_PREFIX) ? t.slice(QUEUE_PREFIX.length) : t;
}

// ---- validation ----------------------------------------------------------------------------------------------

export interface QueueConfigIssue {
  path: string;
  message: string;
  value: unknown;
}

type Issues = QueueConfigIssue[];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function bad(issues: Issues, path: string, expected: string, value: unknown): undefined {
  const shown = typeof value === "string" ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  issues.push({ path, message: `expected ${expected}, got ${shown}`, value });
  return undefined;
}

function intAt(o: Record<string, unknown>, key: string, path: string, min: number, max: number, issues: Issues) {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= min && v <= max) return v;
  return bad(issues, `${path}.${key}`, `an integer ${min}..${max}`, v);
}

function durationAt(o: Record<string, unknown>, key: string, path: string, issues: Issues) {
  const v = o[key];
  if (v === undefined) return undefined;
  const ms = parseDuration(v);
  if (ms !== undefined) return ms;
  return bad(issues, `${path}.${key}`, "a duration such as 250ms, 5s, 5m, 168h or 7d", v);
}

function boolAt(o: Record<string, unknown>, key: string, path: string, issues: Issues) {
  const v = o[key];
  if (v === undefined || typeof v === "boolean") return v;
  return bad(issues, `${path}.${key}`, "a boolean (true or false)", v);
}

function oneOf<T extends string>(o: Record<string, unknown>, key: string, path: string, values: T[], issues: Issues) {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v === "string" && (values as string[]).includes(v)) return v as T;
  return bad(issues, `${path}.${key}`, `one of ${values.join(", ")}`, v);
}

function unknownKeys(o: Record<string, unknown>, known: readonly string[], path: string, issues: Issues): void {
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) issues.push({ path: `${path}.${k}`, message: "unknown key", value: o[k] });
  }
}

function section(o: Record<string, unknown>, key: string, path: string, issues: Issues) {
  const v = o[key];
  if (v === undefined) return undefined;
  if (isObject(v)) return v;
  return bad(issues, `${path}.${key}`, "a mapping", v);
}

/** Drops keys whose value is undefined (so a partial entry only overrides what it sets). */
function defined<T extends object>(o: T): Partial<T> | undefined {
  const out = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
  return Object.keys(out).length === 0 ? undefined : out;
}

const MAX_INT = Number.MAX_SAFE_INTEGER;

function entryAt(raw: unknown, path: string, issues: Issues): QueueConfigEntry | undefined {
  if (!isObject(raw)) return bad(issues, path, "a mapping with at least `name`", raw);
  unknownKeys(
    raw,
    ["name", "type", "partitions", "ordering", "deliveryTimeout", "prefetch", "retry", "dlq", "limits", "retention"],
    path,
    issues,
  );
  const name = raw.name;
  if (typeof name !== "string" || name.length === 0 || !isValidTopicFilter(name)) {
    return bad(issues, `${path}.name`, "a queue name or pattern (MQTT topic filter, + and # allowed)", name);
  }
  const entry: QueueConfigEntry = {
    name,
    type: oneOf(raw, "type", path, ["classic", "stream"], issues),
    partitions: intAt(raw, "partitions", path, 1, 1024, issues),
    ordering: oneOf(raw, "ordering", path, ["none", "partition", "strict"], issues),
    deliveryTimeout: durationAt(raw, "deliveryTimeout", path, issues),
    prefetch: intAt(raw, "prefetch", path, 1, MAX_UINT16, issues),
  };
  if (entry.deliveryTimeout === 0) {
    issues.push({ path: `${path}.deliveryTimeout`, message: "must be greater than 0", value: raw.deliveryTimeout });
  }
  const retry = section(raw, "retry", path, issues);
  if (retry !== undefined) {
    const p = `${path}.retry`;
    unknownKeys(retry, ["maxRetries", "initialBackoff", "maxBackoff", "multiplier", "totalTimeout"], p, issues);
    let multiplier: number | undefined;
    if (retry.multiplier !== undefined) {
      const m = retry.multiplier;
      if (typeof m === "number" && Number.isFinite(m) && m >= 1 && m <= 100) multiplier = m;
      else bad(issues, `${p}.multiplier`, "a number 1..100", m);
    }
    entry.retry = defined({
      maxRetries: intAt(retry, "maxRetries", p, 0, 1_000_000, issues),
      initialBackoff: durationAt(retry, "initialBackoff", p, issues),
      maxBackoff: durationAt(retry, "maxBackoff", p, issues),
      multiplier,
      totalTimeout: durationAt(retry, "totalTimeout", p, issues),
    });
  }
  const dlq = section(raw, "dlq", path, issues);
  if (dlq !== undefined) {
    const p = `${path}.dlq`;
    unknownKeys(dlq, ["enabled", "topic"], p, issues);
    let topic: string | undefined;
    if (dlq.topic !== undefined) {
      const t = dlq.topic;
      if (
        typeof t === "string" &&
        t.startsWith(QUEUE_PREFIX) &&
        t.length > QUEUE_PREFIX.length &&
        isValidTopicFilter(t) &&
        !/[+#]/.test(t)
      ) {
        topic = t;
      } else bad(issues, `${p}.topic`, "a queue topic `$queue/<name>` without wildcards", t);
    }
    entry.dlq = defined({ enabled: boolAt(dlq, "enabled", p, issues), topic });
  }
  const limits = section(raw, "limits", path, issues);
  if (limits !== undefined) {
    const p = `${path}.limits`;
    unknownKeys(limits, ["maxDepth", "maxBytes", "maxMessageSize", "messageTtl", "dropExpired"], p, issues);
    entry.limits = defined({
      maxDepth: intAt(limits, "maxDepth", p, 0, MAX_INT, issues),
      maxBytes: intAt(limits, "maxBytes", p, 0, MAX_INT, issues),
      maxMessageSize: intAt(limits, "maxMessageSize", p, 0, MAX_REMAINING_LENGTH, issues),
      messageTtl: durationAt(limits, "messageTtl", p, issues),
      dropExpired: boolAt(limits, "dropExpired", p, issues),
    });
  }
  const retention = section(raw, "retention", path, issues);
  if (retention !== undefined) {
    const p = `${path}.retention`;
    unknownKeys(retention, ["maxAge", "maxBytes", "maxCount"], p, issues);
    entry.retention = defined({
      maxAge: durationAt(retention, "maxAge", p, issues),
      maxBytes: intAt(retention, "maxBytes", p, 0, MAX_INT, issues),
      maxCount: intAt(retention, "maxCount", p, 0, MAX_INT, issues),
    });
  }
  const r = { ...DEFAULT_QUEUE_SETTINGS.retry, ...entry.retry };
  if (r.maxBackoff < r.initialBackoff) {
    issues.push({
      path: `${path}.retry.maxBackoff`,
      message: `must be >= retry.initialBackoff (${r.initialBackoff} ms)`,
      value: retry?.maxBackoff,
    });
  }
  return defined(entry) as QueueConfigEntry;
}

/** Validates the `queues:` list; every problem is reported, bad entries are left out. */
export function parseQueueEntries(input: unknown, path = "queues"): { entries: QueueConfigEntry[]; issues: Issues } {
  const issues: Issues = [];
  if (input === undefined || input === null) return { entries: [], issues };
  if (!Array.isArray(input)) {
    bad(issues, path, "a list of queue entries", input);
    return { entries: [], issues };
  }
  const entries: QueueConfigEntry[] = [];
  const seen = new Set<string>();
  input.forEach((raw, i) => {
    const before = issues.length;
    const e = entryAt(raw, `${path}[${i}]`, issues);
    if (e === undefined || issues.length > before) return;
    if (seen.has(e.name)) {
      issues.push({ path: `${path}[${i}].name`, message: "duplicate queue name", value: e.name });
      return;
    }
    seen.add(e.name);
    entries.push(e);
  });
  return { entries, issues };
}
