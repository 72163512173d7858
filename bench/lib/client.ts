// A raw-socket MQTT client for the load generator: connect, subscribe, then hand every PUBLISH and
// PUBACK to the scenario through plain callbacks. No per-message promises, no decoding of topics.

import net from "node:net";
import tls from "node:tls";
import { WebSocket, createWebSocketStream } from "ws";
import { PacketReader, readVarint, type ReaderSink } from "./mqtt-reader.ts";
import {
  DISCONNECT,
  PACKET,
  PROTOCOL,
  encodeConnect,
  encodeSubscribe,
  type ConnectOptions,
  type ProtocolLevel,
} from "./mqtt-packets.ts";

export interface ClientOptions {
  port: number;
  host?: string;
  clientId: string;
  protocol: ProtocolLevel;
  /** MQTT 5 Receive Maximum sent in CONNECT. */
  receiveMaximum?: number;
  timeoutMs?: number;
  /** false: persistent session (see ConnectOptions.cleanStart); 5.0 sessions then get a 1 h expiry. */
  cleanStart?: boolean;
  /** Size of the socket's reused read buffer; 0 = Node's default fresh buffer per read (fine for idle clients). */
  readBufferBytes?: number;
  /** MQTT over TLS or WebSocket instead of plain TCP (bench/transports). */
  transport?: BenchTransport | undefined;
}

/** TLS: trust `ca`, verify the name localhost. WebSocket: ws://host:port<path>, subprotocol mqtt. */
export type BenchTransport = { kind: "tls"; ca: Buffer } | { kind: "ws"; path: string };

/**
 * A TLS socket (a net.Socket), or a WebSocket as a byte stream: one ws message per write, messages read as one
 * stream. The Duplex gets a no-op setNoDelay (ws already sets it on its socket).
 */
