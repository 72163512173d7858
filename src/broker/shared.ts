// MQTT 5.0 shared subscriptions `$share/<group>/<filter>` (5.0 §4.8.2).
//
// One SharedGroup per (group name, filter) sits in the subscription index under the key groupKey(name), so a
// message matching the filter reaches the group once, and the group hands it to ONE member, chosen by the
// configured strategy. The member gets it through the ordinary Session.deliver path (inflight window, session
// queue, overflow policy) at its own granted QoS [MQTT-4.8.2-3]. The group owns the delivery (the settlement seam,
// settlement.ts: Delivery.owner = the group's DeliveryOwner), so the session offers it back when it cannot finish
// it, and the group decides (reclaims) and routes it again (settled "handed-back"):
//
//  - A member that goes offline or whose session ends gives back every delivery of its groups that it has not
//    acknowledged: QoS 1 PUBLISHes sent and not PUBACKed, and everything still in its session queue (any QoS, not
//    sent yet). They are dispatched again at once to the live members (§4.8.2 allows this as soon as the
//    connection is lost). QoS 2 PUBLISHes already sent stay with that member: the server completes them with
//    that client when it reconnects and never sends them to another member [MQTT-4.8.2-4] [MQTT-4.8.2-5].
//  - With no live member, messages wait in the group's own bounded queue (maxQueuedMessages / maxQueuedBytes,
//    same overflow policy as a session queue) and go to the next member that connects or subscribes. So a
//    group's messages never wait in an offline member's queue while the group has a live member.
//  - A message a member refuses with PUBACK/PUBREC >= 0x80 is discarded, not sent to another member
//    [MQTT-4.8.2-6]: the session simply ends that flow.
//  - Unsubscribing gives back the member's queued (unsent) deliveries of that group; the ones in flight are
//    completed with it [MQTT-3.10.4-3].
//
// ACL read-filter mode (acl.mode filter, Authorizer.canRead): every message is checked per member, as for ordinary
// subscriptions. A message goes only to a live member that may read its topic (others are skipped, like a full
// member); when no member of the group may read it, the group drops it as a filtered subscription would; when only
// offline members may, it waits in the group's queue for one of them, and the messages behind it that a live member
// may read do not wait for it.
//
// Retained messages are not sent for shared subscriptions (5.0 §3.3.1.3: only for a new Non-shared
// Subscription); No Local on a shared subscription is refused by the codec as a Protocol Error [MQTT-3.8.3-4].
import type { Logger } from "../util/index.ts";
import { isExpired, minQoS } from "./message.ts";
import type { Delivery, DeliveryHolder, DeliveryOwner, Message } from "./message.ts";
import type { SharedSubscriptionStrategy } from "./options.ts";
import { SessionQueue, pushCounted } from "./queue.ts";
import type { QueueLimits } from "./queue.ts";
import type { Session, Subscription } from "./session.ts";
import { FlowState, HandBackReason } from "./settlement.ts";
import type { FlowStateValue, HandBackReasonValue, Settlement } from "./settlement.ts";
import type { Counters } from "./stats.ts";

/**
 * Subscription index key of the group named `group`. U+0000 cannot occur in a client identifier (it is not
 * allowed in any MQTT string [MQTT-1.5.4-2]), so a group never collides with a client's own subscriptions.
 */
export function groupKey(group: string): string {
  return `\u0000$share/${group}`;
}

export interface SharedMember {
  readonly session: Session;
  /** The member's subscription: granted QoS, Subscription Identifier, Retain As Published. */
  sub: Subscription;
}

/** One `$share/<name>/<filter>`: its members and the messages waiting for a live one. */
export class SharedGroup {
  readonly members: SharedMember[] = [];
  /** Messages that arrived while no member was live, in arrival order. */
  readonly waiting: SessionQueue;
  /** Round-robin position: index in `members` of the next candidate. */
  cursor = 0;
  /** The "sticky" strategy's current member. */
  sticky: SharedMember | undefined = undefined;
  overflowWarned = false;
  drainScheduled = false;
  /** The owner of every delivery made for this group (set by SharedSubscriptions). */
  owner!: DeliveryOwner;

  constructor(
    /** The full `$share/<name>/<filter>`. */
    readonly shareFilter: string,
    readonly name: string,
    /** The topic filter proper. */
    readonly filter: string,
    limits: QueueLimits,
  ) {
    this.waiting = new SessionQueue(limits);
  }

  memberOf(session: Session): SharedMember | undefined {
    return this.members.find((m) => m.session === session);
  }
}

/** The part of the subscription index the groups live in. */
export interface GroupIndex {
  add(filter: string, key: string, value: SharedGroup): boolean;
  remove(filter: string, key: string): boolean;
}

