// The router: which sessions a published message goes to. It owns the subscription index (src/topics) and the
// 5.0 shared subscription groups (shared.ts), and nothing else: session state (the session's own subscription
// map, persistence) is kept by the caller (runtime.ts), sessions' lifecycles by the SessionRegistry.
//
// `Router` is the seam a cluster implementation provides later. Its methods are synchronous on purpose: a
// cluster router answers them from its local replica of the route table and forwards a message to the nodes that
// have matching subscriptions without waiting for them (route changes propagate asynchronously, as in EMQX and
// VerneMQ). What needs a remote answer — "is this client id connected on another node?" — is asked of the
// SessionRegistry, whose open() may return a promise.
import type { QoS } from "../codec/index.ts";
import { SubscriptionIndex } from "../topics/index.ts";
import { minQoS } from "./message.ts";
import type { Delivery, Message } from "./message.ts";
import { DirectListener } from "./listener.ts";
import { ROUTE_CACHE_SIZE, RouteCache, type RoutePlan } from "./route-cache.ts";
import { directDeliveries, type Session, type Subscription } from "./session.ts";
import { SharedGroup, SharedSubscriptions } from "./shared.ts";
import type { SharedEnv } from "./shared.ts";

/** Outcome of routing one message (LocalRouter may hand out a shared frozen one: copy it to change it). */
export interface RouteResult {
  /** Sessions (and shared groups) with at least one matching subscription. */
  matched: number;
  /** Of those, the ones that refused the message (QoS 1/2 with a full queue). */
  refused: number;
}

export interface Router {
  /** Registers `sub` of `session` (a shared one joins its group); true when it replaced an identical filter. */
  add(session: Session, sub: Subscription): boolean;
  /** Unregisters `sub` of `session` (a shared one leaves its group, which takes back its queued deliveries). */
  remove(session: Session, sub: Subscription): void;
  /** Delivers `msg` to every matching subscription: once per session, once per shared group. */
  route(msg: Message): RouteResult;
  /** The session's client connected (CONNACK sent): waiting shared messages follow. */
  sessionOnline(session: Session): void;
  /** The session's connection ended; the session may live on. */
  sessionOffline(session: Session): void;
  /** The session ended: every subscription of it is removed. */
  sessionEnded(session: Session): void;
  /** Shutdown: members going offline keep their shared messages (a persistent session keeps them for later). */
  suspend(): void;
  /** Subscriptions across all sessions (each shared membership counts once). */
  readonly subscriptionCount: number;
  /** Messages waiting in shared groups for a live member. */
  readonly waitingCount: number;
}

/** What the subscription index stores per (filter, client id). */
interface SubEntry {
  readonly session: Session;
  readonly sub: Subscription;
}

/**
 * Index values: a client's own subscription, a shared subscription group (key groupKey(name)), or a synchronous
 * in-process listener (its own key).
 */
type IndexEntry = SubEntry | SharedGroup | DirectListener;

/** Per-session accumulation while routing one message (overlapping subscriptions are merged). */
interface Target {
  readonly session: Session;
  qos: QoS;
  retainAsPublished: boolean;
  ids: number[] | undefined;
}

/** The results without a refusal up to this many matches are shared: routing a message allocates none. */
const SHARED_RESULTS: readonly RouteResult[] = Array.from({ length: 64 }, (_, matched) =>
  Object.freeze({ matched, refused: 0 }),
);

function routeResult(matched: number, refused: number): RouteResult {
  return refused === 0 && matched < SHARED_RESULTS.length ? SHARED_RESULTS[matched]! : { matched, refused };
}

/** The in-process router. */
export class LocalRouter implements Router {
  readonly #index = new SubscriptionIndex<IndexEntry>();
  readonly #cache: RouteCache;
  readonly #shared: SharedSubscriptions;

  readonly #canRead: ((s: Session, topic: string) => boolean) | undefined;
  readonly #readChecked: (() => boolean) | undefined;

  constructor(
    sharedEnv: Omit<SharedEnv, "index"> & {
      canRead?: (s: Session, topic: string) => boolean;
      /** Whether canRead must be asked at all right now (asked once per message, not per delivery). */
      readChecked?: () => boolean;
      /** Topics whose routing plans are cached (route-cache.ts; default ROUTE_CACHE_SIZE, 0 = no cache: benchmarks). */
      routeCacheSize?: number;
    },
  ) {
    this.#shared = new SharedSubscriptions({ ...sharedEnv, index: this.#index }); // read-checks its members too
    this.#canRead = sharedEnv.canRead;
    this.#readChecked = sharedEnv.readChecked;
    this.#cache = new RouteCache(sharedEnv.routeCacheSize ?? ROUTE_CACHE_SIZE);
  }

