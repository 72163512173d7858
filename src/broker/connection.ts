// One client connection over a transport: decodes bytes into packets, runs them through its packet handler in
// order, and writes the answers with at most one transport write per event-loop turn. It owns the
// connection-scoped state (keepalive, will, negotiated limits, topic aliases); everything that outlives the socket
// lives in the Session.
//
// It is the ClientContext the handlers work on (core.ts) and receives its PacketHandler (dispatch.ts) from the
// broker: this module imports no handler, so the handlers can depend on core.ts without a cycle back to here.
//
// Input is bounded while a handler waits (an async auth hook): the decoder keeps what arrives meanwhile, and above
// PENDING_INPUT_LIMIT the transport is paused until the handler settles, so a client cannot make the broker
// buffer without limit by streaming packets behind a slow CONNECT.
import { CodecError, CodecErrorCode, Decoder, PacketType, ReasonCode } from "../codec/index.ts";
import type { Packet, Properties, ProtocolVersion, PublishVariant, Will } from "../codec/index.ts";
import type { DeadlineEntry, DeadlineList, Logger, TimerHandle } from "../util/index.ts";
import { ConnState } from "./conn-state.ts";
import type { ConnStateValue } from "./conn-state.ts";
import type { BrokerCore, ClientContext, PacketHandler } from "./core.ts";
import type { EnhancedAuthState } from "./enhanced-auth-state.ts";
import { events } from "./events.ts";
import type { DisconnectEvent } from "./events.ts";
import type { ClientInfo } from "./hooks.ts";
import { OutboundPressure } from "./backpressure.ts";
import type { OutboundSide, Producer } from "./backpressure.ts";
import { encodeWithin } from "./fit.ts";
import { preparedOf, remainingExpiry } from "./message.ts";
import type { Delivery } from "./message.ts";
import type { Session } from "./session.ts";
import type { OutboundTopicAliases } from "./topic-alias-out.ts";
import type { ConnectTrace } from "./tracing.ts";
import type { ConnectionHandler, TransportConnection } from "./transport.ts";
import { v3ConnackCode } from "./v5.ts";
import { limitLogger } from "./log-limits.ts";
import { ipOf } from "./rate-limits.ts";
import { OutPublish, SHORT_ACK_BYTES, SPLIT_PAYLOAD_BYTES, assemble, shortAck } from "./outbox.ts";
import type { OutItem } from "./outbox.ts";

/**
 * Unflushed bytes above which the connection stops taking new messages directly (they wait in the bounded
 * session queue instead) until the next flush. Together with socket backpressure this bounds per-connection
 * memory for slow consumers.
 */
const OUTPUT_HIGH_WATER = 1024 * 1024;
/**
 * Undecoded input kept while a handler is pending before the transport is paused. 64 KiB is a few socket reads:
 * enough that a client pipelining SUBSCRIBE/PUBLISH right behind its CONNECT is never slowed, while 10k
 * connections stuck in an async auth hook hold at most ~640 MB + one read each instead of whatever they send.
 */
export const PENDING_INPUT_LIMIT = 64 * 1024;

/** The variants of a QoS 0 delivery with nothing per subscriber (PreparedPublish.encode caches its bytes). */
const SHARED_QOS0: PublishVariant = { qos: 0, retain: false };
const SHARED_QOS0_RETAINED: PublishVariant = { qos: 0, retain: true };

/** First byte of the acknowledgements send() may write in the short form (outbox.ts), by packet type. */
const ACK_FIRST_BYTE: readonly (number | undefined)[] = (() => {
  const t: (number | undefined)[] = new Array<number | undefined>(16).fill(undefined);
  t[PacketType.PUBACK] = 0x40;
  t[PacketType.PUBREC] = 0x50;
  t[PacketType.PUBREL] = 0x62; // fixed header flags 0010 [MQTT-3.6.1-1]
  t[PacketType.PUBCOMP] = 0x70;
  return t;
})();

