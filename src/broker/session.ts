// Session state [MQTT-4.1]: subscriptions, outbound QoS 1/2 messages in flight, the queue of messages not yet
// sent, inbound QoS 2 packet identifiers awaiting PUBREL, and the pending will. It outlives connections when
// its expiry interval is not 0 (3.1.1 clean session 0 = never expires).
//
// Every delivery the session accepts ends in exactly one settlement (settlement.ts): acknowledged or rejected by
// the client (with its reason code), sent (QoS 0), handed back to its owner, or dropped. The session reports it to
// the delivery's owner, if it has one (a shared subscription group), and on the `settlement` event channel.
import type { QoS, RetainHandling, Will } from "../codec/index.ts";
import type { StreamStart } from "../queues/index.ts";
import { MAX_PACKET_ID, MAX_UINT32 } from "../util/index.ts";
import type { Logger, TimerHandle } from "../util/index.ts";
import type { ClientInfo, ReadSubject } from "./hooks.ts";
import { events } from "./events.ts";
import type { DropEventReason } from "./events.ts";
import { isExpired } from "./message.ts";
import type { Delivery, Message } from "./message.ts";
import { InflightWindow } from "./inflight.ts";
import { EnqueueResult, SessionQueue } from "./queue.ts";
import type { QueueLimits } from "./queue.ts";
import { DropReason, FlowState, SENT, acknowledged, dropped, handedBack } from "./settlement.ts";
import type { DropReasonValue, FlowStateValue, HandBackReasonValue, Settlement } from "./settlement.ts";
import type { Counters } from "./stats.ts";
import type { OutboundPressure } from "./backpressure.ts";
import type { LatencySlot } from "./latency.ts";

/** Session Expiry Interval meaning "never" (5.0 0xFFFFFFFF; 3.1.1 clean session 0). */
export const NEVER_EXPIRES = MAX_UINT32;

export interface Subscription {
  readonly filter: string;
  /** Granted QoS. */
  readonly qos: QoS;
  readonly noLocal: boolean;
  readonly retainAsPublished: boolean;
  readonly retainHandling: RetainHandling;
  /** 5.0 Subscription Identifier. */
  readonly identifier: number | undefined;
  /** 5.0 shared subscription `$share/<group>/<filter>`: the group name and the topic filter proper. */
  readonly shared?: SharedFilter | undefined;
  /** `$queue/<name>` subscription: the consumer spec (queue-bridge.ts); undefined when restored from storage. */
  readonly queue?: QueueSpec | undefined;
  /** Protocol level of the subscribing client (queue subscriptions: what a PUBACK means). */
  readonly version?: number | undefined;
}

/** A durable queue consumer: queue name, consumer group and options from the SUBSCRIBE. */
export interface QueueSpec {
  readonly name: string;
  readonly group: string;
  readonly prefetch?: number | undefined;
  readonly start?: StreamStart | undefined;
}

export interface SharedFilter {
  readonly group: string;
  readonly filter: string;
}

/** Outbound QoS 1/2 states [MQTT-4.3.2] [MQTT-4.3.3]. */
export const OutState = {
  /** QoS 1 PUBLISH sent, waiting for PUBACK. */
  AwaitPuback: 1,
  /** QoS 2 PUBLISH sent, waiting for PUBREC. */
  AwaitPubrec: 2,
  /** PUBREL sent, waiting for PUBCOMP. */
  AwaitPubcomp: 3,
} as const;
export type OutStateValue = (typeof OutState)[keyof typeof OutState];

export interface Outbound {
  readonly packetId: number;
  readonly delivery: Delivery;
  state: OutStateValue;
}

