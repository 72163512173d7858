// The session registry: which sessions exist, which connection (SessionLink) each is attached to, and their
// lifecycle — takeover, clean start, resume, will delay, expiry, end [MQTT-4.1]. Routing is not its job (it tells
// the Router when a session comes online, goes offline or ends), nor are wire packets (the connection's).
//
// `SessionRegistry` is the seam a cluster implementation provides later: `open()` may return a promise, because a
// cluster must ask the node currently holding the client id to give the session up (takeover across nodes) before
// the CONNACK. The in-process LocalSessionRegistry answers synchronously, so the CONNECT path never awaits here.
import type { Will } from "../codec/index.ts";
import { ReasonCode } from "../codec/index.ts";
import type { Clock, Logger } from "../util/index.ts";
import { events } from "./events.ts";
import type { SessionEndedEvent } from "./events.ts";
import type { ClientInfo } from "./hooks.ts";
import type { Router } from "./router.ts";
import { limitedLog } from "./log-limits.ts";
import { NEVER_EXPIRES, Session } from "./session.ts";
import { HandBackReason } from "./settlement.ts";
import type { SessionEnv, SessionLink } from "./session.ts";
import type { Counters } from "./stats.ts";

/** What open() found: the session now attached, and whether state existed (CONNACK Session Present). */
export interface OpenedSession {
  readonly session: Session;
  readonly present: boolean;
}

/** A client connection as the registry sees it when it attaches or detaches. */
export interface SessionClient {
  readonly link: SessionLink;
  /** Set once the CONNECT is accepted. */
  readonly client: ClientInfo | undefined;
  readonly will: Will | undefined;
  readonly remoteAddress: string;
  /** 5.0 connections honour the Will Delay Interval. */
  readonly version: number;
}

export interface SessionRegistry {
  readonly size: number;
  get(clientId: string): Session | undefined;
  has(clientId: string): boolean;
  keys(): IterableIterator<string>;
  values(): IterableIterator<Session>;
  /** A client identifier no other session uses, here or on another node (3.1.1 [MQTT-3.1.3-6], 5.0 [MQTT-3.2.2-16]). */
  assignClientId(): string;
  /**
   * Attaches `c` to the session of clientId: takes over a connected session [MQTT-3.1.4-2], discards it for clean
   * start [MQTT-3.1.2-6], resumes it otherwise [MQTT-3.1.2-4]. A cluster registry may answer asynchronously.
   */
  open(
    c: SessionClient,
    clientId: string,
    clean: boolean,
    expiryInterval: number,
  ): OpenedSession | Promise<OpenedSession>;
  /** The connection `c` attached to `s` ended; `will` is set when its will must be published (or delayed). */
  detach(c: SessionClient, s: Session, will: Will | undefined): void;
  /** Recovery: registers an offline session restored from storage. */
  restore(clientId: string, expiryInterval: number): Session;
  /** Publishes the session's pending will after `ms` unless the client reconnects first. */
  armWill(s: Session, ms: number): void;
  /** Ends the disconnected session after `ms` [MQTT-3.1.2-23]. */
  armExpiry(s: Session, ms: number): void;
  /** Ends the session now: subscriptions gone, state dropped, a pending will published. */
  end(s: Session, reason: SessionEndedEvent["reason"]): void;
  /** Shutdown: no will or expiry timer fires any more. */
  cancelTimers(): void;
}

/** What the registry reports to write-behind persistence (persist.ts implements it). */
export interface SessionLifecycleStore {
  sessionOpened(s: Session, client: ClientInfo | undefined, will: Will | undefined): void;
  sessionDisconnected(s: Session, willDeadline: number | undefined): void;
  sessionEnded(s: Session): void;
  willDone(clientId: string): void;
}

export interface SessionRegistryDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly counters: Counters;
  readonly env: SessionEnv;
  readonly router: Router;
  readonly store: SessionLifecycleStore | undefined;
  /** Prefix of assigned client identifiers (options.clientIdPrefix). */
  readonly clientIdPrefix: string;
  /**
   * Identifies this broker instance (Broker.id: 48 random bits): part of every assigned client identifier, so they
   * stay unique across restarts and across the nodes of a cluster sharing a session store (a process-local counter
   * alone would repeat after a restart).
   */
  readonly brokerId: string;
  /** Publishes a will (with the will ACL check) — wills.ts. */
  readonly publishWill: (will: Will, client: ClientInfo) => void;
}

/** The in-process session registry. */
export class LocalSessionRegistry implements SessionRegistry {
  readonly #sessions = new Map<string, Session>();
  #nextClientId = 0;
  /** Told after a session ended, whatever the reason (a cluster registry releases the client id's ownership). */
  onEnded: ((s: Session) => void) | undefined = undefined;

  constructor(private readonly deps: SessionRegistryDeps) {}

  get size(): number {
    return this.#sessions.size;
  }

  get(clientId: string): Session | undefined {
    return this.#sessions.get(clientId);
  }

  has(clientId: string): boolean {
    return this.#sessions.has(clientId);
  }

  keys(): IterableIterator<string> {
    return this.#sessions.keys();
  }

  values(): IterableIterator<Session> {
    return this.#sessions.values();
  }

