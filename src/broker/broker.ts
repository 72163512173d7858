// The broker core: sessions, the subscription index, retained messages, routing, wills, $SYS and shutdown.
// Transport-agnostic: transports hand it TransportConnections through accept().
import type { Properties, QoS, Will } from "../codec/index.ts";
import { ReasonCode } from "../codec/index.ts";
import { SubscriptionIndex, validateTopicName } from "../topics/index.ts";
import { silentLogger, systemClock } from "../util/index.ts";
import type { Clock, Logger } from "../util/index.ts";
import type { AuthenticatorRegistry, EnhancedAuthenticator } from "./auth/index.ts";
import { buildAuthenticators } from "./authenticators.ts";
import { Authorizer, isPromise } from "./hooks.ts";
import type { AuthHooks, ClientInfo } from "./hooks.ts";
import { Connection } from "./connection.ts";
import type { BrokerCore, ClientContext, RouteResult } from "./core.ts";
import { dispatch } from "./dispatch.ts";
import { FlushScheduler } from "./flush.ts";
import { createMessage, isExpired, minQoS } from "./message.ts";
import type { Message } from "./message.ts";
import { DEFAULT_BROKER_OPTIONS } from "./options.ts";
import type { BrokerOptions, ServerRedirect } from "./options.ts";
import { Persistence } from "./persist.ts";
import { recover } from "./recover.ts";
import type { RecoveryHost, RecoveryReport } from "./recover.ts";
import { checkServerRedirect, redirectConnections } from "./redirect.ts";
import { PersistentRetainedStore } from "./retained-persist.ts";
import { MemoryRetainedStore } from "./retained.ts";
import type { RetainedStore } from "./retained.ts";
import { NEVER_EXPIRES, Session } from "./session.ts";
import { SharedGroup, SharedSubscriptions } from "./shared.ts";
import type { SessionEnv, Subscription } from "./session.ts";
import { Counters } from "./stats.ts";
import type { BrokerStats } from "./stats.ts";
import { SYS_PREFIX, SysPublisher } from "./sys.ts";
import type { ConnectionHandler, ListenerLimits, TransportConnection } from "./transport.ts";
import type { Storage } from "../storage/index.ts";

export interface BrokerDeps {
  clock?: Clock;
  logger?: Logger;
  /** Authentication / authorization hooks; all optional. */
  auth?: AuthHooks;
  /** Retained message store (persistence seam); in-memory by default. */
  retained?: RetainedStore;
  /** 5.0 enhanced authentication methods besides SCRAM-SHA-256 from options.scram (docs/auth.md). */
  authenticators?: readonly EnhancedAuthenticator[];
  /**
   * Persistent state (src/storage, opened by the caller, closed by the caller after close()): the broker
   * restores sessions, retained messages and wills from it at construction and writes every change behind;
   * QoS 1/2 acknowledgements wait for the commit (docs/storage.md). Without it, state is in memory only.
   */
  storage?: Storage;
}

/** What the subscription index stores per (filter, client id). */
interface SubEntry {
  readonly session: Session;
  readonly sub: Subscription;
}

/** Index values: a client's own subscription, or a shared subscription group (key groupKey(name)). */
type IndexEntry = SubEntry | SharedGroup;

/** Per-session accumulation while routing one message (overlapping subscriptions are merged). */
interface Target {
  readonly session: Session;
  qos: QoS;
  retainAsPublished: boolean;
  ids: number[] | undefined;
}

const NOOP_HANDLER: ConnectionHandler = { onData() {}, onDrain() {}, onClose() {} };

export class Broker implements BrokerCore {
  readonly options: Required<BrokerOptions>;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly counters = new Counters();
  readonly flusher = new FlushScheduler();
  readonly authorizer: Authorizer;
  readonly hooks: AuthHooks | undefined;
  readonly retained: RetainedStore;
  readonly authenticators: AuthenticatorRegistry;
  /** Write-behind persistence (deps.storage); undefined = state in memory only. */
  readonly persistence: Persistence | undefined;
  /** What was restored from storage at construction. */
  readonly recovery: RecoveryReport | undefined;
  readonly sessions = new Map<string, Session>();
  readonly #index = new SubscriptionIndex<IndexEntry>();
  readonly #shared: SharedSubscriptions;
  readonly #connections = new Set<ClientContext>();
  /** Connections whose transport has not reported close yet (close() waits for them). */
  readonly #open = new Set<ClientContext>();
  readonly #sessionEnv: SessionEnv;
  readonly #sys: SysPublisher;
  readonly #startedAt: number;
  readonly #authReady: Promise<void>;
  #redirect: ServerRedirect | undefined;
  #nextClientId = 0;
  #closing: Promise<void> | undefined;
  #onAllClosed: (() => void) | undefined;

