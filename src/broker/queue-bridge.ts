// Durable queues on the wire (docs/queues.md): `$queue/<name>` topics mapped onto the queue engine (src/queues).
//
//  - PUBLISH `$queue/<name>` appends (user property `partition-key`); the PUBACK/PUBREC waits for the commit of
//    the append like any durable acknowledgement (persist.ts afterCommit), so it goes out after the durable write.
//  - SUBSCRIBE `$queue/<name>` joins a consumer group: user property `consumer-group` (5.0), else the queue's
//    default group `default` (3.1.1 has no user properties); `prefetch` and `stream-offset` optional.
//  - Deliveries are PUBLISHes on `$queue/<name>` at min(1, granted QoS) with user properties `message-id`,
//    `delivery-count`, `partition-key` (and `dlq-reason`, `original-queue`, … on dead letters).
//  - Settle: PUBLISH `$queue/<name>/$ack|$nack|$reject` with `message-id` (5.0 user properties, repeatable; 3.1.1:
//    the payload, ids separated by commas, or empty = this client's oldest unsettled delivery of that queue);
//    `$nack` takes `retry-after` (ms), `$reject` takes `reason`. A 3.1.1 PUBACK of a delivery acknowledges it; a
//    5.0 PUBACK with a reason code >= 0x80 is a nack. No settlement within the delivery timeout is a nack.
//
// This module is a Router decorator: subscriptions under `$queue/` never reach the subscription index; the
// session lifecycle the Router is told about (online, offline, ended) drives consumers joining and leaving. A
// consumer whose connection ends gives back what it has not settled: the session forgets those deliveries (they
// are not resent on reconnect) and the engine hands them to the group's other consumers at once.
import { ReasonCode } from "../codec/index.ts";
import type { Properties, PublishPacket, UserProperty } from "../codec/index.ts";
import { QUEUE_PREFIX, QueueEngine, QueueErrorCode, isValidQueueName, refusal } from "../queues/index.ts";
import type {
  ConsumerLink,
  EnqueueInput,
  PublishOutcome,
  QueueDelivery,
  QueueInfo,
  SettleOutcome,
  StreamStart,
} from "../queues/index.ts";
import type { Logger } from "../util/index.ts";
import type { ClientContext } from "./core.ts";
import { localQueueBackend } from "./queue-backend.ts";
import type { QueueBackend, QueueMembership, QueueOutcome, QueueSettleAction } from "./queue-backend.ts";
import type { Delivery, DeliveryOwner, Message } from "./message.ts";
import { DropReason, HandBackReason } from "./settlement.ts";
import type { HandBackReasonValue, Settlement } from "./settlement.ts";
import type { RouteResult, Router } from "./router.ts";
import type { QueueSpec, Session, Subscription } from "./session.ts";
import type { BrokerTracer } from "./tracing.ts";

export { QUEUE_PREFIX };

const SETTLE_ACTIONS = ["$ack", "$nack", "$reject"] as const;
type SettleAction = (typeof SETTLE_ACTIONS)[number];

/** Properties of an incoming PUBLISH that consumers receive (as for ordinary subscribers). */
const FORWARDED = ["payloadFormatIndicator", "contentType", "responseTopic", "correlationData"] as const;

export function isQueueTopic(topic: string): boolean {
  return topic.startsWith(QUEUE_PREFIX);
}

function userProp(props: Properties | undefined, key: string): string | undefined {
  return props?.userProperties?.find((u) => u[0] === key)?.[1];
}

/**
 * The consumer spec of a SUBSCRIBE to `$queue/<name>` (5.0 user properties `consumer-group`, `prefetch`,
 * `stream-offset`), or a reason string when it is unusable.
 */