  add(session: Session, sub: Subscription): boolean {
    if (sub.shared !== undefined) return this.#shared.join(session, sub);
    return !this.#index.add(sub.filter, session.clientId, { session, sub });
  }

  remove(session: Session, sub: Subscription): void {
    if (sub.shared !== undefined) this.#shared.leave(session, sub);
    else this.#index.remove(sub.filter, session.clientId);
  }

  /** Registers a synchronous listener (listener.ts): called with every matching message this router routes. */
  addListener(l: DirectListener): void {
    this.#index.add(l.filter, l.key, l);
  }

  removeListener(l: DirectListener): void {
    this.#index.remove(l.filter, l.key);
  }

  /**
   * Routes to every session with a matching subscription, once per session at the highest granted QoS of its
   * matching subscriptions [MQTT-3.3.5-1] (5.0 [MQTT-3.3.4-2]), with all their subscription identifiers
   * (5.0 [MQTT-3.3.4-4]), delivered at min(publish QoS, granted QoS) [MQTT-3.8.4-6].
   */
  route(msg: Message): RouteResult {
    return this.#route(msg, true);
  }

  /** Like route() but to ordinary subscriptions only: a cluster router picks the shared groups' node itself. */
  routeOwn(msg: Message): RouteResult {
    return this.#route(msg, false);
  }