export interface SharedEnv {
  readonly strategy: SharedSubscriptionStrategy;
  readonly queueLimits: QueueLimits;
  readonly queueQos0Offline: boolean;
  readonly counters: Counters;
  readonly logger: Logger;
  readonly now: () => number;
  readonly index: GroupIndex;
  /** Uniform in [0, 1): the "random" strategy (Math.random by default; tests may fix it). */
  readonly random: () => number;
  /** ACL read check of one message for one member (read-filter mode); undefined = every member may read. */
  readonly canRead?: ((s: Session, topic: string) => boolean) | undefined;
}

const isLive = (m: SharedMember): boolean => m.session.link !== undefined;

/** Load of a member for "least-inflight": unacknowledged plus queued deliveries. */
const load = (m: SharedMember): number => (m.session.madeInflight?.size ?? 0) + m.session.queue.length;

export class SharedSubscriptions {
  /** Groups by their full `$share/<name>/<filter>`. */
  readonly #groups = new Map<string, SharedGroup>();
  /** Groups each session is a member of. */
  readonly #bySession = new Map<object, Set<SharedGroup>>();
  #memberCount = 0;
  #suspended = false;

  constructor(private readonly env: SharedEnv) {}

  /** Number of groups (entries in the subscription index). */
  get groupCount(): number {
    return this.#groups.size;
  }

  /** Number of memberships (shared subscriptions of all sessions). */
  get memberCount(): number {
    return this.#memberCount;
  }

