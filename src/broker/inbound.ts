// PUBLISH and PUBREL from clients: the receiver side of QoS 0/1/2 [MQTT-4.3].
//
// QoS 2 uses method A of [MQTT-4.3.3-2]: the message is routed when the PUBLISH arrives and its packet id is kept
// in the session until PUBREL. A PUBLISH resent with the same id before PUBREL (DUP, or after a reconnect to the
// same session) is acknowledged again but not routed again: exactly-once onward delivery.
import { PacketType, ReasonCode } from "../codec/index.ts";
import type { PublishPacket } from "../codec/index.ts";
import { isPromise } from "./hooks.ts";
import { ConnState } from "./conn-state.ts";
import type { ClientContext, QueueAnswer } from "./core.ts";
import { events } from "./events.ts";
import type { DropEventReason } from "./events.ts";
import { createMessage, nowIfExpiring } from "./message.ts";
import { payloadFormatInvalid } from "./payload-format.ts";
import { afterCommit, sendAck } from "./persist.ts";
import { SYS_PREFIX } from "./sys.ts";
import { isQueueTopic } from "./queue-bridge.ts";
import { publishReason } from "./v5.ts";
import { limitedLog } from "./log-limits.ts";
import { publishLimiterOf } from "./rate-limits.ts";
import type { PublishTrace } from "./tracing.ts";

export function handlePublish(c: ClientContext, p: PublishPacket): void | Promise<void> {
  const broker = c.broker;
  const s = c.session!;
  broker.counters.messagesReceived++;
  let topic = p.topic;
  const limiter = publishLimiterOf(broker);
  if (limiter !== undefined && !limiter.allow(c, p.payload.length)) {
    // Over publishRate / publishByteRate: 5.0 DISCONNECT 0x96 Message rate too high; 3.x can only close.
    limitedLog(
      broker,
      c.logger,
      "warn",
      `rate:${c.client?.clientId ?? ""}`,
      {},
      "publish rate exceeded: disconnecting",
    );
    c.disconnect(ReasonCode.MessageRateTooHigh, c.problem("message rate too high"));
    return;
  }
  if (c.version === 5) {
    if (p.properties?.subscriptionIdentifiers !== undefined) {
      // A PUBLISH from a client must not carry a Subscription Identifier (5.0 [MQTT-3.3.4-6]).
      c.protocolError("PUBLISH with a Subscription Identifier", ReasonCode.ProtocolError);
      return;
    }
    const resolved = resolveTopicAlias(c, p);
    if (resolved === undefined) return;
    topic = resolved;
    if (p.qos > broker.options.maximumQoS) {
      c.protocolError("PUBLISH above Maximum QoS", ReasonCode.QoSNotSupported); // 5.0 [MQTT-3.2.2-11]
      return;
    }
    if (p.retain && !broker.options.retainAvailable) {
      c.protocolError("retained PUBLISH but Retain Available is 0", ReasonCode.RetainNotSupported);
      return;
    }
  }
  if (p.qos === 1 && c.version === 5 && s.madeInboundQos2?.has(p.packetId!) === true) {
    // The id belongs to an unfinished QoS 2 exchange: refused, not routed (5.0 [MQTT-2.2.1-3], §3.4.2.1).
    sendAck(c, {
      type: PacketType.PUBACK,
      packetId: p.packetId!,
      reasonCode: ReasonCode.PacketIdentifierInUse,
      properties: c.problem("packet identifier in use by a QoS 2 exchange"),
    });
    return;
  }
  if (p.qos === 2) {
    const id = p.packetId!;
    if (s.inboundQos2.has(id)) {
      sendAck(c, { type: PacketType.PUBREC, packetId: id }); // duplicate: acknowledge, do not route [MQTT-4.3.3-2]
      return;
    }
    if (c.version === 5 && s.inboundQos2.size >= broker.options.receiveMaximum) {
      c.protocolError("Receive Maximum exceeded", ReasonCode.ReceiveMaximumExceeded); // 5.0 [MQTT-3.3.4-7]
      return;
    }
  }
  if (c.version === 5 && broker.options.validatePayloadFormat && payloadFormatInvalid(p.payload, p.properties)) {
    // 5.0 §3.3.2.3.2: not the format its Payload Format Indicator declares. QoS 0 has no acknowledgement to say so.
    emitDrop(c, topic, p.qos, "payload-format-invalid");
    if (p.qos === 0)
      c.disconnect(ReasonCode.PayloadFormatInvalid, c.problem(REFUSAL_TEXT[ReasonCode.PayloadFormatInvalid]!));
    else acknowledge(c, p, ReasonCode.PayloadFormatInvalid);
    return;
  }
  // $SYS/ belongs to the broker: client publications there are refused like an ACL deny.
  if (topic.startsWith(SYS_PREFIX)) {
    deny(c, p, "publish to $SYS refused");
    return;
  }
  const authorizer = broker.authorizer;
  if (authorizer.publishOpen) {
    accept(c, p, topic); // hot path: no ACL, no hook, nothing awaited
    return;
  }
  const allowed = authorizer.canPublish(c.client!, topic, {
    qos: p.qos,
    retain: p.retain,
    payload: p.payload,
    will: false,
  });
  if (isPromise(allowed)) {
    return allowed.then((ok) => {
      if (c.state !== ConnState.Connected) return;
      if (ok) accept(c, p, topic);
      else deny(c, p, "publish not authorized");
    });
  }
  if (allowed) accept(c, p, topic);
  else deny(c, p, "publish not authorized");
}

