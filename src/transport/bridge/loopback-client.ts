// An MQTT 5.0 client that talks to the broker through the TransportConnection seam, without a socket: the HTTP
// and CoAP bridges publish and subscribe as ordinary MQTT clients, so authentication, ACL, QoS acknowledgement
// (PUBACK only once the message is accepted and, with persistence, durable), limits and $SYS all apply exactly as
// for a network client. Bytes go through the real codec both ways.
import { Decoder, encode, PacketType, ReasonCode } from "../../codec/index.ts";
import type { Packet, Properties, PublishPacket, QoS } from "../../codec/index.ts";
import type { ConnectionAcceptor, ConnectionHandler, TransportConnection } from "../../broker/index.ts";

/** A refusal or failure from the broker, with the MQTT reason code. */
export class BridgeMqttError extends Error {
  override readonly name = "BridgeMqttError";
  constructor(
    readonly reasonCode: number,
    message: string,
    /** Where it was refused: CONNACK (authentication) or an acknowledgement (authorization, limits). */
    readonly stage: "connect" | "operation" = "operation",
  ) {
    super(message);
  }
}

export interface LoopbackClientOptions {
  kind: string;
  remoteAddress: string;
  username?: string;
  password?: Buffer;
  /** Seconds; 0 = no keepalive supervision (the bridge's own lifetime bounds it). */
  keepAlive?: number;
  /** Called for every message delivered to this client (subscriptions). Return false to apply backpressure. */
  onMessage?: (msg: PublishPacket) => void;
  /** Called once when the broker closes the connection (or destroy()). */
  onClose?: (reasonCode: number | undefined) => void;
  /** Whether the consumer can take more (SSE response buffer); false makes write() report backpressure. */
  writable?: () => boolean;
}

interface Pending {
  resolve(p: Packet): void;
  reject(err: Error): void;
}

const V5 = 5;

export class LoopbackClient implements TransportConnection {
  readonly kind: string;
  readonly remoteAddress: string;
  readonly identity = undefined;
  #handler: ConnectionHandler | undefined;
  readonly #decoder = new Decoder({ protocolVersion: V5 });
  readonly #pending = new Map<number, Pending>();
  #connack: Pending | undefined;
  #nextId = 1;
  #closed = false;
  /** Set once the broker was told (onClose): nothing may reach it after that. */
  #handlerClosed = false;
  #disconnectReason: number | undefined;

  private constructor(private readonly opts: LoopbackClientOptions) {
    this.kind = opts.kind;
    this.remoteAddress = opts.remoteAddress;
  }