  constructor(options: Partial<BrokerOptions> = {}, deps: BrokerDeps = {}) {
    const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
    this.options = { ...DEFAULT_BROKER_OPTIONS, ...given };
    this.clock = deps.clock ?? systemClock;
    this.logger = deps.logger ?? silentLogger;
    this.hooks = deps.auth;
    this.persistence =
      deps.storage === undefined ? undefined : new Persistence(deps.storage, () => this.clock.now(), this.logger);
    const retained = deps.retained ?? new MemoryRetainedStore();
    const persistentRetained =
      this.persistence === undefined ? undefined : new PersistentRetainedStore(retained, this.persistence);
    this.retained = persistentRetained ?? retained;
    this.authorizer = new Authorizer(this.options.acl, deps.auth, this.logger);
    const methods = buildAuthenticators(this.options.scram, deps.authenticators ?? [], this.logger);
    this.authenticators = methods.registry;
    this.#authReady = methods.ready;
    this.#redirect =
      this.options.serverRedirect === null ? undefined : checkServerRedirect(this.options.serverRedirect);
    this.#startedAt = this.clock.now();
    this.#sessionEnv = {
      now: () => this.clock.now(),
      counters: this.counters,
      logger: this.logger,
      queueQos0Offline: this.options.queueQos0Offline,
      queueLimits: { maxMessages: this.options.maxQueuedMessages, maxBytes: this.options.maxQueuedBytes },
      store: this.persistence,
    };
    this.#shared = new SharedSubscriptions({
      strategy: this.options.sharedSubscriptionStrategy,
      queueLimits: this.#sessionEnv.queueLimits,
      queueQos0Offline: this.options.queueQos0Offline,
      counters: this.counters,
      logger: this.logger,
      now: this.#sessionEnv.now,
      index: this.#index,
      random: Math.random,
    });
    this.#sys = new SysPublisher(
      this.clock,
      this.options.sysInterval,
      () => this.stats(),
      (topic, value) => {
        this.publishMessage(
          createMessage({ topic, payload: Buffer.from(value), qos: 0, retain: true }, this.clock.now()),
        );
      },
    );
    this.recovery = this.persistence === undefined ? undefined : this.#recover(this.persistence, persistentRetained!);
    this.#sys.start();
  }

  // ---- public API -------------------------------------------------------------------------------------------

  /** Takes one client connection. During shutdown the connection is closed at once. */
  accept(conn: TransportConnection, limits?: ListenerLimits): ConnectionHandler {
    if (this.#closing !== undefined) {
      conn.destroy();
      return NOOP_HANDLER;
    }
    const max = Math.min(this.options.maxPacketSize, limits?.maxPacketSize ?? Number.POSITIVE_INFINITY);
    const c = new Connection(this, conn, max, dispatch);
    this.#connections.add(c);
    this.#open.add(c);
    return c;
  }

  /**
   * In-process publish, routed like a client's (no ACL: the caller is trusted; $SYS/ allowed). Throws a
   * TopicError for an invalid topic name.
   */
  publish(msg: {
    topic: string;
    payload: Buffer | string;
    qos?: QoS;
    retain?: boolean;
    properties?: Properties;
  }): Promise<void> {
    validateTopicName(msg.topic);
    this.publishMessage(
      createMessage(
        {
          topic: msg.topic,
          payload: typeof msg.payload === "string" ? Buffer.from(msg.payload) : msg.payload,
          qos: msg.qos ?? 0,
          retain: msg.retain ?? false,
          properties: msg.properties,
        },
        this.clock.now(),
      ),
    );
    return Promise.resolve();
  }

  /**
   * Settles once the configured SCRAM credentials are derived (passwords go through PBKDF2 asynchronously);
   * rejects with an AuthError for an invalid one. Exchanges that start earlier wait for the derivation themselves,
   * so awaiting this is only needed to fail fast on a bad configuration.
   */
  ready(): Promise<void> {
    return this.#authReady;
  }

  /** Where new connections are redirected (5.0 §4.11), if anywhere. */
  get serverRedirect(): ServerRedirect | undefined {
    return this.#redirect;
  }

  /**
   * Sets (or with undefined, clears) server redirection at runtime: new 5.0 connections get CONNACK 0x9C / 0x9D
   * with the Server Reference, 3.x ones 0x03. With `disconnectExisting`, connected 5.0 clients get DISCONNECT
   * 0x9C / 0x9D with the Server Reference and 3.x clients are closed (their wills are published, as for any
   * server-initiated close). Returns how many connections were moved. Throws BrokerError for an invalid target.
   */
  redirect(target: ServerRedirect | undefined, opts: { disconnectExisting?: boolean } = {}): number {
    this.#redirect = target === undefined ? undefined : checkServerRedirect(target);
    this.logger.info({ redirect: this.#redirect }, this.#redirect ? "server redirection on" : "server redirection off");
    if (this.#redirect === undefined || opts.disconnectExisting !== true) return 0;
    return redirectConnections(this.#connections, this.#redirect);
  }

  stats(): BrokerStats {
    const c = this.counters;
    let queued = this.#shared.waitingCount;
    let inflight = 0;
    for (const s of this.sessions.values()) {
      queued += s.queue.length;
      inflight += s.inflight.size;
    }
    return {
      clientsConnected: c.clientsConnected,
      clientsTotal: this.sessions.size,
      clientsMaximum: c.clientsMaximum,
      messagesReceived: c.messagesReceived,
      messagesSent: c.messagesSent,
      bytesReceived: c.bytesReceived,
      bytesSent: c.bytesSent,
      subscriptions: this.#index.size - this.#shared.groupCount + this.#shared.memberCount,
      retained: this.retained.size,
      droppedQos0: c.droppedQos0,
      queueRejected: c.queueRejected,
      expired: c.expired,
      queued,
      inflight,
      uptime: Math.floor((this.clock.now() - this.#startedAt) / 1000),
    };
  }

  /**
   * Graceful shutdown: refuses new connections, sends DISCONNECT 0x8B Server shutting down to 5.0 clients, ends
   * every connection after flushing what is buffered, and waits (up to options.closeTimeout) for the sockets to
   * close before destroying the stragglers.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.#sys.stop();
    this.#shared.suspend(); // members going offline keep their shared messages
    this.logger.info({ connections: this.#connections.size }, "broker shutting down");
    for (const c of [...this.#connections]) c.disconnect(ReasonCode.ServerShuttingDown);
    for (const s of this.sessions.values()) s.cancelTimers();
    this.flusher.flushAll();
    if (this.#open.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = this.clock.setTimeout(() => {
          for (const c of this.#open) c.transport.destroy();
          resolve();
        }, this.options.closeTimeout * 1000);
        this.#onAllClosed = () => {
          timer.cancel();
          resolve();
        };
      });
    }
  }

  // ---- BrokerCore: connections ------------------------------------------------------------------------------

  assignClientId(): string {
    for (;;) {
      const id = `${this.options.clientIdPrefix}${this.#startedAt.toString(36)}-${(this.#nextClientId++).toString(36)}`;
      if (!this.sessions.has(id)) return id; // unique among current sessions (5.0 [MQTT-3.2.2-16])
    }
  }

  openSession(conn: ClientContext, clientId: string, clean: boolean, expiryInterval: number) {
    let session = this.sessions.get(clientId);
    const previous = session?.link;
    if (previous !== undefined && previous !== conn) {
      // Takeover [MQTT-3.1.4-2] (5.0 [MQTT-3.1.4-3]: DISCONNECT 0x8E). Runs the old connection's close path now,
      // which publishes its will and ends its session if that session had expiry 0.
      this.logger.info({ clientId, remote: conn.transport.remoteAddress }, "client id in use: taking over");
      previous.disconnect(ReasonCode.SessionTakenOver);
      session = this.sessions.get(clientId);
    }
    let present = false;
    if (session !== undefined) {
      session.cancelTimers();
      if (clean) {
        this.#endSession(session); // [MQTT-3.1.2-6]; a delayed will fires now because its session ends
        session = undefined;
      } else {
        present = true; // [MQTT-3.1.2-4] [MQTT-3.2.2-2]
        session.pendingWill = undefined; // reconnected within the will delay: no will (5.0 [MQTT-3.1.2-26])
      }
    }
    if (session === undefined) {
      session = new Session(clientId, this.#sessionEnv);
      this.sessions.set(clientId, session);
    }
    session.expiryInterval = expiryInterval;
    session.link = conn;
    this.persistence?.sessionOpened(session, conn.client, conn.will);
    this.#shared.memberOnline(session); // waiting shared messages follow the CONNACK
    this.counters.clientsConnected++;
    if (this.counters.clientsConnected > this.counters.clientsMaximum) {
      this.counters.clientsMaximum = this.counters.clientsConnected;
    }
    return { session, present };
  }

  connectionEnded(conn: ClientContext, wasConnected: boolean, will: Will | undefined): void {
    this.#connections.delete(conn);
    if (!wasConnected) return;
    this.counters.clientsConnected--;
    const s = conn.session;
    if (s?.link !== conn) return; // already taken over
    s.link = undefined;
    this.#shared.memberOffline(s); // its unacknowledged shared messages go to live members (5.0 §4.8.2)
    const client = conn.client!;
    let willDeadline: number | undefined;
    if (will !== undefined) {
      const delay = conn.version === 5 ? (will.properties?.willDelayInterval ?? 0) : 0;
      if (delay === 0 || s.expiryInterval === 0) {
        this.#publishWill(will, client); // [MQTT-3.1.2-8]
      } else {
        // 5.0: after the delay or when the session ends, whichever is first (5.0 [MQTT-3.1.2-8]).
        s.pendingWill = { will, client };
        const ms = Math.min(delay, s.expiryInterval) * 1000;
        willDeadline = this.clock.now() + ms;
        this.#armWill(s, ms);
      }
    }
    if (s.expiryInterval === 0) {
      this.#endSession(s);
      return;
    }
    this.persistence?.sessionDisconnected(s, willDeadline);
    if (s.expiryInterval !== NEVER_EXPIRES) this.#armExpiry(s, s.expiryInterval * 1000);
  }

  /** Publishes the session's pending will after `ms` unless the client reconnects first. */
  #armWill(s: Session, ms: number): void {
    s.willTimer = this.clock.setTimeout(() => {
      s.willTimer = undefined;
      const pending = s.pendingWill;
      s.pendingWill = undefined;
      if (pending === undefined) return;
      this.#publishWill(pending.will, pending.client);
      this.persistence?.willDone(s.clientId);
    }, ms);
  }

  /** Ends the disconnected session after `ms` [MQTT-3.1.2-23]. */
  #armExpiry(s: Session, ms: number): void {
    s.expiryTimer = this.clock.setTimeout(() => {
      s.expiryTimer = undefined;
      if (s.link === undefined) this.#endSession(s);
    }, ms);
  }

  /** Restores the state persisted in storage (recover.ts). */
  #recover(p: Persistence, retained: PersistentRetainedStore): RecoveryReport {
    const host: RecoveryHost = {
      now: () => this.clock.now(),
      newSession: (clientId, expiryInterval) => {
        const s = new Session(clientId, this.#sessionEnv);
        s.expiryInterval = expiryInterval;
        this.sessions.set(clientId, s);
        return s;
      },
      subscribe: (s, sub) => void this.subscribe(s, sub),
      restoreRetained: (msg) => retained.restore(msg),
      armWill: (s, ms) => this.#armWill(s, ms),
      armExpiry: (s, ms) => this.#armExpiry(s, ms),
      endSession: (s) => this.#endSession(s),
      publishWill: (will, client) => this.#publishWill(will, client),
    };
    const report = recover(host, p);
    this.logger.info({ storage: p.storage.kind, path: p.storage.path, ...report }, "state restored from storage");
    return report;
  }

  transportClosed(conn: ClientContext): void {
    this.#connections.delete(conn);
    this.#open.delete(conn);
    if (this.#open.size === 0) this.#onAllClosed?.();
  }

  // ---- BrokerCore: routing ----------------------------------------------------------------------------------

  publishMessage(msg: Message): RouteResult {
    if (msg.retain && this.options.retainAvailable) this.#storeRetained(msg);
    return this.#route(msg);
  }

  subscribe(session: Session, sub: Subscription): boolean {
    const previous = session.subscriptions.get(sub.filter);
    // Same filter string, other kind ("$share/…" of a 3.x session is an ordinary filter): drop the old one first.
    if (previous !== undefined && (previous.shared === undefined) !== (sub.shared === undefined)) {
      this.#unregister(session, previous);
    }
    session.subscriptions.set(sub.filter, sub);
    this.persistence?.subscribed(session, sub);
    if (sub.shared !== undefined) return this.#shared.join(session, sub);
    return !this.#index.add(sub.filter, session.clientId, { session, sub });
  }

  unsubscribe(session: Session, filter: string): boolean {
    const sub = session.subscriptions.get(filter);
    if (sub === undefined) return false;
    session.subscriptions.delete(filter);
    this.persistence?.unsubscribed(session, filter);
    this.#unregister(session, sub);
    return true;
  }

  #unregister(session: Session, sub: Subscription): void {
    if (sub.shared !== undefined) this.#shared.leave(session, sub);
    else this.#index.remove(sub.filter, session.clientId);
  }

  deliverRetained(session: Session, sub: Subscription): void {
    if (sub.shared !== undefined) return; // only for a new Non-shared Subscription (5.0 §3.3.1.3)
    const now = this.clock.now();
    const found: Message[] = [];
    const expired: string[] = [];
    this.retained.match(sub.filter, (msg) => {
      if (isExpired(msg, now)) expired.push(msg.topic);
      else found.push(msg);
    });
    for (const topic of expired) {
      this.retained.delete(topic); // 5.0: an expired retained message is discarded
      this.counters.expired++;
    }
    const ids = sub.identifier === undefined ? undefined : [sub.identifier];
    for (const msg of found) {
      // RETAIN set because the message is sent for a new subscription [MQTT-3.3.1-8].
      session.deliver({ msg, qos: minQoS(msg.qos, sub.qos), retain: true, subscriptionIds: ids });
    }
  }

  /** Introspection for tests and the admin API: current subscriptions of a client. */
  subscriptionsOf(clientId: string): Subscription[] {
    return [...(this.sessions.get(clientId)?.subscriptions.values() ?? [])];
  }

  /** Number of open client connections (connected or still in CONNECT). */
  get connectionCount(): number {
    return this.#connections.size;
  }

  // ---- internals --------------------------------------------------------------------------------------------

  #storeRetained(msg: Message): void {
    if (msg.payload.length === 0) {
      this.retained.delete(msg.topic); // [MQTT-3.3.1-10]; never stored itself [MQTT-3.3.1-11]
      return;
    }
    // [MQTT-3.3.1-5] replace; copy the payload so a long-lived retained message does not pin a socket chunk.
    this.retained.set({ ...msg, payload: Buffer.from(msg.payload), prepared: undefined });
  }

  /**
   * Routes to every session with a matching subscription, once per session at the highest granted QoS of its
   * matching subscriptions [MQTT-3.3.5-1] (5.0 [MQTT-3.3.4-2]), with all their subscription identifiers
   * (5.0 [MQTT-3.3.4-4]), delivered at min(publish QoS, granted QoS) [MQTT-3.8.4-6].
   */
  #route(msg: Message): RouteResult {
    const targets = new Map<string, Target>();
    let groups: SharedGroup[] | undefined;
    const origin = msg.origin;
    this.#index.match(msg.topic, (key, entry) => {
      if (entry instanceof SharedGroup) {
        (groups ??= []).push(entry); // one delivery per group, to a member it picks (5.0 §4.8.2)
        return;
      }
      const sub = entry.sub;
      if (sub.noLocal && origin === key) return; // 5.0 [MQTT-3.8.3-3]
      const t = targets.get(key);
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
    let refused = 0;
    for (const t of targets.values()) {
      const delivered = t.session.deliver({
        msg,
        qos: minQoS(msg.qos, t.qos),
        // Forwarded to an established subscription: RETAIN cleared [MQTT-3.3.1-9] unless 5.0 Retain As Published.
        retain: t.retainAsPublished && msg.retain,
        subscriptionIds: t.ids,
      });
      if (!delivered) refused++;
    }
    if (groups === undefined) return { matched: targets.size, refused };
    for (const g of groups) if (!this.#shared.dispatch(g, msg)) refused++;
    return { matched: targets.size + groups.length, refused };
  }

  #publishWill(will: Will, client: ClientInfo): void {
    if (will.topic.startsWith(SYS_PREFIX)) return;
    const msg = createMessage(
      {
        topic: will.topic,
        payload: will.payload,
        qos: will.qos,
        retain: will.retain, // [MQTT-3.1.2-16] [MQTT-3.1.2-17]
        properties: will.properties,
        origin: client.clientId,
      },
      this.clock.now(),
    );
    this.logger.debug({ clientId: client.clientId, topic: will.topic }, "publishing will");
    if (this.authorizer.publishOpen) {
      this.publishMessage(msg);
      return;
    }
    const allowed = this.authorizer.canPublish(client, will.topic, {
      qos: will.qos,
      retain: will.retain,
      payload: will.payload,
      will: true,
    });
    if (isPromise(allowed)) {
      void allowed.then((ok) => {
        if (ok) this.publishMessage(msg);
      });
    } else if (allowed) {
      this.publishMessage(msg);
    }
  }

  #endSession(s: Session): void {
    s.cancelTimers();
    this.#shared.sessionEnded(s); // leaves its groups, which take back its unacknowledged messages
    this.#index.removeKey(s.clientId);
    const pending = s.pendingWill;
    s.pendingWill = undefined;
    this.persistence?.sessionEnded(s);
    s.clearState();
    if (this.sessions.get(s.clientId) === s) this.sessions.delete(s.clientId);
    if (pending !== undefined) this.#publishWill(pending.will, pending.client);
  }
}
