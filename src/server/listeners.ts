// Starts the configured listeners: each type's transport module adapts its sockets to the broker's
// TransportConnection seam; this file only translates config into their options.
import type { Broker } from "../broker/index.ts";
import type { ListenerHandle } from "../transport/listen.ts";
import { listenTcp } from "../transport/tcp/index.ts";
import { listenTls, TlsConfigError, type TlsOptions } from "../transport/tls/index.ts";
import type { Clock, Logger } from "../util/index.ts";
import type { ListenerConfig, TlsConfig } from "./config/index.ts";

/** A started listener; `reload` re-reads certificate files (TLS-based types only). */
export interface StartedListener extends ListenerHandle {
  reload?: () => void;
}

/** 0 means "unlimited" / "the broker's limit" in the config: pass nothing then. */
function limits(l: ListenerConfig): { maxConnections?: number; maxPacketSize?: number } {
  return {
    ...(l.maxConnections > 0 ? { maxConnections: l.maxConnections } : {}),
    ...(l.maxPacketSize > 0 ? { maxPacketSize: l.maxPacketSize } : {}),
  };
}

export function toTlsOptions(t: TlsConfig): TlsOptions {
  return { ...t };
}

/** Starts listener `index` of the config; a TlsConfigError names the full key (`listeners[1].tls.cert`). */
export async function startListener(
  broker: Broker,
  l: ListenerConfig,
  index: number,
  logger: Logger,
  clock: Clock,
): Promise<StartedListener> {
  try {
    const started = await start(broker, l, logger, clock);
    if (started.reload === undefined) return started;
    const reload = started.reload;
    return Object.assign(started, { reload: () => named(index, reload) });
  } catch (err) {
    return named(index, () => {
      throw err;
    });
  }
}

function named<T>(index: number, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof TlsConfigError) throw new TlsConfigError(`listeners[${index}].${err.field}`, err.detail);
    throw err;
  }
}

async function start(broker: Broker, l: ListenerConfig, logger: Logger, clock: Clock): Promise<StartedListener> {
  const common = { host: l.host, port: l.port, ...limits(l) };
  switch (l.type) {
    case "tcp": {
      const tcp = await listenTcp(broker, common, logger, clock);
      return {
        type: "tcp",
        host: tcp.host,
        port: tcp.port,
        get connections() {
          return tcp.connections;
        },
        close: () => tcp.close(),
      };
    }
    case "tls":
      return listenTls(broker, { ...common, tls: toTlsOptions(l.tls!) }, logger, clock);
  }
}
