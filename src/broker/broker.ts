// The public face of the broker core: what an embedding application (and the server) uses. A thin facade over
// the internal BrokerRuntime (runtime.ts), which composes the session registry, the router, retained messages,
// $SYS and persistence. Nothing internal is reachable from this class; tests use internal.ts.
// Transport-agnostic: transports hand it TransportConnections through accept().
import type { Properties, QoS } from "../codec/index.ts";
import { validateTopicName } from "../topics/index.ts";
import { registerInternals } from "./internal.ts";
import { createMessage } from "./message.ts";
import type { BrokerOptions, ServerRedirect } from "./options.ts";
import { reconfigure, type LiveOptions } from "./reconfigure.ts";
import type { RecoveryReport } from "./recover.ts";
import { BrokerRuntime } from "./runtime.ts";
import type { BrokerDeps } from "./runtime.ts";
import type { Subscription } from "./session.ts";
import type { AuthHooks } from "./hooks.ts";
import type { BrokerTracer } from "./tracing.ts";
import type { DeliveryLatencySink } from "./latency.ts";
import type { BrokerStats } from "./stats.ts";
import type { QueueEngine } from "../queues/index.ts";
import type { ConnectionAcceptor, ConnectionHandler, ListenerLimits, TransportConnection } from "./transport.ts";

export type { BrokerDeps } from "./runtime.ts";

export class Broker implements ConnectionAcceptor {
  readonly #rt: BrokerRuntime;

  constructor(options: Partial<BrokerOptions> = {}, deps: BrokerDeps = {}) {
    this.#rt = new BrokerRuntime(options, deps);
    registerInternals(this, this.#rt);
  }

  /** 48 random bits (hex) naming this broker instance: in assigned client ids and on every event (events.ts). */
  get id(): string {
    return this.#rt.id;
  }

  /** The effective options (defaults filled in). */
  get options(): Readonly<Required<BrokerOptions>> {
    return this.#rt.options;
  }

  /** What was restored from storage at construction (undefined without storage). */
  get recovery(): RecoveryReport | undefined {
    return this.#rt.recovery;
  }

  /** Takes one client connection. During shutdown the connection is closed at once. */
  accept(conn: TransportConnection, limits?: ListenerLimits): ConnectionHandler {
    return this.#rt.accept(conn, limits);
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
    const rt = this.#rt;
    rt.publishMessage(
      createMessage(
        {
          topic: msg.topic,
          payload: typeof msg.payload === "string" ? Buffer.from(msg.payload) : msg.payload,
          qos: msg.qos ?? 0,
          retain: msg.retain ?? false,
          properties: msg.properties,
        },
        rt.clock.now(),
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
    return this.#rt.authReady;
  }

  /** Where new connections are redirected (5.0 §4.11), if anywhere. */
  get serverRedirect(): ServerRedirect | undefined {
    return this.#rt.serverRedirect;
  }

  /**
   * Sets (or with undefined, clears) server redirection at runtime: new 5.0 connections get CONNACK 0x9C / 0x9D
   * with the Server Reference, 3.x ones 0x03. With `disconnectExisting`, connected 5.0 clients get DISCONNECT
   * 0x9C / 0x9D with the Server Reference and 3.x clients are closed (their wills are published, as for any
   * server-initiated close). Returns how many connections were moved. Throws BrokerError for an invalid target.
   */
  redirect(target: ServerRedirect | undefined, opts: { disconnectExisting?: boolean } = {}): number {
    return this.#rt.redirect(target, opts.disconnectExisting === true);
  }

  /**
   * Changes the options that can change while clients are connected (src/broker/reconfigure.ts LIVE_OPTIONS: the
   * inflight window, keepalive cap, session and subscription caps, rate limits, ACL); each applies from its next
   * use. Throws BrokerError (BROKER_INVALID_OPTION) naming an option that cannot change at runtime; then nothing
   * changed.
   */
  reconfigure(changes: LiveOptions): void {
    reconfigure(this.#rt, changes);
  }

  /** Replaces the authentication / authorization hooks (the server's auth chain after a config reload). */
  setAuthHooks(hooks: AuthHooks | undefined): void {
    this.#rt.setAuthHooks(hooks);
  }

  /**
   * Sets (or with undefined, clears) the tracer told about each CONNECT and client PUBLISH (tracing.ts; the server
   * sets an OpenTelemetry one with `tracing.enabled`). Without one, tracing costs one field read per packet.
   */
  setTracer(tracer: BrokerTracer | undefined): void {
    this.#rt.tracer = tracer;
  }

  /**
   * Sets (or with undefined, clears) where the publish-to-delivery latency goes (latency.ts; the server sets the
   * metrics' histogram with `management.latencyMetrics`): while one is set, every Nth routed message
   * (BrokerDeps.latencySampleEvery) is timed and each of its first deliveries is recorded; without one nothing is
   * timed.
   */
  setDeliveryLatency(sink: DeliveryLatencySink | undefined): void {
    this.#rt.latency.sink = sink;
  }

  stats(): BrokerStats {
    return this.#rt.stats();
  }

  /**
   * Durable queues (docs/queues.md): the typed management API — list/info (depth, in flight, DLQ depth, groups and
   * consumers), peek, purge, delete, redrive — and in-process publish/consume without a socket.
   */
  get queues(): QueueEngine {
    return this.#rt.queues.engine;
  }

  /**
   * Adds topics to the $SYS statistics, published with them every `sysInterval` (the server adds one per listener:
   * its type, address and open connections). Values are read at each publication.
   */
  addSysTopics(source: () => [topic: string, value: string][]): void {
    this.#rt.sys.addSource(source);
  }

  /** Current subscriptions of a client (for tests and the admin API). */
  subscriptionsOf(clientId: string): Subscription[] {
    return [...(this.#rt.sessions.get(clientId)?.madeSubscriptions?.values() ?? [])];
  }

  /** Number of open client connections (connected or still in CONNECT). */
  get connectionCount(): number {
    return this.#rt.connections.size;
  }

  /**
   * Graceful shutdown: refuses new connections, sends DISCONNECT 0x8B Server shutting down to 5.0 clients, ends
   * every connection after flushing what is buffered, and waits (up to options.closeTimeout) for the sockets to
   * close before destroying the stragglers.
   */
  close(): Promise<void> {
    return this.#rt.close();
  }
}
