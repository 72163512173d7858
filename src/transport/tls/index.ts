// TLS listener (MQTT over TLS, usually port 8883): node:tls sockets adapted by the tcp transport's connection
// class (a TLSSocket is a net.Socket), so writes, backpressure and closing behave exactly as on tcp.
//  - ALPN "mqtt" (clients that offer no ALPN are accepted too).
//  - reload(): re-reads the certificate files and swaps the secure context for NEW handshakes; established
//    connections keep theirs and are never dropped (wired to SIGHUP by the CLI).
//  - mTLS: requireClientCert verifies against `ca`; usernameFrom maps CN or a SAN of the verified certificate to
//    the MQTT user name (TransportConnection.peerIdentity.username). A certificate lacking that field is refused.
//    Any verified client certificate is described in peerIdentity (CN, SANs, fingerprint) for authentication.
import tls from "node:tls";
import type { ConnectionAcceptor, PeerIdentity } from "../../broker/index.ts";
import { silentLogger, systemClock } from "../../util/index.ts";
import type { Clock, Logger } from "../../util/index.ts";
import { attachSocket, DEFAULT_WRITE_HIGH_WATER, TcpConnection } from "../tcp/index.ts";
import type { SocketSetup } from "../tcp/index.ts";
import { bind, limitConnections, stopAccepting, type ListenerHandle } from "../listen.ts";
import {
  certificateUsername,
  parseSubjectAltName,
  secureContextOptions,
  tlsServerOptions,
  type TlsOptions,
} from "./context.ts";

export * from "./context.ts";

export interface TlsListenerOptions {
  host: string;
  port: number;
  maxConnections?: number;
  maxPacketSize?: number;
  tls: TlsOptions;
}

export interface TlsListener extends ListenerHandle {
  /** Re-reads cert/key/ca; throws TlsConfigError (and keeps the current ones) when they are unusable. */
  reload(): void;
}

/**
 * What a verified client certificate proves (undefined without one). With `tls.usernameFrom`, `username` is the
 * mapped field; null when the certificate lacks it (the connection must then be refused).
 */
export function certificateIdentity(socket: tls.TLSSocket, opts: TlsOptions): PeerIdentity | undefined | null {
  if (!socket.authorized) return undefined;
  const cert = socket.getPeerCertificate();
  if (cert === null || Object.keys(cert).length === 0) return undefined;
  const from = opts.usernameFrom ?? "none";
  const username = from === "none" ? undefined : certificateUsername(cert, from);
  if (from !== "none" && username === undefined) return null;
  const cn = certificateUsername(cert, "cn");
  const sans = parseSubjectAltName(cert.subjectaltname ?? "").map(([k, v]) => `${k}:${v}`);
  return {
    ...(cn !== undefined ? { commonName: cn } : {}),
    ...(sans.length > 0 ? { subjectAltNames: sans } : {}),
    fingerprint256: cert.fingerprint256,
    ...(username !== undefined ? { username } : {}),
  };
}

export async function listenTls(
  broker: ConnectionAcceptor,
  opts: TlsListenerOptions,
  logger: Logger = silentLogger,
  clock: Clock = systemClock,
): Promise<TlsListener> {
  const server = tls.createServer(tlsServerOptions(opts.tls, ["mqtt"], tls.createSecureContext));
  const limits = opts.maxPacketSize !== undefined ? { maxPacketSize: opts.maxPacketSize } : undefined;
  const open = limitConnections(server, opts.maxConnections, logger, "tls");

  let setup: SocketSetup | undefined;
  server.on("secureConnection", (socket: tls.TLSSocket) => {
    const identity = certificateIdentity(socket, opts.tls);
    if (identity === null) {
      logger.warn(
        { type: "tls", remote: socket.remoteAddress, usernameFrom: opts.tls.usernameFrom },
        "client certificate has no such field to use as user name: refusing",
      );
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    // Node gives every accepted socket the same writable mark.
    setup ??= {
      clock,
      highWater: Math.max(DEFAULT_WRITE_HIGH_WATER, socket.writableHighWaterMark),
      kind: "tls",
      onClosed: undefined,
    };
    attachSocket(broker, socket, new TcpConnection(socket, setup, identity ?? undefined), limits);
  });
  // Failed handshakes (plaintext client, wrong CA, expired or missing client certificate): the socket is
  // destroyed by node; log at debug only, a scanner must not be able to flood the log.
  server.on("tlsClientError", (err, socket) => {
    logger.debug({ type: "tls", remote: socket.remoteAddress, err: err.message }, "tls handshake failed");
  });

  const port = await bind(server, opts.host, opts.port, logger, "tls");
  return {
    type: "tls",
    host: opts.host,
    port,
    get connections() {
      return open.count;
    },
    reload() {
      server.setSecureContext(secureContextOptions(opts.tls, tls.createSecureContext));
      logger.info({ type: "tls", host: opts.host, port }, "tls certificates reloaded");
    },
    close: () => stopAccepting(server),
  };
}