  /** Connects (CONNECT with a broker-assigned client id, clean start); rejects with the CONNACK reason code. */
  static async connect(broker: ConnectionAcceptor, opts: LoopbackClientOptions): Promise<LoopbackClient> {
    const c = new LoopbackClient(opts);
    c.#handler = broker.accept(c);
    const ack = new Promise<Packet>((resolve, reject) => (c.#connack = { resolve, reject }));
    c.#send({
      type: PacketType.CONNECT,
      protocolName: "MQTT",
      protocolVersion: V5,
      clean: true,
      keepAlive: opts.keepAlive ?? 0,
      clientId: "",
      ...(opts.username !== undefined ? { username: opts.username } : {}),
      ...(opts.password !== undefined ? { password: opts.password } : {}),
    });
    const p = await ack;
    if (p.type !== PacketType.CONNACK || p.reasonCode !== ReasonCode.Success) {
      const code = p.type === PacketType.CONNACK ? p.reasonCode : ReasonCode.UnspecifiedError;
      c.destroy();
      throw new BridgeMqttError(code, `connection refused (reason code 0x${code.toString(16)})`, "connect");
    }
    return c;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Publishes; resolves once the broker acknowledged it at `qos` (QoS 0: once handed over). */
  async publish(topic: string, payload: Buffer, qos: QoS, retain: boolean, properties?: Properties): Promise<void> {
    const packetId = qos > 0 ? this.#allocateId() : undefined;
    const done = packetId === undefined ? undefined : this.#await(packetId);
    this.#send({
      type: PacketType.PUBLISH,
      dup: false,
      qos,
      retain,
      topic,
      payload,
      ...(packetId !== undefined ? { packetId } : {}),
      ...(properties !== undefined ? { properties } : {}),
    });
    if (packetId === undefined) return this.#throwIfClosed();
    let ack = await done!;
    if (ack.type === PacketType.PUBREC) {
      if ((ack.reasonCode ?? 0) >= 0x80) throw refusal(ack.reasonCode!, "publish refused");
      const comp = this.#await(packetId);
      this.#send({ type: PacketType.PUBREL, packetId, reasonCode: 0 });
      ack = await comp;
    }
    const code = "reasonCode" in ack ? (ack.reasonCode ?? 0) : 0;
    if (code >= 0x80) throw refusal(code, "publish refused");
  }

  /** Subscribes; resolves with the granted QoS, rejects with the SUBACK reason code. */
  async subscribe(filter: string, qos: QoS, properties?: Properties): Promise<QoS> {
    const packetId = this.#allocateId();
    const done = this.#await(packetId);
    this.#send({
      type: PacketType.SUBSCRIBE,
      packetId,
      subscriptions: [{ topicFilter: filter, qos, noLocal: false, retainAsPublished: true, retainHandling: 0 }],
      ...(properties !== undefined ? { properties } : {}),
    });
    const ack = await done;
    const code = ack.type === PacketType.SUBACK ? ack.reasonCodes[0]! : ReasonCode.UnspecifiedError;
    if (code >= 0x80) throw refusal(code, "subscription refused");
    return code as QoS;
  }

  /** Sends DISCONNECT and closes. */
  disconnect(): void {
    if (this.#closed) return;
    this.#send({ type: PacketType.DISCONNECT, reasonCode: 0 });
    this.#close();
  }

  // ---- TransportConnection: what the broker calls -----------------------------------------------------------------

  write(chunks: readonly Buffer[]): boolean {
    if (this.#closed) return true;
    for (const c of chunks) this.#decoder.push(c);
    for (;;) {
      let p: Packet | undefined;
      try {
        p = this.#decoder.next();
      } catch {
        this.#close();
        return true;
      }
      if (p === undefined) break;
      this.#onPacket(p);
    }
    return this.opts.writable?.() ?? true;
  }

  end(): void {
    this.#close();
  }

  destroy(): void {
    this.#close();
  }

  pause(): void {}
  resume(): void {}

  /** The consumer drained (SSE): the broker may write again. */
  drained(): void {
    if (!this.#closed) this.#handler?.onDrain();
  }

  // ---- internals ---------------------------------------------------------------------------------------------------

  #onPacket(p: Packet): void {
    switch (p.type) {
      case PacketType.CONNACK:
        this.#connack?.resolve(p);
        this.#connack = undefined;
        return;
      case PacketType.PUBLISH:
        this.opts.onMessage?.(p);
        if (p.qos === 1) this.#send({ type: PacketType.PUBACK, packetId: p.packetId!, reasonCode: 0 });
        else if (p.qos === 2) this.#send({ type: PacketType.PUBREC, packetId: p.packetId!, reasonCode: 0 });
        return;
      case PacketType.PUBREL:
        this.#send({ type: PacketType.PUBCOMP, packetId: p.packetId, reasonCode: 0 });
        return;
      case PacketType.PUBACK:
      case PacketType.PUBREC:
      case PacketType.PUBCOMP:
      case PacketType.SUBACK:
      case PacketType.UNSUBACK: {
        const w = this.#pending.get(p.packetId);
        this.#pending.delete(p.packetId);
        w?.resolve(p);
        return;
      }
      case PacketType.DISCONNECT:
        this.#disconnectReason = p.reasonCode;
        this.#close();
        return;
      default:
        return;
    }
  }

  #send(p: Packet): void {
    if (this.#closed) return;
    // Delivered on a microtask: the broker's handlers never re-enter from inside its own write().
    const bytes = encode(p, V5);
    queueMicrotask(() => {
      if (!this.#handlerClosed) this.#handler?.onData(bytes);
    });
  }

  #allocateId(): number {
    for (let i = 0; i < 65535; i++) {
      const id = this.#nextId;
      this.#nextId = id === 65535 ? 1 : id + 1;
      if (!this.#pending.has(id)) return id;
    }
    throw new BridgeMqttError(ReasonCode.QuotaExceeded, "too many operations in flight");
  }

  #await(packetId: number): Promise<Packet> {
    return new Promise((resolve, reject) => {
      if (this.#closed) reject(this.#closedError());
      else this.#pending.set(packetId, { resolve, reject });
    });
  }

  #throwIfClosed(): void {
    if (this.#closed) throw this.#closedError();
  }

  #closedError(): BridgeMqttError {
    const code = this.#disconnectReason ?? ReasonCode.UnspecifiedError;
    return new BridgeMqttError(code, `connection closed by the broker (reason code 0x${code.toString(16)})`);
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const err = this.#closedError();
    this.#connack?.reject(err);
    for (const w of this.#pending.values()) w.reject(err);
    this.#pending.clear();
    // After the bytes already queued (a DISCONNECT), in order.
    queueMicrotask(() => {
      this.#handlerClosed = true;
      this.#handler?.onClose();
    });
    this.opts.onClose?.(this.#disconnectReason);
  }
}

function refusal(code: number, what: string): BridgeMqttError {
  return new BridgeMqttError(code, `${what} (reason code 0x${code.toString(16)})`);
}
