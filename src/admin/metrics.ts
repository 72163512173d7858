// Prometheus metrics (prom-client) on a registry of our own (never the global one: two brokers in one process
// must not share series). Broker-wide numbers are read from Broker.stats() at scrape time, so the hot path pays
// nothing for them; monotonic broker counters are mirrored into prom-client Counters by adding the difference
// since the previous scrape. Labels are bounded: transport kind, QoS, reason, webhook name (from the config),
// never a client id or a topic.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "./prom.ts";
import type { Broker, BrokerStats, DeliveryLatencySink } from "../broker/index.ts";
import { BROKER_VERSION, inspectBroker } from "../broker/index.ts";
import { onStorageCommit } from "../storage/index.ts";
import { connectionsByTransport } from "./broker-view.ts";
import { FastHistogram } from "./fast-histogram.ts";

export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** What the webhook engine reports (src/admin/webhooks). */
export interface WebhookMetrics {
  /** Events accepted into an endpoint's buffer. */
  queued(webhook: string, n: number): void;
  /** Events delivered (2xx). */
  delivered(webhook: string, n: number): void;
  /** Events given up on: "overflow" (buffer full), "retries_exhausted", "rejected" (4xx), "closed" (shutdown). */
  dropped(webhook: string, reason: WebhookDropReason, n: number): void;
  /** One HTTP attempt and how it ended. */
  request(webhook: string, result: "success" | "error" | "timeout" | "http_error"): void;
  breakerState(webhook: string, open: boolean): void;
}
export type WebhookDropReason = "overflow" | "retries_exhausted" | "rejected" | "closed";

/** What the broker's event seam feeds (src/admin/broker-events.ts). */
export interface EventMetrics {
  dropped(reason: string): void;
  /** A durable queue message moved to its dead-letter queue. */
  deadLettered(reason: string): void;
}

/**
 * Buckets, seconds. Publish to delivery: an in-memory hop takes tens of µs, a loaded broker ms, a QoS 1 message
 * held for an offline or slow subscriber seconds and more (+Inf). Storage commit: an LMDB transaction without
 * fsync takes ~50 µs, with fsync 1–10 ms on an SSD, 10–100 ms on a disk or a loaded VM.
 */
export const DELIVERY_LATENCY_BUCKETS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
export const COMMIT_LATENCY_BUCKETS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];

export interface BrokerMetrics {
  readonly registry: Registry;
  readonly webhooks: WebhookMetrics;
  readonly events: EventMetrics;
  /** wharf_publish_delivery_latency_seconds, for Broker.setDeliveryLatency (the server sets it while enabled). */
  readonly deliveryLatency: DeliveryLatencySink;
  /** The exposition text (refreshes the broker-derived series first). */
  scrape(): Promise<string>;
  /** Stops the default collectors' timers. */
  close(): void;
}

export interface MetricsOptions {
  /** Extra gauges to refresh at scrape time (e.g. readiness). */
  readonly storageStats?: () => { batches: number; ops: number; pending: number } | undefined;
  /** The server's listeners: `wharf_listener_connections{type,address}` (coap: observations). */
  readonly listeners?: () => readonly { type: string; address: string; connections: number }[];
  /** Export wharf_messages_*_by_qos_total (default true). */
  readonly messagesByQos?: boolean;
  /** The Storage object whose commits feed wharf_storage_commit_duration_seconds (storage commit events). */
  readonly storageSource?: object | undefined;
  /**
   * prom-client's default process metrics (CPU, heap, GC durations, event-loop lag; default true). They run
   * collectors all the time (a GC performance observer called after every collection, an event-loop delay
   * histogram): a server without a management endpoint, where nobody can scrape them, passes false.
   */
  readonly processMetrics?: boolean;
}

