// The broker runtime: composes the internal parts and is the BrokerCore the connections and packet handlers work
// with. Each part has one job:
//   SessionRegistry (session-registry.ts)  sessions, takeover, will delay, expiry
//   Router (router.ts)                      subscription index and shared groups: who gets a message
//   RetainedStore (retained.ts)             retained messages (persisted through retained-persist.ts)
//   SysPublisher (sys.ts)                   $SYS statistics
//   Persistence (persist.ts)                write-behind storage, acknowledgements after the commit
// This class wires them and keeps what spans them: the connection set (shutdown, redirection), the publish path
// (retained + route), subscribe/unsubscribe (session map + persistence + router), recovery wiring and stats.
// It is internal: the public Broker (broker.ts) holds it privately, tests reach it through internal.ts.
import { randomBytes } from "node:crypto";
import type { Will } from "../codec/index.ts";
import { ReasonCode } from "../codec/index.ts";
import { Deadlines, silentLogger, systemClock } from "../util/index.ts";
import type { Clock, Logger } from "../util/index.ts";
import type { AuthenticatorRegistry, EnhancedAuthenticator } from "./auth/index.ts";
import { buildAuthenticators } from "./authenticators.ts";
import { DEFAULT_OVERLOAD_OPTIONS, OverloadState } from "./backpressure.ts";
import type { Producer } from "./backpressure.ts";
import { Connection } from "./connection.ts";
import type { BrokerCore, ClientContext } from "./core.ts";
import { dispatch } from "./dispatch.ts";
import { events } from "./events.ts";
import { FlushScheduler } from "./flush.ts";
import { Authorizer } from "./hooks.ts";
import type { AuthHooks, ClientInfo } from "./hooks.ts";
import { copyMessage, createMessage, isExpired, minQoS } from "./message.ts";
import type { Delivery, Message } from "./message.ts";
import { DEFAULT_BROKER_OPTIONS } from "./options.ts";
import type { BrokerOptions, ServerRedirect } from "./options.ts";
import { Persistence } from "./persist.ts";
import { recover } from "./recover.ts";
import type { RecoveryHost, RecoveryReport } from "./recover.ts";
import { checkServerRedirect, redirectConnections } from "./redirect.ts";
import { PersistentRetainedStore } from "./retained-persist.ts";
import { MemoryRetainedStore } from "./retained.ts";
import type { RetainedStore } from "./retained.ts";
import { LocalRouter } from "./router.ts";
import { QueueRouter, queueSysTopics } from "./queue-bridge.ts";
import { MemoryQueueStore, QueueEngine, StorageQueueStore } from "../queues/index.ts";
import type { RouteResult, Router } from "./router.ts";
import { LocalSessionRegistry } from "./session-registry.ts";
import type { OpenedSession, SessionClient, SessionRegistry } from "./session-registry.ts";
import { installSession } from "./session-transfer.ts";
import type { InstallHost, SessionParts } from "./session-transfer.ts";
import type { Session, SessionEnv, Subscription } from "./session.ts";
import { Counters } from "./stats.ts";
import type { BrokerStats } from "./stats.ts";
import { SysPublisher } from "./sys.ts";
import type { ConnectionHandler, ListenerLimits, TransportConnection } from "./transport.ts";
import { publishWill } from "./wills.ts";
import type { WillDeps } from "./wills.ts";
import type { Storage } from "../storage/index.ts";
import type { BrokerTracer } from "./tracing.ts";
import type { LatencySlot } from "./latency.ts";
import type { QueueLimits } from "./queue.ts";
import type { QueueBackend } from "./queue-backend.ts";

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
  /**
   * Every Nth routed message is timed for the publish-to-delivery latency, while a sink is set
   * (Broker.setDeliveryLatency, latency.ts). Default 64: each timed message costs a clock read (~50 ns on the bench
   * VM) and an observation per subscriber; in a 50-subscriber fan-out that was ~2 % of a core at 3.6 M deliveries/s
   * through an event per observation, ~0.8-1.0 % of the broker at 5 M with the sink (docs/benchmarks.md, stop 18).
   */
  latencySampleEvery?: number;
  /**
   * The clustering seam (src/cluster builds it; the broker never imports the cluster): wraps the broker's router with
   * one that also routes to other nodes. It gets the local router (ordinary and shared subscriptions), the router
   * it wraps (with durable queues) and the retained store, and returns the router the broker publishes through.
   */
  routing?: (parts: RoutingParts) => Router;
  /**
   * The other clustering seam: wraps the in-process session registry with one that decides client-id ownership
   * across nodes and moves sessions between them (src/cluster/sessions). Its open() may answer asynchronously.
   */
  sessions?: (parts: SessionParts) => SessionRegistry;
  /**
   * The queue seam (queue-backend.ts): where `$queue/` appends, consumers and settlements go instead of this node's
   * own engine (a clustered node's backend reaches each queue's slot owner; src/cluster/queues). The engine stays for
   * the management API, $SYS and the in-process API.
   */
  queueBackend?: QueueBackend;
}

