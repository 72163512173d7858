// Composition root: turns a validated WharfConfig into a running broker with its listeners, and
// knows how to take it all down cleanly. The only place that wires transports to the core.
import { Broker } from "../broker/index.ts";
import type { BrokerOptions } from "../broker/options.ts";
import { listenTcp, type TcpListener } from "../transport/tcp/index.ts";
import { systemClock, type Clock } from "../util/clock.ts";
import type { Logger } from "../util/logger.ts";
import type { StorageOptions } from "../storage/index.ts";
import type { StorageConfig, WharfConfig } from "./config/index.ts";
import { createLogger } from "./logger.ts";

export * from "./config/index.ts";
export { createLogger } from "./logger.ts";

export interface WharfServer {
  readonly broker: Broker;
  readonly listeners: readonly TcpListener[];
  readonly config: WharfConfig;
  /** Stop accepting, close every client cleanly, flush state. Idempotent. */
  close(): Promise<void>;
}

export interface ServerDeps {
  logger?: Logger;
  clock?: Clock;
}

/** The broker's options from the config's `mqtt`, `sys` and `acl` sections. */
export function toBrokerOptions(config: WharfConfig): BrokerOptions {
  const { serverRedirect, ...mqtt } = config.mqtt;
  return {
    ...mqtt,
    serverRedirect: serverRedirect.serverReference === "" ? null : { ...serverRedirect },
    sysInterval: config.sys.interval,
    acl: config.acl.map((rule) => ({ ...rule })),
    scram: config.auth.scram.map((user) => ({ ...user })),
  };
}

/**
 * The storage layer's options from the config's `storage` section (src/storage openStorage()).
 * Persistence is wired into the broker by issue #5; this is the seam it uses.
 */
export function toStorageOptions(storage: StorageConfig): StorageOptions {
  const common = { durability: storage.durability, batchIntervalMs: storage.batchIntervalMs };
  return storage.type === "memory" ? { kind: "memory", ...common } : { kind: "lmdb", path: storage.dataDir, ...common };
}

/** A listener's address as logged in the startup "listening" line. */
export interface ListenerAddress {
  type: "tcp";
  host: string;
  port: number;
}

export function listenerAddresses(server: WharfServer): ListenerAddress[] {
  return server.listeners.map((l) => ({ type: "tcp", host: l.host, port: l.port }));
}

/**
 * Builds the broker from `config` and starts every listener. On a listener failure (e.g. port
 * in use) whatever was started is closed again before the error is rethrown.
 */
export async function startServer(config: WharfConfig, deps: ServerDeps = {}): Promise<WharfServer> {
  const logger = deps.logger ?? createLogger(config.log);
  const clock = deps.clock ?? systemClock;
  warnAboutStorage(config, logger);
  const broker = new Broker(toBrokerOptions(config), { clock, logger });
  const listeners: TcpListener[] = [];
  try {
    for (const l of config.listeners) {
      listeners.push(
        await listenTcp(
          broker,
          {
            host: l.host,
            port: l.port,
            // 0 means "unlimited" / "the broker's limit" in the config: pass nothing then.
            ...(l.maxConnections > 0 ? { maxConnections: l.maxConnections } : {}),
            ...(l.maxPacketSize > 0 ? { maxPacketSize: l.maxPacketSize } : {}),
          },
          logger,
          clock,
        ),
      );
    }
  } catch (err) {
    await Promise.allSettled(listeners.map((l) => l.close()));
    await broker.close();
    throw err;
  }

  let closing: Promise<void> | undefined;
  const server: WharfServer = {
    broker,
    listeners,
    config,
    close: () => (closing ??= closeAll()),
  };
  async function closeAll(): Promise<void> {
    // Stop accepting first (a listener's close() may wait for its sockets), then let the broker
    // disconnect every client cleanly, then wait for the listeners to finish.
    const stopped = Promise.allSettled(listeners.map((l) => l.close()));
    await broker.close();
    const results = await stopped;
    // Persistent state is flushed by broker.close() once storage lands (issue #5).
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
    logger.info("stopped");
  }

  logger.info({ listeners: listenerAddresses(server) }, "listening");
  return server;
}

/** Until persistence lands (issue #5) every storage type keeps state in memory: say so. */
function warnAboutStorage(config: WharfConfig, logger: Logger): void {
  const { type, dataDir } = config.storage;
  if (type === "lmdb") {
    logger.warn(
      { storage: type, dataDir },
      "storage.type lmdb is not implemented yet (issue #5): sessions and retained messages are kept in memory only",
    );
  } else {
    logger.info({ storage: type }, "storage: memory (sessions and retained messages are lost on restart)");
  }
}