export class Connection implements ConnectionHandler, ClientContext, Producer, OutboundSide, DeadlineEntry {
  state: ConnStateValue = ConnState.AwaitConnect;
  /** Protocol level; 4 until the CONNECT says otherwise (used to format a CONNACK for a broken CONNECT). */
  version: ProtocolVersion = 4;
  client: ClientInfo | undefined = undefined;
  session: Session | undefined = undefined;
  /** The will of this connection, cleared by a normal DISCONNECT [MQTT-3.1.2-10]. */
  will: Will | undefined = undefined;
  inflightLimit: number;
  /** 5.0 Maximum Packet Size of the client: never send a bigger packet (5.0 [MQTT-3.1.2-27]). */
  clientMaxPacketSize = Number.POSITIVE_INFINITY;
  /** 5.0 Request Problem Information; when false no reason strings except on CONNACK/DISCONNECT (5.0 [MQTT-3.1.2-32]). */
  problemInformation = true;
  /** 5.0 inbound topic aliases; never carried over to another connection (5.0 [MQTT-3.3.2-7]). */
  topicAliases: Map<number, string> | undefined = undefined;
  /** 5.0 outbound topic aliases, set at CONNECT when the client allows them (topic-alias-out.ts). */
  outboundAliases: OutboundTopicAliases | undefined = undefined;
  /** 5.0 enhanced authentication (src/broker/enhanced-auth.ts): set when the CONNECT named an Authentication Method. */
  auth: EnhancedAuthState | undefined = undefined;
  connectTrace: ConnectTrace | undefined = undefined;
  lastActivity: number;
  readonly decoder: Decoder;

  #busy = false;
  /** This turn's output (outbox.ts); undefined when there is none (an idle connection holds no array). */
  #out: OutItem[] | undefined = undefined;
  #outBytes = 0;
  /** Of #outBytes, the large payloads and Buffers that are written as chunks of their own (outbox.ts). */
  #outApart = 0;
  /** Items of #out encoded at the flush (OutPublish, ShortAck); 0 = every item is a Buffer already. */
  #outDeferred = 0;
  /** #out holds a delivery (a PUBLISH to this subscriber): written after the read that produced it (flush.ts). */
  #outUrgent = false;
  #scheduled = false;
  #paused = false;
  /** The transport is paused because input piled up behind a pending handler (resumed when it settles). */
  #inputPaused = false;
  #transportClosed = false;
  #keepAliveMs = 0;
  #timer: TimerHandle | undefined;
  /** Subscribers holding this connection's input (backpressure.ts): no packet is handled while > 0. */
  #holds = 0;
  #pumpScheduled = false;
  #pressure: OutboundPressure | undefined = undefined;

  constructor(
    readonly broker: BrokerCore,
    readonly transport: TransportConnection,
    readonly maxPacketSize: number,
    private readonly handle: PacketHandler,
  ) {
    // Until the CONNECT is accepted only small packets are taken (maxPacketSizeBeforeConnect, 64 KiB): a hostile
    // header announcing 256 MB is refused after 5 bytes instead of being buffered (issue #14). Raised in #pump.
    this.decoder = new Decoder({ maxPacketSize: Math.min(maxPacketSize, broker.options.maxPacketSizeBeforeConnect) });
    this.inflightLimit = broker.options.maxInflight;
    const now = broker.clock.now();
    this.lastActivity = now;
    const connectTimeout = broker.options.connectTimeout;
    // One timer per broker for all of them (deadlines.ts), not one per connection.
    if (connectTimeout > 0) broker.deadlines.list(connectTimeout * 1000).add(this, now);
  }

  // ---- deadlines on broker.deadlines (util/deadlines.ts) -------------------------------------------------------
  // A connection is in at most one list at a time: the CONNECT timeout's until the CONNECT is accepted, then the
  // one of its first keepalive period. Neither costs a timer of its own.

  deadlineAt = 0;
  deadlinePrev: DeadlineEntry | undefined = undefined;
  deadlineNext: DeadlineEntry | undefined = undefined;
  deadlineList: DeadlineList | undefined = undefined;

  /** connectTimeout passed, or (connected) the first keepalive period. */
  onDeadline(): void {
    if (this.state === ConnState.Connected) {
      this.#onKeepAliveTimer();
      return;
    }
    if (this.state === ConnState.AwaitConnect || this.state === ConnState.Connecting) {
      this.logger.info({ remote: this.transport.remoteAddress }, "no CONNECT in time: closing");
      // An enhanced authentication exchange that did not finish in time fails [MQTT-4.12.0-4].
      if (this.auth !== undefined) this.refuse(ReasonCode.NotAuthorized, this.problem("authentication timed out"));
      else this.abort();
    }
  }

