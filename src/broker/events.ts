// The typed event seam: what metrics, webhooks, the admin API and tracing attach to, instead of polling stats()
// or parsing log lines. Each event kind is a node:diagnostics_channel channel named `wharf:broker:<kind>`.
//
// Why diagnostics_channel rather than an EventEmitter on the Broker:
//  - Near-zero cost without subscribers: every emit site is `if (ch.hasSubscribers) ch.publish({...})`, one
//    property read; the event object is only built when someone listens. (An EventEmitter needs a listenerCount()
//    call per site, and a per-broker emitter would have to be threaded to every session.)
//  - Subscribers need no reference to the broker: an ops module, an APM agent (OpenTelemetry and Datadog already
//    consume diagnostics_channel) or a test attaches by channel name, even across duplicate copies of the package.
//  - A subscriber that throws cannot break the broker: Node reports the error asynchronously (uncaughtException on
//    the next tick) and the publishing code continues.
// Channels are process-wide; every event carries `broker` (Broker.id) so a process with several brokers (tests)
// can tell them apart. Payloads are plain data, valid only during the call: copy what you keep.
import diagnostics from "node:diagnostics_channel";
import type { Channel } from "node:diagnostics_channel";
import type { DeadLetterNotice } from "../queues/index.ts";
import type { DropReasonValue, Settlement } from "./settlement.ts";

/** Channel names: `diagnostics_channel.subscribe(BrokerChannel.Connect, fn)` or onBrokerEvent(). */
export const BrokerChannel = {
  Connect: "wharf:broker:connect",
  Disconnect: "wharf:broker:disconnect",
  AuthResult: "wharf:broker:auth-result",
  Subscribe: "wharf:broker:subscribe",
  Unsubscribe: "wharf:broker:unsubscribe",
  PublishIn: "wharf:broker:publish-in",
  Delivery: "wharf:broker:delivery",
  Settlement: "wharf:broker:settlement",
  Drop: "wharf:broker:drop",
  SessionCreated: "wharf:broker:session-created",
  SessionEnded: "wharf:broker:session-ended",
  DeadLettered: "wharf:broker:dead-lettered",
} as const;
export type BrokerChannelName = (typeof BrokerChannel)[keyof typeof BrokerChannel];

interface Base {
  /** Broker.id of the broker that emitted the event. */
  readonly broker: string;
}

/** CONNACK 0x00 sent. */
export interface ConnectEvent extends Base {
  readonly clientId: string;
  readonly username: string | undefined;
  readonly protocolVersion: number;
  readonly remoteAddress: string;
  readonly transport: string;
  readonly clean: boolean;
  readonly sessionPresent: boolean;
  readonly keepAlive: number;
}

/** An accepted connection ended. */
export interface DisconnectEvent extends Base {
  readonly clientId: string;
  /** "client": DISCONNECT received; "server": the broker closed it (reasonCode); "lost": the socket went away. */
  readonly initiator: "client" | "server" | "lost";
  /** The DISCONNECT reason code the broker sent (initiator "server"), when there was one. */
  readonly reasonCode: number | undefined;
  /** The will is published (or its delay started). */
  readonly will: boolean;
}

/** The outcome of authenticating a CONNECT (hooks, anonymous rule, 5.0 enhanced authentication). */
export interface AuthResultEvent extends Base {
  readonly clientId: string;
  readonly username: string | undefined;
  readonly remoteAddress: string;
  readonly ok: boolean;
  /** 0x00, or the CONNACK reason code of the refusal (5.0 numbering). */
  readonly reasonCode: number;
  /** 5.0 Authentication Method, for enhanced authentication. */
  readonly method: string | undefined;
}

/** One topic filter of a SUBSCRIBE, with its SUBACK code (granted QoS, or a failure >= 0x80). */
export interface SubscribeEvent extends Base {
  readonly clientId: string;
  readonly filter: string;
  readonly requestedQos: number;
  readonly reasonCode: number;
}

/** One topic filter of an UNSUBSCRIBE, with its UNSUBACK code (0x00, 0x11 No subscription existed, 0x8F). */
export interface UnsubscribeEvent extends Base {
  readonly clientId: string;
  readonly filter: string;
  readonly reasonCode: number;
}

/** A message entered routing: from a client, a will, broker.publish() or $SYS. */
export interface PublishInEvent extends Base {
  /** The publishing client (or the will's client); undefined for broker.publish() and $SYS. */
  readonly clientId: string | undefined;
  readonly topic: string;
  readonly qos: number;
  readonly retain: boolean;
  readonly payloadBytes: number;
  /** Sessions and shared groups with a matching subscription, and how many of them refused it (queue full). */
  readonly matched: number;
  readonly refused: number;
}