  assignClientId(): string {
    for (;;) {
      const id = `${this.deps.clientIdPrefix}${this.deps.brokerId}-${(this.#nextClientId++).toString(36)}`;
      if (!this.#sessions.has(id)) return id; // also unique among restored sessions (5.0 [MQTT-3.2.2-16])
    }
  }

  open(c: SessionClient, clientId: string, clean: boolean, expiryInterval: number): OpenedSession {
    const { deps } = this;
    let session = this.#sessions.get(clientId);
    const previous = session?.link;
    if (previous !== undefined && previous !== c.link) {
      // Takeover [MQTT-3.1.4-2] (5.0 [MQTT-3.1.4-3]: DISCONNECT 0x8E). Runs the old connection's close path now,
      // which publishes its will and ends its session if that session had expiry 0.
      limitedLog(
        deps,
        deps.logger,
        "info",
        `takeover:${clientId}`,
        { clientId, remote: c.remoteAddress },
        "client id in use: taking over",
      );
      previous.disconnect(ReasonCode.SessionTakenOver);
      session = this.#sessions.get(clientId);
    }
    let present = false;
    if (session !== undefined) {
      session.cancelTimers();
      if (clean) {
        this.end(session, "clean-start"); // [MQTT-3.1.2-6]; a delayed will fires now because its session ends
        session = undefined;
      } else {
        present = true; // [MQTT-3.1.2-4] [MQTT-3.2.2-2]
        session.pendingWill = undefined; // reconnected within the will delay: no will (5.0 [MQTT-3.1.2-26])
      }
    }
    if (session === undefined) {
      session = new Session(clientId, deps.env);
      this.#sessions.set(clientId, session);
      this.#created(session, expiryInterval, false);
    }
    session.expiryInterval = expiryInterval;
    session.link = c.link;
    if (c.client !== undefined) session.owner = c.client;
    deps.store?.sessionOpened(session, c.client, c.will);
    deps.router.sessionOnline(session); // waiting shared messages follow the CONNACK
    const counters = deps.counters;
    counters.clientsConnected++;
    if (counters.clientsConnected > counters.clientsMaximum) counters.clientsMaximum = counters.clientsConnected;
    return { session, present };
  }

  detach(c: SessionClient, s: Session, will: Will | undefined): void {
    const { deps } = this;
    deps.counters.clientsConnected--;
    if (s.link !== c.link) return; // already taken over
    s.link = undefined;
    deps.router.sessionOffline(s);
    s.handBack(HandBackReason.ConnectionLost); // owners (shared groups) take back what is unacknowledged (5.0 §4.8.2)
    const client = c.client!;
    let willDeadline: number | undefined;
    if (will !== undefined) {
      const delay = c.version === 5 ? (will.properties?.willDelayInterval ?? 0) : 0;
      if (delay === 0 || s.expiryInterval === 0) {
        deps.publishWill(will, client); // [MQTT-3.1.2-8]
      } else {
        // 5.0: after the delay or when the session ends, whichever is first (5.0 [MQTT-3.1.2-8]).
        s.pendingWill = { will, client };
        const ms = Math.min(delay, s.expiryInterval) * 1000;
        willDeadline = deps.clock.now() + ms;
        this.armWill(s, ms);
      }
    }
    if (s.expiryInterval === 0) {
      this.end(s, "connection-ended");
      return;
    }
    deps.store?.sessionDisconnected(s, willDeadline);
    if (s.expiryInterval !== NEVER_EXPIRES) this.armExpiry(s, s.expiryInterval * 1000);
  }

  restore(clientId: string, expiryInterval: number): Session {
    const s = new Session(clientId, this.deps.env);
    s.expiryInterval = expiryInterval;
    this.#sessions.set(clientId, s);
    this.#created(s, expiryInterval, true);
    return s;
  }

  armWill(s: Session, ms: number): void {
    s.willTimer = this.deps.clock.setTimeout(() => {
      s.willTimer = undefined;
      const pending = s.pendingWill;
      s.pendingWill = undefined;
      if (pending === undefined) return;
      this.deps.publishWill(pending.will, pending.client);
      this.deps.store?.willDone(s.clientId);
    }, ms);
  }

  armExpiry(s: Session, ms: number): void {
    s.expiryTimer = this.deps.clock.setTimeout(() => {
      s.expiryTimer = undefined;
      if (s.link === undefined) this.end(s, "expired");
    }, ms);
  }

  end(s: Session, reason: SessionEndedEvent["reason"]): void {
    if (events.sessionEnded.hasSubscribers) {
      events.sessionEnded.publish({ broker: this.deps.brokerId, clientId: s.clientId, reason });
    }
    s.cancelTimers();
    s.handBack(HandBackReason.SessionEnded); // before it leaves its shared groups: they check membership
    this.deps.router.sessionEnded(s);
    const pending = s.pendingWill;
    s.pendingWill = undefined;
    this.deps.store?.sessionEnded(s);
    s.clearState();
    if (this.#sessions.get(s.clientId) === s) this.#sessions.delete(s.clientId);
    if (pending !== undefined) this.deps.publishWill(pending.will, pending.client);
    this.onEnded?.(s);
  }

  #created(s: Session, expiryInterval: number, restored: boolean): void {
    if (!events.sessionCreated.hasSubscribers) return;
    events.sessionCreated.publish({ broker: this.deps.brokerId, clientId: s.clientId, expiryInterval, restored });
  }

  cancelTimers(): void {
    for (const s of this.#sessions.values()) s.cancelTimers();
  }
}