  /** The log limiter's key until the CONNECT is accepted: the remote IP address (log-limits.ts). */
  logKey(): string {
    return `ip:${ipOf(this.transport.remoteAddress)}`;
  }

  // ---- logger -------------------------------------------------------------------------------------------------
  // Made on the first line, not per connection: at the usual levels (warn in production and the benchmarks) most
  // connections never write one, and a storm makes thousands a second (it was two limited loggers, a key string and
  // a bindings object per connect). Until the CONNECT is accepted its lines are rate limited per remote IP
  // (log-limits.ts: a brute-force flood writes a few lines); from then on per client id, by a child logger bound to
  // it (so log calls never repeat clientId: pino would print the key twice).

  #logger: Logger | undefined = undefined;

  get logger(): Logger {
    if (this.#logger !== undefined) return this.#logger;
    const broker = this.broker;
    const clientId = this.client?.clientId;
    return (this.#logger =
      clientId === undefined
        ? limitLogger(broker, broker.logger, this) // keyed by logKey(), computed on its first line
        : limitLogger(broker, broker.logger, `client:${clientId}`, { clientId })); // takeover fights: log-limits.ts
  }

  set logger(logger: Logger) {
    this.#logger = logger;
  }

  /**
   * Whether info lines are written, asked before the lines every connection logs (connected, closed): without
   * making the logger (its level is the broker logger's).
   */
  get logsInfo(): boolean {
    return this.broker.logger.isLevelEnabled?.("info") !== false;
  }

  clientLogger(): void {
    this.#logger = undefined; // the next line makes the client's logger (client is set now)
  }

  // ---- transport events -------------------------------------------------------------------------------------

  onData(chunk: Buffer): void {
    if (this.state === ConnState.Closed) return;
    this.broker.counters.bytesReceived += chunk.length;
    this.decoder.push(chunk);
    // Held by a subscriber's backpressure: the transport is paused; this chunk was already on its way.
    if (this.#holds > 0) return;
    if (this.#busy) {
      // A handler is pending: its packets wait in the decoder. Bound them (PENDING_INPUT_LIMIT).
      if (!this.#inputPaused && this.decoder.bufferedBytes > PENDING_INPUT_LIMIT) {
        this.#inputPaused = true;
        this.transport.pause();
      }
      return;
    }
    this.#pump();
    this.broker.flusher.afterRead(); // a light turn writes this read's answers and deliveries now (flush.ts)
  }

  onDrain(): void {
    if (this.#paused) {
      this.#paused = false;
      if (this.#out !== undefined) this.#schedule();
      this.session?.drain();
    }
    this.#pressure?.eased(); // the socket's buffer is empty: maybe below the low-water mark now
  }

  onClose(error?: Error): void {
    if (this.#transportClosed) return;
    this.#transportClosed = true;
    this.#out = undefined;
    this.#outBytes = 0;
    this.#outApart = 0;
    this.#outDeferred = 0;
    this.#outUrgent = false;
    if (this.state !== ConnState.Closed) {
      if (this.logsInfo) {
        this.logger.info(
          { remote: this.transport.remoteAddress, err: error?.message },
          error ? "connection lost" : "connection closed by client without DISCONNECT",
        );
      }
      this.#finish(true, "lost");
    }
    this.broker.transportClosed(this);
  }

  get transportClosed(): boolean {
    return this.#transportClosed;
  }

  // ---- input ------------------------------------------------------------------------------------------------

  /**
   * Decodes and handles packets in order. A handler that must wait (an async auth hook) returns a promise; until
   * it settles the following packets stay in the decoder, so per-connection packet order is preserved.
   */
  #pump(): void {
    // The clock is read once per call (one socket read: up to hundreds of packets), not per packet: Date.now()
    // costs 100-260 ns on this VM and was ~5 % of the broker in fan-in QoS 0 when read per packet. Keepalive
    // needs seconds; packets decoded in one call arrive in the same millisecond.
    let now = -1;
    while (!this.#busy && this.#holds === 0 && this.state !== ConnState.Closed) {
      if (this.state === ConnState.Connected && this.decoder.maxPacketSize !== this.maxPacketSize) {
        this.decoder.maxPacketSize = this.maxPacketSize; // CONNECT accepted: the full limit applies
      }
      let packet: Packet | undefined;
      try {
        packet = this.decoder.next();
      } catch (err) {
        this.#onDecodeError(err);
        return;
      }
      if (packet === undefined) {
        if (this.#inputPaused) {
          this.#inputPaused = false;
          this.transport.resume();
        }
        return;
      }
      if (now < 0) now = this.broker.clock.now(); // [MQTT-3.1.2-24]: only a complete packet counts as activity
      this.lastActivity = now;
      let pending: void | Promise<void>;
      // Deliveries caused by this packet know their publisher, so a subscriber over its marks can hold it.
      const overload = this.broker.overload;
      const previous = overload.producer;
      overload.producer = this;
      try {
        pending = this.handle(this, packet);
      } catch (err) {
        this.#internalError(err);
        return;
      } finally {
        overload.producer = previous;
      }
      if (pending !== undefined) {
        this.#busy = true;
        pending.then(
          () => {
            this.#busy = false;
            this.#pump();
          },
          (err: unknown) => {
            this.#busy = false;
            this.#internalError(err);
          },
        );
      }
    }
  }

  #onDecodeError(err: unknown): void {
    if (!(err instanceof CodecError)) {
      this.#internalError(err);
      return;
    }
    this.logger.info(
      { remote: this.transport.remoteAddress, code: err.code, err: err.message },
      "invalid packet: closing",
    );
    if (this.state === ConnState.Connected) {
      this.disconnect(err.reasonCode); // 5.0 DISCONNECT 0x81/0x82/0x95…; 3.x just closes [MQTT-4.8.0-1]
      return;
    }
    if (this.state !== ConnState.AwaitConnect) {
      this.abort();
      return;
    }
    if (err.code === CodecErrorCode.UnsupportedProtocolVersion) {
      // 3.1.1 [MQTT-3.1.2-2]: CONNACK 0x01 then close. The level byte was unknown, so answer in 3.1.1 format,
      // which every client version parses.
      this.version = 4;
      this.refuse(ReasonCode.UnsupportedProtocolVersion);
      return;
    }
    if (this.decoder.protocolVersion === 5) {
      // 5.0 lets the server send a CONNACK with the reason before closing (5.0 [MQTT-3.1.4-1]).
      this.version = 5;
      this.refuse(err.reasonCode);
      return;
    }
    this.abort(); // 3.1.1: close without CONNACK [MQTT-3.1.4-1]
  }

  #internalError(err: unknown): void {
    this.logger.error({ err, clientId: this.client?.clientId }, "internal error handling a packet: closing");
    if (this.state === ConnState.Connected) this.disconnect(ReasonCode.ImplementationSpecificError);
    else this.abort();
  }

  // ---- output -----------------------------------------------------------------------------------------------

  get canWrite(): boolean {
    return !this.#paused && this.#outBytes < OUTPUT_HIGH_WATER && this.state === ConnState.Connected;
  }

  /** Encodes a control packet into this turn's output. */
  send(packet: Packet): void {
    if (
      packet.type === PacketType.PUBACK ||
      packet.type === PacketType.PUBREC ||
      packet.type === PacketType.PUBREL ||
      packet.type === PacketType.PUBCOMP
    ) {
      // PUBACK/PUBREC/PUBREL/PUBCOMP in the short form (3.1.1 always; 5.0 with reason code 0 and no properties,
      // 5.0 [MQTT-3.4.2-1]): a number in the outbox, written at the flush, no Buffer (the same bytes as encode()).
      if (this.version !== 5 || ((packet.reasonCode ?? 0) === 0 && packet.properties === undefined)) {
        const item = shortAck(ACK_FIRST_BYTE[packet.type]!, packet.packetId);
        if (item >= 0) {
          this.#push(item, SHORT_ACK_BYTES);
          this.#outDeferred++;
          return;
        }
      }
    }
    this.sendEncoded(encodeWithin(packet, this.version, this.clientMaxPacketSize));
  }

  sendPuback(packetId: number): void {
    // The short form (3.1.1; 5.0 with reason code 0 and no properties, 5.0 [MQTT-3.4.2-1]), as send() writes it.
    const item = shortAck(0x40, packetId);
    if (item < 0) {
      this.send({ type: PacketType.PUBACK, packetId }); // an identifier out of range: encode() throws
      return;
    }
    this.#push(item, SHORT_ACK_BYTES);
    this.#outDeferred++;
  }

  sendEncoded(buf: Buffer): void {
    this.#push(buf, buf.length);
    if (buf.length >= SPLIT_PAYLOAD_BYTES) this.#outApart += buf.length;
  }

  writePublish(d: Delivery, packetId: number | undefined, dup: boolean): boolean {
    const v = this.version;
    const aliases = this.outboundAliases;
    const alias = aliases?.choose(d.msg.topic);
    const prepared = preparedOf(d.msg);
    const subscriptionIds = v === 5 ? d.subscriptionIds : undefined;
    // The clock is read only for a message that expires (~100 ns per read on this VM, per delivery).
    const expiry =
      v === 5 && d.msg.expiresAt !== undefined ? remainingExpiry(d.msg, this.broker.clock.now()) : undefined;
    const split = prepared.payloadAtLeast(SPLIT_PAYLOAD_BYTES);
    if (
      d.qos === 0 &&
      alias === undefined &&
      expiry === undefined &&
      (subscriptionIds === undefined || subscriptionIds.length === 0)
    ) {
      // QoS 0 with nothing per subscriber: the Buffer every such subscriber gets (fan-out encodes once), taken
      // without a per-delivery object. A large payload goes out as its own chunk (no per-message copy).
      const variant = d.retain ? SHARED_QOS0_RETAINED : SHARED_QOS0;
      const buf = split ? prepared.encodeHead(v, variant) : prepared.encode(v, variant);
      const size = split ? buf.length + prepared.payload.length : buf.length;
      if (size > this.clientMaxPacketSize) return this.#tooLarge(d, size);
      this.sendEncoded(buf);
      if (split) this.sendEncoded(prepared.payload);
    } else {
      // Encoded at the flush (outbox.ts), into the turn's one Buffer: no Buffer per delivery.
      const out = new OutPublish(
        prepared,
        d.qos,
        d.retain,
        dup,
        packetId,
        subscriptionIds,
        expiry,
        alias?.topicAlias,
        alias?.omitTopic,
      );
      const size = prepared.encodedLength(v, out);
      if (size > this.clientMaxPacketSize) return this.#tooLarge(d, size);
      if (alias !== undefined) aliases!.commit(d.msg.topic, alias); // only once the client gets to see it
      this.#push(out, size);
      this.#outDeferred++;
      if (split) this.#outApart += prepared.payload.length;
    }
    this.#outUrgent = true;
    const counters = this.broker.counters;
    counters.messagesSent++;
    counters.sentByQos[d.qos]++;
    return true;
  }

  #tooLarge(d: Delivery, size: number): false {
    this.logger.debug({ topic: d.msg.topic, size }, "message larger than the client accepts: discarded");
    return false;
  }

