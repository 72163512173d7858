// A byte-exact MQTT client for wire-level tests, built on Wharf's own codec (src/codec): it sends exactly the packets
// a test builds (including ones a well-behaved client library refuses to send) and records every packet the server
// sends, in order. Nothing is automatic: no keepalive, no acks, no retries.
import { connect as netConnect } from "node:net";
import type { Socket } from "node:net";
import { Decoder, PacketType, encode } from "../../src/codec/index.ts";
import type {
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  Packet,
  PacketTypeCode,
  Properties,
  ProtocolVersion,
  PublishPacket,
  QoS,
  SubackPacket,
  SubscriptionRequest,
  UnsubackPacket,
} from "../../src/codec/index.ts";

export type PacketOf<T extends PacketTypeCode> = Extract<Packet, { type: T }>;

export interface RawEndpoint {
  host: string;
  port: number;
}

export interface RawClientOptions {
  protocolVersion?: ProtocolVersion;
  /**
   * Largest packet this client accepts. A larger packet from the server is recorded in `decodeError` (and the
   * socket is destroyed): tests use it to prove the server honoured the Maximum Packet Size it was given.
   */
  maxPacketSize?: number;
}

export interface CloseInfo {
  /** The DISCONNECT the server sent before closing, if any. */
  disconnect: DisconnectPacket | undefined;
  /** Set when the server sent bytes the codec rejected (e.g. a packet above maxPacketSize). */
  decodeError: Error | undefined;
}

export type ConnectFields = Partial<Omit<ConnectPacket, "type">>;

interface Waiter {
  match: (p: Packet) => boolean;
  resolve: (p: Packet) => void;
}

const DEFAULT_TIMEOUT = 3000;

function describe(p: Packet): string {
  const name = Object.entries(PacketType).find(([, v]) => v === p.type)?.[0] ?? String(p.type);
  return "reasonCode" in p && p.reasonCode !== undefined ? `${name}(0x${p.reasonCode.toString(16)})` : name;
}

export class RawClient {
  readonly socket: Socket;
  readonly version: ProtocolVersion;
  /** Every packet received, in arrival order (consumed or not). */
  readonly received: Packet[] = [];
  /** The CONNACK, once received. */
  connack: ConnackPacket | undefined;
  decodeError: Error | undefined;
  /**
   * When set, the client acknowledges like a well-behaved one: PUBACK for QoS 1, PUBREC for QoS 2, PUBCOMP for
   * PUBREL (the packets are still recorded and delivered to next()).
   */
  autoAck = false;
  /** Resolves when the socket has closed. */
  readonly closed: Promise<CloseInfo>;
  #isClosed = false;
  readonly #decoder: Decoder;
  readonly #inbox: Packet[] = [];
  readonly #waiters: Waiter[] = [];
  #nextId = 1;

