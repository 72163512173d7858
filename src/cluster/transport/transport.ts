// The inter-node transport: every node listens on `cluster.listen` and dials every other member once; each direction
// of traffic between two nodes has its own persistent connection (A's frames to B go over the connection A dialed),
// so there is no tie-breaking and frames from one node to another stay in order.
//
// A module sends a typed frame with `send(nodeId, type, body)` and receives with `handle(type, fn)`; frame types are
// allocated in frame-types.ts. Handlers run synchronously as frames are decoded, with the sender's node id.
import net from "node:net";
import tls from "node:tls";
import type { Clock, Logger } from "../../util/index.ts";
import { ClusterError } from "../errors.ts";
import { Listeners } from "../listeners.ts";
import { DEFAULT_MAX_FRAME_BYTES, FrameDecoder, encodeFrame } from "./frame.ts";
import { FIRST_USER_FRAME_TYPE, TransportFrame } from "./frame-types.ts";
import type { HelloBody } from "./frame-types.ts";
import { DEFAULT_LINK_LIMITS, PeerLink } from "./peer-link.ts";
import type { LinkLimits, LinkStats, PeerAddress } from "./peer-link.ts";

/**
 * The inbound connection a frame came over, as a backpressure producer: hold() stops reading it (TCP then pushes
 * back on the sending node), release() reads again; holds nest.
 */
export interface InboundSource {
  hold(): void;
  release(): void;
}

export type FrameHandler = (from: string, body: Buffer, source: InboundSource) => void;

/** PEM contents for mutual TLS between nodes. */
export interface TransportTls {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer;
}

export interface TransportOptions {
  readonly host: string;
  /** 0 = any free port (see `port` once listening). */
  readonly port: number;
  readonly clusterName: string;
  readonly nodeId: string;
  readonly incarnation: string;
  readonly tls?: TransportTls | undefined;
  readonly limits?: Partial<LinkLimits>;
  readonly maxFrameBytes?: number;
  readonly clock: Clock;
  readonly logger: Logger;
}

export interface TransportEvents {
  /** The link to this peer is writable again after having been over its high-water mark. */
  drain: string;
  /** The link to this peer is (again) connected: frames sent before a reconnect may have been lost, resync. */
  up: string;
}

export interface TransportStats {
  readonly peers: Record<string, LinkStats>;
  readonly framesReceived: number;
  readonly bytesReceived: number;
  /** Frames of a type nobody handles (a newer peer): dropped. */
  readonly framesUnhandled: number;
  /** Inbound connections refused at the handshake (other cluster, wrong node, not a frame stream). */
  readonly refusedConnections: number;
}

/** How long an inbound connection may take to send its hello. */
const HELLO_TIMEOUT_MS = 10_000;

export class PeerTransport {
  readonly #o: TransportOptions;
  readonly #server: net.Server;
  readonly #links = new Map<string, PeerLink>();
  readonly #handlers = new Map<number, FrameHandler>();
  readonly #inbound = new Set<net.Socket>();
  readonly #events: Listeners<TransportEvents>;
  readonly #limits: LinkLimits;
  #framesReceived = 0;
  #bytesReceived = 0;
  #framesUnhandled = 0;
  #refused = 0;
  #closed = false;

