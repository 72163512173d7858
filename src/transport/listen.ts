// Helpers shared by the listeners other than tcp: binding a server, stopping it, and the per-listener
// connection limit applied to raw sockets (before any TLS handshake or HTTP parsing costs memory).
import type net from "node:net";
import type { Logger } from "../util/index.ts";

/** What every listener reports (logs, server wiring, tests). */
export interface ListenerHandle {
  /** "tcp", "tls", "ws", "wss", "http", "coap". */
  readonly type: string;
  readonly host: string;
  readonly port: number;
  /** Open client connections (sockets; for coap, observers). */
  readonly connections: number;
  /** Stops accepting new connections. Open MQTT connections are closed by broker.close(). */
  close(): Promise<void>;
}

/** Binds `server`; resolves with the port chosen (for port 0). Later server errors are logged. */
export function bind(server: net.Server, host: string, port: number, logger: Logger, type: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      server.on("error", (err) => logger.error({ err, type }, "listener error"));
      const addr = server.address();
      const chosen = typeof addr === "object" && addr !== null ? addr.port : port;
      logger.info({ type, host, port: chosen }, `${type} listener started`);
      resolve(chosen);
    });
  });
}

/** Stops accepting at once (server.close()'s callback would wait for every open connection). */
export function stopAccepting(server: net.Server): Promise<void> {
  if (server.listening) server.close();
  return Promise.resolve();
}

/**
 * Counts the raw sockets of `server` and destroys those beyond `max` (undefined = unlimited) before they cost
 * anything. Returns the live count.
 */
export function limitConnections(
  server: net.Server,
  max: number | undefined,
  logger: Logger,
  type: string,
): { readonly count: number } {
  const state = { count: 0 };
  server.on("connection", (socket: net.Socket) => {
    if (max !== undefined && state.count >= max) {
      logger.warn({ type, remote: socket.remoteAddress, max }, "connection limit reached: refusing");
      socket.destroy();
      return;
    }
    state.count++;
    socket.once("close", () => state.count--);
  });
  return state;
}