  /** Shared groups with a subscription matching `topic`: their `$share/<name>/<filter>` strings. */
  sharedGroupsMatching(topic: string): string[] {
    const out: string[] = [];
    this.#index.match(topic, (_key, entry) => {
      if (entry instanceof SharedGroup && entry.members.length > 0) out.push(entry.shareFilter);
    });
    return out;
  }

  /** Gives `msg` to one member of the group `$share/<name>/<filter>`; false when there is no such group here. */
  dispatchShared(shareFilter: string, msg: Message): boolean | undefined {
    const g = this.#shared.group(shareFilter);
    if (g === undefined || g.members.length === 0) return undefined;
    return this.#shared.dispatch(g, msg);
  }

  #route(msg: Message, withShared: boolean): RouteResult {
    const cached = this.#cache.get(msg.topic, this.#index.version);
    // A miss out of line: this function is inlined into publishMessage() and accept(), whose inlining budget counts
    // every bytecode byte of it (287 with the miss here, docs/benchmarks.md, stop 22).
    return this.#deliver(msg, cached !== undefined && cached !== null ? cached : this.#miss(msg, cached), withShared);
  }

  /** A topic not in the route cache (`cached` undefined), or every topic while it is bypassed (null). */
  #miss(msg: Message, cached: undefined | null): RoutePlan {
    const plan = this.#plan(msg);
    // Kept for later messages (not while the cache is bypassed, nor with No Local): identifier lists are shared by
    // their deliveries from now on.
    if (cached === undefined && this.#cacheable) {
      for (const t of plan.targets) if (t.ids !== undefined) Object.freeze(t.ids);
      this.#cache.store(msg.topic, plan);
    }
    return plan;
  }

  #deliver(msg: Message, plan: RoutePlan, withShared: boolean): RouteResult {
    let refused = 0;
    const canRead = this.#readChecked === undefined || this.#readChecked() ? this.#canRead : undefined;
    const targets = plan.targets;
    // One Delivery for every plain QoS 0 target: it is immutable and QoS 0 is never persisted or tracked per
    // session, so sharing it saves an allocation per subscriber (QoS 1/2 deliveries stay per session: persistence
    // and the inflight window key on them). Made only for a target whose direct intake declined the message.
    let shared0: Delivery | undefined;
    // Plain QoS 0 deliveries may go to a session's direct intake (in-process subscriptions) unless observed.
    let direct: boolean | undefined;
    // A QoS 0 message without RETAIN is a plain QoS 0 delivery to every target without identifiers: decided once.
    const plain = msg.qos === 0 && !msg.retain;
    for (let i = 0; i < targets.length; i++) {
      const t = targets[i]!;
      const s = t.session;
      if (canRead !== undefined && !canRead(s, msg.topic)) continue; // ACL read-filter mode
      let d: Delivery;
      if (plain && t.ids === undefined) {
        if (s.sink !== undefined && (direct ??= directDeliveries(msg)) && s.offer(msg)) continue;
        d = shared0 ??= { msg, qos: 0, retain: false, subscriptionIds: undefined };
      } else {
        const qos = minQoS(msg.qos, t.qos);
        // Forwarded to an established subscription: RETAIN cleared [MQTT-3.3.1-9] unless 5.0 Retain As Published.
        const retain = t.retainAsPublished && msg.retain;
        if (qos === 0 && !retain && t.ids === undefined) {
          if (s.sink !== undefined && (direct ??= directDeliveries(msg)) && s.offer(msg)) continue;
          d = shared0 ??= { msg, qos: 0, retain: false, subscriptionIds: undefined };
        } else d = { msg, qos, retain, subscriptionIds: t.ids as number[] | undefined };
      }
      if (!s.deliver(d)) refused++;
    }
    let matched = targets.length;
    const groups = plan.groups;
    if (withShared && groups !== undefined) {
      for (const g of groups) if (!this.#shared.dispatch(g, msg)) refused++;
      matched += groups.length;
    }
    const listeners = plan.listeners;
    if (listeners === undefined) return routeResult(matched, refused);
    for (let i = 0; i < listeners.length; i++) listeners[i]!.deliver(msg);
    return routeResult(matched + listeners.length, refused);
  }

  /** Whether the last #plan() may be cached (no No Local subscription matched). */
  #cacheable = true;

  /** A plan with no target, group or listener (most topics of a distinct-topic workload): shared, never stored. */
  static readonly #EMPTY: RoutePlan = Object.freeze({ targets: [], groups: undefined, listeners: undefined });

  /**
   * Matches `msg.topic` in the index: one target per session at the highest granted QoS of its matching
   * subscriptions, with all their identifiers, and the matching shared groups and listeners. Not cacheable when a
   * No Local subscription matched (the result depends on the publisher).
   */
  #plan(msg: Message): RoutePlan {
    let targets: Map<string, Target> | undefined;
    let groups: SharedGroup[] | undefined;
    let listeners: DirectListener[] | undefined;
    let cacheable = true;
    const origin = msg.origin;
    this.#index.match(msg.topic, (key, entry) => {
      if (entry instanceof SharedGroup) {
        (groups ??= []).push(entry); // one delivery per group, to a member it picks (5.0 §4.8.2)
        return;
      }
      if (entry instanceof DirectListener) {
        (listeners ??= []).push(entry);
        return;
      }
      const sub = entry.sub;
      if (sub.noLocal) {
        cacheable = false;
        if (origin === key) return; // 5.0 [MQTT-3.8.3-3]
      }
      const t = (targets ??= new Map<string, Target>()).get(key);
      if (t === undefined) {
        targets.set(key, {
          session: entry.session,
          qos: sub.qos,
          retainAsPublished: sub.retainAsPublished,
          ids: sub.identifier === undefined ? undefined : [sub.identifier],
        });
        return;
      }
      if (sub.qos > t.qos) t.qos = sub.qos;
      if (sub.retainAsPublished) t.retainAsPublished = true;
      if (sub.identifier !== undefined) (t.ids ??= []).push(sub.identifier);
    });
    this.#cacheable = cacheable;
    if (targets === undefined && groups === undefined && listeners === undefined) return LocalRouter.#EMPTY;
    // The Targets themselves become the plan's: a miss, and every message while the cache is bypassed, costs what
    // routing cost without a cache plus this array.
    return { targets: targets === undefined ? [] : Array.from(targets.values()), groups, listeners };
  }

  sessionOnline(session: Session): void {
    this.#shared.memberOnline(session);
  }

  sessionOffline(_session: Session): void {
    // Nothing to do locally: the registry offers the session's unacknowledged deliveries back to their owners
    // (Session.handBack), which is how shared groups take theirs back. A cluster router would update its routes.
  }

  sessionEnded(session: Session): void {
    this.#shared.sessionEnded(session); // leaves its groups, which take back its unacknowledged messages
    // Subscriptions enter the index only through session.subscriptions (Runtime.subscribe): a session that never
    // used it (most clean sessions of a connection storm) has nothing there to look up.
    if (session.everSubscribed) this.#index.removeKey(session.clientId);
  }

  suspend(): void {
    this.#shared.suspend();
  }

  get subscriptionCount(): number {
    return this.#index.size - this.#shared.groupCount + this.#shared.memberCount;
  }

  get waitingCount(): number {
    return this.#shared.waitingCount;
  }
}