  private constructor(o: TransportOptions, server: net.Server) {
    this.#o = o;
    this.#server = server;
    this.#limits = { ...DEFAULT_LINK_LIMITS, ...o.limits };
    this.#events = new Listeners((err) => o.logger.error({ err }, "transport listener failed"));
    server.on("connection", (s: net.Socket) => this.#accept(s));
    server.on("secureConnection", (s: tls.TLSSocket) => this.#accept(s));
  }

  /** Starts listening; rejects when the address cannot be bound. */
  static async listen(o: TransportOptions): Promise<PeerTransport> {
    const server =
      o.tls === undefined
        ? net.createServer({ noDelay: true })
        : tls.createServer({
            cert: o.tls.cert,
            key: o.tls.key,
            ca: o.tls.ca,
            requestCert: true,
            rejectUnauthorized: true, // a node without a certificate from the cluster CA is not a peer
          });
    const t = new PeerTransport(o, server);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(o.port, o.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.on("error", (err: Error) => o.logger.error({ err }, "cluster transport server error"));
    return t;
  }

  /** The bound port (the one to register in etcd). */
  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  get nodeId(): string {
    return this.#o.nodeId;
  }

  /** Registers the one handler of a frame type (types below 16 are the transport's). Returns its removal. */
  handle(type: number, fn: FrameHandler): () => void {
    if (!Number.isInteger(type) || type < FIRST_USER_FRAME_TYPE || type > 255) {
      throw new RangeError(`frame type ${type} outside ${FIRST_USER_FRAME_TYPE}..255`);
    }
    if (this.#handlers.has(type)) throw new Error(`frame type ${type} already has a handler`);
    this.#handlers.set(type, fn);
    return () => void this.#handlers.delete(type);
  }

  on<K extends keyof TransportEvents>(kind: K, fn: (e: TransportEvents[K]) => void): () => void {
    return this.#events.on(kind, fn);
  }

  /** Starts (or, for a new incarnation, replaces) the link to a peer. */
  connect(peer: PeerAddress): void {
    if (this.#closed || peer.id === this.#o.nodeId) return;
    const known = this.#links.get(peer.id);
    if (known !== undefined) {
      const same = known.peer;
      if (same.incarnation === peer.incarnation && same.host === peer.host && same.port === peer.port) return;
      known.close();
    }
    const tlsOpts =
      this.#o.tls === undefined
        ? undefined
        : {
            cert: this.#o.tls.cert,
            key: this.#o.tls.key,
            ca: this.#o.tls.ca,
            // Peers are dialed by address and trusted by the cluster CA; the node id is checked by the handshake.
            checkServerIdentity: () => undefined,
          };
    this.#links.set(
      peer.id,
      new PeerLink(peer, {
        clock: this.#o.clock,
        logger: this.#o.logger,
        limits: this.#limits,
        hello: { v: 1, cluster: this.#o.clusterName, from: this.#o.nodeId, incarnation: this.#o.incarnation },
        tls: tlsOpts,
        onDrain: (id) => this.#events.emit("drain", id),
        onUp: (id) => this.#events.emit("up", id),
      }),
    );
  }

  /** Drops the link to a peer that left; what was queued for it is discarded. */
  disconnect(peerId: string): void {
    this.#links.get(peerId)?.close();
    this.#links.delete(peerId);
  }

  /** Peers with a link (connected or dialing). */
  peers(): string[] {
    return [...this.#links.keys()];
  }

  /**
   * Queues a frame for `nodeId` (written with the rest of this tick's frames for it). False when it was refused: no
   * such peer, or its link holds `maxQueuedBytes` already. A frame to this node itself is handled on the next tick.
   */
  send(nodeId: string, type: number, body: Buffer | readonly Buffer[]): boolean {
    if (nodeId === this.#o.nodeId && !this.#closed) {
      const b = Buffer.isBuffer(body) ? body : Buffer.concat(body);
      setImmediate(() => this.#dispatch(nodeId, type, b, NO_SOURCE));
      return true;
    }
    const link = this.#links.get(nodeId);
    return link !== undefined && link.send(type, body);
  }

  /** False while the link to `nodeId` is over its high-water mark (wait for the "drain" event). */
  writable(nodeId: string): boolean {
    if (nodeId === this.#o.nodeId) return true;
    return this.#links.get(nodeId)?.writable ?? false;
  }

  connected(nodeId: string): boolean {
    return this.#links.get(nodeId)?.connected ?? false;
  }

  stats(): TransportStats {
    const peers: Record<string, LinkStats> = {};
    for (const [id, link] of this.#links) peers[id] = link.stats();
    return {
      peers,
      framesReceived: this.#framesReceived,
      bytesReceived: this.#bytesReceived,
      framesUnhandled: this.#framesUnhandled,
      refusedConnections: this.#refused,
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const link of this.#links.values()) link.close();
    this.#links.clear();
    for (const s of this.#inbound) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#events.clear();
  }

  #dispatch(from: string, type: number, body: Buffer, source: InboundSource): void {
    const fn = this.#handlers.get(type);
    if (fn === undefined) {
      this.#framesUnhandled++;
      return;
    }
    try {
      fn(from, body, source);
    } catch (err) {
      this.#o.logger.error({ err, from, type }, "cluster frame handler failed");
    }
  }

  #accept(s: net.Socket): void {
    if (this.#o.tls !== undefined && !(s instanceof tls.TLSSocket)) return; // the plain socket under a TLS one
    if (this.#closed) {
      s.destroy();
      return;
    }
    s.setNoDelay(true);
    this.#inbound.add(s);
    s.on("close", () => this.#inbound.delete(s));
    s.on("error", (err) => this.#o.logger.debug({ err }, "inbound peer connection error"));
    let from: string | undefined;
    let holds = 0;
    const source: InboundSource = {
      hold: () => {
        if (holds++ === 0) s.pause();
      },
      release: () => {
        if (holds > 0 && --holds === 0) s.resume();
      },
    };
    const helloTimer = this.#o.clock.setTimeout(() => this.#refuse(s, "no hello in time"), HELLO_TIMEOUT_MS);
    const refuse = (why: string): void => {
      helloTimer.cancel();
      this.#refuse(s, why);
    };
    const decoder = new FrameDecoder((type, body) => {
      if (from !== undefined) {
        this.#framesReceived++;
        this.#bytesReceived += body.length + 5;
        this.#dispatch(from, type, body, source);
        return;
      }
      if (type !== TransportFrame.Hello) return refuse(`expected a hello frame, got type ${type}`);
      const hello = parseHello(body);
      if (hello === undefined) return refuse("unreadable hello");
      if (hello.cluster !== this.#o.clusterName) return refuse(`other cluster ${JSON.stringify(hello.cluster)}`);
      if (hello.to !== this.#o.nodeId) return refuse(`meant for node ${JSON.stringify(hello.to)}`);
      helloTimer.cancel();
      from = hello.from;
      s.write(encodeFrame(TransportFrame.HelloAck, Buffer.alloc(0)));
    }, this.#o.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
    s.on("data", (chunk: Buffer) => {
      try {
        decoder.push(chunk);
      } catch (err) {
        refuse(err instanceof ClusterError ? err.message : String(err));
      }
    });
    s.on("close", () => helloTimer.cancel());
  }

  #refuse(s: net.Socket, why: string): void {
    if (s.destroyed) return;
    this.#refused++;
    this.#o.logger.warn({ remote: s.remoteAddress, reason: why }, "inbound cluster connection refused");
    s.destroy();
  }
}

const NO_SOURCE: InboundSource = { hold() {}, release() {} };

function parseHello(body: Buffer): HelloBody | undefined {
  try {
    const v = JSON.parse(body.toString()) as Partial<HelloBody>;
    if (v.v !== 1 || typeof v.cluster !== "string" || typeof v.from !== "string") return undefined;
    if (typeof v.to !== "string" || typeof v.incarnation !== "string") return undefined;
    return v as HelloBody;
  } catch {
    return undefined;
  }
}