/** What a cluster router is built from (BrokerDeps.routing). */
export interface RoutingParts {
  /** The router to wrap: durable queues over the local router. */
  readonly router: Router;
  /** The in-process subscription index and shared groups. */
  readonly local: LocalRouter;
  readonly retained: RetainedStore;
  /** Whether retained messages are kept at all (mqtt.retainAvailable). */
  readonly retainAvailable: boolean;
  /**
   * Backpressure (backpressure.ts): `producer` is the connection whose packet is being handled, which a subscriber
   * over its marks holds. A cluster router sets it to an inter-node connection while delivering what came over it,
   * and holds it while a link to another node is full.
   */
  readonly overload: { producer: Producer | undefined };
}

import { limitedLog } from "./log-limits.ts";
import { connectionAllowed, ipOf } from "./rate-limits.ts";

const NOOP_HANDLER: ConnectionHandler = { onData() {}, onDrain() {}, onClose() {} };

function sessionClient(c: ClientContext): SessionClient {
  return { link: c, client: c.client, will: c.will, remoteAddress: c.transport.remoteAddress, version: c.version };
}

/** The `wharf:broker:publish-in` event of a routed message (only while someone subscribes to it). */
function publishInEvent(broker: string, msg: Message, r: RouteResult): void {
  events.publishIn.publish({
    broker,
    clientId: msg.origin,
    topic: msg.topic,
    qos: msg.qos,
    retain: msg.retain,
    payloadBytes: msg.payload.length,
    matched: r.matched,
    refused: r.refused,
  });
}

export class BrokerRuntime implements BrokerCore {
  /** 48 random bits naming this broker instance: in assigned client ids and on every event (events.ts). */
  readonly id = randomBytes(6).toString("hex");
  readonly options: Required<BrokerOptions>;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly counters = new Counters();
  readonly flusher = new FlushScheduler();
  readonly deadlines: Deadlines;
  readonly overload: OverloadState;
  readonly authorizer: Authorizer;
  hooks: AuthHooks | undefined;
  readonly retained: RetainedStore;
  readonly authenticators: AuthenticatorRegistry;
  readonly authReady: Promise<void>;
  /** Write-behind persistence (deps.storage); undefined = state in memory only. */
  readonly persistence: Persistence | undefined;
  /** BrokerCore.admission; set after construction by whoever owns the budget (src/inproc local-broker.ts). */
  admission: ((bytes: number) => boolean) | undefined = undefined;
  /** BrokerCore.tracer; set by Broker.setTracer(). */
  tracer: BrokerTracer | undefined = undefined;
  /** The publish-to-delivery latency sink (Broker.setDeliveryLatency), shared with every session. */
  readonly latency: LatencySlot = { sink: undefined };
  /** What was restored from storage at construction. */
  readonly recovery: RecoveryReport | undefined;
  readonly sessions: SessionRegistry;
  readonly router: Router;
  /** Durable `$queue/` queues: the engine (management API) and its wire mapping (a Router decorator). */
  readonly queues: QueueRouter;
  /** This node's subscription index and shared groups (in-process listeners register here: node-local). */
  readonly localRouter: LocalRouter;
  readonly sys: SysPublisher;
  /** Connections not yet finished (connected or still in CONNECT). */
  readonly connections = new Set<ClientContext>();
  /** Connections whose transport has not reported close yet (shutdown waits for them). */
  readonly #open = new Set<ClientContext>();
  readonly #startedAt: number;
  readonly #queueLimits: QueueLimits;
  readonly #latencyEvery: number;
  #latencyTick = 0;
  readonly #willDeps: WillDeps;
  #redirect: ServerRedirect | undefined;
  #closing: Promise<void> | undefined;
  #onAllClosed: (() => void) | undefined;

