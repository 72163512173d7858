// In-memory harness for broker unit tests: a fake TransportConnection that records every write() call, and a
// test client that encodes packets with our codec, feeds them to Broker.accept's handler and decodes what the
// broker wrote back. Time is a FakeClock; "a turn" is awaited with setImmediate (the broker's flush point).
import { Decoder, PacketType, encode } from "../../../src/codec/index.ts";
import type {
  ConnackPacket,
  ConnectPacket,
  Packet,
  Properties,
  ProtocolVersion,
  PublishPacket,
  QoS,
  SubackPacket,
  SubscriptionRequest,
  Will,
} from "../../../src/codec/index.ts";
import { Broker } from "../../../src/broker/index.ts";
import type { AuthHooks, BrokerOptions, ConnectionHandler, TransportConnection } from "../../../src/broker/index.ts";
import type { EnhancedAuthenticator } from "../../../src/broker/auth/index.ts";
import { FakeClock } from "../../../src/util/index.ts";
import type { Logger } from "../../../src/util/index.ts";
import type { Storage } from "../../../src/storage/index.ts";

export const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A few turns: lets promise-based hooks settle and the following flush run. */
export async function settle(turns = 3): Promise<void> {
  for (let i = 0; i < turns; i++) await tick();
}

export class FakeTransport implements TransportConnection {
  readonly kind = "test";
  readonly remoteAddress: string;
  /** Every write() call with its chunks. */
  readonly writes: Buffer[][] = [];
  /** What the next write() returns (false simulates a full socket buffer). */
  writeReturns = true;
  ended = false;
  destroyed = false;
  /** pause() called and not yet resume()d. */
  paused = false;
  /** How often pause() was called. */
  pauses = 0;
  handler: ConnectionHandler | undefined;

  constructor(id: number) {
    this.remoteAddress = `test:${id}`;
  }

  write(chunks: readonly Buffer[]): boolean {
    if (this.ended || this.destroyed) throw new Error("write after end");
    this.writes.push([...chunks]);
    return this.writeReturns;
  }

  end(): void {
    if (this.ended || this.destroyed) return;
    this.ended = true;
    this.handler?.onClose();
  }

  destroy(): void {
    if (this.destroyed) return;
    const wasEnded = this.ended;
    this.destroyed = true;
    if (!wasEnded) this.handler?.onClose();
  }

  pause(): void {
    this.paused = true;
    this.pauses++;
  }

  resume(): void {
    this.paused = false;
  }

  get closed(): boolean {
    return this.ended || this.destroyed;
  }
}

export interface ConnectOptions {
  clientId?: string;
  clean?: boolean;
  keepAlive?: number;
  version?: ProtocolVersion;
  will?: Will;
  username?: string;
  password?: Buffer;
  properties?: Properties;
}

let transportIds = 0;

export class TestClient {
  readonly transport: FakeTransport;
  readonly handler: ConnectionHandler;
  readonly version: ProtocolVersion;
  #decoder: Decoder;
  #decodedWrites = 0;
  #inbox: Packet[] = [];
  #nextId = 1;

  constructor(
    readonly broker: Broker,
    version: ProtocolVersion = 4,
  ) {
    this.version = version;
    this.transport = new FakeTransport(++transportIds);
    this.handler = broker.accept(this.transport);
    this.transport.handler = this.handler;
    this.#decoder = new Decoder({ protocolVersion: version });
  }

  /** Sends one packet (or raw bytes). */
  send(packet: Packet | Buffer): void {
    this.handler.onData(Buffer.isBuffer(packet) ? packet : encode(packet, this.version));
  }

  sendConnect(o: ConnectOptions = {}): void {
    const p: ConnectPacket = {
      type: PacketType.CONNECT,
      protocolName: this.version === 3 ? "MQIsdp" : "MQTT",
      protocolVersion: this.version,
      clean: o.clean ?? true,
      keepAlive: o.keepAlive ?? 0,
      clientId: o.clientId ?? "",
      username: o.username,
      password: o.password,
      will: o.will,
      properties: o.properties,
    };
    this.send(p);
  }

