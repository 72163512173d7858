// SUBSCRIBE and UNSUBSCRIBE handlers (packet handlers see only ClientContext / BrokerCore, core.ts). Each filter is
// checked (syntax, 5.0 feature flags, quota) and authorized, possibly asynchronously (then the connection holds
// later packets); granted subscriptions go to BrokerCore.subscribe (session map, persistence, Router); the SUBACK
// waits for the storage commit; retained messages follow the SUBACK. One subscribe/unsubscribe event per filter.
import { PacketType, ReasonCode, SubackFailure } from "../codec/index.ts";
import type { QoS, SubscribePacket, SubscriptionRequest, UnsubscribePacket } from "../codec/index.ts";
import { hasWildcard, isValidTopicFilter, parseSharedFilter } from "../topics/index.ts";
import { isPromise } from "./hooks.ts";
import type { Decision } from "./hooks.ts";
import { ConnState } from "./conn-state.ts";
import type { ClientContext } from "./core.ts";
import { events } from "./events.ts";
import { afterCommit, sendAck } from "./persist.ts";
import type { Delivery } from "./message.ts";
import type { QueueSpec, Session, Subscription } from "./session.ts";
import type { SubscriptionTrace } from "./tracing.ts";
import { isQueueTopic, parseQueueSpec } from "./queue-bridge.ts";

/** A failure reason code (number) decided before authorization, or the authorization decision. */
type Check = number | Decision;

export function handleSubscribe(c: ClientContext, p: SubscribePacket): void | Promise<void> {
  const opts = c.broker.options;
  const tracer = c.broker.tracer;
  const trace =
    tracer?.subscription === undefined
      ? undefined
      : tracer.subscription(
          "subscribe",
          c.client!.clientId,
          p.subscriptions.map((s) => s.topicFilter),
          p.properties,
        );
  const subscriptionId = c.version === 5 ? p.properties?.subscriptionIdentifiers?.[0] : undefined;
  if (subscriptionId !== undefined && !opts.subscriptionIdentifiersAvailable) {
    c.protocolError("subscription identifiers not supported", ReasonCode.SubscriptionIdentifiersNotSupported);
    trace?.end([ReasonCode.SubscriptionIdentifiersNotSupported]);
    return;
  }
  const checks: Check[] = [];
  let async = false;
  for (const req of p.subscriptions) {
    const failure = precheck(c, req);
    const check: Check = failure ?? c.broker.authorizer.canSubscribe(c.client!, req.topicFilter, req.qos);
    if (isPromise(check)) async = true;
    checks.push(check);
  }
  if (async) {
    return Promise.all(checks.map(async (x) => x)).then((results) => complete(c, p, results, subscriptionId, trace));
  }
  complete(c, p, checks as (number | boolean)[], subscriptionId, trace);
}

function isValidSharedFilter(filter: string): boolean {
  try {
    parseSharedFilter(filter);
    return true;
  } catch {
    return false;
  }
}

function failureCode(c: ClientContext, reason5: number): number {
  return c.version === 5 ? reason5 : SubackFailure;
}

function precheck(c: ClientContext, req: SubscriptionRequest): number | undefined {
  const filter = req.topicFilter;
  const opts = c.broker.options;
  if (!isValidTopicFilter(filter)) return failureCode(c, ReasonCode.TopicFilterInvalid); // [MQTT-4.7.1-2] [MQTT-4.7.1-3]
  if (isQueueTopic(filter)) {
    // A queue subscription names one queue: wildcards would mean joining groups of queues not created yet.
    if (hasWildcard(filter)) return failureCode(c, ReasonCode.WildcardSubscriptionsNotSupported); // 5.0 0xA2
    if (typeof parseQueueSpec(filter, undefined) === "string") return failureCode(c, ReasonCode.TopicFilterInvalid);
  }
  if (c.version === 5) {
    if (filter.startsWith("$share/")) {
      if (!isValidSharedFilter(filter)) return ReasonCode.TopicFilterInvalid; // [MQTT-4.8.2-1] [MQTT-4.8.2-2]
      if (!opts.sharedSubscriptionAvailable) return ReasonCode.SharedSubscriptionsNotSupported; // 0x9E
      // No Local on a shared subscription [MQTT-3.8.3-4] never gets here: the codec refuses it (0x82).
    }
    if (!opts.wildcardSubscriptionAvailable && hasWildcard(filter)) {
      return ReasonCode.WildcardSubscriptionsNotSupported;
    }
  }
  return undefined;
}

/** maxSubscriptionsPerSession (0 = unlimited): a new filter beyond it is refused; replacing one is always fine. */
function overQuota(session: Session, filter: string, limit: number): boolean {
  return limit > 0 && session.subscriptions.size >= limit && !session.subscriptions.has(filter);
}