/** Builds the registry for `broker`. */
export function createBrokerMetrics(broker: Broker, opts: MetricsOptions = {}): BrokerMetrics {
  const registry = new Registry();
  const insp = inspectBroker(broker);
  if (opts.processMetrics !== false) collectDefaultMetrics(registry, 20);

  let snapshot: BrokerStats = broker.stats();
  const refresh = (): void => {
    snapshot = broker.stats();
    refreshQueues();
  };

  const gauge = (name: string, help: string, read: (s: BrokerStats) => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read(snapshot));
      },
    });
  };
  /** A Counter following a monotonic broker counter. */
  const mirror = (read: (s: BrokerStats) => number, labels?: Record<string, string>) => {
    let last = 0;
    return (c: Counter) => {
      const now = read(snapshot);
      // A labelled series exists only once touched: add 0 so that `reason="queue_full"` shows 0, not nothing.
      if (labels === undefined) c.inc(Math.max(0, now - last));
      else c.inc(labels, Math.max(0, now - last));
      last = Math.max(last, now);
    };
  };
  const counter = (name: string, help: string, read: (s: BrokerStats) => number): void => {
    const step = mirror(read);
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        step(this);
      },
    });
  };

  new Gauge({
    name: "wharf_build_info",
    help: "Wharf version (value 1)",
    labelNames: ["version"],
    registers: [registry],
  }).set({ version: BROKER_VERSION }, 1);
  gauge("wharf_uptime_seconds", "Seconds since the broker started", (s) => s.uptime);
  new Gauge({
    name: "wharf_connections",
    help: "Connected MQTT clients (CONNECT accepted) by transport",
    labelNames: ["transport"],
    registers: [registry],
    collect() {
      this.reset();
      this.set({ transport: "tcp" }, 0); // always one series, so dashboards show 0 rather than nothing
      for (const [kind, n] of connectionsByTransport(insp)) this.set({ transport: kind }, n);
    },
  });
  new Gauge({
    name: "wharf_sessions",
    help: "Sessions the broker holds, by state (offline = persistent session of a disconnected client)",
    labelNames: ["state"],
    registers: [registry],
    collect() {
      this.set({ state: "connected" }, snapshot.clientsConnected);
      this.set({ state: "offline" }, Math.max(0, snapshot.clientsTotal - snapshot.clientsConnected));
    },
  });
  gauge("wharf_sessions_connected_max", "Highest number of connected clients seen", (s) => s.clientsMaximum);
  gauge("wharf_subscriptions", "Subscriptions across all sessions (shared ones included)", (s) => s.subscriptions);
  gauge("wharf_retained_messages", "Retained messages stored", (s) => s.retained);
  gauge("wharf_queued_messages", "Deliveries waiting in session queues", (s) => s.queued);
  gauge("wharf_inflight_messages", "QoS 1/2 deliveries sent and not yet acknowledged", (s) => s.inflight);
  counter("wharf_messages_received_total", "PUBLISH packets received from clients", (s) => s.messagesReceived);
  counter("wharf_messages_sent_total", "PUBLISH packets sent to clients (resends included)", (s) => s.messagesSent);
  counter("wharf_received_bytes_total", "Bytes received from MQTT clients", (s) => s.bytesReceived);
  counter("wharf_sent_bytes_total", "Bytes sent to MQTT clients", (s) => s.bytesSent);
  counter("wharf_messages_expired_total", "Messages discarded because their 5.0 expiry passed", (s) => s.expired);
  if (opts.storageStats !== undefined) {
    const read = opts.storageStats;
    let lastBatches = 0;
    let lastOps = 0;
    new Counter({
      name: "wharf_storage_commits_total",
      help: "Storage backend write transactions completed",
      registers: [registry],
      collect() {
        const s = read();
        if (s !== undefined && s.batches > lastBatches) this.inc(s.batches - lastBatches);
        if (s !== undefined) lastBatches = Math.max(lastBatches, s.batches);
      },
    });
    new Counter({
      name: "wharf_storage_ops_total",
      help: "Storage puts and deletes written",
      registers: [registry],
      collect() {
        const s = read();
        if (s !== undefined && s.ops > lastOps) this.inc(s.ops - lastOps);
        if (s !== undefined) lastOps = Math.max(lastOps, s.ops);
      },
    });
    new Gauge({
      name: "wharf_storage_pending_ops",
      help: "Storage operations waiting for the next commit",
      registers: [registry],
      collect() {
        this.set(read()?.pending ?? 0);
      },
    });
  }

  if (opts.listeners !== undefined) {
    const read = opts.listeners;
    new Gauge({
      name: "wharf_listener_connections",
      help: "Open connections per listener (coap: observations), by type and address",
      labelNames: ["type", "address"],
      registers: [registry],
      collect() {
        this.reset();
        for (const l of read()) this.set({ type: l.type, address: l.address }, l.connections);
      },
    });
  }

  let offStorage: (() => void) | undefined;
  if (opts.storageSource !== undefined) {
    const source = opts.storageSource;
    const commitLatency = new Histogram({
      name: "wharf_storage_commit_duration_seconds",
      help: "Storage write transactions (group commits): time from handing the batch to the backend to its completion",
      buckets: COMMIT_LATENCY_BUCKETS,
      registers: [registry],
    });
    offStorage = onStorageCommit((e) => {
      if (e.source === source) commitLatency.observe(e.seconds);
    });
  }

  // Durable queues, summed (queue names come from clients: no per-queue label; `wharf queues ls` and the API have
  // the per-queue numbers). One pass over the queues per scrape.
  let queueSums = { queues: 0, depth: 0, inflight: 0, dlq: 0 };
  const refreshQueues = (): void => {
    const sums = { queues: 0, depth: 0, inflight: 0, dlq: 0 };
    for (const q of broker.queues.list()) {
      sums.queues++;
      sums.depth += q.depth;
      sums.inflight += q.inflight;
      sums.dlq += q.dlqDepth;
    }
    queueSums = sums;
  };
  const queueGauge = (name: string, help: string, key: keyof typeof queueSums): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(queueSums[key]);
      },
    });
  };
  queueGauge("wharf_durable_queues", "Durable queues held (dead-letter queues included)", "queues");
  queueGauge("wharf_durable_queue_messages", "Messages held in durable queues (dead letters included)", "depth");
  queueGauge(
    "wharf_durable_queue_inflight_messages",
    "Durable queue messages delivered and not yet settled",
    "inflight",
  );
  queueGauge("wharf_durable_queue_dead_letters", "Messages in the dead-letter queues of durable queues", "dlq");
  const deadLettered = new Counter({
    name: "wharf_durable_queue_dead_lettered_total",
    help: "Durable queue messages moved to a dead-letter queue, by reason (max-retries, total-timeout, rejected, expired)",
    labelNames: ["reason"],
    registers: [registry],
  });
  for (const reason of ["max-retries", "total-timeout", "rejected", "expired"]) deadLettered.inc({ reason }, 0);

  const whEvents = new Counter({
    name: "wharf_webhook_events_total",
    help: "Webhook events by endpoint and outcome (queued, delivered, dropped_*)",
    labelNames: ["webhook", "outcome"],
    registers: [registry],
  });
  const whRequests = new Counter({
    name: "wharf_webhook_requests_total",
    help: "Webhook HTTP attempts by endpoint and result",
    labelNames: ["webhook", "result"],
    registers: [registry],
  });
  const whBreaker = new Gauge({
    name: "wharf_webhook_breaker_open",
    help: "1 while the endpoint's circuit breaker is open",
    labelNames: ["webhook"],
    registers: [registry],
  });
  const webhooks: WebhookMetrics = {
    queued: (webhook, n) => whEvents.inc({ webhook, outcome: "queued" }, n),
    delivered: (webhook, n) => whEvents.inc({ webhook, outcome: "delivered" }, n),
    dropped: (webhook, reason, n) => whEvents.inc({ webhook, outcome: `dropped_${reason}` }, n),
    request: (webhook, result) => whRequests.inc({ webhook, result }),
    breakerState: (webhook, open) => whBreaker.set({ webhook }, open ? 1 : 0),
  };

  // Per-connection counts come from the broker's counters at scrape time (collect), like the messages by QoS: the
  // broker bumps a number per connect (no event object, no channel publish; a connection storm, issue #10), and
  // prom-client's label hashing runs per scrape, not per connection (~1.3 % of broker CPU at ~8k connects/s).
  const counters = insp.counters;
  /** Adds to `counter` what each key of `now` gained since the last scrape. */
  const collectDeltas = <K>(
    counter: Counter,
    now: Iterable<[K, number]>,
    last: Map<K, number>,
    label: (k: K) => object,
  ) => {
    for (const [k, n] of now) {
      const d = n - (last.get(k) ?? 0);
      if (d > 0) counter.inc(label(k), d);
      last.set(k, n);
    }
  };
  const lastConnects = new Map(counters.connectsByTransport); // counted from now on, as a subscription was
  const connects = new Counter({
    name: "wharf_connections_total",
    help: "Connections accepted (CONNACK 0x00 sent), by transport",
    labelNames: ["transport"],
    registers: [registry],
    collect() {
      collectDeltas(this, counters.connectsByTransport, lastConnects, (transport) => ({ transport }));
    },
  });
  connects.inc({ transport: "tcp" }, 0);
  const lastDisconnects = new Map(Object.entries(counters.disconnectsByInitiator));
  const disconnects = new Counter({
    name: "wharf_disconnections_total",
    help: "Accepted connections that ended, by initiator (client, server, lost)",
    labelNames: ["initiator"],
    registers: [registry],
    collect() {
      collectDeltas(this, Object.entries(counters.disconnectsByInitiator), lastDisconnects, (initiator) => ({
        initiator,
      }));
    },
  });
  for (const initiator of ["client", "server", "lost"]) disconnects.inc({ initiator }, 0);
  const lastAuthFailures = new Map(counters.authFailuresByReason);
  new Counter({
    name: "wharf_auth_failures_total",
    help: "CONNECTs refused by authentication, by CONNACK reason code (5.0 numbering, hex)",
    labelNames: ["reason_code"],
    registers: [registry],
    collect() {
      collectDeltas(this, counters.authFailuresByReason, lastAuthFailures, (code) => ({
        reason_code: `0x${code.toString(16).padStart(2, "0")}`,
      }));
    },
  });
  // Drops are counted here per reason in a Map and handed to the counter when it is scraped: a drop event comes per
  // dropped delivery, 460k a second for a stuck subscriber beside 9 healthy ones (the slow-consumer bench), and
  // prom-client's inc({ reason }) hashes the labels on every call.
  const droppedSince = new Map<string, number>();
  const dropped = new Counter({
    name: "wharf_messages_dropped_total",
    help: "Messages or deliveries not delivered, by reason (queue-full, queue-rejected, expired, too-large, offline, session-ended, not-authorized, payload-format-invalid)",
    labelNames: ["reason"],
    registers: [registry],
    collect() {
      for (const [reason, n] of droppedSince) this.inc({ reason }, n);
      droppedSince.clear();
    },
  });
  for (const reason of ["queue-full", "queue-rejected", "expired"]) dropped.inc({ reason }, 0);
  if (opts.messagesByQos !== false) {
    // From the broker's counters (an array index bump per message): nothing per message here.
    const byQos = (name: string, help: string, read: () => readonly number[]) => {
      const last = [0, 0, 0];
      new Counter({
        name,
        help,
        labelNames: ["qos"],
        registers: [registry],
        collect() {
          const now = read();
          for (let q = 0; q < 3; q++) {
            this.inc({ qos: String(q) }, Math.max(0, now[q]! - last[q]!));
            last[q] = Math.max(last[q]!, now[q]!);
          }
        },
      });
    };
    byQos(
      "wharf_messages_received_by_qos_total",
      "Messages entering routing (clients, wills, in-process and $SYS publishes), by QoS",
      () => insp.counters.routedByQos,
    );
    byQos(
      "wharf_messages_sent_by_qos_total",
      "PUBLISH packets written to clients (resends included), by QoS",
      () => insp.counters.sentByQos,
    );
  }
  // Observed on the hot path (every Nth message, each first delivery, by the broker itself: no event per
  // observation): a FastHistogram, not prom-client's. Its series index is the delivered QoS.
  const deliveryLatency = new FastHistogram({
    name: "wharf_publish_delivery_latency_seconds",
    help: "From a message entering routing to its first delivery written to a subscriber, by delivered QoS; every Nth message is timed (management.latencySampleEvery; resends and retained messages sent on subscribe excluded)",
    label: "qos",
    series: ["0", "1", "2"], // series exist (count 0) before any traffic
    buckets: DELIVERY_LATENCY_BUCKETS,
    registry,
  });
  const events: EventMetrics = {
    dropped: (reason) => droppedSince.set(reason, (droppedSince.get(reason) ?? 0) + 1),
    // `rejected: <reason>` carries the consumer's text: only the kind before the colon is a label (bounded).
    deadLettered: (reason) => deadLettered.inc({ reason: reason.split(":")[0]! }),
  };

  return {
    registry,
    webhooks,
    events,
    deliveryLatency,
    async scrape() {
      refresh();
      return registry.metrics();
    },
    close() {
      offStorage?.();
      registry.clear();
    },
  };
}