  private constructor(socket: Socket, opts: RawClientOptions) {
    this.socket = socket;
    this.version = opts.protocolVersion ?? 5;
    this.#decoder = new Decoder({ protocolVersion: this.version, maxPacketSize: opts.maxPacketSize });
    this.closed = new Promise((resolve) => {
      socket.once("close", () => {
        this.#isClosed = true;
        const disconnect = this.received.find((p): p is DisconnectPacket => p.type === PacketType.DISCONNECT);
        resolve({ disconnect, decodeError: this.decodeError });
      });
    });
    socket.on("error", () => {
      /* a reset is reported through `closed` */
    });
    socket.on("data", (chunk: Buffer) => {
      this.#decoder.push(chunk);
      try {
        for (let p = this.#decoder.next(); p !== undefined; p = this.#decoder.next()) this.#deliver(p);
      } catch (e) {
        this.decodeError = e instanceof Error ? e : new Error(String(e));
        socket.destroy();
      }
    });
  }

  /** Opens a TCP connection without sending anything. */
  static open(ep: RawEndpoint, opts: RawClientOptions = {}): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host: ep.host, port: ep.port });
      socket.setNoDelay(true);
      socket.once("connect", () => {
        socket.removeListener("error", reject);
        resolve(new RawClient(socket, opts));
      });
      socket.once("error", reject);
    });
  }

  /**
   * Opens a connection and sends CONNECT (defaults: v5, clean start, keepalive 0, a random client id) and waits for
   * the CONNACK, or for the first AUTH when `awaitAuth` is set. A refused CONNACK is returned, not thrown.
   */
  static async connect(ep: RawEndpoint, fields: ConnectFields = {}, opts: RawClientOptions = {}): Promise<RawClient> {
    const version = fields.protocolVersion ?? opts.protocolVersion ?? 5;
    const c = await RawClient.open(ep, { ...opts, protocolVersion: version });
    c.sendConnect(fields);
    c.connack = await c.next(PacketType.CONNACK);
    return c;
  }

  sendConnect(fields: ConnectFields = {}): void {
    const version = fields.protocolVersion ?? this.version;
    this.send({
      type: PacketType.CONNECT,
      protocolName: version === 3 ? "MQIsdp" : "MQTT",
      protocolVersion: version,
      clean: true,
      keepAlive: 0,
      clientId: `raw-${Math.random().toString(36).slice(2, 10)}`,
      ...fields,
    });
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  #deliver(p: Packet): void {
    this.received.push(p);
    if (this.autoAck && !this.#isClosed) {
      if (p.type === PacketType.PUBLISH && p.qos === 1) this.puback(p.packetId!);
      else if (p.type === PacketType.PUBLISH && p.qos === 2) this.pubrec(p.packetId!);
      else if (p.type === PacketType.PUBREL) this.pubcomp(p.packetId);
    }
    const i = this.#waiters.findIndex((w) => w.match(p));
    if (i >= 0) {
      const [w] = this.#waiters.splice(i, 1);
      w!.resolve(p);
    } else {
      this.#inbox.push(p);
    }
  }

  /** A fresh packet identifier (1..65535, wrapping). */
  nextPacketId(): number {
    const id = this.#nextId;
    this.#nextId = id === 65535 ? 1 : id + 1;
    return id;
  }

  send(p: Packet): void {
    this.socket.write(encode(p, this.version));
  }

  sendBytes(b: Buffer): void {
    this.socket.write(b);
  }

  /**
   * The next not-yet-consumed packet of `type` (optionally also matching `pred`), waiting up to `timeoutMs`.
   * Packets of other types stay available to later calls.
   */
  next<T extends PacketTypeCode>(
    type: T,
    timeoutMs = DEFAULT_TIMEOUT,
    pred: (p: PacketOf<T>) => boolean = () => true,
  ): Promise<PacketOf<T>> {
    const match = (p: Packet): boolean => p.type === type && pred(p as PacketOf<T>);
    const i = this.#inbox.findIndex(match);
    if (i >= 0) return Promise.resolve(this.#inbox.splice(i, 1)[0] as PacketOf<T>);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        match,
        resolve: (p) => {
          clearTimeout(timer);
          resolve(p as PacketOf<T>);
        },
      };
      const timer = setTimeout(() => {
        const k = this.#waiters.indexOf(waiter);
        if (k >= 0) this.#waiters.splice(k, 1);
        const seen = this.received.map(describe).join(", ") || "nothing";
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for packet type ${type}` +
              `${this.#isClosed ? " (socket closed)" : ""}; received so far: ${seen}`,
          ),
        );
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Resolves true if a packet of `type` (matching `pred`) arrives within `ms`, false otherwise; consumes it if so. */
  async arrives<T extends PacketTypeCode>(type: T, ms: number, pred?: (p: PacketOf<T>) => boolean): Promise<boolean> {
    try {
      await this.next(type, ms, pred);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * A barrier instead of a wait: sends PINGREQ and resolves at the PINGRESP. A broker handles one connection's
   * packets in order and writes to it in order, so everything it sent this client before it read the PINGREQ —
   * queued messages at resume, deliveries routed earlier — has arrived by then. "Nothing arrived" checked after
   * a ping is deterministic where `arrives(type, ms) === false` only waits and hopes.
   */
  async ping(timeoutMs = DEFAULT_TIMEOUT): Promise<void> {
    this.send({ type: PacketType.PINGREQ });
    await this.next(PacketType.PINGRESP, timeoutMs);
  }

  /** Unconsumed packets of `type` received so far (not removed). */
  pending<T extends PacketTypeCode>(type: T): PacketOf<T>[] {
    return this.#inbox.filter((p): p is PacketOf<T> => p.type === type);
  }

  /** Waits for the server to close the connection (rejects after timeoutMs). */
  async waitClosed(timeoutMs = DEFAULT_TIMEOUT): Promise<CloseInfo> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(
          new Error(`connection still open after ${timeoutMs} ms; received: ${this.received.map(describe).join(", ")}`),
        );
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.closed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  // ---- conveniences -------------------------------------------------------------------------------------------

  /** Sends PUBLISH; for QoS > 0 assigns a packet id (unless given) and returns it. */
  publish(
    topic: string,
    payload: string | Buffer,
    o: { qos?: QoS; retain?: boolean; dup?: boolean; packetId?: number; properties?: Properties } = {},
  ): number | undefined {
    const qos = o.qos ?? 0;
    const packetId = qos > 0 ? (o.packetId ?? this.nextPacketId()) : undefined;
    const p: PublishPacket = {
      type: PacketType.PUBLISH,
      dup: o.dup ?? false,
      qos,
      retain: o.retain ?? false,
      topic,
      packetId,
      payload: typeof payload === "string" ? Buffer.from(payload) : payload,
      properties: o.properties,
    };
    this.send(p);
    return packetId;
  }

  async subscribe(subs: SubscriptionRequest[], properties?: Properties): Promise<SubackPacket> {
    const packetId = this.nextPacketId();
    this.send({ type: PacketType.SUBSCRIBE, packetId, subscriptions: subs, properties });
    return this.next(PacketType.SUBACK, DEFAULT_TIMEOUT, (p) => p.packetId === packetId);
  }

  async unsubscribe(topicFilters: string[], properties?: Properties): Promise<UnsubackPacket> {
    const packetId = this.nextPacketId();
    this.send({ type: PacketType.UNSUBSCRIBE, packetId, topicFilters, properties });
    return this.next(PacketType.UNSUBACK, DEFAULT_TIMEOUT, (p) => p.packetId === packetId);
  }

  puback(packetId: number, reasonCode?: number): void {
    this.send({ type: PacketType.PUBACK, packetId, reasonCode });
  }

  pubrec(packetId: number, reasonCode?: number): void {
    this.send({ type: PacketType.PUBREC, packetId, reasonCode });
  }

  pubrel(packetId: number, reasonCode?: number): void {
    this.send({ type: PacketType.PUBREL, packetId, reasonCode });
  }

  pubcomp(packetId: number, reasonCode?: number): void {
    this.send({ type: PacketType.PUBCOMP, packetId, reasonCode });
  }

  /** Sends DISCONNECT (v5: with reason code / properties) and ends the socket. */
  disconnect(reasonCode?: number, properties?: Properties): void {
    if (this.#isClosed) return;
    this.send({ type: PacketType.DISCONNECT, reasonCode, properties });
    this.socket.end();
  }

  /** Drops the TCP connection without DISCONNECT (the server sees a network failure). */
  destroy(): void {
    this.socket.destroy();
  }
}
