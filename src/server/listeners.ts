// Starts the configured listeners: each type's transport module adapts its sockets to the broker's
// TransportConnection seam; this file only translates config into their options.
import type { Broker } from "../broker/index.ts";
import { listenWeb } from "../transport/web/server.ts";
import { attachWebSocket } from "../transport/ws/index.ts";
import type { ListenerHandle } from "../transport/listen.ts";
import { listenTcp } from "../transport/tcp/index.ts";
import { listenTls, TlsConfigError, type TlsOptions } from "../transport/tls/index.ts";
import type { Clock, Logger } from "../util/index.ts";
import { WS_DEFAULTS, type ListenerConfig, type TlsConfig } from "./config/index.ts";

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

export interface ListenerContext {
  broker: Broker;
  logger: Logger;
  clock: Clock;
  /** mqtt.maxPacketSize: a listener's effective maximum is the smaller of this and its own. */
  maxPacketSize: number;
}

/** The largest packet on listener `l` (also the largest WebSocket message and HTTP body). */
export function effectiveMaxPacketSize(l: ListenerConfig, ctx: ListenerContext): number {
  return l.maxPacketSize > 0 ? Math.min(l.maxPacketSize, ctx.maxPacketSize) : ctx.maxPacketSize;
}

/** Starts listener `index` of the config; a TlsConfigError names the full key (`listeners[1].tls.cert`). */
export async function startListener(ctx: ListenerContext, l: ListenerConfig, index: number): Promise<StartedListener> {
  try {
    const started = await start(ctx, l);
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

async function start(ctx: ListenerContext, l: ListenerConfig): Promise<StartedListener> {
  const { broker, logger, clock } = ctx;
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
    case "ws":
    case "wss": {
      const tlsOpts = l.type === "wss" ? toTlsOptions(l.tls!) : undefined;
      const maxPayload = effectiveMaxPacketSize(l, ctx);
      const kind = l.type;
      const web = await listenWeb(
        { type: l.type, host: l.host, port: l.port, maxConnections: common.maxConnections, tls: tlsOpts },
        logger,
        ({ server }) => {
          attachWebSocket(
            server,
            broker,
            {
              kind,
              ws: { path: l.ws?.path ?? WS_DEFAULTS.path, origins: l.ws?.origins ?? WS_DEFAULTS.origins },
              maxPayload,
              limits: { maxPacketSize: maxPayload },
              ...(tlsOpts !== undefined ? { tls: tlsOpts } : {}),
            },
            logger,
            clock,
          );
        },
      );
      return web;
    }
  }
}
