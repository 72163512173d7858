// Composition root: turns a validated WharfConfig into a running broker with its listeners, and
// knows how to take it all down cleanly. The only place that wires transports to the core.
import { readFileSync } from "node:fs";
import type { SpanExporter } from "@opentelemetry/sdk-trace-base";
// The admin layer's modules one by one, not its index: tracing (the OpenTelemetry API) is loaded only when enabled.
import type {
  BrokerMetrics,
  BrokerTracing,
  Management,
  ManagementTls,
  ReadinessCheck,
  ReloadOutcome,
} from "../admin/index.ts";
import { BrokerEventBridge } from "../admin/broker-events.ts";
import { startManagement } from "../admin/management.ts";
import { createBrokerMetrics } from "../admin/metrics.ts";
import { WebhookDispatcher } from "../admin/webhooks/index.ts";
import { httpWorker } from "../admin/http-worker.ts";
import { Broker } from "../broker/index.ts";
import type { BrokerOptions } from "../broker/options.ts";
import type { RoutingParts, SessionParts } from "../broker/index.ts";
import type { ListenerAddress } from "./listener-address.ts";
import { startListeners, type StartedListener } from "./listeners.ts";
import { systemClock, type Clock } from "../util/clock.ts";
import type { Logger } from "../util/logger.ts";
import { openStorage } from "../storage/index.ts";
import type { Storage, StorageError, StorageOptions } from "../storage/index.ts";
import type { DeepPartial, ManagementConfig, StorageConfig, WharfConfig } from "./config/index.ts";
import { createLogger } from "./logger.ts";
import { ConfigReloader, maskSecrets } from "./reload.ts";
import { buildServerAuth, type ServerAuth } from "./auth/index.ts";
import { join } from "node:path";
import { CONTROL_SOCKET, controlSocketPath, startQueueControl } from "./queue-control.ts";
import type { QueueControl } from "./queue-control.ts";
import type { ClusterNode, ClusterRouter, ClusterSessionRegistry } from "../cluster/index.ts";
import { clusterRoutes } from "./cluster-admin.ts";
import { registerClusterMetrics } from "./cluster-metrics.ts";

export * from "./config/index.ts";
export { createLogger } from "./logger.ts";
export { TlsConfigError } from "../transport/tls/context.ts";
export type { ListenerAddress } from "./listener-address.ts";
export type { StartedListener } from "./listeners.ts";

export interface WharfServer {
  readonly broker: Broker;
  readonly listeners: readonly StartedListener[];
  readonly config: WharfConfig;
  /** Where the broker's state is persisted (storage.type). */
  readonly storage: Storage;
  /** The management HTTP server (health, metrics, admin API, dashboard); undefined when disabled. */
  readonly management: Management | undefined;
  /** This node of the cluster (`cluster.enabled`); undefined when not clustered. */
  readonly cluster: ClusterNode | undefined;
  readonly metrics: BrokerMetrics;
  readonly webhooks: WebhookDispatcher;
  /** Re-reads the config file (SIGHUP, POST /api/v1/config/reload); an invalid file changes nothing. */
  reload(): Promise<ReloadOutcome>;
  /**
   * Re-reads the certificate files of every TLS-based listener (SIGHUP). New handshakes use them; open connections
   * are untouched. A listener whose files are unusable keeps its current ones; the errors are returned.
   */
  reloadCertificates(): Error[];
  /** Stop accepting, close every client cleanly, flush state. Idempotent. */
  close(): Promise<void>;
}

export interface ServerDeps {
  logger?: Logger;
  clock?: Clock;
  /** An open store to use instead of opening `config.storage` (embedding, tests); closed with the server. */
  storage?: Storage;
  /**
   * Called once the server stopped itself because its store failed (a commit failed: disk full, I/O error).
   * Nothing can be acknowledged any more (docs/storage.md "Failures"); `wharf start` exits 1.
   */
  onStorageFailure?: (error: StorageError) => void;
  /** The file `config` came from, re-read on reload (none: reload is refused). */
  configFile?: string;
  /** Overrides (CLI flags) laid over the file again on reload. */
  overrides?: DeepPartial<WharfConfig>;
  /** With `tracing.enabled`: export spans here (each at once) instead of the configured exporter (tests). */
  spanExporter?: SpanExporter;
}

/** The management server's TLS options from the config (PEM files read now). */
export function toManagementTls(tls: ManagementConfig["tls"]): ManagementTls | undefined {
  if (!tls.enabled) return undefined;
  const out: ManagementTls = { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) };
  if (tls.caFile !== "") {
    out.ca = readFileSync(tls.caFile);
    out.requestCert = true;
    out.rejectUnauthorized = tls.requireClientCert;
  }
  return out;
}