export function parseQueueSpec(filter: string, props: Properties | undefined): QueueSpec | string {
  const name = filter.slice(QUEUE_PREFIX.length);
  if (!isValidQueueName(name))
    return `invalid queue name ${JSON.stringify(name)} (no wildcards in queue subscriptions)`;
  const group = userProp(props, "consumer-group");
  if (group !== undefined && (group.length === 0 || group.length > 256))
    return "consumer-group must be 1..256 characters";
  const pf = userProp(props, "prefetch");
  let prefetch: number | undefined;
  if (pf !== undefined) {
    prefetch = /^\d{1,5}$/.test(pf) ? Number(pf) : NaN;
    if (!(prefetch >= 1 && prefetch <= 65535)) return `prefetch must be 1..65535, got ${JSON.stringify(pf)}`;
  }
  const so = userProp(props, "stream-offset");
  let start: StreamStart | undefined;
  if (so !== undefined) {
    if (so === "earliest" || so === "first") start = { kind: "earliest" };
    else if (so === "latest" || so === "last" || so === "next") start = { kind: "latest" };
    else if (/^\d{1,15}$/.test(so)) start = { kind: "offset", offset: Number(so) };
    else if (/^\d{4}-\d\d-\d\dT/.test(so) && Number.isFinite(Date.parse(so)))
      start = { kind: "timestamp", at: Date.parse(so) };
    else if (/^t:\d{1,15}$/.test(so)) start = { kind: "timestamp", at: Number(so.slice(2)) };
    else return `stream-offset must be earliest, latest, an offset, an ISO date or t:<ms>, got ${JSON.stringify(so)}`;
  }
  return { name, group: group ?? QueueEngine.DEFAULT_GROUP, prefetch, start };
}

/** `$queue/<name>/$ack` → [name, "$ack"]; undefined for a queue topic that is not a settle topic. */
function settleTopic(topic: string): [string, SettleAction] | undefined {
  const i = topic.lastIndexOf("/");
  if (topic.charCodeAt(i + 1) !== 0x24) return undefined; // no `$` level: an append (no slice per message)
  const last = topic.slice(i + 1);
  if (!(SETTLE_ACTIONS as readonly string[]).includes(last)) return undefined;
  return [topic.slice(QUEUE_PREFIX.length, i), last as SettleAction];
}

export interface QueuePublishOutcome {
  readonly reasonCode: number;
  readonly reason?: string | undefined;
}

/** The answer to every accepted queue PUBLISH (shared: nobody changes it). */
const ACCEPTED: QueuePublishOutcome = Object.freeze({ reasonCode: ReasonCode.Success });

/** A delivery of this bridge: the session hands the same object back to its owner when it settles. */
interface QueueBridgeDelivery extends Delivery {
  readonly queued: QueueDelivery;
}

interface Member {
  readonly session: Session;
  readonly sub: Subscription;
  readonly spec: QueueSpec;
  readonly version: number;
  consumer: QueueMembership | undefined;
  /** Settlement owner of this member's deliveries (settlement.ts). */
  owner: DeliveryOwner | undefined;
}

export interface QueueBridgeDeps {
  readonly engine: QueueEngine;
  readonly logger: Logger;
  readonly now: () => number;
  /** The engine wrote to storage: the next acknowledgement waits for the commit (persist.ts touched()). */
  readonly touch: () => void;
  /**
   * Where appends, consumers and settlements of `$queue/` go (queue-backend.ts): the engine above by default; a
   * clustered node's backend reaches each queue's slot owner (src/cluster/queues).
   */
  readonly backend?: QueueBackend | undefined;
  /** The broker's tracer, if any: told about deliveries of messages stored with user properties (a traceparent). */
  readonly tracer?: () => BrokerTracer | undefined;
}

export class QueueRouter implements Router {
  readonly engine: QueueEngine;
  readonly backend: QueueBackend;
  /** Queue subscriptions per session, by filter. */
  readonly #members = new Map<Session, Map<string, Member>>();
  #count = 0;
  /** The last appended-to topic and its queue name (a queue's publishers all use one topic: no slice per message). */
  #lastTopic = "";
  #lastName = "";

  constructor(
    private readonly inner: Router,
    private readonly deps: QueueBridgeDeps,
  ) {
    this.engine = deps.engine;
    this.backend = deps.backend ?? localQueueBackend(deps.engine, deps.touch);
  }

  // ---- Router ---------------------------------------------------------------------------------------------

