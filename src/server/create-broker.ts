// createBroker(): the one documented way to run Wharf inside a program (docs/embedding.md). The options are the
// YAML config's schema (src/server/config/wharf-config.ts, embedded defaults), validated the same way with the
// same path-named errors; the broker is started by the same composition root as `wharf start` (startServer), and
// the in-process API (src/inproc) is a face of that same core.
import type { Broker, BrokerStats } from "../broker/index.ts";
import { applyConfigure, planConfigure, type ConfigureResult, type ConfigureTargets } from "./configure.ts";
import {
  InprocError,
  InprocErrorCode,
  LocalBroker,
  type BatchEntry,
  type DeadLetterStats,
  type InprocMetrics,
  type Listener,
  type ListenOptions,
  type MemoryUsage,
  type PublishOptions,
  type PublishResult,
  type ReceivedMessage,
  type SubscribeOptions,
  type Subscription,
  type Transaction,
  type TransactionOptions,
} from "../inproc/index.ts";
import type { StorageStats } from "../storage/index.ts";
import type { Clock, Logger } from "../util/index.ts";
import { embeddedConfigSchema, validateConfig, type DeepPartial, type WharfConfig } from "./config/index.ts";
import { listenerAddresses, startServer, type WharfServer } from "./index.ts";
import type { ListenerAddress } from "./listener-address.ts";
import { createLogger } from "./logger.ts";

/** createBroker's options: any subset of the YAML config (docs/configuration.md), as a JavaScript object. */
export type BrokerConfigInput = DeepPartial<WharfConfig>;

/** What is not part of the YAML config: injected collaborators and in-process settings. */
export interface CreateBrokerDeps {
  /** A pino-compatible logger; default: pino on stdout at `log.level` (warn unless configured). */
  logger?: Logger;
  /** The clock every timer runs on (tests inject a fake one); default the system clock. */
  clock?: Clock;
  /**
   * Budget in bytes for queued message payloads (in-process buffers plus session queues); 0 = none (default).
   * Above it, in-process publishes reject with INPROC_MEMORY_LIMIT (MQTT publishers: see docs/embedding.md).
   */
  memoryLimit?: number;
  /** Default transaction timeout, ms (default 30 000). */
  transactionTimeout?: number;
}

export interface Metrics {
  broker: BrokerStats;
  inproc: InprocMetrics;
  memory: MemoryUsage;
  storage: StorageStats & { kind: string };
  deadLetters: DeadLetterStats;
}

export type HealthStatus = "ok" | "degraded" | "closed";

export interface Health {
  status: HealthStatus;
  /** Why the status is not "ok" (empty when it is). */
  reasons: string[];
  storage: { kind: string; path: string | undefined; durability: string; pendingOps: number };
  listeners: (ListenerAddress & { connections: number })[];
  memory: MemoryUsage;
  queues: { sessionQueued: number; inflight: number; inprocBuffered: number };
  clientsConnected: number;
  uptime: number;
}

/** A running embedded broker. */
export interface WharfBroker {
  /** The validated configuration, defaults filled in. */
  readonly config: WharfConfig;
  /** Where MQTT clients connect, one entry per configured listener (port 0 resolved); empty when in-process only. */
  readonly listeners: readonly ListenerAddress[];
  /** The broker core (docs/broker.md "Programming interface"), for what this facade does not cover. */
  readonly core: Broker;
  /** Routes one message to MQTT and in-process subscribers; resolves when routed (and committed by storage). */
  publish(topic: string, payload: Buffer | Uint8Array | string, options?: PublishOptions): Promise<PublishResult>;
  /** Routes many messages in order with one storage commit. */
  publishBatch(entries: readonly BatchEntry[]): Promise<PublishResult>;
  /** Subscribes in-process: iterate the result or pass `handler`. */
  subscribe(filter: string, options?: SubscribeOptions): Subscription;
  /**
   * A synchronous listener, called with each matching message while it is routed: no buffer, no acknowledgement,
   * at most once (docs/embedding.md "Synchronous listeners").
   */
  listen(filter: string, fn: (msg: ReceivedMessage) => void, options?: ListenOptions): Listener;
  /** Messages published through it become visible at commit(), all at once, or never. */
  transaction(options?: TransactionOptions): Transaction;
  readonly deadLetters: { stats(): DeadLetterStats; topicFor(topic: string): string };
  /**
   * Changes the configuration at runtime: `changes` is a partial config (as for createBroker), validated with the
   * YAML schema; only the log level, the ACL and the limits in LIVE_CONFIG_KEYS may change. Anything invalid, or
   * a changed key that cannot change live, throws ConfigError naming each path, and nothing changes.
   */
  configure(changes: BrokerConfigInput): ConfigureResult;
  /** Ends the durable subscription session `name` (subscribe(…, { durable })); false if there is none. */
  removeDurable(name: string): boolean;
  health(): Health;
  metrics(): Metrics;
  /** Ends in-process subscriptions, stops the listeners, disconnects every client, then flushes and closes the storage. Idempotent. */
  close(): Promise<void>;
}