/** The broker's options from the config's `mqtt`, `sys` and `acl` sections. */
export function toBrokerOptions(config: WharfConfig): BrokerOptions {
  const { serverRedirect, ...mqtt } = config.mqtt;
  return {
    ...mqtt,
    serverRedirect: serverRedirect.serverReference === "" ? null : { ...serverRedirect },
    sysInterval: config.sys.interval,
    acl: config.acl.rules.map((rule) => ({ ...rule })),
    aclDefault: config.acl.default,
    aclReadMode: config.acl.mode,
    scram: config.auth.scram.map((user) => ({ ...user })),
    queues: structuredClone(config.queues),
    overload: { ...config.overload },
  };
}

/** The storage layer's options from the config's `storage` section (src/storage openStorage()). */
export function toStorageOptions(storage: StorageConfig): StorageOptions {
  const common = { durability: storage.durability, batchIntervalMs: storage.batchIntervalMs };
  return storage.type === "memory" ? { kind: "memory", ...common } : { kind: "lmdb", path: storage.dataDir, ...common };
}

export function listenerAddresses(server: Pick<WharfServer, "listeners">): ListenerAddress[] {
  return server.listeners.map((l) => ({ type: l.type, host: l.host, port: l.port }));
}

/** "127.0.0.1:1883", "[::]:1883". */
function addressOf(l: ListenerAddress): string {
  return l.host.includes(":") ? `[${l.host}]:${l.port}` : `${l.host}:${l.port}`;
}

/**
 * One $SYS topic per listener: `$SYS/broker/listeners/<type>/<host:port>/connections` (for coap, observations),
 * published with the broker's statistics.
 */
export function listenerSysTopics(listeners: readonly StartedListener[]): [topic: string, value: string][] {
  return listeners.map((l) => [`$SYS/broker/listeners/${l.type}/${addressOf(l)}/connections`, String(l.connections)]);
}

/**
 * Opens the storage, builds the broker from `config` (restoring the persisted state) and starts
 * every listener. A storage that cannot be opened (damaged, locked, unreadable) rejects with its
 * StorageError, which names the data directory and what to do. On a listener failure (e.g. port
 * in use) whatever was started is closed again before the error is rethrown.
 */