  add(session: Session, sub: Subscription): boolean {
    if (!isQueueTopic(sub.filter)) return this.inner.add(session, sub);
    let spec = sub.queue;
    if (spec === undefined) {
      // Restored from storage with the session: the group and options come from the queue store.
      spec = this.engine.memberOf(session.clientId, sub.filter);
      if (spec === undefined) {
        this.deps.logger.info(
          { clientId: session.clientId, filter: sub.filter },
          "queue subscription restored without its consumer group: the client must subscribe again",
        );
        return false;
      }
    }
    let members = this.#members.get(session);
    if (members === undefined) this.#members.set(session, (members = new Map<string, Member>()));
    const previous = members.get(sub.filter);
    if (previous !== undefined) this.#leave(previous, HandBackReason.Unsubscribed);
    else this.#count++;
    const m: Member = { session, sub, spec, version: sub.version ?? 5, consumer: undefined, owner: undefined };
    members.set(sub.filter, m);
    if (session.persistent || session.expiryInterval > 0) {
      this.engine.rememberMember(session.clientId, sub.filter, spec);
      this.deps.touch();
    }
    // The server may send matching PUBLISHes before the SUBACK (§3.8.4), so consuming starts now.
    if (session.link !== undefined) this.#join(m);
    return previous !== undefined;
  }

  remove(session: Session, sub: Subscription): void {
    if (!isQueueTopic(sub.filter)) {
      this.inner.remove(session, sub);
      return;
    }
    const members = this.#members.get(session);
    const m = members?.get(sub.filter);
    if (m === undefined) return;
    members!.delete(sub.filter);
    if (members!.size === 0) this.#members.delete(session);
    this.#count--;
    this.#leave(m, HandBackReason.Unsubscribed);
    if (this.engine.forgetMember(session.clientId, sub.filter)) this.deps.touch();
  }

  route(msg: Message): RouteResult {
    return this.inner.route(msg);
  }

  sessionOnline(session: Session): void {
    this.inner.sessionOnline(session);
    const members = this.#members.get(session);
    if (members === undefined) return;
    // After the CONNACK (written in this same turn), like a shared group's waiting messages.
    queueMicrotask(() => {
      if (session.link === undefined) return;
      for (const m of members.values()) if (m.consumer === undefined) this.#join(m);
    });
  }

  sessionOffline(session: Session): void {
    this.inner.sessionOffline(session);
    const members = this.#members.get(session);
    if (members !== undefined) for (const m of members.values()) this.#leave(m);
  }

  sessionEnded(session: Session): void {
    this.inner.sessionEnded(session);
    const members = this.#members.get(session);
    if (members === undefined) return;
    this.#members.delete(session);
    for (const m of members.values()) {
      this.#count--;
      this.#leave(m);
      if (this.engine.forgetMember(session.clientId, m.sub.filter)) this.deps.touch();
    }
  }

  suspend(): void {
    this.inner.suspend();
  }

  get subscriptionCount(): number {
    return this.inner.subscriptionCount + this.#count;
  }

  get waitingCount(): number {
    return this.inner.waitingCount;
  }

  // ---- consumers ------------------------------------------------------------------------------------------

  #join(m: Member): void {
    const link = m.session.link;
    if (link === undefined) return;
    const spec = m.spec;
    const prefetch = Math.min(spec.prefetch ?? this.backend.prefetchOf(spec.name), link.inflightLimit);
    const consumerLink: ConsumerLink = { id: m.session.clientId, send: (d) => this.#send(m, d) };
    m.owner = this.#owner(m); // before join: the group may deliver at once
    try {
      m.consumer = this.backend.join(spec.name, spec.group, consumerLink, { prefetch, start: spec.start });
    } catch (err) {
      this.deps.logger.warn({ err, clientId: m.session.clientId, queue: spec.name }, "queue consumer not joined");
    }
  }

