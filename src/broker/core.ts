// The internal seam between the packet handlers and the rest of the broker, in both directions:
//  - ClientContext: what a handler (connect.ts, inbound.ts, subscribe.ts, …) may see and do on ONE client. The
//    TCP/TLS/WebSocket Connection implements it today; an in-process client or a queue consumer can implement it
//    without being a socket.
//  - BrokerCore: the broker services a handler may use (options, auth, routing, sessions, persistence gate).
// Both live in this one module because each names the other; everything they reference is imported as a type from
// modules below the handlers, so no handler ever imports connection.ts or broker.ts (no import cycle: the lint's
// import/no-cycle and the test of scripts/import-cycles.mjs check it).
import type { Packet, Properties, ProtocolVersion, PublishPacket, Will } from "../codec/index.ts";
import type { Clock, Deadlines, Logger } from "../util/index.ts";
import type { AuthenticatorRegistry } from "./auth/index.ts";
import type { OverloadState } from "./backpressure.ts";
import type { ConnStateValue } from "./conn-state.ts";
import type { EnhancedAuthState } from "./enhanced-auth-state.ts";
import type { AuthHooks, Authorizer, ClientInfo } from "./hooks.ts";
import type { FlushScheduler } from "./flush.ts";
import type { Delivery, Message } from "./message.ts";
import type { BrokerOptions, ServerRedirect } from "./options.ts";
import type { RouteResult } from "./router.ts";
import type { OpenedSession } from "./session-registry.ts";
import type { Session, SessionLink, Subscription } from "./session.ts";
import type { Counters } from "./stats.ts";
import type { OutboundTopicAliases } from "./topic-alias-out.ts";
import type { TransportConnection } from "./transport.ts";
import type { BrokerTracer, ConnectTrace } from "./tracing.ts";

/** Handles one decoded packet; returns a promise only when it must wait (an async hook): later packets wait too. */
export type PacketHandler = (c: ClientContext, p: Packet) => void | Promise<void>;

/** One client as the packet handlers see it (implemented by Connection). */
export interface ClientContext extends SessionLink {
  readonly broker: BrokerCore;
  readonly transport: TransportConnection;
  /** Largest packet this client may send (broker and listener limit). */
  readonly maxPacketSize: number;
  state: ConnStateValue;
  /** Protocol level; 4 until the CONNECT says otherwise. */
  version: ProtocolVersion;
  /** Set once the CONNECT is accepted. */
  client: ClientInfo | undefined;
  session: Session | undefined;
  /** The will of this connection, cleared by a normal DISCONNECT [MQTT-3.1.2-10]. */
  will: Will | undefined;
  logger: Logger;
  /** The CONNECT was accepted (`client` is set): from now on lines are bound to and rate limited by the client id. */
  clientLogger(): void;
  /** Whether `logger` writes info lines (asked before building the lines every connection logs). */
  readonly logsInfo: boolean;
  inflightLimit: number;
  /** 5.0 Maximum Packet Size of the client (5.0 [MQTT-3.1.2-27]). */
  clientMaxPacketSize: number;
  /** 5.0 Request Problem Information (5.0 [MQTT-3.1.2-32]). */
  problemInformation: boolean;
  /** 5.0 inbound topic aliases; never carried over to another connection (5.0 [MQTT-3.3.2-7]). */
  topicAliases: Map<number, string> | undefined;
  /** 5.0 outbound topic aliases (topic-alias-out.ts). */
  outboundAliases: OutboundTopicAliases | undefined;
  /** 5.0 enhanced authentication state, when the CONNECT named an Authentication Method. */
  auth: EnhancedAuthState | undefined;
  /** The CONNECT's trace while it is being handled (tracing.ts), ended at the CONNACK. */
  connectTrace?: ConnectTrace | undefined;

  /** Encodes a control packet into this turn's output. */
  send(packet: Packet): void;
  /**
   * send() of a plain PUBACK (success, no properties) without a packet object: the acknowledgement of every accepted
   * QoS 1 PUBLISH (~55 B per message at 10,000 msg/s, issue #10).
   */
  sendPuback(packetId: number): void;
  /** Adds an already encoded packet (shared between connections, never modified) to this turn's output. */
  sendEncoded(buf: Buffer): void;
  /** 5.0 Reason String properties, or undefined when the client asked for none (5.0 [MQTT-3.1.2-29]). */
  problem(reasonString: string): Properties | undefined;
  /** Refuses the CONNECT: CONNACK with the reason (mapped for 3.x), then close. */
  refuse(reason5: number, properties?: Properties): void;
  /** Server-initiated close of an accepted connection (5.0: DISCONNECT with the reason first; will published). */
  disconnect(reasonCode: number, properties?: Properties): void;
  /** Protocol violation by the client [MQTT-4.8.0-1]. */
  protocolError(message: string, reasonCode?: number): void;
  /** The client sent DISCONNECT; the caller has decided about the will. */
  closeByClient(): void;
  /** Close without any further packet. */
  abort(): void;
  /** Keepalive supervision: close if nothing arrives within 1.5 x seconds [MQTT-3.1.2-24]. */
  startKeepAlive(seconds: number): void;
}

