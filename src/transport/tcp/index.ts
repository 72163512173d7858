// TCP listener: adapts accepted TCP connections to the broker's TransportConnection.
//  - Accepted connections are held on libuv's TCP handle directly (raw.ts: RawTcpConnection), without a net.Socket
//    (a connection storm's main cost, issue #10), wherever Node exposes that handle API; otherwise, and for TLS
//    (src/transport/tls), as net.Sockets through TcpConnection below. Both behave the same
//    (test/integration/transports/tcp-raw.test.ts runs one suite against each).
//  - TCP_NODELAY: MQTT packets are small and latency matters; the broker already coalesces writes per turn, so
//    Nagle could only add delay. On Linux it is set once on the listening socket, which every accepted socket
//    inherits (the kernel clones the listener's options), instead of a setsockopt per connection (a storm makes
//    thousands a second, issue #10); elsewhere, or if Node's listening handle cannot, by the server's noDelay
//    option (Node's setsockopt on each accepted socket).
//    No SO_KEEPALIVE: MQTT's own keepalive supervises idle clients [MQTT-3.1.2-24], so that syscall is not paid.
//  - Every write() of the core (all packets of one event-loop turn for this connection) becomes one syscall:
//    8 or more small chunks (at most COALESCE_AVG_BYTES on average: most MQTT packets) are copied into one buffer
//    and written once, others between cork() and uncork(), which Node turns into a single writev. Each
//    socket.write() runs Node's stream code once per chunk: writing 20 or 200 chunks of 100 B a time on a loopback
//    socket pair cost 694-797 / 238 ns of CPU per chunk corked, 534-581 / 120 ns concatenated (both ends; equal at
//    2-8 chunks), and that code runs slower still once HTTP traffic in the same process (webhooks, a metrics
//    scrape) has given it sockets of other shapes (issue #15; bench/tools/socket-writes.mjs, at load ~10).
//  - maxConnections: connections beyond the limit are destroyed immediately, before any byte is read.
//  - maxPacketSize: handed to the broker as ListenerLimits (the codec refuses larger packets).
//  - pause()/resume(): socket.pause()/resume(), for the core's input bound while a handler is pending.
//  - Takes any ConnectionAcceptor (the Broker is one), not the concrete Broker.
//  - Per connection (a storm makes thousands a second, issue #10): no closures. The socket's listeners are shared
//    functions that find their handler on the socket, and the grace period after end() is a deadline on one shared
//    timer (util/deadlines.ts).
import net from "node:net";
import { getDefaultHighWaterMark } from "node:stream";
import type {
  ConnectionAcceptor,
  ConnectionHandler,
  ListenerLimits,
  PeerIdentity,
  TransportConnection,
} from "../../broker/index.ts";
import { DeadlineList, silentLogger, systemClock } from "../../util/index.ts";
import { readIntoSharedBuffer } from "./user-read.ts";
import type { Clock, DeadlineEntry, Logger } from "../../util/index.ts";
import { acceptError, rawTcpAvailable, RawTcpConnection, refuseRaw, startRaw } from "./raw.ts";
import type { OnConnection, RawSetup } from "./raw.ts";

export interface TcpListenerOptions {
  host: string;
  /** 0 = an ephemeral port (see TcpListener.port for the one chosen). */
  port: number;
  maxConnections?: number;
  maxPacketSize?: number;
  /**
   * Bytes a socket may hold unsent before the broker is told to stop writing to it (default 1 MiB). Node's own
   * 16 KiB mark would flag every large message as backpressure even when the kernel took it at once.
   */
  writeHighWaterMark?: number;
  /**
   * Accept connections as net.Sockets even where raw handles are available (raw.ts). For tests and A/B
   * measurements of the two paths; the raw path is the default.
   */
  nodeSockets?: boolean;
}

export interface TcpListener {
  readonly host: string;
  readonly port: number;
  /** Open client sockets on this listener. */
  readonly connections: number;
  /** Stops accepting new connections. Open connections are closed by broker.close(). */
  close(): Promise<void>;
}

/** After end(), how long a peer may keep the half-closed socket before it is destroyed. */
const END_GRACE_MS = 5000;
export const DEFAULT_WRITE_HIGH_WATER = 1024 * 1024;
/** Above this many chunks one write is copied into one buffer (Linux IOV_MAX is 1,024 per writev). */
const MAX_IOVECS = 256;
/**
 * Chunks of at most this many bytes on average are copied into one buffer rather than written one by one under
 * cork(): copying 512 bytes costs less than a socket.write() call; a large payload (its own chunk, from 1 KB:
 * connection.ts SPLIT_PAYLOAD_BYTES) raises the average above it and keeps its zero-copy writev.
 */