  /**
   * The consumer leaves its group: the group hands what it has not settled to its other consumers at once. The
   * session gives those deliveries back through the settlement seam (the connection was lost, the session ended,
   * or — here, for an UNSUBSCRIBE — only this subscription's), so they are never resent to this client.
   */
  #leave(m: Member, why?: HandBackReasonValue): void {
    const consumer = m.consumer;
    if (consumer === undefined) return;
    m.consumer = undefined;
    consumer.leave();
    if (why !== undefined && m.owner !== undefined) m.session.handBack(why, m.owner);
  }

  /**
   * The owner of one consumer's deliveries. Everything unacknowledged is reclaimed (QoS 1 in flight and queued:
   * the engine redelivers it to the group); a 3.1.1 PUBACK (or a 3.1.1 QoS 0 send) settles `ack`, a 5.0 PUBACK
   * >= 0x80 `nack`; a delivery the session had to drop (too large for the client, its queue full) is a nack, so it
   * is retried or dead-lettered, never lost.
   */
  #owner(m: Member): DeliveryOwner {
    const owner: DeliveryOwner = {
      persistsItself: true,
      reclaims: () => true,
      settled: (d: Delivery, s: Settlement): void => {
        const qd = (d as Partial<QueueBridgeDelivery>).queued;
        const consumer = m.consumer;
        // A later consumer of the same subscription, or none: the group has this one again already.
        if (qd === undefined || m.owner !== owner || consumer === undefined) return;
        switch (s.kind) {
          case "acknowledged":
          case "sent":
            // A PUBACK of this delivery settles exactly it: by seq where the backend takes one (nothing to parse).
            if (m.version < 5) {
              this.#settled(
                m,
                consumer.ackSeq === undefined ? consumer.settle("ack", qd.messageId) : consumer.ackSeq(qd.seq),
              );
            }
            return;
          case "rejected":
            this.#settled(m, consumer.settle("nack", qd.messageId));
            return;
          case "dropped":
            if (s.reason !== DropReason.SessionEnded) this.#settled(m, consumer.settle("nack", qd.messageId));
            return;
          default:
            return;
        }
      },
    };
    return owner;
  }

  #send(m: Member, d: QueueDelivery): void {
    const delivery: QueueBridgeDelivery = {
      // The subscription's filter is the queue's topic (`$queue/<name>`): no string built per delivery.
      msg: deliveryMessage(d, m.version >= 5, m.sub.filter),
      qos: m.sub.qos === 0 ? 0 : 1,
      retain: false,
      subscriptionIds: m.sub.identifier === undefined ? undefined : [m.sub.identifier],
      owner: m.owner,
      queued: d,
    };
    m.session.deliver(delivery);
    // Tracing: only a message stored with user properties can carry a traceparent (one property read otherwise).
    if (d.properties?.userProperties !== undefined) {
      this.deps.tracer?.()?.queueDelivered?.({
        clientId: m.session.clientId,
        queue: m.spec.name,
        group: m.spec.group,
        messageId: d.messageId,
        deliveryCount: d.deliveryCount,
        properties: d.properties,
      });
    }
  }

  /** A settlement the client cannot be told about (a PUBACK settles): a refusal is only logged. */
  #settled(m: Member, r: QueueOutcome | Promise<QueueOutcome>): void {
    // No closure on the synchronous path: this runs once per acknowledged delivery.
    if (r instanceof Promise) {
      r.then(
        (o) => this.#refused(m, o),
        (err: unknown) => this.deps.logger.debug({ err }, "queue settlement failed"),
      );
    } else if (!r.ok) this.#refused(m, r);
  }

  #refused(m: Member, o: QueueOutcome): void {
    if (!o.ok) this.deps.logger.debug({ clientId: m.session.clientId, reason: o.reason }, "queue settlement refused");
  }

  // ---- PUBLISH to $queue/… ----------------------------------------------------------------------------------

  /**
   * A PUBLISH to a queue or settle topic (already authorized): the acknowledgement to send, or its promise when the
   * backend answers asynchronously (a clustered slot owner, after its commit and replication).
   */
  publish(c: ClientContext, topic: string, p: PublishPacket): QueuePublishOutcome | Promise<QueuePublishOutcome> {
    const settle = settleTopic(topic);
    if (settle !== undefined) return this.#settle(c, settle[0], settle[1], p);
    let name = this.#lastName;
    if (topic !== this.#lastTopic) {
      name = this.#lastName = topic.slice(QUEUE_PREFIX.length);
      this.#lastTopic = topic;
    }
    // A 3.1.1 PUBLISH has no properties, unless tracing set the `traceparent` of its append span (inbound.ts).
    const props = p.properties;
    const expiry = props?.messageExpiryInterval;
    const input = enqueueInput(p.payload, props, expiry === undefined ? undefined : this.deps.now() + expiry * 1000);
    const r = this.backend.publish(name, input);
    // No closure on the synchronous path (once per message).
    return r instanceof Promise ? r.then((x) => publishAnswer(c, name, x)) : publishAnswer(c, name, r);
  }

  /**
   * Appends one message to queue `name` of this node's engine (an in-process publish: src/inproc, which is never
   * clustered): the forwarded properties are kept, the user property `partition-key` becomes the partition key. The
   * caller acknowledges after the commit of the append (persist.ts afterCommit).
   */
  append(name: string, payload: Buffer, props: Properties | undefined, expiresAt: number | undefined): PublishOutcome {
    const r = this.engine.publish(name, enqueueInput(payload, props, expiresAt));
    if (r.ok) this.deps.touch();
    return r;
  }

  /**
   * An in-process consumer (src/inproc) settles one of its deliveries: only while its subscription `filter` is a
   * consumer that holds `messageId` (a message handed back to the group — the consumer left, or its delivery
   * timed out and went to another consumer — is not this consumer's to settle any more).
   */
  settleOwn(
    session: Session,
    filter: string,
    action: "ack" | "nack" | "reject",
    messageId: string,
    arg?: number | string,
  ): SettleOutcome {
    const m = this.#members.get(session)?.get(filter);
    const seq = Number(/^\d{1,15}/.exec(messageId)?.[0]);
    if (m === undefined || m.consumer?.inflight.has(seq) !== true) {
      return refusal(
        QueueErrorCode.UnknownMessage,
        `message ${messageId} is no longer held by this consumer of ${filter} (it went back to its group)`,
      );
    }
    const { name, group } = m.spec;
    const r =
      action === "ack"
        ? this.engine.ack(name, group, messageId)
        : action === "nack"
          ? this.engine.nack(name, group, messageId, typeof arg === "number" ? arg : undefined)
          : this.engine.reject(name, group, messageId, typeof arg === "string" ? arg : undefined);
    if (r.ok) this.deps.touch();
    return r;
  }

  #settle(
    c: ClientContext,
    name: string,
    action: SettleAction,
    p: PublishPacket,
  ): QueuePublishOutcome | Promise<QueuePublishOutcome> {
    const session = c.session!;
    const props = c.version === 5 ? p.properties : undefined;
    const wanted = userProp(props, "consumer-group");
    let member: Member | undefined;
    for (const m of this.#members.get(session)?.values() ?? []) {
      if (m.spec.name === name && (wanted === undefined || m.spec.group === wanted)) member = m;
    }
    if (member === undefined) {
      // Only a consumer of the queue (in that group) settles its messages, whatever the ACL allows.
      return { reasonCode: ReasonCode.NotAuthorized, reason: `not a consumer of queue ${name}` };
    }
    const consumer = member.consumer;
    if (consumer === undefined) {
      return { reasonCode: ReasonCode.ImplementationSpecificError, reason: `not consuming queue ${name} right now` };
    }
    let ids = (props?.userProperties ?? []).filter((u) => u[0] === "message-id").map((u) => u[1]);
    if (ids.length === 0) {
      const text = p.payload.toString("utf8").trim();
      if (text.length > 0) ids = text.split(/[\s,]+/).filter((x) => x.length > 0);
      else {
        const oldest = consumer.inflight.values().next();
        if (oldest.done !== true) ids = [String(oldest.value)];
      }
    }
    if (ids.length === 0) {
      return { reasonCode: ReasonCode.ImplementationSpecificError, reason: "no message-id to settle" };
    }
    const retry = userProp(props, "retry-after");
    const retryAfter = retry !== undefined && /^\d{1,10}$/.test(retry) ? Number(retry) : undefined;
    const reason = userProp(props, "reason");
    const verb: QueueSettleAction = action === "$ack" ? "ack" : action === "$nack" ? "nack" : "reject";
    const arg = action === "$nack" ? retryAfter : action === "$reject" ? reason : undefined;
    const outcomes = ids.slice(0, 1000).map((id) => consumer.settle(verb, id, arg));
    // The first refusal is the answer; settlements answered elsewhere (a cluster) are awaited together.
    const answer = (rs: readonly QueueOutcome[]): QueuePublishOutcome => {
      const failed = rs.find((r) => !r.ok);
      return failed === undefined || failed.ok
        ? { reasonCode: ReasonCode.Success }
        : { reasonCode: failed.reasonCode, reason: failed.reason };
    };
    if (!outcomes.some((r) => r instanceof Promise)) return answer(outcomes as QueueOutcome[]);
    return Promise.all(outcomes.map((r) => Promise.resolve(r))).then(answer);
  }
}