export async function startServer(config: WharfConfig, deps: ServerDeps = {}): Promise<WharfServer> {
  const logger = deps.logger ?? createLogger(config.log);
  const clock = deps.clock ?? systemClock;
  const storage = deps.storage ?? (await openStorage({ ...toStorageOptions(config.storage), clock, logger }));
  logStorage(storage, logger);
  let broker: Broker;
  let auth: ServerAuth;
  try {
    auth = buildServerAuth(config.auth, config.mqtt.allowAnonymous, { clock, logger });
  } catch (err) {
    await storage.close();
    throw err;
  }
  // The cluster layer (etcd3, gRPC, protobufjs: about a third of a start's module loading) loads only when
  // clustered.
  const clustered = config.cluster.enabled
    ? { ...(await import("../cluster/index.ts")), ...(await import("./cluster-queues.ts")) }
    : undefined;
  // Clustered: the broker publishes through a cluster router, which starts routing to other nodes once joined.
  let clusterRouter: ClusterRouter | undefined;
  const routing =
    clustered !== undefined
      ? (parts: RoutingParts) =>
          (clusterRouter = new clustered.ClusterRouter(parts, clock, logger.child({ component: "cluster" })))
      : undefined;
  // … and opens sessions through a registry that decides client-id ownership in etcd (takeover across nodes).
  let clusterSessions: ClusterSessionRegistry | undefined;
  const sessions =
    clustered !== undefined
      ? (parts: SessionParts) =>
          (clusterSessions = new clustered.ClusterSessionRegistry(
            parts,
            clock,
            logger.child({ component: "cluster-sessions" }),
          ))
      : undefined;
  // Clustered: `$queue/` goes to each queue's slot owner (docs/cluster-queues.md), attached once the node joined.
  const clusterQueues =
    clustered !== undefined
      ? new clustered.ServerClusterQueues(config.cluster, config.queues, {
          clock,
          logger,
          prefetchOf: (name) => broker.queues.settingsOf(name).prefetch,
          storage,
        })
      : undefined;
  try {
    broker = new Broker(toBrokerOptions(config), {
      clock,
      logger,
      storage,
      auth: auth.hooks,
      latencySampleEvery: config.management.latencySampleEvery,
      routing,
      sessions,
      queueBackend: clusterQueues?.backend,
    });
  } catch (err) {
    auth.close();
    await storage.close();
    throw err;
  }
  let tracing: BrokerTracing | undefined;
  if (config.tracing.enabled) {
    try {
      const { startTracing } = await import("../admin/tracing-sdk.ts");
      tracing = await startTracing(broker, config.tracing, { logger, exporter: deps.spanExporter });
    } catch (err) {
      await broker.close();
      auth.close();
      await storage.close();
      throw err;
    }
  }
  const listeners: StartedListener[] = [];
  let cluster: ClusterNode | undefined;
  // The HTTP worker of webhook and OTLP POSTs (started by tracing above, or here for webhooks) makes its warm-up
  // request before any client can connect: its start and first compilation (~0.3 s of CPU, on the broker's core
  // when it is pinned to one) otherwise ran beside the first traffic (src/admin/http-worker.ts).
  if (config.webhooks.length > 0) void httpWorker.warm();
  await httpWorker.ready();
  try {
    const ctx = { broker, logger, clock, maxPacketSize: config.mqtt.maxPacketSize };
    await startListeners(ctx, config.listeners, listeners);
    if (clustered !== undefined) {
      cluster = await clustered.ClusterNode.start(config.cluster, { clock, logger });
      if (clusterRouter !== undefined) cluster.attachRouter(clusterRouter);
      if (clusterSessions !== undefined) cluster.attachSessions(clusterSessions);
      await clusterQueues?.start(cluster);
    }
  } catch (err) {
    await clusterQueues?.stop();
    await cluster?.close();
    await Promise.allSettled(listeners.map((l) => l.close()));
    await broker.close();
    await tracing?.close();
    auth.close();
    await storage.close();
    throw err;
  }

  broker.addSysTopics(() => listenerSysTopics(listeners));
  // Without the management server nobody can scrape: the registry still answers RunningServer.metrics (its
  // series are read at scrape time), but nothing runs in the background and storage commits are not timed.
  const metrics = createBrokerMetrics(broker, {
    storageStats: () => storage.stats,
    storageSource: config.management.enabled ? storage : undefined,
    processMetrics: config.management.enabled,
    messagesByQos: config.management.metricsByQos,
    listeners: () => listeners.map((l) => ({ type: l.type, address: addressOf(l), connections: l.connections })),
  });
  const webhooks = new WebhookDispatcher(config.webhooks, { clock, logger, metrics: metrics.webhooks });
  // Metrics and webhooks listen on the broker's event seam; only the channels someone needs are subscribed.
  const bridge = new BrokerEventBridge({
    brokerId: broker.id,
    metrics: config.management.enabled ? metrics.events : undefined,
    webhooks,
  });
  // The latency histogram is fed by the broker directly (no event per observation: src/broker/latency.ts).
  if (config.management.enabled && config.management.latencyMetrics) broker.setDeliveryLatency(metrics.deliveryLatency);
  let stopping = false;
  let storageFailed = false;
  const readiness = (): ReadinessCheck[] => [
    stopping ? { name: "broker", ok: false, reason: "shutting down" } : { name: "broker", ok: true },
    storageFailed
      ? { name: "storage", ok: false, reason: "failed (see the log)" }
      : { name: "storage", ok: !stopping, ...(stopping ? { reason: "closing" } : {}) },
    { name: "listeners", ok: !stopping && listeners.length === config.listeners.length },
    ...(cluster === undefined
      ? []
      : [
          cluster.membership.isMember
            ? { name: "cluster", ok: !stopping }
            : { name: "cluster", ok: false, reason: "not a member (etcd lease lost; registering again)" },
        ]),
  ];
  let management: Management | undefined;
  const reloader = new ConfigReloader(deps.configFile, deps.overrides, config, {
    setLogLevel: "level" in logger ? (level) => ((logger as { level: string }).level = level) : undefined,
    setTokens: (tokens) => management?.tokens.replace(tokens),
    setWebhooks: (hooks) => {
      webhooks.configure(hooks);
      bridge.refresh();
    },
    setManagementTls: (tls) => {
      const opts = toManagementTls(tls);
      if (opts !== undefined && management?.http.protocol === "https") management.http.setSecureContext(opts);
    },
    setBrokerOptions: (patch) => {
      broker.reconfigure(patch);
    },
    prepareAuth: (next) => {
      // Built completely (files read, keys parsed) before anything changes; the old chain closes after the swap.
      const fresh = buildServerAuth(next.auth, next.mqtt.allowAnonymous, { clock, logger });
      return {
        commit: () => {
          const old = auth;
          auth = fresh;
          broker.setAuthHooks(fresh.hooks);
          old.close();
        },
        discard: () => fresh.close(),
      };
    },
  });
  const reloadCertificates = (): Error[] => {
    const errors: Error[] = [];
    for (const l of listeners) {
      try {
        l.reload?.();
      } catch (err) {
        logger.error({ err, type: l.type, port: l.port }, "certificate reload failed: keeping the current ones");
        errors.push(err as Error);
      }
    }
    return errors;
  };
  const reload = async (): Promise<ReloadOutcome> => {
    const outcome = await reloader.reload();
    if (outcome.ok) {
      // Listener certificates (renewed files under the same paths) are re-read on every reload too.
      const tlsListeners = listeners.filter((l) => l.reload !== undefined);
      if (tlsListeners.length > 0) {
        const errors = reloadCertificates();
        if (errors.length === 0) outcome.report.applied.push("listeners[].tls (certificates re-read)");
        else outcome.report.failed = errors.map((e) => ({ path: "listeners[].tls", message: e.message }));
      }
    }
    if (outcome.ok) logger.info({ ...outcome.report }, "configuration reloaded");
    else logger.error({ errors: outcome.errors }, `configuration NOT reloaded: ${outcome.message}`);
    return outcome;
  };
  const m = config.management;
  if (m.enabled) {
    try {
      management = await startManagement(
        { host: m.host, port: m.port, tls: toManagementTls(m.tls), tokens: m.tokens, dashboard: m.dashboard },
        {
          broker,
          logger,
          metrics,
          readiness,
          listeners: () =>
            listeners.map((l) => ({ type: l.type, host: l.host, port: l.port, connections: l.connections })),
          config: {
            effective: () => maskSecrets(reloader.current),
            ...(deps.configFile === undefined ? {} : { reload }),
          },
          webhooks: () => webhooks.status(),
        },
      );
    } catch (err) {
      bridge.close();
      broker.setDeliveryLatency(undefined);
      webhooks.close();
      metrics.close();
      await clusterQueues?.stop();
      await cluster?.close();
      await Promise.allSettled(listeners.map((l) => l.close()));
      await broker.close();
      auth.close();
      await storage.close();
      throw err;
    }
  }
  if (cluster !== undefined) {
    registerClusterMetrics(metrics.registry, cluster);
    clusterQueues?.metrics(metrics.registry);
    if (management !== undefined) clusterRoutes(management.router, cluster);
    if (management !== undefined) clusterQueues?.routes(management.router);
  }
  // `wharf queues` talks to the broker over a unix socket in the data directory (queue-control.ts); a memory store
  // has no directory of its own, so there is no control socket then.
  let control: QueueControl | undefined;
  // … unless storage.controlSocket names one (or is `off`).
  const controlPath = controlSocketPath(
    config.storage.controlSocket,
    storage.path === undefined ? undefined : join(storage.path, CONTROL_SOCKET),
  );
  if (controlPath !== undefined) {
    try {
      control = await startQueueControl(broker, controlPath, logger);
    } catch (err) {
      logger.warn(
        { err, path: controlPath },
        "queue control socket not available: `wharf queues` cannot reach this broker",
      );
    }
  }

  let closing: Promise<void> | undefined;
  const server: WharfServer = {
    broker,
    listeners,
    config,
    storage,
    management,
    cluster,
    metrics,
    webhooks,
    reload,
    reloadCertificates,
    close: () => (closing ??= closeAll()),
  };
  // A failed store cannot persist anything any more, so nothing can be acknowledged: stop, say why, and let the
  // caller (the CLI) exit non-zero. Clients reconnect to a restarted broker and resend what was not acknowledged.
  storage.onFailure((error) => {
    storageFailed = true;
    logger.error({ err: error, code: error.code, path: storage.path }, "storage failed: stopping the broker");
    server.close().then(
      () => deps.onStorageFailure?.(error),
      () => deps.onStorageFailure?.(error), // closing a failed store rejects with the same failure
    );
  });
  async function closeAll(): Promise<void> {
    stopping = true;
    // Stop accepting first (a listener's close() may wait for its sockets), then let the broker
    // disconnect every client cleanly, then wait for the listeners to finish.
    const stopped = Promise.allSettled(listeners.map((l) => l.close()));
    await control?.close();
    // Leave the cluster before the broker goes: the others stop routing here at once rather than after the TTL.
    await clusterQueues?.stop();
    await cluster?.close();
    await broker.close();
    const results = await stopped;
    auth.close();
    // Every connection has ended (wills published, session deadlines written): flush and fsync.
    await storage.close();
    bridge.close();
    broker.setDeliveryLatency(undefined);
    webhooks.close();
    await management?.close();
    metrics.close();
    await tracing?.close();
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
    logger.info("stopped");
  }

  const mgmt =
    management === undefined ? {} : { management: { host: management.http.host, port: management.http.port } };
  logger.info({ listeners: listenerAddresses(server), ...mgmt }, "listening");
  return server;
}

/** One startup line saying where state lives and what a crash can lose. */
function logStorage(storage: Storage, logger: Logger): void {
  const { kind, path, durability } = storage;
  if (kind === "memory") {
    logger.info({ storage: kind }, "storage: memory (sessions and retained messages are lost on restart)");
  } else {
    logger.info({ storage: kind, dataDir: path, durability }, "storage: lmdb");
  }
}