const COALESCE_AVG_BYTES = 512;
/** Fewer chunks than this stay corked: at 2-4 chunks of 100 B the copy and the writev cost the same (within ±10 %). */
const COALESCE_MIN_CHUNKS = 8;

/**
 * At most COALESCE_MAX_BYTES in all, so that Buffer.concat takes its buffer from Node's shared pool: above it each
 * write allocated an ArrayBuffer of its own, and fan-out QoS 0 (50 sockets, ~100 chunks each per turn) ran 15 %
 * slower per delivery than corked writes (0.183–0.204 against 0.148–0.179 µs, 8 interleaved rounds, stop 14).
 */
const COALESCE_MAX_BYTES = Buffer.poolSize >>> 1;

/** One write of `chunks` is one copied buffer rather than a writev (see the file header). */
function joinChunks(chunks: readonly Buffer[]): boolean {
  return chunks.length > MAX_IOVECS || (chunks.length >= COALESCE_MIN_CHUNKS && coalescable(chunks));
}

function coalescable(chunks: readonly Buffer[]): boolean {
  let n = 0;
  for (let i = 0; i < chunks.length; i++) n += chunks[i]!.length;
  return n <= COALESCE_MAX_BYTES && n <= COALESCE_AVG_BYTES * chunks.length;
}

/** Our adapter (which holds the broker's handler), kept on the socket for the shared listeners below. */
const kConn = Symbol("wharf.tcp.connection");
interface AttachedSocket extends net.Socket {
  [kConn]?: TcpConnection;
}

/** The END_GRACE_MS deadlines of every TcpConnection on one clock: one timer for all of them (util/deadlines.ts). */
const endGraces = new WeakMap<Clock, DeadlineList>();
function endGraceOf(clock: Clock): DeadlineList {
  let l = endGraces.get(clock);
  if (l === undefined) {
    l = new DeadlineList(clock, END_GRACE_MS);
    endGraces.set(clock, l);
  }
  return l;
}

/**
 * What every connection of one listener shares: one object per listener instead of four fields per connection (a
 * storm holds thousands of idle connections, issue #10).
 */
export interface SocketSetup {
  readonly clock: Clock;
  /** Bytes a socket may hold unsent before the broker is told to stop writing (TcpListenerOptions). */
  readonly highWater: number;
  /** TransportConnection.kind: "tcp", "tls". */
  readonly kind: string;
  /** Runs when a socket closed, before the broker hears of it (the listener's connection count). */
  readonly onClosed: (() => void) | undefined;
}

/** The END_GRACE_MS deadline after end(): made by end(), so an open connection carries no deadline fields. */
class EndGrace implements DeadlineEntry {
  deadlineAt = 0;
  deadlinePrev: DeadlineEntry | undefined = undefined;
  deadlineNext: DeadlineEntry | undefined = undefined;
  deadlineList: DeadlineList | undefined = undefined;
  constructor(private readonly socket: net.Socket) {}

  /** END_GRACE_MS after end() and the peer has not closed its side. */
  onDeadline(): void {
    this.socket.destroy();
  }
}

/** Also adapts TLS sockets (a tls.TLSSocket is a net.Socket): src/transport/tls reuses it with kind "tls". */
export class TcpConnection implements TransportConnection {
  /**
   * Read at once (a getpeername syscall): Node cannot tell it after the socket closed, and the log lines and the
   * per-address log limit of a connection that closes before its CONNECT need it then.
   */
  readonly remoteAddress: string;
  #ending = false;
  /** Set by attachSocket: the broker's side of this connection. */
  handler: ConnectionHandler | undefined = undefined;
  /** The socket's last 'error', handed to the broker with 'close'. */
  error: Error | undefined = undefined;
  #grace: EndGrace | undefined = undefined;

  constructor(
    private readonly socket: net.Socket,
    readonly setup: SocketSetup,
    /** mTLS: who the client certificate says the client is (src/transport/tls). */
    readonly peerIdentity?: PeerIdentity,
  ) {
    this.remoteAddress = `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? 0}`;
  }

  get kind(): string {
    return this.setup.kind;
  }