/**
 * Validates `options` (throws ConfigError, code CONFIG_INVALID, listing every problem by path such as
 * `listeners[0].port`), opens the storage (memory unless `storage.type: lmdb`; a StorageError names an unusable
 * data directory) and starts the listeners (none by default).
 */
export async function createBroker(options: BrokerConfigInput = {}, deps: CreateBrokerDeps = {}): Promise<WharfBroker> {
  const validated = validateConfig(options, undefined, embeddedConfigSchema);
  // Embedded: no management HTTP server unless `management` is given (an application embeds a broker, not a port).
  const config =
    "management" in options ? validated : { ...validated, management: { ...validated.management, enabled: false } };
  const logger = deps.logger ?? createLogger(config.log);
  const server = await startServer(config, {
    logger,
    ...(deps.clock ? { clock: deps.clock } : {}),
  });
  try {
    const local = new LocalBroker(server.broker, {
      ...(deps.memoryLimit !== undefined ? { memoryLimit: deps.memoryLimit } : {}),
      ...(deps.transactionTimeout !== undefined ? { transactionTimeout: deps.transactionTimeout } : {}),
    });
    return new EmbeddedBroker(server, local, logger);
  } catch (err) {
    await server.close();
    throw err;
  }
}

class EmbeddedBroker implements WharfBroker {
  readonly listeners: readonly ListenerAddress[];
  #closing: Promise<void> | undefined;
  #config: WharfConfig;
  readonly #targets: ConfigureTargets;

  constructor(
    readonly server: WharfServer,
    readonly local: LocalBroker,
    logger: Logger,
  ) {
    this.listeners = listenerAddresses(server);
    this.#config = server.config;
    this.#targets = {
      broker: server.broker,
      setLogLevel: "level" in logger ? (level) => ((logger as { level: string }).level = level) : undefined,
    };
  }

  get config(): WharfConfig {
    return this.#config;
  }

  configure(changes: BrokerConfigInput): ConfigureResult {
    if (this.#closing !== undefined) throw new InprocError(InprocErrorCode.Closed, "the broker is closed");
    const { next, changed } = planConfigure(this.#config, changes, this.#targets);
    applyConfigure(next, changed, this.#targets);
    this.#config = next;
    return { changed };
  }

  get core(): Broker {
    return this.server.broker;
  }

  get deadLetters() {
    return this.local.deadLetters;
  }

  publish(topic: string, payload: Buffer | Uint8Array | string, options?: PublishOptions): Promise<PublishResult> {
    return this.local.publish(topic, payload, options);
  }

  publishBatch(entries: readonly BatchEntry[]): Promise<PublishResult> {
    return this.local.publishBatch(entries);
  }

  subscribe(filter: string, options?: SubscribeOptions): Subscription {
    return this.local.subscribe(filter, options);
  }

  listen(filter: string, fn: (msg: ReceivedMessage) => void, options?: ListenOptions): Listener {
    return this.local.listen(filter, fn, options);
  }

  transaction(options?: TransactionOptions): Transaction {
    return this.local.transaction(options);
  }

  removeDurable(name: string): boolean {
    return this.local.removeDurable(name);
  }

  metrics(): Metrics {
    const storage = this.server.storage;
    return {
      broker: this.core.stats(),
      inproc: this.local.metrics(),
      memory: this.local.memory(),
      storage: { kind: storage.kind, ...storage.stats },
      deadLetters: this.local.deadLetters.stats(),
    };
  }

  health(): Health {
    const stats = this.core.stats();
    const memory = this.local.memory();
    const inproc = this.local.metrics();
    const storage = this.server.storage;
    const reasons: string[] = [];
    if (memory.limit > 0 && memory.used >= memory.limit * 0.9) {
      reasons.push(`memory: ${memory.used} of ${memory.limit} bytes queued (>= 90%)`);
    }
    if (inproc.storageFailures > 0) {
      reasons.push(
        `storage: ${inproc.storageFailures} commit(s) failed; state may not survive a restart (see the log)`,
      );
    }
    const closed = this.#closing !== undefined;
    return {
      status: closed ? "closed" : reasons.length > 0 ? "degraded" : "ok",
      reasons: closed ? ["closed"] : reasons,
      storage: {
        kind: storage.kind,
        path: storage.path,
        durability: storage.durability,
        pendingOps: storage.stats.pending,
      },
      listeners: this.listeners.map((l, i) => ({ ...l, connections: this.server.listeners[i]?.connections ?? 0 })),
      memory,
      queues: { sessionQueued: stats.queued, inflight: stats.inflight, inprocBuffered: inproc.buffered },
      clientsConnected: stats.clientsConnected,
      uptime: stats.uptime,
    };
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.local.close();
      await this.server.close();
    })();
    return this.#closing;
  }
}
