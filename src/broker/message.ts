// Application messages as the broker routes them, and the per-subscriber deliveries made of them.
import { PreparedPublish } from "../codec/index.ts";
import type { Properties, QoS } from "../codec/index.ts";
import type { FlowStateValue, HandBackReasonValue, Settlement } from "./settlement.ts";
import type { Clock } from "../util/index.ts";
import type { MessageTrace } from "./tracing.ts";

/**
 * One application message, shared by every subscriber it is routed to. Immutable except for the lazily built
 * encoder: a message routed to N subscribers is encoded once per (protocol version, QoS/retain variant) by
 * PreparedPublish, not N times.
 */
export interface Message {
  readonly topic: string;
  readonly payload: Buffer;
  /** QoS the publisher used. Each subscriber gets min(this, its granted QoS) [MQTT-3.8.4-6]. */
  readonly qos: QoS;
  readonly retain: boolean;
  /**
   * 5.0 properties forwarded to subscribers unaltered: payload format [MQTT-3.3.2-4], response topic
   * [MQTT-3.3.2-15], correlation data [MQTT-3.3.2-16], user properties [MQTT-3.3.2-17], content type
   * [MQTT-3.3.2-20]. Never topic alias, subscription identifiers or message expiry: those are per subscriber.
   */
  readonly properties: Properties | undefined;
  /** Absolute expiry time (clock ms) from the 5.0 Message Expiry Interval; undefined = never expires. */
  readonly expiresAt: number | undefined;
  /** Client id of the publisher (for the 5.0 No Local option); undefined for broker-originated messages. */
  readonly origin: string | undefined;
  /**
   * When the message entered routing (performance.now() ms) if it is one of the messages timed for the
   * publish-to-delivery latency (every Nth, while someone listens: runtime.ts); undefined = not timed (also restored
   * from storage, a retained copy, a durable queue's delivery). Set once, by publishMessage. Undefined rather than
   * 0: V8 keeps a field that only ever held small integers unboxed, and the first performance.now() stored into it
   * turned the field into a boxed double for every message created after it (a heap number allocated per message
   * with metrics on, none with them off); a field holding undefined or an object stores the rare double as it is.
   */
  receivedAt: number | undefined;
  /** The publish trace (tracing.ts), told about each delivery; undefined = untraced (one field check per delivery). */
  readonly trace: MessageTrace | undefined;
  /** Shared encoder, built on first delivery. */
  prepared: PreparedPublish | undefined;
}

/** What one subscriber receives: the shared message plus the per-subscriber parts. */
export interface Delivery {
  readonly msg: Message;
  readonly qos: QoS;
  /** RETAIN flag on the wire: true for retained messages sent because of a new subscription [MQTT-3.3.1-8]. */
  readonly retain: boolean;
  /** 5.0 subscription identifiers of the matching subscriptions. */
  readonly subscriptionIds: number[] | undefined;
  /**
   * Who is told how this delivery ends (settlement.ts): a 5.0 shared subscription group (shared.ts), later a
   * durable queue. Undefined for ordinary subscriptions.
   */
  readonly owner?: DeliveryOwner | undefined;
}

/** The session offering a delivery back (opaque to the owner except for its client id). */
export interface DeliveryHolder {
  readonly clientId: string;
}

/** The settlement seam (settlement.ts): the party a delivery belongs to until the client acknowledges it. */
export interface DeliveryOwner {
  /**
   * Asked when the session is about to lose `d` unacknowledged (`why`): true takes it back (the session forgets it,
   * persistently, and then reports it `handed-back`), false leaves it with the session.
   */
  reclaims(d: Delivery, why: HandBackReasonValue, flow: FlowStateValue, holder: DeliveryHolder): boolean;
  /** The delivery's fate; called exactly once per delivery a session accepted. */
  settled(d: Delivery, s: Settlement): void;
  /**
   * The owner keeps the message durable itself (a durable queue, src/queues): the session does not persist the
   * delivery (its queue entry or inflight entry), and after a restart the owner delivers it again.
   */
  readonly persistsItself?: boolean | undefined;
}

export interface MessageInit {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  properties?: Properties | undefined;
  origin?: string | undefined;
  trace?: MessageTrace | undefined;
}

/**
 * Builds a Message. Only the properties a server forwards on PUBLISH are kept (a will's Will Delay Interval, a
 * client's Topic Alias or anything else must not reach subscribers): payload format [MQTT-3.3.2-4], content type
 * [MQTT-3.3.2-20], response topic [MQTT-3.3.2-15], correlation data [MQTT-3.3.2-16], user properties
 * [MQTT-3.3.2-17], in that order; the Message Expiry Interval becomes an absolute deadline on the broker's clock.
 */