/** A PUBLISH was written to a client (dup: a resend after reconnecting). */
export interface DeliveryEvent extends Base {
  readonly clientId: string;
  readonly topic: string;
  readonly qos: number;
  readonly packetId: number | undefined;
  readonly dup: boolean;
}

/** How a delivery ended (settlement.ts). */
export interface SettlementEvent extends Base {
  readonly clientId: string;
  readonly topic: string;
  readonly qos: number;
  readonly settlement: Settlement;
  /** The delivery belongs to a shared subscription group (or another owner). */
  readonly owned: boolean;
}

/** Why a message (or one delivery of it) was not delivered. */
export type DropEventReason = DropReasonValue | "queue-rejected" | "not-authorized" | "payload-format-invalid";

export interface DropEvent extends Base {
  /** The receiving session (a delivery) or the publishing client (a refused PUBLISH). */
  readonly clientId: string | undefined;
  readonly topic: string;
  readonly qos: number;
  readonly reason: DropEventReason;
}

export interface SessionCreatedEvent extends Base {
  readonly clientId: string;
  /** Seconds; 0xFFFFFFFF = never. */
  readonly expiryInterval: number;
  /** Restored from storage at startup rather than created by a CONNECT. */
  readonly restored: boolean;
}

export interface SessionEndedEvent extends Base {
  readonly clientId: string;
  /**
   * "expired": its expiry interval passed while disconnected [MQTT-3.1.2-23]; "clean-start": discarded by a
   * CONNECT with clean start; "connection-ended": its expiry interval was 0; "deleted": by an operator (admin API);
   * "taken-over": its client connected to another node of the cluster, and the session moved there.
   */
  readonly reason: "expired" | "clean-start" | "connection-ended" | "deleted" | "taken-over";
}

/**
 * A durable-queue message left its queue for the dead-letter queue (docs/queues.md "Dead letters"); the webhook /
 * metrics name is `message.dead_lettered`. Emitted once the move is in the storage batch (the append to the DLQ
 * and the removal are one commit). Not emitted when nothing moves: the DLQ is full (the message stays, counted in
 * the queue's `dlqFull`), or the message is dropped (DLQ disabled, or expired with `limits.dropExpired`).
 */
export interface DeadLetteredEvent extends Base, DeadLetterNotice {}

export interface BrokerEventMap {
  [BrokerChannel.Connect]: ConnectEvent;
  [BrokerChannel.Disconnect]: DisconnectEvent;
  [BrokerChannel.AuthResult]: AuthResultEvent;
  [BrokerChannel.Subscribe]: SubscribeEvent;
  [BrokerChannel.Unsubscribe]: UnsubscribeEvent;
  [BrokerChannel.PublishIn]: PublishInEvent;
  [BrokerChannel.Delivery]: DeliveryEvent;
  [BrokerChannel.Settlement]: SettlementEvent;
  [BrokerChannel.Drop]: DropEvent;
  [BrokerChannel.SessionCreated]: SessionCreatedEvent;
  [BrokerChannel.SessionEnded]: SessionEndedEvent;
  [BrokerChannel.DeadLettered]: DeadLetteredEvent;
}

/** A channel whose publish() takes one event type. */
export interface TypedChannel<E> {
  readonly hasSubscribers: boolean;
  publish(event: E): void;
}

function typed<K extends BrokerChannelName>(name: K): TypedChannel<BrokerEventMap[K]> {
  // Channel.publish takes `unknown`: narrowing it to the event type is what makes the emit sites typed.
  const ch: Channel = diagnostics.channel(name);
  return ch;
}

/**
 * The channels, held here for the life of the process (diagnostics_channel keeps channels only weakly). Emit with
 * `if (events.x.hasSubscribers) events.x.publish({...})` so nothing is built when nobody listens.
 */
export const events = {
  connect: typed(BrokerChannel.Connect),
  disconnect: typed(BrokerChannel.Disconnect),
  authResult: typed(BrokerChannel.AuthResult),
  subscribe: typed(BrokerChannel.Subscribe),
  unsubscribe: typed(BrokerChannel.Unsubscribe),
  publishIn: typed(BrokerChannel.PublishIn),
  delivery: typed(BrokerChannel.Delivery),
  settlement: typed(BrokerChannel.Settlement),
  drop: typed(BrokerChannel.Drop),
  sessionCreated: typed(BrokerChannel.SessionCreated),
  sessionEnded: typed(BrokerChannel.SessionEnded),
  deadLettered: typed(BrokerChannel.DeadLettered),
} as const;

/** Subscribes `fn` to one event kind; returns the unsubscribe function. */
export function onBrokerEvent<K extends BrokerChannelName>(
  name: K,
  fn: (event: BrokerEventMap[K]) => void,
): () => void {
  const listener = (message: unknown): void => fn(message as BrokerEventMap[K]);
  diagnostics.subscribe(name, listener);
  return () => {
    diagnostics.unsubscribe(name, listener);
  };
}
