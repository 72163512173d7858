// createBroker(): the one documented way to run Wharf inside a program (docs/embedding.md). The options are the
// YAML config's schema (src/server/config/wharf-config.ts, embedded defaults), validated the same way with the
// same path-named errors; the broker is started by the same composition root as `wharf start` (startServer).
import type { Broker } from "../broker/index.ts";
import type { Clock, Logger } from "../util/index.ts";
import { embeddedConfigSchema, validateConfig, type DeepPartial, type WharfConfig } from "./config/index.ts";
import { listenerAddresses, startServer, type ListenerAddress, type WharfServer } from "./index.ts";
import { createLogger } from "./logger.ts";

/** createBroker's options: any subset of the YAML config (docs/configuration.md), as a JavaScript object. */
export type BrokerConfigInput = DeepPartial<WharfConfig>;

/** What cannot be written in YAML: injected collaborators. */
export interface CreateBrokerDeps {
  /** A pino-compatible logger; default: pino on stdout at `log.level` (warn unless configured). */
  logger?: Logger;
  /** The clock every timer runs on (tests inject a fake one); default the system clock. */
  clock?: Clock;
}

/** A running embedded broker. */
export interface WharfBroker {
  /** The validated configuration, defaults filled in. */
  readonly config: WharfConfig;
  /** Where MQTT clients connect, one entry per configured listener (port 0 resolved); empty when in-process only. */
  readonly listeners: readonly ListenerAddress[];
  /** The broker core (docs/broker.md "Programming interface"), for what this facade does not cover. */
  readonly core: Broker;
  /** Stops the listeners, disconnects every client, then flushes and closes the storage. Idempotent. */
  close(): Promise<void>;
}

/**
 * Validates `options` (throws ConfigError, code CONFIG_INVALID, listing every problem by path such as
 * `listeners[0].port`), opens the storage (memory unless `storage.type: lmdb`; a StorageError names an unusable
 * data directory) and starts the listeners (none by default).
 */
export async function createBroker(options: BrokerConfigInput = {}, deps: CreateBrokerDeps = {}): Promise<WharfBroker> {
  const config = validateConfig(options, undefined, embeddedConfigSchema);
  const logger = deps.logger ?? createLogger(config.log);
  const server = await startServer(config, {
    logger,
    ...(deps.clock ? { clock: deps.clock } : {}),
  });
  return new EmbeddedBroker(server);
}

class EmbeddedBroker implements WharfBroker {
  readonly listeners: readonly ListenerAddress[];

  constructor(readonly server: WharfServer) {
    this.listeners = listenerAddresses(server);
  }

  get config(): WharfConfig {
    return this.server.config;
  }

  get core(): Broker {
    return this.server.broker;
  }

  close(): Promise<void> {
    return this.server.close();
  }
}
