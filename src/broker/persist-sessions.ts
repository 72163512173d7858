// Session and will records: the session header of every session with an expiry interval (its deadline once its
// connection ended), subscriptions, inbound QoS 2 ids, and the will of every connection — a crash ends
// connections "without DISCONNECT", so even a clean session's will must survive it.
import type { Will } from "../codec/index.ts";
import type { SessionRecord, Storage } from "../storage/index.ts";
import type { ClientInfo } from "./hooks.ts";
import type { AckGate } from "./persist-acks.ts";
import type { QueueMirror } from "./persist-queue.ts";
import { NEVER_EXPIRES } from "./session.ts";
import type { Session, Subscription } from "./session.ts";
import { subscriptionToStored } from "./stored.ts";

export class SessionRecords {
  /** Last session record written per client id (protocol version and username are kept for later updates). */
  readonly #records = new Map<string, SessionRecord>();
  /** Client ids with a will in storage (so that sessions without any stored state cost no write at all). */
  readonly #wills = new Set<string>();

  constructor(
    private readonly storage: Storage,
    private readonly gate: AckGate,
    private readonly queues: QueueMirror,
    private readonly now: () => number,
  ) {}

  /** A connection attached to `s` (new or resumed). Persists the session header and the connection's will. */
  opened(s: Session, client: ClientInfo | undefined, will: Will | undefined): void {
    const st = this.storage.sessions;
    let wrote = false;
    if (s.expiryInterval === 0) {
      // Ends with this connection: nothing of it is kept (a resumed session whose expiry became 0 is dropped).
      if (s.persistent) {
        this.#forget(s);
        wrote = true;
      }
    } else {
      const record: SessionRecord = {
        clientId: s.clientId,
        protocolVersion: client?.protocolVersion ?? this.#records.get(s.clientId)?.protocolVersion ?? 4,
        expiryInterval: s.expiryInterval,
        expiresAt: undefined,
        lastSeen: this.now(),
        username: client?.username,
      };
      this.#records.set(s.clientId, record);
      st.put(record);
      if (!s.persistent) this.#writeAll(s);
      wrote = true;
    }
    // Stored for every connection: after a crash, its connection ended without DISCONNECT.
    if (will !== undefined) {
      st.putWill({ clientId: s.clientId, will, deadline: undefined, username: client?.username });
      this.#wills.add(s.clientId);
      wrote = true;
    } else if (this.#wills.delete(s.clientId)) {
      st.deleteWill(s.clientId);
      wrote = true;
    }
    if (wrote) this.gate.wrote();
  }

  /**
   * The connection of a session that lives on ended: its expiry deadline and, if its will waits for the Will
   * Delay Interval, the will with its deadline.
   */
  disconnected(s: Session, willDeadline: number | undefined): void {
    const st = this.storage.sessions;
    if (s.persistent) {
      const now = this.now();
      const previous = this.#records.get(s.clientId);
      const record: SessionRecord = {
        clientId: s.clientId,
        protocolVersion: previous?.protocolVersion ?? 4,
        expiryInterval: s.expiryInterval,
        expiresAt: s.expiryInterval === NEVER_EXPIRES ? undefined : now + s.expiryInterval * 1000,
        lastSeen: now,
        username: previous?.username,
      };
      this.#records.set(s.clientId, record);
      st.put(record);
    }
    const pending = s.pendingWill;
    if (pending !== undefined && willDeadline !== undefined) {
      st.putWill({
        clientId: s.clientId,
        will: pending.will,
        deadline: willDeadline,
        username: pending.client.username,
      });
      this.#wills.add(s.clientId);
    } else if (this.#wills.delete(s.clientId)) {
      st.deleteWill(s.clientId);
    }
    this.gate.wrote();
  }

  /** The session ended (expired, clean start, connection of an expiry-0 session closed): everything of it goes. */
  ended(s: Session): void {
    // Also for a non-persistent session whose connection's will is stored; nothing for the others.
    const willStored = this.#wills.delete(s.clientId);
    if (!s.persistent && !willStored) return;
    this.storage.sessions.delete(s.clientId);
    this.gate.wrote();
    if (s.persistent) this.queues.releaseAll(s);
    s.persistent = false;
    this.#records.delete(s.clientId);
  }

  /** The will of a disconnected session was published (delay over) or discarded. */
  willDone(clientId: string): void {
    if (this.#wills.delete(clientId) && this.storage.sessions.deleteWill(clientId)) this.gate.wrote();
  }

  subscribed(s: Session, sub: Subscription): void {
    if (!s.persistent) return;
    this.storage.sessions.putSubscription(s.clientId, subscriptionToStored(sub));
    this.gate.wrote();
  }

  unsubscribed(s: Session, filter: string): void {
    if (!s.persistent) return;
    this.storage.sessions.deleteSubscription(s.clientId, filter);
    this.gate.wrote();
  }

  inboundAdded(s: Session, packetId: number): void {
    if (!s.persistent) return;
    this.storage.sessions.addInboundQos2(s.clientId, packetId);
    this.gate.wrote();
  }

  inboundReleased(s: Session, packetId: number): void {
    if (!s.persistent) return;
    this.storage.sessions.removeInboundQos2(s.clientId, packetId);
    this.gate.wrote();
  }

  /** Recovery: a will loaded from storage and still stored. */
  adoptWill(clientId: string): void {
    this.#wills.add(clientId);
  }

  /** Recovery: the session record loaded from storage (kept for later updates). */
  adoptRecord(record: SessionRecord): void {
    this.#records.set(record.clientId, record);
  }

  /** A session becomes persistent with state already in memory: write all of it. */
  #writeAll(s: Session): void {
    s.persistent = true;
    const st = this.storage.sessions;
    for (const sub of s.madeSubscriptions?.values() ?? []) st.putSubscription(s.clientId, subscriptionToStored(sub));
    this.queues.writeAll(s);
    for (const id of s.madeInboundQos2 ?? []) st.addInboundQos2(s.clientId, id);
  }

  /** The session stays in memory but is no longer persisted (its expiry interval became 0). */
  #forget(s: Session): void {
    this.storage.sessions.delete(s.clientId); // its will too: opened() writes the new connection's again
    this.#wills.delete(s.clientId);
    this.queues.releaseAll(s);
    s.persistent = false;
    this.#records.delete(s.clientId);
  }
}
