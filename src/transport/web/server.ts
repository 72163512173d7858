// One HTTP(S) server per address for the web-facing listeners: `ws`/`wss` (upgrade requests on their path) and
// the `http` bridge (ordinary requests) share it when configured on the same host and port.
import http from "node:http";
import https from "node:https";
import tls from "node:tls";
import type { Logger } from "../../util/index.ts";
import { bind, limitConnections, stopAccepting, type ListenerHandle } from "../listen.ts";
import { secureContextOptions, tlsServerOptions, type TlsOptions } from "../tls/context.ts";

export interface WebServerOptions {
  /** "ws", "wss", "http", or "ws+http" when shared: for logs. */
  type: string;
  host: string;
  port: number;
  maxConnections?: number;
  /** HTTPS / wss when set (ALPN http/1.1). */
  tls?: TlsOptions;
}

export interface WebServer {
  readonly server: http.Server;
  /** Handlers for ordinary requests, tried in order; the first that returns true took the request. */
  readonly routes: ((req: http.IncomingMessage, res: http.ServerResponse) => boolean)[];
}

export interface WebListener extends ListenerHandle {
  reload?: () => void;
}

/** Sends a JSON body with `status`. */
export function sendJson(
  res: http.ServerResponse,
  status: number,
  body: object,
  headers: http.OutgoingHttpHeaders = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  const length = String(Buffer.byteLength(text));
  // Raw [name, value, …] headers: Node stores them without building and walking a headers object (the bridge
  // answers every publish through here).
  const raw = ["content-type", JSON_CONTENT_TYPE, "content-length", length];
  for (const k in headers) {
    const v = headers[k];
    if (Array.isArray(v)) for (const x of v) raw.push(k, x);
    else if (v !== undefined) raw.push(k, String(v));
  }
  res.writeHead(status, raw);
  res.end(text);
}

const JSON_CONTENT_TYPE = "application/json; charset=utf-8";

/**
 * Creates and binds the server; `setup` attaches the endpoints (before the port opens) and may return what to
 * close with the listener. Requests no route takes get 404 JSON.
 */
export async function listenWeb(
  opts: WebServerOptions,
  logger: Logger,
  setup: (web: WebServer) => { close(): void } | undefined,
): Promise<WebListener> {
  const secure =
    opts.tls === undefined
      ? undefined
      : https.createServer(tlsServerOptions(opts.tls, ["http/1.1"], tls.createSecureContext));
  const server: http.Server = secure ?? http.createServer();
  // Slow-loris bounds: the request head within 10 s, an idle keep-alive connection for 5 s.
  server.headersTimeout = 10_000;
  server.requestTimeout = 60_000;
  server.keepAliveTimeout = 5_000;
  const web: WebServer = { server, routes: [] };
  const endpoint = setup(web);
  server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    for (const route of web.routes) if (route(req, res)) return;
    sendJson(res, 404, { error: { code: "not_found", message: `no endpoint at ${req.method} ${req.url}` } });
  });
  server.on("clientError", (err, socket) => {
    // Malformed HTTP: 400 and close, never a crash.
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    socket.destroy();
    logger.debug({ type: opts.type, err: err.message }, "bad http request");
  });
  if (opts.tls !== undefined) {
    server.on("tlsClientError", (err: Error, socket: tls.TLSSocket) => {
      logger.debug({ type: opts.type, remote: socket.remoteAddress, err: err.message }, "tls handshake failed");
    });
  }
  const open = limitConnections(server, opts.maxConnections, logger, opts.type);
  const port = await bind(server, opts.host, opts.port, logger, opts.type);
  const tlsOpts = opts.tls;
  return {
    type: opts.type,
    host: opts.host,
    port,
    get connections() {
      return open.count;
    },
    ...(tlsOpts !== undefined && secure !== undefined
      ? {
          reload: () => {
            secure.setSecureContext(secureContextOptions(tlsOpts, tls.createSecureContext));
            logger.info({ type: opts.type, host: opts.host, port }, "tls certificates reloaded");
          },
        }
      : {}),
    close: () => {
      // Ordinary keep-alive requests and SSE streams are not MQTT connections: close them now.
      endpoint?.close();
      const closing = stopAccepting(server);
      server.closeIdleConnections();
      return closing;
    },
  };
}