/** What a session needs from the connection it is attached to. */
export interface SessionLink {
  /** False while the socket applies backpressure (or has too much unflushed): new messages go to the queue. */
  readonly canWrite: boolean;
  /** Max QoS 1/2 in flight: min(options.maxInflight, the 5.0 client's Receive Maximum). */
  readonly inflightLimit: number;
  /** Encodes and buffers a PUBLISH; false when it was discarded because it exceeds the client's maximum size. */
  writePublish(d: Delivery, packetId: number | undefined, dup: boolean): boolean;
  writePubrel(packetId: number): void;
  /** The session queued a delivery for this link while its queue was empty (in-process links pace publishers on it). */
  queued?(): void;
  /** The connection's backpressure tracker (src/broker/backpressure.ts), made on first use. */
  readonly pressure: OutboundPressure;
  /** The tracker if it was made: one that does not exist holds no publisher, so there is nothing to ease. */
  readonly madePressure: OutboundPressure | undefined;
  /** Server-initiated close of this link, e.g. 0x8E when another connection takes the session over [MQTT-3.1.4-2]. */
  disconnect(reasonCode: number): void;
}

/**
 * A link's direct intake (an in-process subscription, src/inproc/subscription.ts): takes a plain QoS 0 delivery
 * (no owner, nothing observed) when nothing waits in the session, or answers false and the delivery takes the
 * ordinary path. Taking it must leave the same state that sending it would: nothing to settle, no packet id.
 * Such a delivery is `{ msg, qos: 0, retain: false, subscriptionIds: undefined }`, so the message alone is passed:
 * no Delivery object is made for a message every target takes this way.
 */
export interface DirectSink {
  offer(msg: Message): boolean;
}

/** What a Session reports about its queue and inflight window (implemented by persist.ts; called only when a store is configured). */
export interface SessionStore {
  /** `d` was added to the session queue. */
  queued(s: Session, d: Delivery): void;
  /** `d` left the queue without becoming a QoS 1/2 inflight message (sent at QoS 0, expired, discarded, taken back). */
  unqueued(s: Session, d: Delivery): void;
  /** A QoS 1/2 PUBLISH was written with `packetId` (from the queue, or directly). */
  sent(s: Session, d: Delivery, packetId: number, state: OutStateValue): void;
  /** PUBREC received: the flow is in the PUBREL state; the message body is no longer needed. */
  released(s: Session, out: Outbound): void;
  /** The outbound flow ended (PUBACK, PUBCOMP, PUBREC >= 0x80, discarded, taken back). */
  completed(s: Session, out: Outbound): void;
}

export interface SessionEnv {
  /** Broker.id, for events. */
  readonly brokerId: string;
  readonly now: () => number;
  readonly counters: Counters;
  readonly logger: Logger;
  readonly queueQos0Offline: boolean;
  readonly queueLimits: QueueLimits;
  /** Write-behind persistence (src/broker/persist.ts); undefined = state in memory only. */
  readonly store?: SessionStore | undefined;
  /** The broker's publish-to-delivery latency sink (latency.ts). */
  readonly latency: LatencySlot;
}

/**
 * Whether deliveries of `msg` may use Session.offer(): nothing observes them one by one (timing, tracing, delivery
 * and settlement events), which only the ordinary path reports.
 */
export function directDeliveries(msg: Message): boolean {
  return (
    msg.receivedAt === undefined &&
    msg.trace === undefined &&
    !events.delivery.hasSubscribers &&
    !events.settlement.hasSubscribers
  );
}

export const PubrecOutcome = { Unknown: 0, SendPubrel: 1, Done: 2 } as const;
export type PubrecOutcomeValue = (typeof PubrecOutcome)[keyof typeof PubrecOutcome];

const NOTHING_OUT: readonly Outbound[] = [];

export class Session {
  #link: SessionLink | undefined = undefined;
  #sink: (SessionLink & DirectSink) | undefined = undefined;
  /**
   * The sink while offer() may use it as far as this session's state goes (it is the attached link, no retained
   * backlog, no held SUBACK), else undefined: kept current where those change, so that offer() checks one field
   * (and the queue) per delivery instead of four.
   */
  #direct: (SessionLink & DirectSink) | undefined = undefined;