function accept(c: ClientContext, p: PublishPacket, topic: string): void {
  const broker = c.broker;
  if (broker.admission !== undefined && !broker.admission(p.payload.length)) {
    refuseQuota(c, p);
    return;
  }
  if (isQueueTopic(topic)) {
    queuePublish(c, p, topic);
    return;
  }
  // Tracing (tracing.ts): the tracer decides per message; an untraced one goes on untouched. The unsampled
  // majority of root PUBLISHes (no user properties, so no traceparent) is one branch and a decrement here, without
  // a call (BrokerTracer.rootSkip). A traced message takes the same calls as every other (createMessage,
  // publishMessage, acknowledge: one call site each, here), with the trace's properties and reference as values,
  // and only what is the trace's own is out of line (tracer.publish, tracedAck). A function of its own for the
  // traced message (acceptTraced, until stop 19) called those three from a second place ~10,000 times a second at
  // 1 % of fan-in; a function V8 compiled on its own counts that code's inlined bytecode against its caller's
  // inlining budget (acknowledge: 337 + 632 bytes, over the 920 of a whole compile). Measured since: they are still
  // compiled on their own in most tracing brokers, by a race of the first second (handlePublish's compile takes
  // 33-39 ms there against ~9 ms without tracing, and they run meanwhile), so this is not what decides it
  // (docs/benchmarks.md, stop 19). The tracer records the first root publish, so this branch has run before V8
  // optimises accept() (else it was deoptimised at the first trace).
  let trace: PublishTrace | undefined;
  const tracer = broker.tracer;
  if (tracer !== undefined) {
    const skip = tracer.rootSkip;
    if (skip !== undefined && skip > 1 && p.properties?.userProperties === undefined) tracer.rootSkip = skip - 1;
    else trace = tracer.publish(c.client!.clientId, topic, p);
  }
  const properties = trace === undefined ? p.properties : trace.properties;
  const msg = createMessage(
    {
      topic,
      payload: p.payload,
      qos: p.qos,
      retain: p.retain,
      properties,
      origin: c.client!.clientId,
      trace: trace?.ref,
    },
    nowIfExpiring(properties, broker.clock),
  );
  const r = broker.publishMessage(msg);
  const rc = c.version === 5 ? publishReason(r.matched, r.refused) : ReasonCode.Success;
  trace?.routed(r.matched, r.refused);
  acknowledge(c, p, rc);
  if (trace !== undefined) tracedAck(c, p.qos, trace, rc);
}

/**
 * A traced PUBLISH's span ends once its acknowledgement is written (QoS 1/2: after the commit it waits for, in
 * order). A call of its own rather than acknowledge()'s `sent` argument: with it the traced 1 % made acknowledge()
 * and sendAck() run their callback branches too, which grew accept()'s optimised code (V8 inlined 915 bytes into
 * it) past the inlining budget of its caller, so accept() was no longer inlined into handlePublish() with a tracer
 * installed (--trace-turbo-inlining, fan-in QoS 1; docs/benchmarks.md, stop 13).
 */