  /** Messages waiting in group queues for a live member. */
  get waitingCount(): number {
    let n = 0;
    for (const g of this.#groups.values()) n += g.waiting.length;
    return n;
  }

  group(shareFilter: string): SharedGroup | undefined {
    return this.#groups.get(shareFilter);
  }

  /**
   * Adds the session to the group of `sub` (which has `shared` set), or updates its subscription if it is a member
   * already [MQTT-3.8.4-3]; returns true in that case. Waiting messages go to the new member if it is live.
   */
  join(session: Session, sub: Subscription): boolean {
    const share = sub.shared!;
    let g = this.#groups.get(sub.filter);
    if (g === undefined) {
      g = new SharedGroup(sub.filter, share.group, share.filter, this.env.queueLimits);
      g.owner = this.#ownerOf(g);
      this.#groups.set(sub.filter, g);
      this.env.index.add(share.filter, groupKey(share.group), g);
    }
    const existing = g.memberOf(session);
    if (existing !== undefined) {
      existing.sub = sub;
      return true;
    }
    g.members.push({ session, sub });
    this.#memberCount++;
    let groups = this.#bySession.get(session);
    if (groups === undefined) this.#bySession.set(session, (groups = new Set()));
    groups.add(g);
    if (session.link !== undefined) this.#scheduleDrain(g);
    return false;
  }

  /**
   * Removes the session from the group of `sub` (UNSUBSCRIBE). Its queued deliveries of that group go to the other
   * members; those already sent are completed with it [MQTT-3.10.4-3].
   */
  leave(session: Session, sub: Subscription): void {
    const g = this.#groups.get(sub.filter);
    if (g === undefined || !this.#removeMember(g, session)) return;
    if (this.#suspended) return;
    session.handBack(HandBackReason.Unsubscribed, g.owner); // only its queued deliveries of this group
  }

  /**
   * The session ends: it leaves all its groups. (What it has not acknowledged was offered back just before, by
   * the SessionRegistry's Session.handBack(SessionEnded), while it was still a member [MQTT-4.8.2-5].)
   */
  sessionEnded(session: Session): void {
    const groups = this.#bySession.get(session);
    if (groups === undefined) return;
    for (const g of [...groups]) this.#removeMember(g, session);
  }

  /** The session is live again (CONNACK sent): messages waiting in its groups go out. */
  memberOnline(session: Session): void {
    const groups = this.#bySession.get(session);
    if (groups === undefined) return;
    for (const g of groups) if (g.waiting.length > 0) this.#scheduleDrain(g);
  }

  /** Broker shutdown: members going offline keep their messages (a persistent session keeps them for later). */
  suspend(): void {
    this.#suspended = true;
  }

  /**
   * Routes one message to the group: to one live member chosen by the strategy (another one if the chosen
   * member's queue is full), or into the group's queue when no member is live. False when it was refused (every
   * live member's queue, or the group's queue, is full of QoS 1/2).
   */
  dispatch(g: SharedGroup, msg: Message): boolean {
    if (!this.#anyReader(g, msg.topic)) return true; // read-filter ACL: no member may read it (filtered, not refused)
    // Keep arrival order once a member is live again (unless what still waits is for offline readers only).
    if (g.waiting.length === 0 || this.#drain(g)) {
      const r = this.#toMember(g, msg);
      if (r !== undefined) return r;
    }
    return this.#wait(g, msg);
  }

  // ---- internals --------------------------------------------------------------------------------------------

  /** Whether `m` may read `topic` (ACL read-filter mode; always true otherwise). */
  #reads(m: SharedMember, topic: string): boolean {
    const canRead = this.env.canRead;
    return canRead === undefined || canRead(m.session, topic);
  }

  /** Whether some member, live or not, may read `topic`. */
  #anyReader(g: SharedGroup, topic: string): boolean {
    if (this.env.canRead === undefined) return true;
    for (const m of g.members) if (this.#reads(m, topic)) return true;
    return false;
  }

  /** Delivers to a live member: true/false = accepted/refused by every live member; undefined = none is live. */
  #toMember(g: SharedGroup, msg: Message): boolean | undefined {
    let tried: Set<SharedMember> | undefined;
    for (;;) {
      const m = this.#pick(g, tried, msg.topic);
      if (m === undefined) return tried === undefined ? undefined : false;
      const sub = m.sub;
      const delivered = m.session.deliver({
        msg,
        qos: minQoS(msg.qos, sub.qos), // [MQTT-4.8.2-3]
        retain: sub.retainAsPublished && msg.retain,
        subscriptionIds: sub.identifier === undefined ? undefined : [sub.identifier],
        owner: g.owner,
      });
      if (delivered) return true;
      (tried ??= new Set()).add(m);
    }
  }

  /**
   * The member that gets the next message, among live members not in `skip` that may read `topic`; undefined if
   * there is none.
   */
  #pick(g: SharedGroup, skip: Set<SharedMember> | undefined, topic: string): SharedMember | undefined {
    const members = g.members;
    const n = members.length;
    if (n === 0) return undefined;
    const eligible = (m: SharedMember): boolean => isLive(m) && skip?.has(m) !== true && this.#reads(m, topic);
    switch (this.env.strategy) {
      case "random": {
        const live = members.filter(eligible);
        if (live.length === 0) return undefined;
        return live[Math.min(live.length - 1, Math.floor(this.env.random() * live.length))];
      }
      case "sticky": {
        const current = g.sticky;
        if (current !== undefined && eligible(current) && members.includes(current)) return current;
        g.sticky = this.#rotate(g, eligible);
        return g.sticky;
      }
      case "least-inflight": {
        // Lowest load wins; ties go to the first in rotation order, so equally loaded members alternate.
        let best: SharedMember | undefined;
        let bestIndex = 0;
        let bestLoad = Number.POSITIVE_INFINITY;
        for (let i = 0; i < n; i++) {
          const index = (g.cursor + i) % n;
          const m = members[index]!;
          if (!eligible(m)) continue;
          const l = load(m);
          if (l < bestLoad) {
            best = m;
            bestIndex = index;
            bestLoad = l;
          }
        }
        if (best !== undefined) g.cursor = (bestIndex + 1) % n;
        return best;
      }
      default:
        return this.#rotate(g, eligible);
    }
  }

  /** Round robin: the first eligible member from the cursor on; the cursor moves past it. */
  #rotate(g: SharedGroup, eligible: (m: SharedMember) => boolean): SharedMember | undefined {
    const members = g.members;
    const n = members.length;
    for (let i = 0; i < n; i++) {
      const index = (g.cursor + i) % n;
      const m = members[index]!;
      if (eligible(m)) {
        g.cursor = (index + 1) % n;
        return m;
      }
    }
    return undefined;
  }

  /** No live member: the message waits in the group's queue (QoS 0 only with queueQos0Offline, like a session). */
  #wait(g: SharedGroup, msg: Message): boolean {
    let granted = 0;
    for (const m of g.members) if (m.sub.qos > granted && this.#reads(m, msg.topic)) granted = m.sub.qos;
    const qos = minQoS(msg.qos, granted as 0 | 1 | 2);
    if (qos === 0 && !this.env.queueQos0Offline) return true;
    const d: Delivery = { msg, qos, retain: false, subscriptionIds: undefined };
    if (pushCounted(g.waiting, d, this.env.counters)) return true;
    if (!g.overflowWarned) {
      g.overflowWarned = true; // once per overflow episode, like a session queue
      this.env.logger.warn(
        { group: g.shareFilter, queued: g.waiting.length, bytes: g.waiting.bytes },
        "shared subscription queue full (no live member): refusing QoS 1/2 messages for this group",
      );
    }
    return false;
  }