  get link(): SessionLink | undefined {
    return this.#link;
  }

  set link(link: SessionLink | undefined) {
    this.#link = link;
    this.#updateDirect();
  }

  /** The link's direct intake (DirectSink), used only while that link is attached. */
  get sink(): (SessionLink & DirectSink) | undefined {
    return this.#sink;
  }

  set sink(sink: (SessionLink & DirectSink) | undefined) {
    this.#sink = sink;
    this.#updateDirect();
  }

  #updateDirect(): void {
    const sink = this.#sink;
    this.#direct =
      sink !== undefined && sink === this.#link && this.#backlog === undefined && this.#gate === undefined
        ? sink
        : undefined;
  }
  /** The identity of the client that last attached (ACL read checks while it is offline). */
  owner: ReadSubject | undefined = undefined;
  /** Seconds; 0 = ends with the connection, NEVER_EXPIRES = never. */
  expiryInterval = 0;
  // The three collections below are created on first use: most connections never subscribe, publish QoS 2 or
  // receive QoS 1/2, and three empty hash tables per idle client were ~0.4 KB of its memory (docs/benchmarks.md).
  #subscriptions: Map<string, Subscription> | undefined = undefined;
  #inflight: InflightWindow<Outbound> | undefined = undefined;
  #inboundQos2: Set<number> | undefined = undefined;
  get subscriptions(): Map<string, Subscription> {
    return (this.#subscriptions ??= new Map());
  }
  /** False while `subscriptions` was never used: the session cannot be in the router's index. */
  get everSubscribed(): boolean {
    return this.#subscriptions !== undefined;
  }
  // Readers that only look (stats, $SYS every 10 s, the admin API's client list, persistence, session transfer) use
  // these: through the getters above they would make the three collections for every idle session they visit.
  /** The subscriptions, or undefined while none was ever made. */
  get madeSubscriptions(): ReadonlyMap<string, Subscription> | undefined {
    return this.#subscriptions;
  }
  /** The inflight window, or undefined while nothing was ever in flight. */
  get madeInflight(): InflightWindow<Outbound> | undefined {
    return this.#inflight;
  }
  /** The inbound QoS 2 ids, or undefined while there never was one. */
  get madeInboundQos2(): ReadonlySet<number> | undefined {
    return this.#inboundQos2;
  }
  /** Insertion-ordered, so a reconnect resends in the original order [MQTT-4.6.0-1]. */
  get inflight(): InflightWindow<Outbound> {
    return (this.#inflight ??= new InflightWindow());
  }
  readonly queue: SessionQueue;
  /** Inbound QoS 2 ids routed and not yet released (method A of [MQTT-4.3.3-2]): a resent PUBLISH is not routed again. */
  get inboundQos2(): Set<number> {
    return (this.#inboundQos2 ??= new Set());
  }
  /** The will of the last connection, while its delay runs (5.0 Will Delay Interval). */
  pendingWill: { will: Will; client: ClientInfo } | undefined = undefined;
  willTimer: TimerHandle | undefined = undefined;
  expiryTimer: TimerHandle | undefined = undefined;
  /** Its state is written to storage (a store is configured and the expiry interval is not 0); see persist.ts. */
  persistent = false;
  #lastPacketId = 0;
  #overflowWarned = false;
  /** Deliveries with an owner still held (queued or in flight, not settled): handBack() has work only then. */
  #owned = 0;

  constructor(
    readonly clientId: string,
    private readonly env: SessionEnv,
  ) {
    this.queue = new SessionQueue(env.queueLimits);
  }

  /**
   * Hands one delivery to the session: sent now when the connection can take it (and, for QoS 1/2, the inflight
   * window has room and nothing older is queued), queued otherwise. Returns false only when a QoS 1/2 delivery
   * was refused because the queue is full (counted and logged here).
   */
  deliver(d: Delivery): boolean {
    const link = this.link;
    if (d.owner !== undefined) this.#owned++;
    // The offline and slow-consumer cases out of line: this function is inlined into the router's #deliver, whose
    // inlining budget counts its whole bytecode (311 bytes with them here; docs/benchmarks.md, stop 22).
    if (link === undefined) return this.#deliverOffline(d);
    // Backpressure (src/broker/backpressure.ts): a subscriber declared slow gets no QoS 0 (dropped, counted); one
    // that holds the publisher takes this delivery even over the queue limit; either way its marks are checked.
    const pressure = link.pressure;
    if (pressure.slow && d.qos === 0) return this.#dropSlow(d, pressure);
    let ok = true;
    // Behind retained messages still to send (or whose SUBACK waits for a commit), a live message queues: retained
    // first, deterministically (src/broker/subscribe.ts).
    if (
      link.canWrite &&
      this.#backlog === undefined &&
      !this.#gatedOn(link) &&
      (d.qos === 0 || (this.queue.length === 0 && this.#windowOpen(link)))
    )
      this.#send(link, d);
    else ok = this.#enqueue(d, pressure.canHold);
    pressure.loaded();
    return ok;
  }

  /** deliver() without a connection: queued (QoS 0 only with queueQos0Offline), or a QoS 0 one dropped. */
  #deliverOffline(d: Delivery): boolean {
    if (d.qos === 0 && !this.env.queueQos0Offline) {
      this.#drop(d, DropReason.Offline);
      return true;
    }
    return this.#enqueue(d, false);
  }

  /** deliver() of a QoS 0 message to a subscriber declared slow (backpressure.ts): dropped and counted. */
  #dropSlow(d: Delivery, pressure: OutboundPressure): boolean {
    pressure.dropQos0();
    this.#drop(d, DropReason.SlowConsumer);
    return true;
  }

  /**
   * The direct intake (DirectSink) of a plain QoS 0 delivery: true when the attached link took it. The caller
   * (the router) has checked what is per message: QoS 0, no owner, nothing observing deliveries (no delivery or
   * settlement listener, no timing, no trace; directDeliveries()). What deliver() would then do is send it and
   * settle it as sent with nothing to tell anyone; the sink does the same in one step when nothing waits in this
   * session that it must stay behind (retained backlog, a held SUBACK, the queue). Otherwise false: deliver() it.
   */
  offer(msg: Message): boolean {
    const sink = this.#direct;
    return sink !== undefined && this.queue.length === 0 && sink.offer(msg);
  }

  /**
   * Retained messages for a new subscription, delivered with flow control (issue #14: 50,000 retained messages
   * overflowed the bounded queue and were silently cut to ~9,000): sent straight from this backlog as the
   * connection takes them (never through the bounded queue), before anything in the queue. Held as references to
   * the retained store's messages.
   *
   * Ordering: a subscription's retained messages precede every live message it delivers. While the backlog is not
   * empty, live deliveries go to the queue (with its limits and backpressure) and the queue is drained only once
   * the backlog is; and while a SUBACK with retained messages waits for its storage commit (holdLive), live
   * deliveries queue too, so none overtakes the SUBACK's retained messages.
   */
  #backlog: Delivery[] | undefined = undefined;
  #backlogAt = 0;
  /** holdLive() calls not yet released, for the connection they were made on (a new connection ignores them). */
  #gate: { link: SessionLink; count: number } | undefined = undefined;

  /** Queues `ds` behind any earlier backlog and sends as much as the connection takes. */
  deliverBacklog(ds: Delivery[]): void {
    if (ds.length === 0) return;
    if (this.#backlog === undefined) {
      this.#backlog = ds;
      this.#backlogAt = 0;
      this.#direct = undefined;
    } else this.#backlog.push(...ds);
    this.drain();
  }

  /**
   * A subscription with retained messages was added, and its SUBACK (then the retained messages) waits for the
   * storage commit: live deliveries queue until releaseLive(). Tied to the current connection.
   */
  holdLive(): void {
    const link = this.link;
    if (link === undefined) return;
    if (this.#gate?.link === link) this.#gate.count++;
    else this.#gate = { link, count: 1 };
    this.#direct = undefined;
  }

  /** The SUBACK of a holdLive() went out: its retained messages go first, then what queued meanwhile. */
  releaseLive(retained: Delivery[]): void {
    const g = this.#gate;
    if (g !== undefined && (g.link !== this.link || --g.count === 0)) {
      this.#gate = undefined;
      this.#updateDirect();
    }
    if (retained.length > 0) this.deliverBacklog(retained);
    else this.drain();
  }

  #gatedOn(link: SessionLink): boolean {
    return this.#gate !== undefined && this.#gate.link === link;
  }

  /** Retained deliveries still waiting for room (tests, stats). */
  get backlogLength(): number {
    return this.#backlog === undefined ? 0 : this.#backlog.length - this.#backlogAt;
  }

  /** Room for one more QoS 1/2 PUBLISH in flight (inflight.ts: bounded in messages and in bytes). */
  #windowOpen(link: SessionLink): boolean {
    const f = this.#inflight;
    return f === undefined || f.hasRoom(link.inflightLimit, this.env.queueLimits.maxBytes);
  }

  /** Sends retained deliveries from the backlog while the connection takes them and the inflight window has room. */
  #pumpBacklog(link: SessionLink): void {
    const b = this.#backlog!;
    let now = -1;
    while (this.#backlogAt < b.length && link.canWrite) {
      const d = b[this.#backlogAt]!;
      if (d.qos > 0 && !this.#windowOpen(link)) return;
      this.#backlogAt++;
      if (d.msg.expiresAt !== undefined) {
        if (now < 0) now = this.env.now();
        if (isExpired(d.msg, now)) {
          this.env.counters.expired++; // expired while waiting [MQTT-3.3.2-5]
          continue;
        }
      }
      this.#send(link, d);
    }
    if (this.#backlogAt < b.length) return;
    this.#backlog = undefined;
    this.#backlogAt = 0;
    this.#updateDirect();
  }

  /**
   * Sends what waits while the connection can take it and the inflight window has room: retained messages of new
   * subscriptions first, then the queue (nothing while a SUBACK with retained messages waits for its commit).
   */
  drain(): void {
    const link = this.link;
    if (link === undefined || this.#gatedOn(link)) return;
    if (this.#backlog !== undefined) {
      this.#pumpBacklog(link);
      if (this.#backlog !== undefined) {
        link.madePressure?.eased(); // not made for a connection that never had a delivery
        return;
      }
    }
    this.#drainQueue();
  }

  #drainQueue(): void {
    const link = this.link;
    if (link === undefined) return;
    let now = -1;
    while (link.canWrite) {
      const d = this.queue.peek();
      if (d === undefined) break;
      if (d.msg.expiresAt !== undefined) {
        if (now < 0) now = this.env.now();
        if (isExpired(d.msg, now)) {
          this.queue.shift(); // [MQTT-3.3.2-5]
          this.env.store?.unqueued(this, d);
          this.env.counters.expired++;
          this.#drop(d, DropReason.Expired);
          continue;
        }
      }
      if (d.qos > 0 && !this.#windowOpen(link)) break;
      this.queue.shift();
      this.#overflowWarned = false;
      this.#send(link, d);
    }
    link.madePressure?.eased(); // not made for a connection that never had a delivery
  }

  /**
   * After a reconnect to an existing session: resend unacknowledged PUBLISHes with DUP set and PUBRELs, with
   * their original packet identifiers and in order [MQTT-4.4.0-1], then send what queued up meanwhile.
   */
  resume(): void {
    const link = this.link;
    if (link === undefined) return;
    const inflight = this.#inflight;
    if ((inflight === undefined || inflight.size === 0) && this.#backlog === undefined && this.queue.length === 0) {
      // Nothing to resend or drain (every new session, so every connect of a storm): what drain() ends with, without
      // the five functions it runs to find that out (each one is compiled by V8 on a fresh broker, issue #10).
      if (!this.#gatedOn(link)) link.madePressure?.eased();
      return;
    }
    // A copy: the loop deletes. Skipped entirely for a session that never had anything in flight.
    for (const out of inflight === undefined || inflight.size === 0 ? NOTHING_OUT : [...inflight.values()]) {
      if (out.state === OutState.AwaitPubcomp) link.writePubrel(out.packetId);
      else if (!link.writePublish(out.delivery, out.packetId, true)) {
        this.inflight.delete(out.packetId);
        this.env.store?.completed(this, out);
        this.#drop(out.delivery, DropReason.TooLarge);
      } else if (events.delivery.hasSubscribers) {
        this.#emitDelivery(out.delivery, out.packetId, true);
      }
    }
    this.drain();
  }

  /**
   * Takes over state moved from another broker (session-transfer.ts) into this new, empty session: outbound flows
   * keep their packet identifiers and states (resume() resends them), queued deliveries queue (over the limits if
   * need be: they were accepted already). Persisted like local deliveries.
   */
  adopt(inflight: readonly Outbound[], queued: readonly Delivery[]): void {
    const store = this.env.store;
    for (const out of inflight) {
      this.inflight.set(out.packetId, out);
      const released = out.state === OutState.AwaitPubcomp;
      store?.sent(this, out.delivery, out.packetId, released ? OutState.AwaitPubrec : out.state);
      if (released) store?.released(this, out);
    }
    for (const d of queued) {
      this.queue.push(d, true);
      if (d.qos > 0) store?.queued(this, d);
    }
    if (queued.length > 0) this.link?.queued?.();
  }

  /**
   * PUBACK from the client, with its reason code (5.0; 0 for 3.x): settles the delivery acknowledged, or rejected
   * for >= 0x80. False if no QoS 1 message with that id was in flight (ignored by the caller).
   */
  onPuback(packetId: number, reasonCode = 0): boolean {
    const out = this.inflight.get(packetId);
    if (out?.state !== OutState.AwaitPuback) return false;
    this.inflight.delete(packetId);
    this.env.store?.completed(this, out);
    this.#settle(out.delivery, acknowledged(reasonCode));
    this.drain();
    return true;
  }

  /**
   * PUBREC from the client. A 5.0 reason code >= 0x80 ends the flow without PUBREL (5.0 §4.3.3, the sender
   * "MUST treat ... as complete") and settles the delivery rejected; otherwise it is settled acknowledged now, since
   * from here on the message is the client's [MQTT-4.3.3-3].
   */
  onPubrec(packetId: number, reasonCode: number): PubrecOutcomeValue {
    const out = this.inflight.get(packetId);
    if (out === undefined || out.state === OutState.AwaitPuback) return PubrecOutcome.Unknown;
    if (out.state === OutState.AwaitPubcomp) return PubrecOutcome.SendPubrel; // duplicate PUBREC
    if (reasonCode >= 0x80) {
      this.inflight.delete(packetId);
      this.env.store?.completed(this, out);
      this.#settle(out.delivery, acknowledged(reasonCode));
      this.drain();
      return PubrecOutcome.Done;
    }
    out.state = OutState.AwaitPubcomp; // [MQTT-4.3.3-3]: the message is now the client's; only the id stays in use
    this.env.store?.released(this, out);
    this.#settle(out.delivery, acknowledged(reasonCode));
    return PubrecOutcome.SendPubrel;
  }

  onPubcomp(packetId: number): boolean {
    const out = this.inflight.get(packetId);
    if (out?.state !== OutState.AwaitPubcomp) return false;
    this.inflight.delete(packetId);
    this.env.store?.completed(this, out);
    this.drain();
    return true;
  }

  /**
   * Offers the owned deliveries it still holds unacknowledged back to their owners (`why`): in order, the ones in
   * flight (sent, not yet PUBACKed/PUBRECed), then the queued ones. Those an owner reclaims are removed (the
   * removal is persisted) and then settled `handed-back`, so the owner can route them elsewhere. `only` limits
   * the offer to one owner (an UNSUBSCRIBE gives back only that subscription's deliveries).
   */
  handBack(why: HandBackReasonValue, only?: Delivery["owner"]): void {
    if (this.#owned === 0) return;
    const taken: Delivery[] = [];
    const offer = (d: Delivery, flow: FlowStateValue): boolean =>
      d.owner !== undefined && (only === undefined || d.owner === only) && d.owner.reclaims(d, why, flow, this);
    const inflight = this.#inflight;
    if (inflight !== undefined) {
      for (const [packetId, out] of inflight) {
        if (out.state === OutState.AwaitPubcomp) continue; // settled at PUBREC already
        const flow = out.state === OutState.AwaitPuback ? FlowState.AwaitPuback : FlowState.AwaitPubrec;
        if (!offer(out.delivery, flow)) continue;
        inflight.delete(packetId);
        this.env.store?.completed(this, out);
        taken.push(out.delivery);
      }
    }
    const queued = this.queue.removeWhere((d) => offer(d, FlowState.Queued));
    const store = this.env.store;
    for (const d of queued) {
      store?.unqueued(this, d);
      taken.push(d);
    }
    const settlement = handedBack(why);
    for (const d of taken) this.#settle(d, settlement);
  }

  /**
   * Drops everything the session holds (it ended or was replaced by a clean start); owned deliveries still held
   * (not reclaimed by their owner) are settled dropped.
   */
  clearState(): void {
    this.#backlog = undefined;
    this.#backlogAt = 0;
    this.#updateDirect();
    if (this.#owned > 0) {
      for (const out of this.#inflight?.values() ?? []) {
        if (out.state !== OutState.AwaitPubcomp) this.#drop(out.delivery, DropReason.SessionEnded);
      }
      for (const d of this.queue.toArray()) this.#drop(d, DropReason.SessionEnded);
    }
    this.#subscriptions?.clear();
    this.#inflight?.clear();
    this.queue.clear();
    this.#inboundQos2?.clear();
  }

  cancelTimers(): void {
    this.willTimer?.cancel();
    this.willTimer = undefined;
    this.expiryTimer?.cancel();
    this.expiryTimer = undefined;
  }

  /**
   * Next free packet identifier: 1..65535 round-robin, skipping every id still in flight (including QoS 2 ids
   * in the PUBREL state) so an id is never reused before its flow completed [MQTT-2.3.1-2] [MQTT-2.2.1-3].
   * The inflight window is far below 65535, so a free id always exists.
   */
  allocatePacketId(): number {
    for (let n = 0; n < MAX_PACKET_ID; n++) {
      this.#lastPacketId = this.#lastPacketId >= MAX_PACKET_ID ? 1 : this.#lastPacketId + 1;
      if (!this.inflight.has(this.#lastPacketId)) return this.#lastPacketId;
    }
    throw new Error("no free packet identifier");
  }

  #send(link: SessionLink, d: Delivery): void {
    if (d.qos === 0) {
      if (!link.writePublish(d, undefined, false)) this.#drop(d, DropReason.TooLarge);
      else {
        if (events.delivery.hasSubscribers) this.#emitDelivery(d, undefined, false);
        if (d.msg.receivedAt !== undefined || d.msg.trace !== undefined) this.#observed(d, undefined);
        this.#settle(d, SENT);
      }
      return;
    }
    const packetId = this.allocatePacketId();
    // Too large for the client: discarded as if delivered [MQTT-3.1.2-25], so the id is not kept.
    if (!link.writePublish(d, packetId, false)) {
      this.env.store?.unqueued(this, d);
      this.#drop(d, DropReason.TooLarge);
      return;
    }
    const state = d.qos === 1 ? OutState.AwaitPuback : OutState.AwaitPubrec;
    this.inflight.set(packetId, { packetId, delivery: d, state });
    this.env.store?.sent(this, d, packetId, state);
    if (events.delivery.hasSubscribers) this.#emitDelivery(d, packetId, false);
    if (d.msg.receivedAt !== undefined || d.msg.trace !== undefined) this.#observed(d, packetId);
  }

  /** A first delivery of a timed or traced message: its latency and its delivery span. */
  #observed(d: Delivery, packetId: number | undefined): void {
    const at = d.msg.receivedAt;
    const sink = this.env.latency.sink;
    if (at !== undefined && sink !== undefined) sink.record(d.qos, (performance.now() - at) / 1000);
    d.msg.trace?.delivered(this.clientId, d.msg.topic, d.qos, packetId);
  }

  /** The one exit of every accepted delivery: its owner and the settlement channel are told. */
  #settle(d: Delivery, s: Settlement): void {
    const owner = d.owner;
    if (owner !== undefined) {
      this.#owned--;
      owner.settled(d, s);
    }
    if (events.settlement.hasSubscribers) {
      events.settlement.publish({
        broker: this.env.brokerId,
        clientId: this.clientId,
        topic: d.msg.topic,
        qos: d.qos,
        settlement: s,
        owned: owner !== undefined,
      });
    }
  }

  #drop(d: Delivery, reason: DropReasonValue): void {
    this.#emitDrop(d, reason);
    this.#settle(d, dropped(reason));
  }

  #emitDrop(d: Delivery, reason: DropEventReason): void {
    if (!events.drop.hasSubscribers) return;
    events.drop.publish({
      broker: this.env.brokerId,
      clientId: this.clientId,
      topic: d.msg.topic,
      qos: d.qos,
      reason,
    });
  }

  #emitDelivery(d: Delivery, packetId: number | undefined, dup: boolean): void {
    events.delivery.publish({
      broker: this.env.brokerId,
      clientId: this.clientId,
      topic: d.msg.topic,
      qos: d.qos,
      packetId,
      dup,
    });
  }

  /** Queues with the overflow policy (queue.ts); false when a QoS 1/2 delivery was refused (queue full). */
  #enqueue(d: Delivery, force: boolean): boolean {
    const queue = this.queue;
    const counters = this.env.counters;
    const result = queue.push(d, force);
    if (result === EnqueueResult.QueuedEvicted) {
      counters.droppedQos0 += queue.evicted;
      for (const e of queue.takeEvicted()) this.#drop(e, DropReason.QueueFull);
    }
    if (result === EnqueueResult.DroppedQos0) {
      counters.droppedQos0++;
      this.#drop(d, DropReason.QueueFull);
      return true;
    }
    if (result !== EnqueueResult.Rejected) {
      // QoS 1/2 were queued (only QoS 0 is ever dropped or evicted, and QoS 0 is not persisted).
      if (d.qos > 0) this.env.store?.queued(this, d);
      if (queue.length === 1) this.link?.queued?.();
      return true;
    }
    counters.queueRejected++;
    // Refused: never accepted by this session, so not settled here (the router counts it as refused).
    if (d.owner !== undefined) this.#owned--;
    this.#emitDrop(d, "queue-rejected");
    if (!this.#overflowWarned) {
      // Once per overflow episode (reset when the queue moves again), so a stuck client cannot flood the log.
      this.#overflowWarned = true;
      this.env.logger.warn(
        {
          clientId: this.clientId,
          queued: this.queue.length,
          bytes: this.queue.bytes,
          online: this.link !== undefined,
        },
        "session queue full: refusing QoS 1/2 messages for this client",
      );
    }
    return false;
  }
}
