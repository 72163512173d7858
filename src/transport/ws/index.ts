// WebSocket listeners (`ws`, and `wss` over TLS): MQTT over WebSocket per MQTT 5.0 §6 / 3.1.1 §6, with the `ws`
// package on an HTTP(S) server that the HTTP bridge may share (same host and port).
//  - Upgrade only on the configured path (default /mqtt); subprotocol "mqtt" (or "mqttv3.1") is selected
//    [MQTT-6.0.0-3]; a client that offers only others is refused (no Sec-WebSocket-Protocol echoed).
//  - Every WebSocket message is fed to the codec as a byte stream: one message may carry several MQTT packets and
//    one packet may span messages [MQTT-6.0.0-2]. Text messages are refused with close code 1003 [MQTT-6.0.0-1].
//  - maxPayload = the listener's effective maximum packet size: a larger message is refused (close 1009) before it
//    is buffered whole.
//  - Origin allow-list: when `origins` is not empty, an upgrade with another (or no) Origin gets HTTP 403.
//  - Pings are answered with pongs (by `ws`); the broker's keepalive supervises idle clients.
//  - end() closes with 1000 Normal Closure after the pending bytes; a peer that does not answer the close
//    handshake within 5 s is terminated.
import type http from "node:http";
import type net from "node:net";
import tls from "node:tls";
import { WebSocketServer, type WebSocket } from "ws";
import type { ConnectionAcceptor, ListenerLimits, PeerIdentity, TransportConnection } from "../../broker/index.ts";
import type { Clock, Logger } from "../../util/index.ts";
import { DEFAULT_WRITE_HIGH_WATER } from "../tcp/index.ts";
import { certificateIdentity, type TlsOptions } from "../tls/index.ts";

export const MQTT_SUBPROTOCOLS = ["mqtt", "mqttv3.1"] as const;
/** Close codes (RFC 6455 §7.4.1). */
export const WsClose = { Normal: 1000, UnsupportedData: 1003, TooBig: 1009 } as const;
const END_GRACE_MS = 5000;
/** Coalesced writes up to this size are sent as one message (one copy); larger ones as fragments of one message. */
const CONCAT_LIMIT = 64 * 1024;
/** A chunk at least this large is a frame of its own, not copied (a large payload shared by all subscribers). */
const ZERO_COPY_MIN = 16 * 1024;

/** The frames of one message: runs of small chunks joined (up to CONCAT_LIMIT), large chunks as they are. */
export function framesOf(chunks: readonly Buffer[]): Buffer[] {
  const frames: Buffer[] = [];
  let group: Buffer[] = [];
  let size = 0;
  const cut = (): void => {
    if (group.length === 0) return;
    frames.push(group.length === 1 ? group[0]! : Buffer.concat(group, size));
    group = [];
    size = 0;
  };
  for (const c of chunks) {
    if (c.length >= ZERO_COPY_MIN) {
      cut();
      frames.push(c);
      continue;
    }
    group.push(c);
    size += c.length;
    if (size >= CONCAT_LIMIT) cut();
  }
  cut();
  return frames;
}

export interface WsOptions {
  /** URL path of the endpoint (default /mqtt). */
  path: string;
  /** Allowed Origin header values; empty = any origin (and none). */
  origins: readonly string[];
}

class WsConnection implements TransportConnection {
  constructor(
    private readonly ws: WebSocket,
    private readonly socket: net.Socket,
    private readonly clock: Clock,
    readonly kind: string,
    readonly remoteAddress: string,
    readonly peerIdentity: PeerIdentity | undefined,
  ) {}

  write(chunks: readonly Buffer[]): boolean {
    const ws = this.ws;
    if (ws.readyState !== ws.OPEN) return true;
    if (chunks.length === 1) {
      ws.send(chunks[0]!, { binary: true });
    } else {
      let total = 0;
      for (const c of chunks) total += c.length;
      if (total <= CONCAT_LIMIT) {
        ws.send(Buffer.concat(chunks, total), { binary: true });
      } else {
        // One message in several frames: small chunks (PUBLISH headers, 100 B payloads) copied together up to
        // CONCAT_LIMIT per frame, large payloads sent as frames of their own without copying; the socket is corked
        // so that every frame leaves in one writev. (One frame per chunk cost one writev per PUBLISH: a subscriber
        // fed 100 B messages faster than it read got thousands of 2-byte and 100-byte frames per turn.)
        const frames = framesOf(chunks);
        const last = frames.length - 1;
        this.socket.cork();
        frames.forEach((f, i) => ws.send(f, { binary: true, fin: i === last }));
        this.socket.uncork();
      }
    }
    return this.socket.writableLength < DEFAULT_WRITE_HIGH_WATER;
  }