  write(chunks: readonly Buffer[]): boolean {
    const s = this.socket;
    if (s.destroyed || !s.writable) return true;
    let ok: boolean;
    if (chunks.length === 1) {
      ok = s.write(chunks[0]!);
    } else if (joinChunks(chunks)) {
      // One copy into a single buffer. Past MAX_IOVECS: a turn's worth of small PUBLISHes can be ~10,000 chunks,
      // writev takes at most IOV_MAX (1,024) per call, so libuv would need ~10 partial writes; the copy costs less
      // than those syscalls. Small packets: one copy costs less than a write() each (file header).
      ok = s.write(Buffer.concat(chunks));
    } else {
      s.cork();
      ok = true;
      for (const c of chunks) ok = s.write(c);
      s.uncork();
    }
    if (!ok && !this.#drainListened) {
      // 'drain' follows only a write() that returned false, so its listener is added then, not per connection (most
      // connections never fill Node's buffer). Added before the event can fire: Node emits it on a later tick.
      this.#drainListened = true;
      s.on("drain", onSocketDrain);
    }
    // Backpressure only above our mark. When we report it, Node's write() has returned false as well (our mark is
    // above Node's), so a 'drain' event is guaranteed to follow.
    return ok || s.writableLength < this.setup.highWater;
  }

  #drainListened = false;