  /**
   * 5.0 properties carrying a Reason String for a refusal, or undefined when the client set Request Problem
   * Information to 0 (5.0 [MQTT-3.1.2-29]; honoured on CONNACK and DISCONNECT too). send() leaves the string out
   * if it would exceed the client's Maximum Packet Size (src/broker/fit.ts).
   */
  problem(reasonString: string): Properties | undefined {
    if (this.version !== 5 || !this.problemInformation) return undefined;
    return { reasonString };
  }

  writePubrel(packetId: number): void {
    this.send({ type: PacketType.PUBREL, packetId });
  }

  #push(item: OutItem, bytes: number): void {
    if (this.#transportClosed) return;
    const out = this.#out;
    if (out === undefined) this.#out = [item];
    else out.push(item);
    this.#outBytes += bytes;
    this.#schedule();
  }

  /** Holds a delivery (flush.ts: written after the read that produced it; acknowledgements alone wait). */
  get urgent(): boolean {
    return this.#outUrgent;
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    this.broker.flusher.schedule(this);
  }

  /**
   * Hands everything buffered this turn to the transport in one write (called by the FlushScheduler). `force`
   * writes even while the transport is applying backpressure (final packets before closing).
   */
  flush(force = false): void {
    this.#scheduled = false;
    const items = this.#out;
    if ((this.#paused && !force) || items === undefined || this.#transportClosed) return;
    const bytes = this.#outBytes;
    this.broker.counters.bytesSent += bytes;
    this.#out = undefined;
    this.#outBytes = 0;
    const apart = this.#outApart;
    this.#outApart = 0;
    const deferred = this.#outDeferred;
    this.#outDeferred = 0;
    this.#outUrgent = false;
    // Only Buffers (a QoS 0 fan-out's shared encodings, CONNACK, SUBACK…): handed over as they are, the transport
    // writes them without copying (few) or joined (many). Otherwise the turn is assembled into one Buffer.
    const chunks = deferred === 0 ? (items as Buffer[]) : assemble(items, bytes, apart, this.version);
    if (!this.transport.write(chunks)) {
      this.#paused = true; // resume in onDrain
      return;
    }
    // Deliveries held back by the high-water mark can go now (they are flushed on the next turn).
    const s = this.session;
    if (s !== undefined && s.link === this && (s.queue.length > 0 || s.backlogLength > 0)) s.drain();
    else this.#pressure?.eased();
  }

  // ---- backpressure (src/broker/backpressure.ts) -------------------------------------------------------------

  /** This connection as a subscriber: created on its first delivery. */
  get madePressure(): OutboundPressure | undefined {
    return this.#pressure;
  }

  get pressure(): OutboundPressure {
    return (this.#pressure ??= new OutboundPressure(this, this, this.broker.overload));
  }

  /** Outbound bytes: encoded this turn, unsent in the transport, and queued payloads. */
  get pendingBytes(): number {
    const s = this.session;
    const queued = s !== undefined && s.link === this ? s.queue.bytes : 0;
    return this.#outBytes + (this.transport.bufferedBytes ?? 0) + queued;
  }

  get pendingMessages(): number {
    const s = this.session;
    return s !== undefined && s.link === this ? s.queue.length : 0;
  }

  get clientId(): string | undefined {
    return this.client?.clientId;
  }

  /** overload.slowConsumerDisconnectMs passed: 5.0 DISCONNECT 0x97 Quota exceeded (if it can still be written). */
  disconnectSlow(): void {
    this.disconnect(ReasonCode.QuotaExceeded, this.problem("slow consumer: not reading"));
  }

  /** A subscriber is over its marks with this connection's messages: stop handling (and reading) its input. */
  hold(): void {
    if (this.#holds++ === 0 && !this.#inputPaused) this.transport.pause();
  }

  release(): void {
    if (this.#holds === 0 || --this.#holds > 0 || this.state === ConnState.Closed) return;
    if (!this.#inputPaused) this.transport.resume();
    // Not synchronously: release() runs inside another client's handling (its PUBACK, its socket drain).
    if (!this.#pumpScheduled) {
      this.#pumpScheduled = true;
      // Bound on first use, not per connection: most connections are never held (a storm makes thousands).
      queueMicrotask((this.#resumePumpFn ??= () => this.#resumePump()));
    }
  }

  #resumePumpFn: (() => void) | undefined = undefined;

  #resumePump(): void {
    this.#pumpScheduled = false;
    if (this.#holds === 0 && !this.#busy) this.#pump();
  }

  // ---- keepalive --------------------------------------------------------------------------------------------

  /** Starts keepalive supervision: close if no packet arrives within 1.5 x keepAlive [MQTT-3.1.2-24]. */
  startKeepAlive(seconds: number): void {
    this.deadlineList?.remove(this); // CONNECT accepted: no connect timeout any more
    this.#timer?.cancel();
    this.#timer = undefined;
    if (seconds <= 0) return;
    this.#keepAliveMs = seconds * 1500;
    // The first period on the broker's shared list for this duration: a connection that ends within it (a storm of
    // short connections) never arms a timer of its own.
    this.broker.deadlines.list(this.#keepAliveMs).add(this, this.broker.clock.now());
  }

  #arm(ms: number): void {
    // One timer re-armed lazily instead of reset on every packet: cheap at high packet rates. Its callback is
    // bound on first use, not per connection (clients with keepalive 0 never need it).
    this.#timer = this.broker.clock.setTimeout((this.#keepAliveFn ??= () => this.#onKeepAliveTimer()), ms);
  }

  #keepAliveFn: (() => void) | undefined = undefined;

  #onKeepAliveTimer(): void {
    this.#timer = undefined;
    if (this.state !== ConnState.Connected) return;
    const idle = this.broker.clock.now() - this.lastActivity;
    if (idle >= this.#keepAliveMs) {
      this.logger.info({ keepAliveMs: this.#keepAliveMs }, "keepalive timeout");
      this.disconnect(ReasonCode.KeepAliveTimeout); // "as if the network had failed": the will is published
    } else {
      this.#arm(this.#keepAliveMs - idle);
    }
  }

  // ---- closing ----------------------------------------------------------------------------------------------

  /** Refuses the CONNECT: CONNACK with the reason (mapped for 3.x) and close [MQTT-3.2.2-4] [MQTT-3.2.2-5]. */
  refuse(reason5: number, properties?: Properties): void {
    const reasonCode = this.version === 5 ? reason5 : v3ConnackCode(reason5);
    this.logger.info(
      { remote: this.transport.remoteAddress, clientId: this.client?.clientId, reasonCode },
      "connection refused",
    );
    this.send({
      type: PacketType.CONNACK,
      sessionPresent: false, // [MQTT-3.2.2-6]
      reasonCode,
      properties: this.version === 5 ? properties : undefined,
    });
    if (this.connectTrace !== undefined) {
      this.connectTrace.end(reason5);
      this.connectTrace = undefined;
    }
    this.#finish(false, "server");
    this.#closeTransport();
  }

  /**
   * Server-initiated close of an accepted connection (protocol error, keepalive, takeover, shutdown): 5.0 clients
   * get a DISCONNECT with the reason code first; the will is published (the client did not DISCONNECT).
   */
  disconnect(reasonCode: number, properties?: Properties): void {
    if (this.state === ConnState.Closed) return;
    if (this.state !== ConnState.Connected) {
      this.abort();
      return;
    }
    if (this.version === 5) this.send({ type: PacketType.DISCONNECT, reasonCode, properties });
    this.logger.info({ reasonCode }, "disconnecting client");
    this.#finish(true, "server", reasonCode);
    this.#closeTransport();
  }

  /** Protocol violation by the client [MQTT-4.8.0-1]. */
  protocolError(message: string, reasonCode: number = ReasonCode.ProtocolError): void {
    this.logger.info({ reason: message }, "protocol violation");
    this.disconnect(reasonCode);
  }

  /** Client sent DISCONNECT: close; the caller has already decided about the will. */
  closeByClient(): void {
    if (this.logsInfo) this.logger.info({}, "client disconnected");
    this.#finish(this.will !== undefined, "client");
    this.#closeTransport(true);
  }

  /** Close without any further packet. */
  abort(): void {
    this.#finish(true, "server");
    this.#closeTransport();
  }

  /** `goodbye`: the client sent DISCONNECT, so the transport need not wait for the client to close its side. */
  #closeTransport(goodbye = false): void {
    if (this.#transportClosed) return;
    this.flush(true);
    if (goodbye && this.transport.closeAfterGoodbye !== undefined) this.transport.closeAfterGoodbye();
    else this.transport.end();
  }

  /** Runs once: stops input and timers and detaches from the session (publishing the will if allowed). */
  #finish(publishWill: boolean, initiator: DisconnectEvent["initiator"], reasonCode?: number): void {
    if (this.state === ConnState.Closed) return;
    const wasConnected = this.state === ConnState.Connected;
    this.state = ConnState.Closed;
    this.deadlineList?.remove(this);
    this.#timer?.cancel();
    this.#timer = undefined;
    this.auth?.end();
    this.#pressure?.close(); // publishers it held go again
    const will = publishWill ? this.will : undefined;
    this.will = undefined;
    if (wasConnected) this.broker.counters.disconnectsByInitiator[initiator]++;
    if (wasConnected && events.disconnect.hasSubscribers) {
      events.disconnect.publish({
        broker: this.broker.id,
        clientId: this.client!.clientId,
        initiator,
        reasonCode,
        will: will !== undefined,
      });
    }
    this.broker.connectionEnded(this, wasConnected, will);
  }
}