function tracedAck(c: ClientContext, qos: number, trace: PublishTrace, rc: number): void {
  if (qos === 0) trace.acked(rc);
  else afterCommit(c, () => trace.acked(rc));
}

/** A PUBLISH to a durable queue or settle topic (queue-bridge.ts): acknowledged after the commit of its effects. */
function queuePublish(c: ClientContext, p: PublishPacket, topic: string): void {
  // Tracing: an `append` or `settle` span, ended when the acknowledgement is written (docs/operations.md).
  const trace = c.broker.tracer?.queue?.(settleOp(topic), c.client!.clientId, topic, p);
  const packet = trace === undefined || trace.properties === p.properties ? p : { ...p, properties: trace.properties };
  const r = c.broker.queues.publish(c, topic, packet);
  const sent = trace === undefined ? undefined : (a: QueueAnswer) => () => trace.end(a.reasonCode, a.reason);
  if (!isPromise(r)) {
    queueAnswered(c, p, topic, r, sent?.(r));
    return;
  }
  // Answered by a clustered slot owner: acknowledged once it committed and replicated (if still connected).
  void r.then((a) => {
    if (c.state === ConnState.Connected) queueAnswered(c, p, topic, a, sent?.(a));
    else trace?.end(a.reasonCode, "connection closed before the acknowledgement");
  });
}

/** `$queue/<name>/$ack|$nack|$reject` settle; any other `$queue/` topic appends. */
function settleOp(topic: string): "append" | "settle" {
  return /\/\$(ack|nack|reject)$/.test(topic) ? "settle" : "append";
}

function queueAnswered(c: ClientContext, p: PublishPacket, topic: string, r: QueueAnswer, sent?: () => void): void {
  if (r.reasonCode >= 0x80 && c.version < 5 && p.qos > 0) {
    // 3.1.1 cannot refuse a PUBLISH: closing without the PUBACK tells the client it was not taken (it resends
    // after reconnecting) rather than acknowledging a message the queue refused.
    c.logger.info({ topic, reason: r.reason }, "queue refused a 3.1.1 publish: closing the connection");
    c.disconnect(ReasonCode.UnspecifiedError);
    sent?.();
    return;
  }
  acknowledge(c, p, r.reasonCode, r.reason, sent);
}

/** Over the broker's memory budget (BrokerCore.admission): refused, never acknowledged as if it had been taken. */
function refuseQuota(c: ClientContext, p: PublishPacket): void {
  c.logger.debug({ topic: p.topic, qos: p.qos }, "publish refused: memory budget");
  if (p.qos === 0) return; // at most once: dropped
  if (c.version === 5) acknowledge(c, p, ReasonCode.QuotaExceeded);
  else c.disconnect(ReasonCode.QuotaExceeded); // 3.x: unacknowledged, so the client sends it again later
}

/**
 * Not authorized: the message is dropped. 3.1.1 has no way to say so, and must still acknowledge it
 * [MQTT-3.3.5-2]; 5.0 answers 0x87 Not authorized on PUBACK/PUBREC (QoS 0 cannot be answered).
 */
function deny(c: ClientContext, p: PublishPacket, why: string): void {
  c.logger.debug({ topic: p.topic, qos: p.qos }, why);
  emitDrop(c, p.topic, p.qos, "not-authorized");
  acknowledge(c, p, c.version === 5 ? ReasonCode.NotAuthorized : ReasonCode.Success);
}

/** A PUBLISH the broker refused (the drop event; routing-time drops are reported by the sessions). */
function emitDrop(c: ClientContext, topic: string, qos: number, reason: DropEventReason): void {
  if (!events.drop.hasSubscribers) return;
  events.drop.publish({ broker: c.broker.id, clientId: c.client?.clientId, topic, qos, reason });
}

const REFUSAL_TEXT: Readonly<Record<number, string>> = {
  [ReasonCode.NotAuthorized]: "not authorized to publish to this topic",
  [ReasonCode.QuotaExceeded]: "every matching subscriber's queue is full",
  [ReasonCode.PayloadFormatInvalid]: "payload is not valid UTF-8 but its Payload Format Indicator is 1",
};

