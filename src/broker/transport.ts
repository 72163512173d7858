// The seam between transports (TCP, TLS, WebSocket, …) and the broker core. Transports adapt their sockets to
// `TransportConnection` and hand them to a `ConnectionAcceptor` (the Broker); the core never imports
// net/tls/http/ws. Flow control runs both ways: write() reports backpressure (the core waits for onDrain), and the
// core may pause()/resume() input while a handler is pending.

/** What a transport hands the broker for one client connection. */
export interface TransportConnection {
  /**
   * Write every chunk, in order, as one socket write (the core calls this at most once per
   * connection per event-loop turn with everything it coalesced). Returns false when the
   * transport's buffer is over its high-water mark: the core stops writing until `onDrain`.
   */
  write(chunks: readonly Buffer[]): boolean;
  /** Flush pending bytes, then close. */
  end(): void;
  /**
   * Optional: close after the client's DISCONNECT, when it has nothing more to say, without waiting for it to
   * close its side (as Mosquitto does); pending bytes are still delivered. Absent = end().
   */
  closeAfterGoodbye?(): void;
  /** Close at once, dropping unsent bytes. */
  destroy(): void;
  /**
   * Stop delivering input (onData) until resume(): the core calls it when it will not decode more for now (input
   * piled up behind a pending auth hook), so the bytes wait in the kernel and TCP flow control slows the client.
   * Both are idempotent; a chunk already on its way may still arrive after pause().
   */
  pause(): void;
  resume(): void;
  /**
   * Bytes written but not yet handed to the OS (Node's socket.writableLength): part of the outbound side the
   * backpressure marks measure (src/broker/backpressure.ts). Absent = 0.
   */
  readonly bufferedBytes?: number;
  /** e.g. "127.0.0.1:50123", for logs. */
  readonly remoteAddress: string;
  /** e.g. "tcp", "tls", "ws": for logs and $SYS. */
  readonly kind: string;
  /** What the transport proved about the peer (mTLS: a verified client certificate); authentication may use it. */
  readonly peerIdentity?: PeerIdentity;
}

/** A peer identity proven by the transport (e.g. a client certificate that passed verification). */
export interface PeerIdentity {
  /** Subject Common Name. */
  readonly commonName?: string;
  /** Subject Alternative Names as Node prints them ("DNS:x", "email:y", "URI:z"). */
  readonly subjectAltNames?: readonly string[];
  /** SHA-256 fingerprint, colon-separated hex (as Node's getPeerCertificate().fingerprint256). */
  readonly fingerprint256?: string;
  /**
   * The MQTT user name the listener maps this identity to (tls.usernameFrom: the CN or a SAN). When set, the
   * connection is authenticated as this user: the CONNECT User Name / Password are ignored, the authenticate hook
   * is not called, and ACL rules by user name match it.
   */
  readonly username?: string;
}

/** What the broker gives back: the transport calls these as socket events happen. */
export interface ConnectionHandler {
  /** Bytes arrived from the client. */
  onData(chunk: Buffer): void;
  /** The transport's buffer drained below its low-water mark. */
  onDrain(): void;
  /** The socket closed (error set if it closed on an error). Called exactly once. */
  onClose(error?: Error): void;
}

/** What a listener hands its connections to (Broker implements it): transports need nothing else of the core. */
export interface ConnectionAcceptor {
  /** Takes one client connection and returns the handler for its socket events. */
  accept(conn: TransportConnection, limits?: ListenerLimits): ConnectionHandler;
}

/** Per-connection limits a listener imposes. */
export interface ListenerLimits {
  /** Overrides the broker's maxPacketSize for this listener when smaller. */
  maxPacketSize?: number;
}
