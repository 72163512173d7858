// What connections and packet handlers need from the broker. Broker implements it; the interface keeps the
// handler modules free of an import cycle with broker.ts and documents the internal surface in one place.
import type { Will } from "../codec/index.ts";
import type { Clock, Logger } from "../util/index.ts";
import type { AuthenticatorRegistry } from "./auth/index.ts";
import type { AuthHooks, Authorizer } from "./hooks.ts";
import type { Connection } from "./connection.ts";
import type { FlushScheduler } from "./flush.ts";
import type { Message } from "./message.ts";
import type { BrokerOptions, ServerRedirect } from "./options.ts";
import type { Persistence } from "./persist.ts";
import type { Session, Subscription } from "./session.ts";
import type { Counters } from "./stats.ts";

/** Outcome of routing one message. */
export interface RouteResult {
  /** Sessions with at least one matching subscription. */
  matched: number;
  /** Of those, sessions that refused the message (QoS 1/2 with a full queue). */
  refused: number;
}

export interface BrokerCore {
  readonly options: Required<BrokerOptions>;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly counters: Counters;
  readonly flusher: FlushScheduler;
  readonly authorizer: Authorizer;
  readonly hooks: AuthHooks | undefined;
  /** 5.0 enhanced authentication methods (src/broker/enhanced-auth.ts). */
  readonly authenticators: AuthenticatorRegistry;
  /** Where new connections are redirected (5.0 §4.11), if anywhere (src/broker/redirect.ts). */
  readonly serverRedirect: ServerRedirect | undefined;
  /** Write-behind persistence when a storage is configured (src/broker/persist.ts). */
  readonly persistence: Persistence | undefined;

  /** A fresh client identifier for an empty CONNECT client id (3.1.1 [MQTT-3.1.3-6]). */
  assignClientId(): string;
  /**
   * Attaches the connection to the session of clientId: takes over a connected session [MQTT-3.1.4-2], discards
   * it for clean start [MQTT-3.1.2-6], resumes it otherwise [MQTT-3.1.2-4]; returns whether a session was present.
   */
  openSession(
    conn: Connection,
    clientId: string,
    clean: boolean,
    expiryInterval: number,
  ): { session: Session; present: boolean };
  /** A connection finished (state Closed); `will` is set when the will must be published (or delayed). */
  connectionEnded(conn: Connection, wasConnected: boolean, will: Will | undefined): void;
  /** The transport reported the socket closed. */
  transportClosed(conn: Connection): void;
  /** Stores/clears the retained message if flagged, then routes to subscribers. */
  publishMessage(msg: Message): RouteResult;
  /** Adds or replaces a subscription; returns true if it existed before (5.0 Retain Handling 1). */
  subscribe(session: Session, sub: Subscription): boolean;
  unsubscribe(session: Session, filter: string): boolean;
  /** Sends the retained messages matching a new subscription, with RETAIN set [MQTT-3.3.1-6] [MQTT-3.3.1-8]. */
  deliverRetained(session: Session, sub: Subscription): void;
}