/**
 * PUBACK / PUBREC (after the commit); `sent` runs once it is written (at once for QoS 0, which has none). Only what
 * nearly every PUBLISH takes is here (QoS 0, a plain PUBACK); the rest is acknowledgeWith(). Why: this function is
 * inlined into accept(), and V8 counts a callee's whole bytecode against its caller's inlining budget (920 bytes),
 * the branches never taken included: at 337 bytes it left too little for publishMessage()'s route() and the route
 * cache, so which of them were inlined depended on the order of the first second's compiles (docs/benchmarks.md,
 * stop 22).
 */
function acknowledge(c: ClientContext, p: PublishPacket, reasonCode: number, reason?: string, sent?: () => void): void {
  if (p.qos === 0) {
    sent?.();
    return;
  }
  if (p.qos === 1 && sent === undefined && (reasonCode === ReasonCode.Success || c.version !== 5)) {
    // A plain PUBACK (3.x has no reason code to send): with storage, once the message's effects are committed
    // (docs/storage.md); waiting for a commit (every accepted queue PUBLISH) it is its packet id, not a packet and
    // a closure [MQTT-4.3.2-2].
    const persistence = c.broker.persistence;
    if (persistence !== undefined) persistence.pubackAfterCommit(c, p.packetId!);
    else c.sendPuback(p.packetId!);
    return;
  }
  acknowledgeWith(c, p, reasonCode, reason, sent);
}

/** acknowledge() of a QoS 2 PUBLISH, a 5.0 reason code other than Success, or with a `sent` callback. */
function acknowledgeWith(
  c: ClientContext,
  p: PublishPacket,
  reasonCode: number,
  reason?: string,
  sent?: () => void,
): void {
  const packetId = p.packetId!;
  const rc = c.version === 5 && reasonCode !== ReasonCode.Success ? reasonCode : undefined;
  const text = rc === undefined ? undefined : (reason ?? REFUSAL_TEXT[rc]);
  const properties = text === undefined ? undefined : c.problem(text);
  if (p.qos === 1) {
    sendAck(c, { type: PacketType.PUBACK, packetId, reasonCode: rc, properties }, sent); // [MQTT-4.3.2-2]
    return;
  }
  // A PUBREC >= 0x80 ends the exchange (5.0): the id is not kept, a resend counts as new.
  if (reasonCode < 0x80) {
    c.session!.inboundQos2.add(packetId);
    c.broker.persistence?.inboundAdded(c.session!, packetId); // exactly once across a restart too
  }
  sendAck(c, { type: PacketType.PUBREC, packetId, reasonCode: rc, properties }, sent);
}

/** PUBREL: release the id and answer PUBCOMP, also for an unknown id (5.0 with 0x92) [MQTT-4.3.3-2]. */
export function handlePubrel(c: ClientContext, packetId: number): void {
  const known = c.session!.inboundQos2.delete(packetId);
  if (known) c.broker.persistence?.inboundReleased(c.session!, packetId);
  // After the commit: a PUBCOMP for an id still stored would make a new PUBLISH with it look like a duplicate.
  sendAck(c, {
    type: PacketType.PUBCOMP,
    packetId,
    reasonCode: c.version === 5 && !known ? ReasonCode.PacketIdentifierNotFound : undefined,
  });
}

/** 5.0 inbound Topic Alias (5.0 [MQTT-3.3.2-12]); undefined after closing the connection on an invalid alias. */
function resolveTopicAlias(c: ClientContext, p: PublishPacket): string | undefined {
  const alias = p.properties?.topicAlias;
  if (alias === undefined) return p.topic;
  if (alias === 0 || alias > c.broker.options.topicAliasMaximum) {
    c.protocolError(`topic alias ${alias} out of range`, ReasonCode.TopicAliasInvalid);
    return undefined;
  }
  const aliases = (c.topicAliases ??= new Map<number, string>());
  if (p.topic.length > 0) {
    aliases.set(alias, p.topic);
    return p.topic;
  }
  const topic = aliases.get(alias);
  if (topic === undefined) c.protocolError(`unknown topic alias ${alias}`);
  return topic;
}
