// The outbound connection to one peer: frames for it are queued, and written together once per tick (cork/uncork:
// one writev for everything sent to that peer in the tick). While the connection is down the queue waits (up to
// `maxQueuedBytes`) and the link dials again with exponential backoff (100 ms doubling to 2 s).
//
// Backpressure: `queuedBytes` counts what this link holds (its queue plus the socket's unsent bytes). Above
// `highWaterBytes` the link is not `writable` and callers should hold their producers; `onDrain` fires when it is
// back at or below `lowWaterBytes`. Past `maxQueuedBytes` send() refuses (returns false) rather than grow.
//
// Delivery: in order, at most once. Frames written to a connection that then breaks may be lost: modules that need
// more (forwarded QoS 1/2 messages, queue replication) acknowledge at their own level.
import net from "node:net";
import tls from "node:tls";
import type { Clock, Logger, TimerHandle } from "../../util/index.ts";
import { FrameDecoder, frameHeader } from "./frame.ts";
import { TransportFrame } from "./frame-types.ts";
import type { HelloBody } from "./frame-types.ts";

export interface LinkLimits {
  readonly highWaterBytes: number;
  readonly lowWaterBytes: number;
  readonly maxQueuedBytes: number;
}

export const DEFAULT_LINK_LIMITS: LinkLimits = {
  highWaterBytes: 4 * 1024 * 1024,
  lowWaterBytes: 1024 * 1024,
  maxQueuedBytes: 64 * 1024 * 1024,
};

/** Parts at least this large are written as they are; smaller ones are copied together (see #flush). */
const COPY_LIMIT = 16 * 1024;
/** Size of one coalesced write. */
const RUN_BYTES = 256 * 1024;

export interface PeerAddress {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly incarnation: string;
}

export interface LinkDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly limits: LinkLimits;
  readonly hello: Omit<HelloBody, "to">;
  /** TLS options for dialing (mutual TLS), or undefined for plain TCP. */
  readonly tls: tls.ConnectionOptions | undefined;
  /** The link went from not writable to writable. */
  readonly onDrain: (peer: string) => void;
  /** The handshake completed: frames flow (again). Frames sent before a reconnect may have been lost. */
  readonly onUp: (peer: string) => void;
}

export interface LinkStats {
  readonly connected: boolean;
  readonly queuedBytes: number;
  readonly framesSent: number;
  readonly bytesSent: number;
  /** Write batches (one per tick with something to send). */
  readonly flushes: number;
  readonly refused: number;
  readonly connects: number;
}

const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 2000;

export class PeerLink {
  #socket: net.Socket | undefined;
  #ready = false;
  #closed = false;
  #queue: Buffer[] = [];
  #queueBytes = 0;
  #flushScheduled = false;
  #congested = false;
  #backoff = BACKOFF_MIN_MS;
  #retry: TimerHandle | undefined;
  #framesSent = 0;
  #bytesSent = 0;
  #flushes = 0;
  #refused = 0;
  #connects = 0;

  constructor(
    readonly peer: PeerAddress,
    private readonly deps: LinkDeps,
  ) {
    this.#dial();
  }

  /** Bytes held for this peer: queued here plus unsent in the socket. */
  get queuedBytes(): number {
    return this.#queueBytes + (this.#socket?.writableLength ?? 0);
  }

  get writable(): boolean {
    return !this.#closed && this.queuedBytes < this.deps.limits.highWaterBytes;
  }

  get connected(): boolean {
    return this.#ready;
  }

  stats(): LinkStats {
    return {
      connected: this.#ready,
      queuedBytes: this.queuedBytes,
      framesSent: this.#framesSent,
      bytesSent: this.#bytesSent,
      flushes: this.#flushes,
      refused: this.#refused,
      connects: this.#connects,
    };
  }