function complete(
  c: ClientContext,
  p: SubscribePacket,
  results: (number | boolean)[],
  subscriptionId: number | undefined,
  trace: SubscriptionTrace | undefined,
): void {
  if (c.state !== ConnState.Connected) {
    trace?.end([]); // the connection closed while the authorization was pending: no SUBACK
    return;
  }
  const broker = c.broker;
  const session = c.session!;
  const reasonCodes: number[] = [];
  const added: [Subscription, boolean][] = [];
  p.subscriptions.forEach((req, i) => {
    const r = results[i]!;
    if (typeof r === "number") {
      reasonCodes.push(r);
      return;
    }
    if (!r) {
      c.logger.debug({ filter: req.topicFilter }, "subscribe not authorized");
      reasonCodes.push(failureCode(c, ReasonCode.NotAuthorized)); // 3.1.1: 0x80
      return;
    }
    if (overQuota(session, req.topicFilter, broker.options.maxSubscriptionsPerSession)) {
      reasonCodes.push(failureCode(c, ReasonCode.QuotaExceeded)); // 5.0 §3.9.3 0x97; 3.1.1: 0x80
      return;
    }
    let qos = Math.min(req.qos, broker.options.maximumQoS) as QoS; // may grant less [MQTT-3.8.4-6]
    let queue: QueueSpec | undefined;
    if (isQueueTopic(req.topicFilter)) {
      const spec = parseQueueSpec(req.topicFilter, c.version === 5 ? p.properties : undefined);
      if (typeof spec === "string") {
        c.logger.debug({ filter: req.topicFilter }, spec);
        reasonCodes.push(failureCode(c, ReasonCode.ImplementationSpecificError));
        return;
      }
      queue = spec;
      if (qos > 1) qos = 1; // queue deliveries are settled by PUBACK or $ack, never by the QoS 2 flow
    }
    const sub: Subscription = {
      filter: req.topicFilter,
      qos,
      noLocal: c.version === 5 && req.noLocal === true,
      // 3.x: retained flag always cleared on forwarding [MQTT-3.3.1-9]
      retainAsPublished: c.version === 5 && req.retainAsPublished === true,
      retainHandling: c.version === 5 ? (req.retainHandling ?? 0) : 0,
      identifier: subscriptionId,
      // 5.0 `$share/<group>/<filter>` (src/broker/shared.ts); for 3.x it is an ordinary filter.
      shared: c.version === 5 ? parseSharedFilter(req.topicFilter) : undefined,
      queue,
      version: c.version,
    };
    const existed = broker.subscribe(session, sub); // identical filter replaces [MQTT-3.8.4-3]
    reasonCodes.push(qos); // [MQTT-3.8.4-5] [MQTT-3.9.3-1]
    added.push([sub, existed]);
  });
  if (events.subscribe.hasSubscribers) {
    p.subscriptions.forEach((req, i) => {
      events.subscribe.publish({
        broker: broker.id,
        clientId: session.clientId,
        filter: req.topicFilter,
        requestedQos: req.qos,
        reasonCode: reasonCodes[i]!,
      });
    });
  }
  const refused = c.version === 5 && reasonCodes.some((rc) => rc >= 0x80);
  // Retained messages are taken now, in the turn the subscriptions joined the router, and go right after the SUBACK;
  // live messages routed to the session meanwhile queue behind them (Session.holdLive), so for each subscription
  // retained delivery precedes live messages deterministically (under load a live message used to arrive first
  // while the SUBACK waited for its commit). 3.x: always (re)send retained [MQTT-3.3.1-6] [MQTT-3.8.4-3]; 5.0
  // Retain Handling 0/1/2 (5.0 [MQTT-3.3.1-9..11]).
  const retained: Delivery[] = [];
  for (const [sub, existed] of added) {
    if (sub.retainHandling === 0 || (sub.retainHandling === 1 && !existed))
      retained.push(...broker.retainedFor(session, sub));
  }
  if (retained.length > 0) session.holdLive();
  // With storage: once the subscriptions are committed, so a granted subscription survives a crash.
  afterCommit(c, () => {
    c.send({
      type: PacketType.SUBACK,
      packetId: p.packetId,
      reasonCodes,
      properties: refused ? c.problem("one or more subscriptions were refused") : undefined,
    }); // [MQTT-3.8.4-1] [MQTT-3.8.4-2]
    trace?.end(reasonCodes);
    if (retained.length > 0) session.releaseLive(retained);
  });
}

export function handleUnsubscribe(c: ClientContext, p: UnsubscribePacket): void {
  const session = c.session!;
  const tracer = c.broker.tracer;
  const trace =
    tracer?.subscription === undefined
      ? undefined
      : tracer.subscription("unsubscribe", session.clientId, p.topicFilters, p.properties);
  // Byte-for-byte comparison with the session's filters [MQTT-3.10.4-1]; 5.0 reports an invalid filter as 0x8F.
  const codes = p.topicFilters.map((f) => {
    if (c.broker.unsubscribe(session, f)) return ReasonCode.Success;
    return isValidTopicFilter(f) ? ReasonCode.NoSubscriptionExisted : ReasonCode.TopicFilterInvalid;
  });
  if (events.unsubscribe.hasSubscribers) {
    p.topicFilters.forEach((filter, i) => {
      events.unsubscribe.publish({ broker: c.broker.id, clientId: session.clientId, filter, reasonCode: codes[i]! });
    });
  }
  // Always answered, even when nothing was removed [MQTT-3.10.4-4] [MQTT-3.10.4-5].
  const unsuback = {
    type: PacketType.UNSUBACK,
    packetId: p.packetId,
    reasonCodes: c.version === 5 ? codes : undefined,
  };
  sendAck(c, unsuback, trace === undefined ? undefined : () => trace.end(codes));
}