/** The acknowledgement of a PUBLISH to a queue: success, or the refusal with its reason. */
function publishAnswer(c: ClientContext, name: string, r: QueueOutcome): QueuePublishOutcome {
  if (r.ok) return ACCEPTED;
  c.logger.debug({ queue: name }, r.reason);
  return { reasonCode: r.reasonCode, reason: r.reason };
}

/** At most this many queues get their own $SYS topics (the count and totals cover all). */
const SYS_QUEUES = 100;

/**
 * `$SYS/broker/queues/…`: count and totals, and per queue (the first SYS_QUEUES by name) depth, in flight,
 * consumers, DLQ depth and counters — e.g. `$SYS/broker/queues/jobs/email/depth`.
 */
export function queueSysTopics(queues: QueueInfo[]): [topic: string, value: string][] {
  const out: [string, string][] = [["$SYS/broker/queues/count", String(queues.length)]];
  let depth = 0;
  let inflight = 0;
  for (const q of queues) {
    depth += q.depth;
    inflight += q.inflight;
  }
  out.push(["$SYS/broker/queues/depth", String(depth)], ["$SYS/broker/queues/inflight", String(inflight)]);
  const shown = [...queues].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).slice(0, SYS_QUEUES);
  for (const q of shown) {
    const p = `$SYS/broker/queues/${q.name}/`;
    const consumers = q.groups.reduce((n, g) => n + g.consumers.length, 0);
    out.push(
      [`${p}depth`, String(q.depth)],
      [`${p}bytes`, String(q.bytes)],
      [`${p}inflight`, String(q.inflight)],
      [`${p}consumers`, String(consumers)],
      [`${p}groups`, String(q.groups.length)],
      [`${p}dlq`, String(q.dlqDepth)],
      [`${p}published`, String(q.counters.published)],
      [`${p}acked`, String(q.counters.acked)],
      [`${p}dead-lettered`, String(q.counters.deadLettered)],
    );
  }
  return out;
}

