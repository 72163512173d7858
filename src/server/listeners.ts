// Starts the configured listeners: each type's transport module adapts its sockets to the broker's
// TransportConnection seam; this file only translates config into their options.
import type { Broker } from "../broker/index.ts";
import { listenWeb } from "../transport/web/server.ts";
import { attachHttpBridge } from "../transport/http/index.ts";
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

function rename(index: number, err: unknown): Error {
  if (err instanceof TlsConfigError) return new TlsConfigError(`listeners[${index}].${err.field}`, err.detail);
  return err instanceof Error ? err : new Error(String(err));
}

function named<T>(index: number, fn: () => T): T {
  let r: T;
  try {
    r = fn();
  } catch (err) {
    throw rename(index, err);
  }
  if (r instanceof Promise) {
    return r.catch((err: unknown) => {
      throw rename(index, err);
    }) as T;
  }
  return r;
}

async function start(ctx: ListenerContext, l: ListenerConfig): Promise<StartedListener> {
  const { broker, logger, clock } = ctx;
  const common = { host: l.host, port: l.port, ...limits(l) };
  switch (l.type) {
    case "tcp": {
      const tcp = await listenTcp(broker, { ...common, nodeSockets: l.nodeSockets }, logger, clock);
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
    case "wss":
    case "http":
      return startWeb(ctx, l, undefined);
    case "coap": {
      // The coap package is loaded only when a CoAP listener is configured.
      const { listenCoap } = await import("../transport/coap/index.ts");
      return listenCoap(
        broker,
        {
          host: l.host,
          port: l.port,
          maxPacketSize: effectiveMaxPacketSize(l, ctx),
          ...(l.maxConnections > 0 ? { maxConnections: l.maxConnections } : {}),
        },
        logger,
        clock,
      );
    }
  }
}

/**
 * A ws/wss and/or http listener on one HTTP(S) server. `http` is the http listener sharing the ws/wss one's
 * address (TLS and maxConnections then come from the ws/wss listener).
 */
async function startWeb(
  ctx: ListenerContext,
  l: ListenerConfig,
  http: ListenerConfig | undefined,
): Promise<StartedListener> {
  const { broker, logger, clock } = ctx;
  const tlsOpts = l.tls !== undefined ? toTlsOptions(l.tls) : undefined;
  const bridgeConfig = l.type === "http" ? l : http;
  const kind = l.type;
  // The ws package (and the WebSocket transport) is loaded only when a ws/wss listener is configured.
  const ws = kind === "ws" || kind === "wss" ? await import("../transport/ws/index.ts") : undefined;
  const web = await listenWeb(
    {
      type: http === undefined ? l.type : `${l.type}+http`,
      host: l.host,
      port: l.port,
      ...(l.maxConnections > 0 ? { maxConnections: l.maxConnections } : {}),
      ...(tlsOpts !== undefined ? { tls: tlsOpts } : {}),
    },
    logger,
    (server) => {
      if (ws !== undefined && (kind === "ws" || kind === "wss")) {
        const maxPayload = effectiveMaxPacketSize(l, ctx);
        ws.attachWebSocket(
          server.server,
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
      }
      if (bridgeConfig !== undefined) {
        return attachHttpBridge(
          server,
          broker,
          { kind: tlsOpts !== undefined ? "https" : "http", maxBodySize: effectiveMaxPacketSize(bridgeConfig, ctx) },
          logger,
          clock,
        );
      }
      return undefined;
    },
  );
  return web;
}

/**
 * Starts every listener of the config (an http listener on the same address as a ws/wss one shares its server).
 * Pushes each onto `out` as it starts, so that the caller can close them if a later one fails.
 */
export async function startListeners(
  ctx: ListenerContext,
  listeners: readonly ListenerConfig[],
  out: StartedListener[],
): Promise<void> {
  const shared = new Map<number, number>(); // http index -> ws index
  listeners.forEach((l, i) => {
    if (l.type !== "http" || l.port === 0) return;
    const j = listeners.findIndex(
      (w) => (w.type === "ws" || w.type === "wss") && w.host === l.host && w.port === l.port,
    );
    if (j >= 0) shared.set(i, j);
  });
  const partner = new Map([...shared].map(([h, w]) => [w, h]));
  for (const [i, l] of listeners.entries()) {
    if (shared.has(i)) continue;
    const h = partner.get(i);
    if (h === undefined) out.push(await startListener(ctx, l, i));
    else out.push(await named(i, () => startWeb(ctx, l, listeners[h])));
  }
}