  /** Queues one frame (body parts are not copied: do not reuse them). False: refused (closed or over the limit). */
  send(type: number, body: Buffer | readonly Buffer[]): boolean {
    const parts = Buffer.isBuffer(body) ? [body] : body;
    let bytes = 0;
    for (const p of parts) bytes += p.length;
    if (this.#closed || this.queuedBytes + bytes + 5 > this.deps.limits.maxQueuedBytes) {
      this.#refused++;
      return false;
    }
    this.#queue.push(frameHeader(type, bytes), ...parts);
    this.#queueBytes += bytes + 5;
    this.#framesSent++;
    if (!this.#congested && this.queuedBytes >= this.deps.limits.highWaterBytes) this.#congested = true;
    this.#scheduleFlush();
    return true;
  }

  /** Drops the connection and everything queued. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#retry?.cancel();
    this.#queue = [];
    this.#queueBytes = 0;
    this.#socket?.destroy();
    this.#socket = undefined;
    this.#ready = false;
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled || !this.#ready) return;
    this.#flushScheduled = true;
    setImmediate(() => this.#flush());
  }

  #flush(): void {
    this.#flushScheduled = false;
    const s = this.#socket;
    if (!this.#ready || s === undefined || this.#queue.length === 0) return;
    const parts = this.#queue;
    const bytes = this.#queueBytes;
    this.#queue = [];
    this.#queueBytes = 0;
    // Small parts (frame headers, message heads, small payloads: three per forwarded message) are copied into one
    // buffer: one write() per tick instead of one per part (each a stream write request: at 100k messages/s that
    // was 300k writes/s). Large parts (>= COPY_LIMIT) go as they are.
    s.cork();
    let run: Buffer[] = [];
    let runBytes = 0;
    const flushRun = (): void => {
      if (runBytes === 0) return;
      s.write(run.length === 1 ? run[0]! : Buffer.concat(run, runBytes));
      run = [];
      runBytes = 0;
    };
    for (const p of parts) {
      if (p.length >= COPY_LIMIT) {
        flushRun();
        s.write(p);
      } else {
        run.push(p);
        runBytes += p.length;
        if (runBytes >= RUN_BYTES) flushRun();
      }
    }
    flushRun();
    s.uncork();
    this.#flushes++;
    this.#bytesSent += bytes;
    this.#checkDrain();
  }

  #checkDrain(): void {
    if (this.#congested && this.queuedBytes <= this.deps.limits.lowWaterBytes) {
      this.#congested = false;
      this.deps.onDrain(this.peer.id);
    }
  }

  #dial(): void {
    if (this.#closed) return;
    const { host, port } = this.peer;
    const s =
      this.deps.tls === undefined
        ? net.connect({ host, port, noDelay: true })
        : tls.connect({ ...this.deps.tls, host, port });
    s.setNoDelay(true);
    this.#socket = s;
    const hello: HelloBody = { ...this.deps.hello, to: this.peer.id };
    const body = Buffer.from(JSON.stringify(hello));
    s.once(this.deps.tls === undefined ? "connect" : "secureConnect", () => {
      s.write(Buffer.concat([frameHeader(TransportFrame.Hello, body.length), body]));
    });
    const decoder = new FrameDecoder((type) => {
      if (type !== TransportFrame.HelloAck || this.#ready) return;
      this.#ready = true;
      this.#connects++;
      this.#backoff = BACKOFF_MIN_MS;
      this.deps.logger.debug({ peer: this.peer.id }, "peer link up");
      this.#scheduleFlush();
      this.deps.onUp(this.peer.id);
    }, 1024);
    s.on("data", (chunk: Buffer) => {
      try {
        decoder.push(chunk);
      } catch (err) {
        this.deps.logger.warn({ err, peer: this.peer.id }, "peer sent an invalid frame: reconnecting");
        s.destroy();
      }
    });
    s.on("drain", () => this.#checkDrain());
    s.on("error", (err: Error) => this.deps.logger.debug({ err, peer: this.peer.id }, "peer link error"));
    s.on("close", () => {
      if (this.#socket !== s) return;
      const wasReady = this.#ready;
      this.#ready = false;
      this.#socket = undefined;
      if (this.#closed) return;
      if (wasReady) this.deps.logger.info({ peer: this.peer.id }, "peer link down: reconnecting");
      this.#retry = this.deps.clock.setTimeout(() => this.#dial(), this.#backoff);
      this.#backoff = Math.min(this.#backoff * 2, BACKOFF_MAX_MS);
    });
  }
}