/** The engine input of a queue PUBLISH: forwarded properties kept, user property `partition-key` taken out. */
function enqueueInput(payload: Buffer, props: Properties | undefined, expiresAt: number | undefined): EnqueueInput {
  let properties: Properties | undefined;
  let partitionKey: string | undefined;
  if (props !== undefined) {
    const kept: Record<string, unknown> = {};
    for (const k of FORWARDED) if (props[k] !== undefined) kept[k] = props[k];
    const ups: UserProperty[] = [];
    for (const up of props.userProperties ?? []) {
      if (up[0] === "partition-key") partitionKey = up[1];
      else ups.push(up);
    }
    if (ups.length > 0) kept.userProperties = ups;
    if (Object.keys(kept).length > 0) properties = kept;
  }
  return { payload, properties, partitionKey, expiresAt };
}

/**
 * The PUBLISH a consumer receives for one delivery (its own Message: the user properties differ per delivery). A
 * 3.1.1 consumer gets no properties on the wire, so none are built for it (one array, three strings and two
 * objects fewer per delivery).
 */
function deliveryMessage(d: QueueDelivery, v5: boolean, topic: string): Message {
  if (!v5) return messageOf(d, topic, d.properties);
  const ups: UserProperty[] = [...(d.properties?.userProperties ?? [])];
  const dl = d.dlq;
  // A dead letter's `delivery-count` is its final count in the original queue (what the DLQ consumer wants to
  // know); how often the DLQ itself delivered it is `dlq-delivery-count`.
  ups.push(["message-id", d.messageId], ["delivery-count", String(dl?.deliveryCount ?? d.deliveryCount)]);
  if (d.partitionKey !== undefined) ups.push(["partition-key", d.partitionKey]);
  if (dl !== undefined) {
    ups.push(
      ["dlq-reason", dl.reason],
      ["original-queue", dl.originalQueue],
      ["original-message-id", dl.originalId],
      ["dlq-delivery-count", String(d.deliveryCount)],
    );
  }
  return messageOf(d, topic, { ...d.properties, userProperties: ups });
}

function messageOf(d: QueueDelivery, topic: string, properties: Properties | undefined): Message {
  return {
    topic,
    payload: d.payload,
    qos: 1,
    retain: false,
    properties,
    expiresAt: d.expiresAt,
    origin: undefined,
    receivedAt: undefined,
    trace: undefined,
    prepared: undefined,
  };
}