export function createMessage(init: MessageInit, now: number): Message {
  const p = init.properties;
  // A PUBLISH with properties has them handled by calls of their own: where most have none (a traced 1 % carries a
  // `traceparent`), the optimising compiler keeps calls in this function's inlined copies (accept(), the in-process
  // publish) rather than compiling the properties' handling into each of them. Those calls get `p` and `now`, never
  // `init`, and the message is built at one call site that every message passes: the caller's `init` literal is
  // removed by escape analysis only while no call it is passed to stays a call, and a call on a branch taken by 1 %
  // of the messages is not inlined. When the properties' branch took `init` (withProperties(init, p, now)), the
  // first traced message made every untraced PUBLISH allocate it, 80 bytes each (~8 KB per trace at 1 %;
  // docs/benchmarks.md, stop 19).
  let properties: Properties | undefined;
  let expiresAt: number | undefined;
  if (p !== undefined) {
    properties = forwardedProperties(p);
    expiresAt = expiresAtOf(p, now);
  }
  return messageOf(init, properties, expiresAt);
}

/** The absolute deadline of a Message Expiry Interval in `p` (undefined: it never expires). */
function expiresAtOf(p: Properties, now: number): number | undefined {
  const expiry = p.messageExpiryInterval;
  return expiry === undefined ? undefined : now + expiry * 1000;
}

/** The one object literal every Message of createMessage() comes from (one hidden class). */
function messageOf(init: MessageInit, properties: Properties | undefined, expiresAt: number | undefined): Message {
  return {
    topic: init.topic,
    payload: init.payload,
    qos: init.qos,
    retain: init.retain,
    properties,
    expiresAt,
    origin: init.origin,
    receivedAt: undefined,
    trace: init.trace,
    prepared: undefined,
  };
}

/**
 * A copy of `msg` with `changes`, every field named: a message may be a class instance whose fields are read-only
 * accessors (an in-process publication, src/inproc/received.ts LocalMessage), which a spread would not copy.
 */
export function copyMessage(msg: Message, changes: Partial<Message>): Message {
  return {
    topic: msg.topic,
    payload: msg.payload,
    qos: msg.qos,
    retain: msg.retain,
    properties: msg.properties,
    expiresAt: msg.expiresAt,
    origin: msg.origin,
    receivedAt: msg.receivedAt,
    trace: msg.trace,
    prepared: msg.prepared,
    ...changes,
  };
}

/**
 * The `now` that createMessage() needs for a message with `properties`: the clock is read only for a message that
 * expires (its Message Expiry Interval becomes a deadline). Date.now() costs 100-260 ns on this VM, ~5 % of the
 * broker in fan-in QoS 0 when it was read for every PUBLISH.
 */
export function nowIfExpiring(properties: Properties | undefined, clock: Clock): number {
  return properties?.messageExpiryInterval === undefined ? 0 : clock.now();
}

/**
 * The forwarded properties of `p`, or undefined when it has none. Named reads and writes, not a loop over the names:
 * keyed access with a variable name is megamorphic, and this runs for every PUBLISH with properties (a traced one
 * carries its `traceparent` user property).
 */
export function forwardedProperties(p: Properties): Properties | undefined {
  const kept: Properties = {};
  let any = false;
  if (p.payloadFormatIndicator !== undefined) {
    kept.payloadFormatIndicator = p.payloadFormatIndicator;
    any = true;
  }
  if (p.contentType !== undefined) {
    kept.contentType = p.contentType;
    any = true;
  }
  if (p.responseTopic !== undefined) {
    kept.responseTopic = p.responseTopic;
    any = true;
  }
  if (p.correlationData !== undefined) {
    kept.correlationData = p.correlationData;
    any = true;
  }
  if (p.userProperties !== undefined) {
    kept.userProperties = p.userProperties;
    any = true;
  }
  return any ? kept : undefined;
}

export function preparedOf(msg: Message): PreparedPublish {
  return (msg.prepared ??= new PreparedPublish(
    { topic: msg.topic, payload: msg.payload, properties: msg.properties },
    undefined,
    msg.trace?.encodedProperties,
  ));
}

export function isExpired(msg: Message, now: number): boolean {
  return msg.expiresAt !== undefined && now >= msg.expiresAt;
}

/** Seconds left until expiry, rounded up, for the Message Expiry Interval sent to 5.0 subscribers [MQTT-3.3.2-6]. */
export function remainingExpiry(msg: Message, now: number): number | undefined {
  if (msg.expiresAt === undefined) return undefined;
  return Math.max(0, Math.ceil((msg.expiresAt - now) / 1000));
}

export function minQoS(a: QoS, b: QoS): QoS {
  return a < b ? a : b;
}