  end(): void {
    const s = this.socket;
    if (s.destroyed || this.#ending) return;
    this.#ending = true;
    s.end();
    if (s.destroyed) return;
    // The peer gets END_GRACE_MS to close its side (EndGrace); the socket's 'close' listener calls closed().
    const clock = this.setup.clock;
    endGraceOf(clock).add((this.#grace = new EndGrace(s)), clock.now());
  }

  /**
   * After the client's DISCONNECT: when everything written was handed to the kernel, close the socket at once. The
   * kernel still sends what it holds, then FIN (the client said it sends nothing more, so no unread input turns it
   * into a reset). This saves the half-close (a shutdown syscall), the wait for the client's FIN and the grace
   * deadline. With bytes still queued in Node,
   * end() as usual.
   */
  closeAfterGoodbye(): void {
    const s = this.socket;
    if (s.destroyed) return;
    if (s.writableLength > 0 || this.#ending) this.end();
    else s.destroy();
  }

  /** The socket closed: the grace deadline of end() is not needed any more. */
  closed(): void {
    const g = this.#grace;
    if (g !== undefined) g.deadlineList?.remove(g);
  }

  destroy(): void {
    this.socket.destroy();
  }

  // socket.pause() stops 'data' events and reading from the kernel: the client's bytes wait there, and TCP flow
  // control slows the client once the kernel buffer is full.
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    if (!this.socket.destroyed) this.socket.resume();
  }

  get bufferedBytes(): number {
    return this.socket.writableLength;
  }
}

// Shared socket listeners: `this` is the socket (EventEmitter calls listeners with it).
function onSocketData(this: AttachedSocket, chunk: Buffer): void {
  this[kConn]!.handler!.onData(chunk);
}
function onSocketDrain(this: AttachedSocket): void {
  this[kConn]!.handler!.onDrain();
}
function onSocketError(this: AttachedSocket, err: Error): void {
  this[kConn]!.error = err;
}
function onSocketClose(this: AttachedSocket): void {
  const conn = this[kConn]!;
  conn.closed();
  conn.setup.onClosed?.();
  conn.handler!.onClose(conn.error);
}

/**
 * Hands `conn` to the broker and forwards the socket's events to it; its setup's `onClosed` runs before the broker
 * hears of a close. The adapter itself carries the handler (no extra object per connection: a storm holds
 * thousands). `sharedRead`: a plain TCP socket, read through the shared buffer (user-read.ts).
 */
export function attachSocket(
  broker: ConnectionAcceptor,
  socket: net.Socket,
  conn: TcpConnection,
  limits: ListenerLimits | undefined,
  sharedRead = false,
): void {
  conn.handler = broker.accept(conn, limits);
  (socket as AttachedSocket)[kConn] = conn;
  // Plain TCP reads into one buffer shared by every socket, without Node's per-read stream work (user-read.ts);
  // TLS sockets (their handle decrypts) and a Node without the option take 'data'.
  if (!sharedRead || !readIntoSharedBuffer(socket, onSocketData)) socket.on("data", onSocketData);
  socket.on("error", onSocketError);
  socket.on("close", onSocketClose);
}

/** Node's listening handle and option (not in its typings): what noDelayOnListener needs, both checked at run time. */
interface ListeningServer {
  _handle?: { setNoDelay?: (on: boolean) => number; onconnection?: OnConnection } | null;
  noDelay?: boolean;
}

/**
 * Linux: TCP_NODELAY on the listening socket (accepted sockets inherit it), then Node's per-socket setsockopt is
 * switched off. Anywhere this cannot be done (another OS, a cluster worker's shared handle, a Node without these
 * internals) the server keeps its noDelay option, so every accepted socket still gets TCP_NODELAY. True when the
 * listening socket has it (accepted sockets inherit it).
 */
export function noDelayOnListener(server: net.Server): boolean {
  if (process.platform !== "linux") return false;
  const s = server as unknown as ListeningServer;
  const h = s._handle;
  if (s.noDelay !== true || typeof h?.setNoDelay !== "function") return false;
  if (h.setNoDelay(true) !== 0) return false;
  s.noDelay = false;
  return true;
}

export function listenTcp(
  broker: ConnectionAcceptor,
  opts: TcpListenerOptions,
  logger: Logger = silentLogger,
  clock: Clock = systemClock,
): Promise<TcpListener> {
  let open = 0;
  const server = net.createServer({ noDelay: true });
  const limits = opts.maxPacketSize !== undefined ? { maxPacketSize: opts.maxPacketSize } : undefined;
  const writeHighWater = opts.writeHighWaterMark ?? DEFAULT_WRITE_HIGH_WATER;
  let setup: SocketSetup | undefined; // made at the first connection: Node's socket mark is known then
  const onClosed = (): void => {
    open--;
  };
  const refused = (remote: string | undefined): void => {
    logger.warn({ remote, max: opts.maxConnections }, "connection limit reached: refusing");
  };

  server.on("connection", (socket) => {
    if (opts.maxConnections !== undefined && open >= opts.maxConnections) {
      refused(socket.remoteAddress);
      socket.destroy();
      return;
    }
    open++;
    // Node gives every accepted socket the same writable mark (the server's highWaterMark option, unset here).
    setup ??= { clock, highWater: Math.max(writeHighWater, socket.writableHighWaterMark), kind: "tcp", onClosed };
    attachSocket(broker, socket, new TcpConnection(socket, setup), limits, true);
  });

  // Raw handles (raw.ts): accepted connections skip net.Socket. Set up once listening, when the handle exists.
  const useRaw = opts.nodeSockets !== true && rawTcpAvailable();
  const rawSetup: RawSetup = {
    highWater: Math.max(writeHighWater, getDefaultHighWaterMark(false)),
    kind: "tcp",
    onClosed,
    endGrace: () => endGraceOf(clock),
    now: () => clock.now(),
    joinChunks,
  };
  let rawNoDelay = false; // TCP_NODELAY per accepted handle (when the listening socket could not pass it on)
  const onRawConnection: OnConnection = (err, handle) => {
    if (err !== 0 || handle === undefined) {
      server.emit("error", acceptError(err)); // as Node's own onconnection
      return;
    }
    if (opts.maxConnections !== undefined && open >= opts.maxConnections) {
      refused(refuseRaw(handle));
      return;
    }
    open++;
    if (rawNoDelay) handle.setNoDelay(true);
    const conn = new RawTcpConnection(handle, rawSetup);
    conn.handler = broker.accept(conn, limits);
    startRaw(handle, conn);
  };

  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once("error", onError);
    server.listen(opts.port, opts.host, () => {
      server.off("error", onError);
      const inherited = noDelayOnListener(server);
      const h = (server as unknown as ListeningServer)._handle;
      if (useRaw && h !== null && h !== undefined && typeof h.onconnection === "function") {
        rawNoDelay = !inherited;
        h.onconnection = onRawConnection;
      }
      server.on("error", (err) => logger.error({ err }, "tcp listener error"));
      const addr = server.address();
      const port = typeof addr === "object" && addr !== null ? addr.port : opts.port;
      logger.info({ type: "tcp", host: opts.host, port }, "tcp listener started");
      resolve({
        host: opts.host,
        port,
        get connections() {
          return open;
        },
        close: () =>
          new Promise<void>((done) => {
            if (!server.listening) {
              done();
              return;
            }
            // server.close()'s callback waits for every connection to end; stopping to accept is immediate.
            server.close();
            done();
          }),
      });
    });
  });
}