  end(): void {
    const ws = this.ws;
    if (ws.readyState === ws.CLOSED) return;
    ws.close(WsClose.Normal);
    const t = this.clock.setTimeout(() => ws.terminate(), END_GRACE_MS);
    ws.once("close", () => t.cancel());
  }

  destroy(): void {
    this.ws.terminate();
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.resume();
  }
}

export interface WebSocketEndpointOptions {
  kind: "ws" | "wss";
  ws: WsOptions;
  /** The maximum packet size on this listener: also the largest WebSocket message accepted. */
  maxPayload: number;
  limits: ListenerLimits | undefined;
  /** wss: for mapping a client certificate to the user name (tls.usernameFrom). */
  tls?: TlsOptions;
}

/** Where the request's URL path matches `path` (query ignored). */
export function pathOf(req: http.IncomingMessage): string {
  const url = req.url ?? "/";
  const q = url.indexOf("?");
  return q < 0 ? url : url.slice(0, q);
}

function reject(socket: net.Socket, status: number, reason: string): void {
  if (socket.writable) {
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  }
  socket.destroy();
}

/**
 * Serves MQTT over WebSocket on `server` (an http or https server): handles its 'upgrade' events. Returns the
 * number of open WebSocket connections and a close() that closes none of them (the broker does).
 */
export function attachWebSocket(
  server: http.Server,
  broker: ConnectionAcceptor,
  opts: WebSocketEndpointOptions,
  logger: Logger,
  clock: Clock,
): { readonly count: number } {
  const state = { count: 0 };
  const origins = new Set(opts.ws.origins);
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: opts.maxPayload,
    perMessageDeflate: false,
    clientTracking: false,
    handleProtocols: (offered) => MQTT_SUBPROTOCOLS.find((p) => offered.has(p)) ?? false,
  });
  server.on("upgrade", (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on("error", () => {}); // reset by the peer mid-upgrade: nothing to do
    if (pathOf(req) !== opts.ws.path) return reject(socket, 404, "Not Found");
    if (origins.size > 0 && !origins.has(req.headers.origin ?? "")) {
      logger.warn({ type: opts.kind, origin: req.headers.origin, remote: socket.remoteAddress }, "origin not allowed");
      return reject(socket, 403, "Forbidden");
    }
    const protocols = req.headers["sec-websocket-protocol"];
    if (protocols !== undefined && !/(^|,)\s*mqtt(v3\.1)?\s*(,|$)/.test(protocols)) {
      return reject(socket, 400, "Bad Request"); // offers subprotocols, none of them MQTT [MQTT-6.0.0-3]
    }
    let identity: PeerIdentity | undefined;
    if (opts.tls !== undefined && socket instanceof tls.TLSSocket) {
      const id = certificateIdentity(socket, opts.tls);
      if (id === null) {
        logger.warn(
          { type: opts.kind, remote: socket.remoteAddress },
          "client certificate has no such field: refusing",
        );
        return reject(socket, 403, "Forbidden");
      }
      identity = id;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      state.count++;
      const remote = `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? 0}`;
      const conn = new WsConnection(ws, socket, clock, opts.kind, remote, identity);
      const handler = broker.accept(conn, opts.limits);
      let error: Error | undefined;
      ws.on("message", (data: Buffer, isBinary: boolean) => {
        if (!isBinary) {
          ws.close(WsClose.UnsupportedData, "MQTT needs binary frames"); // [MQTT-6.0.0-1]
          return;
        }
        handler.onData(data);
      });
      socket.on("drain", () => handler.onDrain());
      ws.on("error", (err) => {
        error = err; // e.g. a message over maxPayload: ws closes with 1009
      });
      ws.on("close", () => {
        state.count--;
        handler.onClose(error);
      });
    });
  });
  return state;
}
