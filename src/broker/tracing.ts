// The tracing seam: what the broker tells an optional tracer about a CONNECT and a client PUBLISH, so that spans
// can follow them (src/admin/tracing.ts implements it with OpenTelemetry). The broker core never imports a tracing
// library. Without a tracer (Broker.setTracer never called, config `tracing.enabled: false`) the cost is one field
// read per CONNECT and per PUBLISH, and one field check per delivery (Message.trace). With one, an untraced PUBLISH
// costs the tracer's sampling decision and nothing else (no object is built for it); for the root PUBLISHes the
// tracer counts down (BrokerTracer.rootSkip), that decision is a decrement in the core, without a call.
import type { Properties } from "../codec/index.ts";

export interface TraceConnectInfo {
  readonly clientId: string;
  readonly protocolVersion: number;
  readonly transport: string;
  readonly remoteAddress: string;
  /** 5.0 CONNECT properties (a `traceparent` user property makes the connect span its child). */
  readonly properties: Properties | undefined;
}

/** One traced CONNECT: ended when the CONNACK is sent, with its reason code (0 = accepted). */
export interface ConnectTrace {
  end(reasonCode: number): void;
}

/**
 * The parts of a client PUBLISH a tracer reads. The decoded PublishPacket is passed as it is, so that the untraced
 * majority of messages costs no allocation (the tracer decides before building anything).
 */
export interface TracedPublish {
  readonly qos: number;
  readonly retain: boolean;
  readonly payload: Uint8Array;
  /** The PUBLISH properties (5.0): a `traceparent` user property is the span's remote parent. */
  readonly properties?: Properties | undefined;
}

/** What a traced message carries to its deliveries (Message.trace). */
export interface MessageTrace {
  /**
   * The message's properties encoded as PreparedPublish writes them (no Property Length), when the tracer made them
   * (a root trace's `traceparent` alone): subscribers' copies are written from these bytes. Set only where
   * Message.properties are this trace's `properties` (or createMessage's forwarded copy of them).
   */
  readonly encodedProperties?: Buffer | undefined;
  /** One first delivery (not a resend) written to a subscriber. */
  delivered(clientId: string, topic: string, qos: number, packetId: number | undefined): void;
}

/** One traced client PUBLISH, from its acceptance for routing to its acknowledgement. */
export interface PublishTrace {
  /**
   * The properties the message forwards to subscribers instead of the publisher's: the same, with `traceparent`
   * naming the publish span (W3C Trace Context), so a subscriber's own span can be its child.
   */
  readonly properties: Properties | undefined;
  /** Carried by the message (Message.trace): makes the delivery spans children of the publish span. */
  readonly ref: MessageTrace;
  /** Routing done (deliveries queued or written): sessions and groups matched, and how many refused it. */
  routed(matched: number, refused: number): void;
  /** QoS 1/2: the PUBACK / PUBREC was written after the storage commit; QoS 0: after routing. Ends the trace. */
  acked(reasonCode: number): void;
}

/** One traced SUBSCRIBE or UNSUBSCRIBE: ended when the SUBACK / UNSUBACK is written, with its reason codes. */
export interface SubscriptionTrace {
  end(reasonCodes: readonly number[]): void;
}

export interface BrokerTracer {
  /**
   * Optional sampling countdown the core may decrement instead of calling publish(): while it is above 1, a client
   * PUBLISH without user properties (so without a `traceparent`) is not traced, and publish() would only have
   * decremented it. The core then skips the call (the unsampled majority costs a branch and a decrement); at 1 or
   * below, or for a PUBLISH with user properties, it calls publish(), which decides (and re-arms the countdown).
   * Infinity: no root PUBLISH is sampled. Undefined: publish() is called for every PUBLISH.
   */
  rootSkip?: number;
  /** A CONNECT arrived; undefined = not traced (not sampled). */
  connect(info: TraceConnectInfo): ConnectTrace | undefined;
  /**
   * A client PUBLISH passed the checks and is about to be routed (`topic`: after Topic Alias resolution);
   * undefined = not traced.
   */
  publish(clientId: string, topic: string, packet: TracedPublish): PublishTrace | undefined;
  /**
   * A SUBSCRIBE or UNSUBSCRIBE arrived (before its authorization); undefined = not traced. Optional: a tracer
   * without it traces only connects and publishes. Called once per packet (never per message).
   */
  subscription?(
    kind: "subscribe" | "unsubscribe",
    clientId: string,
    filters: readonly string[],
    properties: Properties | undefined,
  ): SubscriptionTrace | undefined;
  /**
   * An in-process publish (`createBroker().publish()`, src/inproc) is about to be routed; `clientId` is the
   * in-process publisher's origin id. Optional, like subscription().
   */
  publishLocal?(clientId: string, topic: string, packet: TracedPublish, batch?: TracedBatch): PublishTrace | undefined;
  /**
   * A will is about to be routed (after its authorization), as a publish of its client `clientId`. Optional. Its
   * trace ends after routing (no acknowledgement: nobody is there to receive one).
   */
  will?(clientId: string, topic: string, packet: TracedPublish): PublishTrace | undefined;
  /**
   * A client PUBLISH to a durable queue (`op` "append": its acknowledgement after the commit of the append) or to a
   * settle topic `$queue/<name>/$ack|$nack|$reject` ("settle"). Optional. An append's trace `properties` are stored
   * with the message (its `traceparent` names the append span), so each later delivery can be its child.
   */
  queue?(op: "append" | "settle", clientId: string, topic: string, packet: TracedPublish): QueueTrace | undefined;
  /**
   * A durable queue message handed to consumer `clientId` (`properties`: those stored with it; called only when it
   * has user properties, where a `traceparent` would be). Optional.
   */
  queueDelivered?(info: TracedQueueDelivery): void;
}

/** Which in-process batch a publishLocal() message belongs to. */
export interface TracedBatch {
  readonly kind: "batch" | "transaction";
  readonly size: number;
}

/** One traced PUBLISH to a `$queue/` topic: ended with the reason code of its acknowledgement. */
export interface QueueTrace {
  /** The properties to append with (an append: `traceparent` set to the append span); a settle: unchanged. */
  readonly properties: Properties | undefined;
  end(reasonCode: number, reason?: string): void;
}

export interface TracedQueueDelivery {
  readonly clientId: string;
  readonly queue: string;
  readonly group: string;
  readonly messageId: string;
  readonly deliveryCount: number;
  readonly properties: Properties | undefined;
}