  /** Every packet the broker wrote since the last call (decoded). */
  take(): Packet[] {
    const w = this.transport.writes;
    for (; this.#decodedWrites < w.length; this.#decodedWrites++) {
      for (const chunk of w[this.#decodedWrites]!) this.#decoder.push(chunk);
      for (let p = this.#decoder.next(); p !== undefined; p = this.#decoder.next()) this.#inbox.push(p);
    }
    const out = this.#inbox;
    this.#inbox = [];
    return out;
  }

  /** Waits a turn, then returns what arrived. */
  async receive(): Promise<Packet[]> {
    await settle();
    return this.take();
  }

  /** Puts packets back in front of what take() returns next. */
  keep(packets: Packet[]): void {
    this.#inbox.unshift(...packets);
  }

  async publishes(): Promise<PublishPacket[]> {
    return (await this.receive()).filter((p): p is PublishPacket => p.type === PacketType.PUBLISH);
  }

  nextId(): number {
    const id = this.#nextId;
    this.#nextId = id >= 65535 ? 1 : id + 1;
    return id;
  }

  publish(
    topic: string,
    payload: string | Buffer,
    qos: QoS = 0,
    o: { retain?: boolean; dup?: boolean; packetId?: number; properties?: Properties } = {},
  ): number | undefined {
    const packetId = qos > 0 ? (o.packetId ?? this.nextId()) : undefined;
    this.send({
      type: PacketType.PUBLISH,
      topic,
      payload: typeof payload === "string" ? Buffer.from(payload) : payload,
      qos,
      retain: o.retain ?? false,
      dup: o.dup ?? false,
      packetId,
      properties: o.properties,
    });
    return packetId;
  }

  async subscribe(
    filters: string | (SubscriptionRequest | string)[],
    qos: QoS = 0,
    properties?: Properties,
  ): Promise<SubackPacket> {
    const list = typeof filters === "string" ? [filters] : filters;
    const packetId = this.nextId();
    this.send({
      type: PacketType.SUBSCRIBE,
      packetId,
      subscriptions: list.map((f) => (typeof f === "string" ? { topicFilter: f, qos } : f)),
      properties,
    });
    const got = await this.receive();
    const suback = got.find((p): p is SubackPacket => p.type === PacketType.SUBACK && p.packetId === packetId);
    if (suback === undefined) throw new Error(`no SUBACK in ${JSON.stringify(got.map((p) => p.type))}`);
    // Keep anything else (retained messages) for the next take().
    this.#inbox.push(...got.filter((p) => p !== suback));
    return suback;
  }

  ack(p: PublishPacket): void {
    if (p.qos === 1) this.send({ type: PacketType.PUBACK, packetId: p.packetId! });
    else if (p.qos === 2) this.send({ type: PacketType.PUBREC, packetId: p.packetId! });
  }

  disconnect(properties?: Properties, reasonCode?: number): void {
    this.send({ type: PacketType.DISCONNECT, reasonCode, properties });
  }

  /** The socket dies (no DISCONNECT). */
  drop(): void {
    this.transport.destroy();
  }
}

export interface Harness {
  broker: Broker;
  clock: FakeClock;
  /** Connects a client and checks the CONNACK is a success. */
  connect(o?: ConnectOptions): Promise<{ client: TestClient; connack: ConnackPacket }>;
  /** Connects and returns the CONNACK whatever it is. */
  tryConnect(o?: ConnectOptions): Promise<{ client: TestClient; connack: ConnackPacket | undefined }>;
}

export interface HarnessOptions extends Partial<BrokerOptions> {
  auth?: AuthHooks;
  logger?: Logger;
  /** BrokerDeps.authenticators: 5.0 enhanced authentication methods. */
  authenticators?: EnhancedAuthenticator[];
  /** BrokerDeps.storage: persistence (test/unit/broker/persist-harness.ts). */
  storage?: Storage;
  /** Default: a new FakeClock. A restart test passes the clock on. */
  clock?: FakeClock;
  /** BrokerDeps.latencySampleEvery: every Nth routed message timed while a latency sink is set. */
  latencySampleEvery?: number;
}

export function harness(options: HarnessOptions = {}): Harness {
  const {
    auth,
    logger,
    authenticators,
    storage,
    clock = new FakeClock(),
    latencySampleEvery,
    ...brokerOptions
  } = options;
  const broker = new Broker(
    { sysInterval: 0, ...brokerOptions },
    { clock, auth, logger, authenticators, storage, latencySampleEvery },
  );
  const tryConnect = async (o: ConnectOptions = {}) => {
    const client = new TestClient(broker, o.version ?? 4);
    client.sendConnect(o);
    const got = await client.receive();
    const connack = got.find((p): p is ConnackPacket => p.type === PacketType.CONNACK);
    client.keep(got.filter((p) => p !== connack)); // resent / queued messages after CONNACK
    return { client, connack };
  };
  return {
    broker,
    clock,
    tryConnect,
    async connect(o = {}) {
      const { client, connack } = await tryConnect(o);
      if (connack?.reasonCode !== 0) throw new Error(`connect failed: ${JSON.stringify(connack)}`);
      return { client, connack };
    },
  };
}

/** The one packet of `type` among `packets` (fails the test if there is none or more than one). */
export function only<T extends Packet["type"]>(packets: Packet[], type: T): Extract<Packet, { type: T }> {
  const found = packets.filter((p) => p.type === type);
  if (found.length !== 1) {
    throw new Error(`expected one packet of type ${type}, got ${JSON.stringify(packets.map((p) => p.type))}`);
  }
  return found[0] as Extract<Packet, { type: T }>;
}

export function types(packets: Packet[]): number[] {
  return packets.map((p) => p.type);
}

export function payloads(packets: Packet[]): string[] {
  return packets.filter((p): p is PublishPacket => p.type === PacketType.PUBLISH).map((p) => p.payload.toString());
}

/** A logger that records warn/info lines, for asserting "never silent". */
export function recordingLogger(): Logger & { lines: { level: string; msg: string; obj: object }[] } {
  const lines: { level: string; msg: string; obj: object }[] = [];
  const make =
    (level: string) =>
    (a: object | string, b?: string): void => {
      if (typeof a === "string") lines.push({ level, msg: a, obj: {} });
      else lines.push({ level, msg: b ?? "", obj: a });
    };
  const logger = {
    lines,
    trace: make("trace"),
    debug: make("debug"),
    info: make("info"),
    warn: make("warn"),
    error: make("error"),
    child: () => logger,
  };
  return logger;
}