  constructor(options: Partial<BrokerOptions>, deps: BrokerDeps) {
    const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
    this.options = { ...DEFAULT_BROKER_OPTIONS, ...given };
    this.clock = deps.clock ?? systemClock;
    this.deadlines = new Deadlines(this.clock);
    this.logger = deps.logger ?? silentLogger;
    this.hooks = deps.auth;
    this.#latencyEvery = Math.max(1, Math.floor(deps.latencySampleEvery ?? 64));
    const now = (): number => this.clock.now();
    this.persistence = deps.storage === undefined ? undefined : new Persistence(deps.storage, now, this.logger);
    const retained = deps.retained ?? new MemoryRetainedStore();
    const persistentRetained =
      this.persistence === undefined ? undefined : new PersistentRetainedStore(retained, this.persistence);
    this.retained = persistentRetained ?? retained;
    this.authorizer = new Authorizer(this.options.acl, deps.auth, this.logger, {
      aclDefault: this.options.aclDefault,
      aclReadMode: this.options.aclReadMode,
    });
    const methods = buildAuthenticators(this.options.scram, deps.authenticators ?? [], this.logger);
    this.authenticators = methods.registry;
    this.authReady = methods.ready;
    this.#redirect =
      this.options.serverRedirect === null ? undefined : checkServerRedirect(this.options.serverRedirect);
    this.#startedAt = this.clock.now();
    this.overload = new OverloadState(
      { ...DEFAULT_OVERLOAD_OPTIONS, ...this.options.overload },
      this.options.maxQueuedMessages,
      this.clock,
      this.counters,
      this.logger,
    );
    // One limits object shared by every session and shared-group queue: applyQueueLimits() changes it in place.
    this.#queueLimits = {
      maxMessages: this.options.maxQueuedMessages,
      maxBytes: this.options.maxQueuedBytes,
      // One budget object shared by every session and shared-group queue (mqtt.maxQueuedBytesTotal).
      budget: this.options.maxQueuedBytesTotal > 0 ? { used: 0, max: this.options.maxQueuedBytesTotal } : undefined,
    };
    const env: SessionEnv = {
      brokerId: this.id,
      now,
      counters: this.counters,
      logger: this.logger,
      queueQos0Offline: this.options.queueQos0Offline,
      queueLimits: this.#queueLimits,
      store: this.persistence,
      latency: this.latency,
    };
    const authorizer = this.authorizer;
    const local = new LocalRouter({
      // Read-filter ACL mode: each delivery is checked for its session's identity (Mosquitto's read check).
      // Checked first: without a read-filter ACL no identity object is built per delivery.
      canRead: (s, topic) =>
        !authorizer.readChecked || authorizer.canRead(s.owner ?? { clientId: s.clientId, username: undefined }, topic),
      readChecked: () => authorizer.readChecked,
      strategy: this.options.sharedSubscriptionStrategy,
      queueLimits: env.queueLimits,
      queueQos0Offline: this.options.queueQos0Offline,
      counters: this.counters,
      logger: this.logger,
      now,
      random: Math.random,
    });
    const engine = new QueueEngine({
      store: deps.storage === undefined ? new MemoryQueueStore() : new StorageQueueStore(deps.storage),
      clock: this.clock,
      logger: this.logger.child({ component: "queues" }),
      config: this.options.queues,
      onDeadLetter: (n) => {
        if (events.deadLettered.hasSubscribers) events.deadLettered.publish({ broker: this.id, ...n });
      },
    });
    this.localRouter = local;
    this.queues = new QueueRouter(local, {
      engine,
      logger: this.logger,
      now,
      touch: () => this.persistence?.touched(),
      backend: deps.queueBackend,
      tracer: () => this.tracer,
    });
    this.router =
      deps.routing === undefined
        ? this.queues
        : deps.routing({
            router: this.queues,
            local,
            retained: this.retained,
            retainAvailable: this.options.retainAvailable,
            overload: this.overload,
          });
    this.#willDeps = {
      now,
      logger: this.logger,
      authorizer: this.authorizer,
      publish: (m) => this.publishMessage(m),
      tracer: () => this.tracer,
    };
    const localSessions = new LocalSessionRegistry({
      clock: this.clock,
      logger: this.logger,
      counters: this.counters,
      env,
      router: this.router,
      store: this.persistence,
      clientIdPrefix: this.options.clientIdPrefix,
      brokerId: this.id,
      publishWill: (will, client) => publishWill(this.#willDeps, will, client),
    });
    const installHost: InstallHost = {
      subscribe: (s, sub) => void this.subscribe(s, sub),
      inboundAdded: (s, id) => this.persistence?.inboundAdded(s, id),
    };
    this.sessions =
      deps.sessions === undefined
        ? localSessions
        : deps.sessions({ local: localSessions, install: (s, state) => installSession(installHost, s, state) });
    this.sys = new SysPublisher(
      this.clock,
      this.options.sysInterval,
      () => this.stats(),
      (topic, value) => {
        this.publishMessage(createMessage({ topic, payload: Buffer.from(value), qos: 0, retain: true }, now()));
      },
      () => queueSysTopics(engine.list()),
    );
    this.recovery = this.persistence === undefined ? undefined : this.#recover(this.persistence, persistentRetained!);
    this.sys.start();
  }

  // ---- connections ------------------------------------------------------------------------------------------

  /** Takes one client connection. During shutdown the connection is closed at once. */
  accept(conn: TransportConnection, limits?: ListenerLimits): ConnectionHandler {
    if (this.#closing !== undefined) {
      conn.destroy();
      return NOOP_HANDLER;
    }
    if (!connectionAllowed(this, conn)) {
      // connectionRatePerIp, on every transport alike: closed before reading a byte.
      limitedLog(
        this,
        this.logger,
        "warn",
        `connrate:${ipOf(conn.remoteAddress)}`,
        { remote: conn.remoteAddress },
        "connection rate per IP exceeded: closing",
      );
      conn.destroy();
      return NOOP_HANDLER;
    }
    const max = Math.min(this.options.maxPacketSize, limits?.maxPacketSize ?? Number.POSITIVE_INFINITY);
    const c = new Connection(this, conn, max, dispatch);
    this.connections.add(c);
    this.#open.add(c);
    return c;
  }

  get serverRedirect(): ServerRedirect | undefined {
    return this.#redirect;
  }

  redirect(target: ServerRedirect | undefined, disconnectExisting: boolean): number {
    this.#redirect = target === undefined ? undefined : checkServerRedirect(target);
    this.logger.info({ redirect: this.#redirect }, this.#redirect ? "server redirection on" : "server redirection off");
    if (this.#redirect === undefined || !disconnectExisting) return 0;
    return redirectConnections(this.connections, this.#redirect);
  }

  sessionAllowed(clientId: string): boolean {
    const max = this.options.maxSessions;
    return max === 0 || this.sessions.size < max || this.sessions.has(clientId);
  }

  assignClientId(): string {
    return this.sessions.assignClientId();
  }

  openSession(
    c: ClientContext,
    clientId: string,
    clean: boolean,
    expiryInterval: number,
  ): OpenedSession | Promise<OpenedSession> {
    return this.sessions.open(sessionClient(c), clientId, clean, expiryInterval);
  }

  connectionEnded(c: ClientContext, wasConnected: boolean, will: Will | undefined): void {
    this.connections.delete(c);
    if (!wasConnected || c.session === undefined) return;
    this.sessions.detach(sessionClient(c), c.session, will);
  }

  transportClosed(c: ClientContext): void {
    this.connections.delete(c);
    this.#open.delete(c);
    if (this.#open.size === 0) this.#onAllClosed?.();
  }

  // ---- publish and subscribe --------------------------------------------------------------------------------

  publishMessage(msg: Message): RouteResult {
    this.counters.routedByQos[msg.qos]++;
    // Every Nth message is timed for the publish-to-delivery latency, only while a sink takes it (metrics).
    if (this.latency.sink !== undefined && ++this.#latencyTick >= this.#latencyEvery) {
      this.#latencyTick = 0;
      msg.receivedAt = performance.now();
    }
    if (msg.retain && this.options.retainAvailable) this.#storeRetained(msg);
    const r = this.router.route(msg);
    // Out of line: the event's literal is ~100 of this function's bytecode bytes, all counted against the inlining
    // budget of accept(), into which it is inlined (docs/benchmarks.md, stop 22).
    if (events.publishIn.hasSubscribers) publishInEvent(this.id, msg, r);
    return r;
  }

  subscribe(session: Session, sub: Subscription): boolean {
    const previous = session.subscriptions.get(sub.filter);
    // Same filter string, other kind ("$share/…" of a 3.x session is an ordinary filter): drop the old one first.
    if (previous !== undefined && (previous.shared === undefined) !== (sub.shared === undefined)) {
      this.router.remove(session, previous);
    }
    session.subscriptions.set(sub.filter, sub);
    this.persistence?.subscribed(session, sub);
    return this.router.add(session, sub);
  }

  unsubscribe(session: Session, filter: string): boolean {
    const sub = session.subscriptions.get(filter);
    if (sub === undefined) return false;
    session.subscriptions.delete(filter);
    this.persistence?.unsubscribed(session, filter);
    this.router.remove(session, sub);
    return true;
  }

  deliverRetained(session: Session, sub: Subscription): void {
    session.deliverBacklog(this.retainedFor(session, sub)); // with flow control: all of them, as fast as the client reads
  }

  retainedFor(session: Session, sub: Subscription): Delivery[] {
    if (sub.shared !== undefined) return []; // only for a new Non-shared Subscription (5.0 §3.3.1.3)
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
    const owner = session.owner ?? { clientId: session.clientId, username: undefined };
    const deliveries: Delivery[] = [];
    for (const msg of found) {
      if (!this.authorizer.canRead(owner, msg.topic)) continue; // read-filter ACL mode
      // RETAIN set because the message is sent for a new subscription [MQTT-3.3.1-8].
      deliveries.push({ msg, qos: minQoS(msg.qos, sub.qos), retain: true, subscriptionIds: ids });
    }
    return deliveries;
  }

  #storeRetained(msg: Message): void {
    if (msg.payload.length === 0) {
      this.retained.delete(msg.topic); // [MQTT-3.3.1-10]; never stored itself [MQTT-3.3.1-11]
      return;
    }
    // [MQTT-3.3.1-5] replace; copy the payload so a long-lived retained message does not pin a socket chunk.
    // receivedAt undefined: a retained copy sent to a later subscriber says nothing about publish-to-delivery latency.
    this.retained.set(
      copyMessage(msg, {
        payload: Buffer.from(msg.payload),
        receivedAt: undefined,
        trace: undefined,
        prepared: undefined,
      }),
    );
  }

  // ---- stats, recovery, shutdown ----------------------------------------------------------------------------

  /** The shared queue bounds follow options.maxQueuedMessages / maxQueuedBytes (reconfigure.ts). */
  applyQueueLimits(): void {
    this.#queueLimits.maxMessages = this.options.maxQueuedMessages;
    this.#queueLimits.maxBytes = this.options.maxQueuedBytes;
  }

  /**
   * After an ACL change (reconfigure.ts): removes the subscriptions the rules no longer allow their sessions to hold,
   * so that a revoked right is not kept through a subscription made under the old rules. Returns how many.
   */
  revokeDeniedSubscriptions(): number {
    let revoked = 0;
    for (const session of [...this.sessions.values()]) {
      const subject = session.owner ?? { clientId: session.clientId, username: undefined };
      for (const filter of [...(session.madeSubscriptions?.keys() ?? [])]) {
        if (this.authorizer.aclAllowsSubscription(subject, filter)) continue;
        this.unsubscribe(session, filter);
        revoked++;
      }
    }
    if (revoked > 0) this.logger.warn({ revoked }, "ACL changed: subscriptions the new rules deny were removed");
    return revoked;
  }

  /** Live reload of the authentication / authorization hooks (the server's auth chain). */
  setAuthHooks(hooks: AuthHooks | undefined): void {
    this.hooks = hooks;
    this.authorizer.replaceHooks(hooks);
  }

  stats(): BrokerStats {
    const c = this.counters;
    let queued = this.router.waitingCount;
    let inflight = 0;
    for (const s of this.sessions.values()) {
      queued += s.queue.length;
      inflight += s.madeInflight?.size ?? 0;
    }
    return {
      clientsConnected: c.clientsConnected,
      clientsTotal: this.sessions.size,
      clientsMaximum: c.clientsMaximum,
      messagesReceived: c.messagesReceived,
      messagesSent: c.messagesSent,
      bytesReceived: c.bytesReceived,
      bytesSent: c.bytesSent,
      subscriptions: this.router.subscriptionCount,
      retained: this.retained.size,
      droppedQos0: c.droppedQos0,
      droppedSlow: c.droppedSlow,
      slowConsumers: c.slowConsumers,
      backpressureHolds: c.backpressureHolds,
      queueRejected: c.queueRejected,
      expired: c.expired,
      queued,
      inflight,
      uptime: Math.floor((this.clock.now() - this.#startedAt) / 1000),
    };
  }

  /** Restores the state persisted in storage (recover.ts). */
  #recover(p: Persistence, retained: PersistentRetainedStore): RecoveryReport {
    const sessions = this.sessions;
    const host: RecoveryHost = {
      now: () => this.clock.now(),
      newSession: (clientId, expiryInterval) => sessions.restore(clientId, expiryInterval),
      subscribe: (s, sub) => void this.subscribe(s, sub),
      restoreRetained: (msg) => retained.restore(msg),
      armWill: (s, ms) => sessions.armWill(s, ms),
      armExpiry: (s, ms) => sessions.armExpiry(s, ms),
      endSession: (s) => sessions.end(s, "expired"), // its expiry passed while the broker was down
      publishWill: (will: Will, client: ClientInfo) => publishWill(this.#willDeps, will, client),
    };
    const report = recover(host, p);
    this.logger.info({ storage: p.storage.kind, path: p.storage.path, ...report }, "state restored from storage");
    return report;
  }

  /** Graceful shutdown (Broker.close()); idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.sys.stop();
    this.router.suspend(); // members going offline keep their shared messages
    this.logger.info({ connections: this.connections.size }, "broker shutting down");
    for (const c of [...this.connections]) c.disconnect(ReasonCode.ServerShuttingDown);
    this.sessions.cancelTimers();
    this.deadlines.clear();
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
    this.queues.engine.close();
  }
}