/**
 * What the handlers need from write-behind persistence (implemented by persist.ts; undefined without storage).
 * Declared here so the handlers' view of the broker does not import persist.ts.
 */
export interface CommitGate {
  /** Runs fn once everything written so far is committed, in order per client (or disconnects on failure). */
  afterCommit(c: ClientContext, fn: () => void): void;
  /** afterCommit(c, () => c.send(PUBACK packetId)) without the closure (a QoS 1 PUBLISH with a storage effect). */
  pubackAfterCommit(c: ClientContext, packetId: number): void;
  /** True when afterCommit(c, fn) would run fn at once: nothing uncommitted, nothing of c's waiting, no failure. */
  ready(c: ClientContext): boolean;
  /** An inbound QoS 2 packet id was recorded (exactly once across a restart). */
  inboundAdded(s: Session, packetId: number): void;
  /** An inbound QoS 2 packet id was released by PUBREL. */
  inboundReleased(s: Session, packetId: number): void;
}

export interface QueueAnswer {
  reasonCode: number;
  reason?: string | undefined;
}

/** Durable queues as the packet handlers see them (queue-bridge.ts implements it). */
export interface QueueGate {
  /**
   * A PUBLISH to `$queue/…` (a queue or a settle topic), already authorized: the acknowledgement to send, or its
   * promise when the queue backend answers asynchronously (clustered: the slot owner, after replication).
   */
  publish(c: ClientContext, topic: string, p: PublishPacket): QueueAnswer | Promise<QueueAnswer>;
}

export interface BrokerCore {
  /** Names this broker instance (Broker.id); carried by every event (events.ts). */
  readonly id: string;
  readonly options: Required<BrokerOptions>;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly counters: Counters;
  readonly flusher: FlushScheduler;
  /** Fixed-duration deadlines, one timer per duration (CONNECT timeout, first keepalive period): util/deadlines.ts. */
  readonly deadlines: Deadlines;
  readonly authorizer: Authorizer;
  readonly hooks: AuthHooks | undefined;
  /** 5.0 enhanced authentication methods (src/broker/enhanced-auth.ts). */
  readonly authenticators: AuthenticatorRegistry;
  /** Where new connections are redirected (5.0 §4.11), if anywhere (src/broker/redirect.ts). */
  readonly serverRedirect: ServerRedirect | undefined;
  /** Write-behind persistence when a storage is configured (src/broker/persist.ts). */
  readonly persistence: CommitGate | undefined;
  /** Durable `$queue/` queues (queue-bridge.ts). */
  readonly queues: QueueGate;
  /**
   * Optional admission check of an incoming PUBLISH before it is routed (payload bytes in); false refuses it: 5.0
   * QoS 1/2 get PUBACK/PUBREC 0x97 Quota exceeded, 3.x QoS 1/2 are disconnected unacknowledged (3.x has no way to
   * refuse, and acknowledging would lose the message), QoS 0 is dropped. Set by the embedded broker's memory
   * budget (src/inproc); undefined = everything is admitted (no cost on the hot path).
   */
  readonly admission?: ((bytes: number) => boolean) | undefined;
  /** Backpressure and the slow-consumer policy: options, and the client whose packet is being handled. */
  readonly overload: OverloadState;
  /** Tracing (tracing.ts); undefined = off, the only cost one read of this field per CONNECT and PUBLISH. */
  readonly tracer?: BrokerTracer | undefined;

  /** False when a new session for clientId would exceed mqtt.maxSessions (a client that has one may always resume). */
  sessionAllowed(clientId: string): boolean;
  /** A fresh client identifier for an empty CONNECT client id (3.1.1 [MQTT-3.1.3-6]). */
  assignClientId(): string;
  /**
   * Attaches the client to the session of clientId (SessionRegistry.open: takeover [MQTT-3.1.4-2], clean start
   * [MQTT-3.1.2-6], resume [MQTT-3.1.2-4]). A promise only from a registry that must ask another node.
   */
  openSession(
    conn: ClientContext,
    clientId: string,
    clean: boolean,
    expiryInterval: number,
  ): OpenedSession | Promise<OpenedSession>;
  /** A client finished (state Closed); `will` is set when the will must be published (or delayed). */
  connectionEnded(conn: ClientContext, wasConnected: boolean, will: Will | undefined): void;
  /** The transport reported the socket closed. */
  transportClosed(conn: ClientContext): void;
  /** Stores/clears the retained message if flagged, then routes to subscribers. */
  publishMessage(msg: Message): RouteResult;
  /** Adds or replaces a subscription; returns true if it existed before (5.0 Retain Handling 1). */
  subscribe(session: Session, sub: Subscription): boolean;
  unsubscribe(session: Session, filter: string): boolean;
  /** Sends the retained messages matching a new subscription, with RETAIN set [MQTT-3.3.1-6] [MQTT-3.3.1-8]. */
  deliverRetained(session: Session, sub: Subscription): void;
  /** The deliveries deliverRetained sends, taken now (the SUBACK path sends them later: Session.holdLive). */
  retainedFor(session: Session, sub: Subscription): Delivery[];
}