  /**
   * Hands waiting messages to live members, in order, until none is live or all refuse. True when nothing is left
   * that a live member could take (the queue is empty, or what is left waits for offline members, the only ones
   * the read-filter ACL lets read it): a new message need not wait behind it.
   */
  #drain(g: SharedGroup): boolean {
    let now = -1;
    for (let d = g.waiting.peek(); d !== undefined; d = g.waiting.peek()) {
      if (d.msg.expiresAt !== undefined) {
        if (now < 0) now = this.env.now();
        if (isExpired(d.msg, now)) {
          g.waiting.shift(); // 5.0 [MQTT-3.3.2-5]
          this.env.counters.expired++;
          continue;
        }
      }
      if (!this.#anyReader(g, d.msg.topic)) {
        g.waiting.shift(); // the members that could read it left: filtered now, as for a new message
        continue;
      }
      const r = this.#toMember(g, d.msg);
      if (r === undefined && g.members.some(isLive)) return this.#drainPastOffline(g);
      if (r !== true) return false;
      g.waiting.shift();
      g.overflowWarned = false;
    }
    return true;
  }

  /**
   * Read-filter ACL: the head of the queue waits for an offline member, the only kind allowed to read it. The
   * messages behind it that a live member may read go now, in order (one member going offline must not stall the
   * group for the others). Same answer as #drain.
   */
  #drainPastOffline(g: SharedGroup): boolean {
    const done = new Set<Delivery>();
    let clear = true;
    for (const d of g.waiting.toArray()) {
      if (!this.#anyReader(g, d.msg.topic)) done.add(d);
      else {
        const r = this.#toMember(g, d.msg);
        if (r === true) done.add(d);
        else if (r === false) {
          clear = false; // every live reader refused: what follows keeps its place
          break;
        }
      }
    }
    if (done.size > 0) {
      g.waiting.removeWhere((d) => done.has(d));
      g.overflowWarned = false;
    }
    return clear;
  }

  /**
   * Drains after the current packet handler: a member coming online gets its CONNACK (and its own resent
   * messages) or its SUBACK before the group's waiting messages.
   */
  #scheduleDrain(g: SharedGroup): void {
    if (g.drainScheduled) return;
    g.drainScheduled = true;
    queueMicrotask(() => {
      g.drainScheduled = false;
      if (this.#groups.get(g.shareFilter) === g) this.#drain(g);
    });
  }

  /**
   * The settlement owner of the group's deliveries. A member that loses its connection or its session gives back
   * what it has not acknowledged — QoS 1 PUBLISHes sent and not PUBACKed, and everything still queued; QoS 2 sent
   * stays with it [MQTT-4.8.2-4]; one that unsubscribes gives back only its queued deliveries [MQTT-3.10.4-3].
   * Given back, a delivery is dispatched again to the group. During shutdown nothing is taken back.
   */
  #ownerOf(g: SharedGroup): DeliveryOwner {
    return {
      reclaims: (_d: Delivery, why: HandBackReasonValue, flow: FlowStateValue, holder: DeliveryHolder): boolean => {
        if (this.#suspended) return false;
        if (why === HandBackReason.Unsubscribed) return flow === FlowState.Queued;
        // Connection lost or session ended: only from a session that is (still) a member of some group.
        if (!this.#bySession.has(holder)) return false;
        return flow === FlowState.Queued || flow === FlowState.AwaitPuback;
      },
      settled: (d: Delivery, s: Settlement): void => {
        if (s.kind === "handed-back") this.#redispatch(g, d);
      },
    };
  }

  /** Dispatches a given-back delivery again to its group (if the group still exists). */
  #redispatch(g: SharedGroup, d: Delivery): void {
    if (isExpired(d.msg, this.env.now())) {
      this.env.counters.expired++;
      return;
    }
    const current = this.#groups.get(g.shareFilter);
    if (current === undefined || !this.dispatch(current, d.msg)) {
      this.env.logger.debug({ group: g.shareFilter }, "shared subscription message given back and lost");
    }
  }

  /** Removes the membership; the group goes when its last member does. False if it was not a member. */
  #removeMember(g: SharedGroup, session: Session): boolean {
    const i = g.members.findIndex((m) => m.session === session);
    if (i < 0) return false;
    const [removed] = g.members.splice(i, 1);
    this.#memberCount--;
    if (g.sticky === removed) g.sticky = undefined;
    if (i < g.cursor) g.cursor--;
    if (g.cursor >= g.members.length) g.cursor = 0;
    const groups = this.#bySession.get(session);
    groups?.delete(g);
    if (groups?.size === 0) this.#bySession.delete(session);
    if (g.members.length === 0) {
      if (g.waiting.length > 0) {
        this.env.logger.info(
          { group: g.shareFilter, dropped: g.waiting.length },
          "last member left a shared subscription: its waiting messages are dropped",
        );
      }
      this.#groups.delete(g.shareFilter);
      this.env.index.remove(g.filter, groupKey(g.name));
    }
    return true;
  }
}