async function dial(o: ClientOptions, t: BenchTransport): Promise<net.Socket> {
  const host = o.host ?? "127.0.0.1";
  if (t.kind === "tls") {
    const s = tls.connect({ port: o.port, host, servername: "localhost", ca: t.ca });
    await new Promise<void>((resolve, reject) => {
      s.once("secureConnect", resolve);
      s.once("error", reject);
    });
    return s;
  }
  const ws = new WebSocket(`ws://${host}:${o.port}${t.path}`, "mqtt", { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  const stream = createWebSocketStream(ws);
  return Object.assign(stream, { setNoDelay: () => stream }) as unknown as net.Socket;
}

/** Reads smaller than this make a coalescing socket pause briefly. */
const COALESCE_BELOW_BYTES = 16 * 1024;
const COALESCE_PAUSE_MS = 1;
const paused: net.Socket[] = [];
let resumeTimer: NodeJS.Timeout | null = null;

/** Resumes the socket on the next shared ~1 ms tick (one timer for all paused sockets). */
function deferResume(socket: net.Socket): void {
  paused.push(socket);
  resumeTimer ??= setTimeout(() => {
    resumeTimer = null;
    for (const s of paused.splice(0)) if (!s.destroyed) s.resume();
  }, COALESCE_PAUSE_MS);
}

export class BenchClientError extends Error {
  readonly code = "BENCH_CLIENT";
}

type Waiter = { type: number; resolve: (body: Buffer) => void; reject: (err: Error) => void };

const noopPublish = (): void => undefined;

export class BenchClient implements ReaderSink {
  readonly reader: PacketReader;
  /** Called for every PUBLISH received (the scenario installs its handler after subscribing). */
  publishHandler: (buf: Buffer, start: number, end: number, qos: number, packetId: number) => void = noopPublish;
  /** Called once per PUBACK received. */
  pubackHandler: () => void = () => undefined;
  /** Called after each socket chunk has been parsed: the place to flush batched acks / refill windows. */
  chunkHandler: () => void = () => undefined;
  /**
   * Throughput subscribers set this: a broker that writes every message in its own TCP segment
   * (Mosquitto does) would otherwise cost the generator one read, one callback and one PUBACK write
   * per message, and the generator, not the broker, would set the pace. Pausing ~1 ms after a small
   * read lets messages pile up in the socket's receive buffer; large reads never pause, so a broker
   * that sends fast is read back to back.
   */
  coalesceReads = false;
  /** Set when the broker closed the connection or the socket failed while the run still needed it. */
  failure: string | null = null;
  closed = false;
  private waiters: Waiter[] = [];
  private expectingClose = false;

  private constructor(
    readonly socket: net.Socket,
    readonly id: string,
    readonly protocol: ProtocolLevel,
  ) {
    this.reader = new PacketReader(protocol, this);
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onChunk(chunk));
    socket.on("error", (err) => this.fail(`socket error: ${err.message}`));
    socket.on("close", () => {
      this.closed = true;
      this.fail("connection closed by broker");
    });
  }

  /** Feeds one socket read to the reader, then lets the scenario flush (acks, window refills). */
  onChunk(chunk: Buffer): void {
    try {
      this.reader.feed(chunk);
    } catch (err) {
      this.fail(`malformed data from broker: ${(err as Error).message}`);
      this.socket.destroy();
      return;
    }
    this.chunkHandler();
  }

  static async connect(o: ClientOptions): Promise<BenchClient> {
    if (o.transport !== undefined) {
      const socket = await dial(o, o.transport);
      return BenchClient.#handshake(new BenchClient(socket, o.clientId, o.protocol), o);
    }
    const target = { port: o.port, host: o.host ?? "127.0.0.1" };
    const readBytes = o.readBufferBytes ?? 64 * 1024;
    const readBuffer = Buffer.allocUnsafe(readBytes);
    // With a read buffer, every read lands in the same memory instead of a fresh allocation per read.
    const socket =
      readBytes > 0
        ? net.connect({
            ...target,
            onread: {
              buffer: readBuffer,
              callback: (n: number): boolean => {
                client.onChunk(readBuffer.subarray(0, n)); // only after connect, long after `client` exists
                // A small read while coalescing: pause this socket for a moment so the next read
                // carries many messages instead of one (see coalesceReads).
                if (client.coalesceReads && n < COALESCE_BELOW_BYTES && !client.closed) {
                  deferResume(client.socket);
                  return false;
                }
                return true;
              },
            },
          })
        : net.connect(target);
    const client = new BenchClient(socket, o.clientId, o.protocol);
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    return BenchClient.#handshake(client, o);
  }

  /** CONNECT, then the CONNACK's return code. */
  static async #handshake(client: BenchClient, o: ClientOptions): Promise<BenchClient> {
    const socket = client.socket;
    const connect: ConnectOptions = { clientId: o.clientId, protocol: o.protocol };
    if (o.receiveMaximum !== undefined) connect.receiveMaximum = o.receiveMaximum;
    if (o.cleanStart === false) {
      connect.cleanStart = false;
      if (o.protocol === PROTOCOL.v5) connect.sessionExpiry = 3600;
    }
    socket.write(encodeConnect(connect));
    const body = await client.waitFor(PACKET.connack, o.timeoutMs ?? 10_000);
    const code = body[1];
    if (code !== 0) {
      socket.destroy();
      throw new BenchClientError(`${o.clientId}: CONNACK refused with code 0x${(code ?? 255).toString(16)}`);
    }
    return client;
  }

  /** Subscribes to every filter (in packets of up to 100 filters) and checks every SUBACK code. */
  async subscribe(filters: readonly string[], qos: 0 | 1, timeoutMs = 20_000): Promise<void> {
    const per = 100;
    const batches: Buffer[] = [];
    for (let i = 0; i < filters.length; i += per) {
      batches.push(encodeSubscribe(1 + i / per, filters.slice(i, i + per), qos, this.protocol));
    }
    const acks = batches.map(() => this.waitFor(PACKET.suback, timeoutMs));
    this.socket.write(Buffer.concat(batches));
    for (const body of await Promise.all(acks)) {
      let p = 2;
      if (this.protocol === PROTOCOL.v5) {
        const [len, used] = readVarint(body, p);
        p += used + len;
      }
      for (; p < body.length; p++) {
        const code = body[p]!;
        if (code >= 0x80) throw new BenchClientError(`${this.id}: SUBACK refused a filter (0x${code.toString(16)})`);
        if (code !== qos) throw new BenchClientError(`${this.id}: SUBACK granted QoS ${code}, asked ${qos}`);
      }
    }
  }

  onPublish(buf: Buffer, start: number, end: number, qos: number, packetId: number): void {
    this.publishHandler(buf, start, end, qos, packetId);
  }

  onControl(type: number, _flags: number, buf: Buffer, start: number, end: number): void {
    if (type === PACKET.puback) {
      this.pubackHandler();
      return;
    }
    if (type === PACKET.disconnect) {
      const reason = end > start ? buf[start] : 0;
      this.fail(`broker sent DISCONNECT (reason 0x${(reason ?? 0).toString(16)})`);
      return;
    }
    const i = this.waiters.findIndex((w) => w.type === type);
    if (i >= 0) {
      const [w] = this.waiters.splice(i, 1);
      w!.resolve(Buffer.from(buf.subarray(start, end)));
    }
  }

  waitFor(type: number, timeoutMs: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new BenchClientError(`${this.id}: no packet of type ${type} within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter: Waiter = {
        type,
        resolve: (b) => {
          clearTimeout(timer);
          resolve(b);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** Sends DISCONNECT and waits (bounded) for the broker to close; then the socket is destroyed. */
  async close(timeoutMs = 2_000): Promise<void> {
    this.expectingClose = true;
    if (this.closed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.socket.destroy();
        resolve();
      }, timeoutMs);
      this.socket.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
      this.socket.end(DISCONNECT);
    });
  }

  private fail(reason: string): void {
    if (this.expectingClose) return;
    this.failure ??= `${this.id}: ${reason}`;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(new BenchClientError(this.failure));
  }
}
