// Write-behind persistence of the broker's state (docs/storage.md "Broker integration").
//
// The broker's in-memory state stays the source of truth at runtime; every change a restart must see is mirrored
// here, synchronously, into the storage layer's current batch (cheap: no disk access). Acknowledgements that
// promise durability — PUBACK/PUBREC for an inbound QoS 1/2 PUBLISH, PUBCOMP, SUBACK, UNSUBACK, and the PUBREL of
// an outbound QoS 2 flow — go out only after storage.commit() resolved for the batch holding their effects
// (afterCommit), in order per connection. The publish path never awaits: packets keep being read and routed while
// earlier batches are written (group commit), so one fsync covers every connection's messages of that window.
//
// What is persisted: sessions with an expiry interval other than 0 (with their subscriptions, QoS 1/2 queue
// entries, outbound inflight state and inbound QoS 2 ids), wills (of every connection: a crash ends connections
// "without DISCONNECT"), and retained messages except $SYS/. QoS 0 queue entries are not (at most once).
//
// A message body is stored once, however many sessions reference it: `#messages` maps each routed Message to its
// storage id and the number of references this module created (queue, inflight, retained), mirroring the storage
// layer's reference count so a body is re-stored, never re-referenced, after its last reference went away.
import type { Packet, Will } from "../codec/index.ts";
import { ReasonCode } from "../codec/index.ts";
import { InflightState, StorageError } from "../storage/index.ts";
import type { MessageId, SessionRecord, Storage, StoredMessage, StoredSubscription } from "../storage/index.ts";
import type { Logger } from "../util/index.ts";
import { ConnState } from "./conn-state.ts";
import type { ClientContext } from "./core.ts";
import type { ClientInfo } from "./hooks.ts";
import type { Delivery, Message } from "./message.ts";
import { NEVER_EXPIRES, OutState } from "./session.ts";
import type { Outbound, OutStateValue, Session, SessionStore, Subscription } from "./session.ts";

interface StoredRef {
  readonly id: MessageId;
  refs: number;
}

/** A stored message as the broker routes it (the encoder is rebuilt lazily). */
export function messageFromStored(m: StoredMessage): Message {
  return {
    topic: m.topic,
    payload: m.payload,
    qos: m.qos,
    retain: m.retain,
    properties: m.properties,
    expiresAt: m.expiresAt,
    origin: m.origin,
    prepared: undefined,
  };
}

function toStored(m: Message): StoredMessage {
  return {
    topic: m.topic,
    payload: m.payload,
    qos: m.qos,
    retain: m.retain,
    properties: m.properties,
    expiresAt: m.expiresAt,
    origin: m.origin,
  };
}

export function toStoredSubscription(sub: Subscription): StoredSubscription {
  return {
    filter: sub.filter,
    qos: sub.qos,
    noLocal: sub.noLocal,
    retainAsPublished: sub.retainAsPublished,
    retainHandling: sub.retainHandling,
    identifier: sub.identifier,
  };
}

const SYS_RETAINED = "$SYS/";

export class Persistence implements SessionStore {
  readonly #messages = new Map<Message, StoredRef>();
  /** Queue seq of each persisted queue entry (deliveries are per-session objects). */
  readonly #seqs = new WeakMap<Delivery, number>();
  /** Last session record written per client id (protocol version and username are kept for later updates). */
  readonly #records = new Map<string, SessionRecord>();
  /** Client ids with a will in storage (so that sessions without any stored state cost no write at all). */
  readonly #wills = new Set<string>();
  /** Acknowledgements waiting for a commit, per connection (order is kept per connection). */
  readonly #pendingAcks = new WeakMap<ClientContext, number>();
  /** Something was written since the last commit() call: an acknowledgement must wait for the next one. */
  #uncommitted = false;
  #errorLogged = false;

  constructor(
    readonly storage: Storage,
    private readonly now: () => number,
    private readonly logger: Logger,
  ) {}

  /** Message bodies currently referenced through this module (tests, stats). */
  get storedMessages(): number {
    return this.#messages.size;
  }

  // ---- acknowledgements -------------------------------------------------------------------------------------

  /**
   * Runs `fn` (which sends an acknowledgement) once everything written so far is committed — at once when nothing
   * was written and no earlier acknowledgement of this connection is still waiting, so paths without storage
   * effects stay synchronous. Commits settle in order, so acknowledgements keep their order per connection.
   */
  afterCommit(c: ClientContext, fn: () => void): void {
    const pending = this.#pendingAcks.get(c) ?? 0;
    if (!this.#uncommitted && pending === 0) {
      fn();
      return;
    }
    this.#uncommitted = false;
    this.#pendingAcks.set(c, pending + 1);
    this.storage.commit().then(
      () => {
        this.#pendingAcks.set(c, (this.#pendingAcks.get(c) ?? 1) - 1);
        if (c.state !== ConnState.Closed) fn();
      },
      (err: unknown) => {
        this.#pendingAcks.set(c, (this.#pendingAcks.get(c) ?? 1) - 1);
        this.#error(err, "commit");
        // Nothing is acknowledged that is not on disk: the client resends after reconnecting.
        if (c.state !== ConnState.Closed) c.disconnect(ReasonCode.UnspecifiedError);
      },
    );
  }

  // ---- sessions ---------------------------------------------------------------------------------------------

  /** A connection attached to `s` (new or resumed). Persists the session header and the connection's will. */
  sessionOpened(s: Session, client: ClientInfo | undefined, will: Will | undefined): void {
    try {
      const st = this.storage;
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
        st.sessions.put(record);
        if (!s.persistent) this.#writeAll(s);
        wrote = true;
      }
      // Stored for every connection: after a crash, its connection ended without DISCONNECT.
      if (will !== undefined) {
        st.sessions.putWill({ clientId: s.clientId, will, deadline: undefined, username: client?.username });
        this.#wills.add(s.clientId);
        wrote = true;
      } else if (this.#wills.delete(s.clientId)) {
        st.sessions.deleteWill(s.clientId);
        wrote = true;
      }
      if (wrote) this.#uncommitted = true;
    } catch (e) {
      this.#error(e, "session open");
    }
  }

  /**
   * The connection of a session that lives on ended: its expiry deadline and, if its will waits for the Will
   * Delay Interval, the will with its deadline.
   */
  sessionDisconnected(s: Session, willDeadline: number | undefined): void {
    try {
      const st = this.storage;
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
        st.sessions.put(record);
      }
      const pending = s.pendingWill;
      if (pending !== undefined && willDeadline !== undefined) {
        st.sessions.putWill({
          clientId: s.clientId,
          will: pending.will,
          deadline: willDeadline,
          username: pending.client.username,
        });
        this.#wills.add(s.clientId);
      } else if (this.#wills.delete(s.clientId)) {
        st.sessions.deleteWill(s.clientId);
      }
      this.#uncommitted = true;
    } catch (e) {
      this.#error(e, "session disconnect");
    }
  }

  /** The session ended (expired, clean start, connection of an expiry-0 session closed): everything of it goes. */
  sessionEnded(s: Session): void {
    try {
      // Also for a non-persistent session whose connection's will is stored; nothing for the others.
      const willStored = this.#wills.delete(s.clientId);
      if (!s.persistent && !willStored) return;
      this.storage.sessions.delete(s.clientId);
      this.#uncommitted = true;
      if (s.persistent) this.#releaseAll(s);
      s.persistent = false;
      this.#records.delete(s.clientId);
    } catch (e) {
      this.#error(e, "session end");
    }
  }

  /** The will of a disconnected session was published (delay over) or discarded. */
  willDone(clientId: string): void {
    try {
      if (this.#wills.delete(clientId) && this.storage.sessions.deleteWill(clientId)) this.#uncommitted = true;
    } catch (e) {
      this.#error(e, "will");
    }
  }

  subscribed(s: Session, sub: Subscription): void {
    if (s.persistent)
      this.#write("subscribe", () => this.storage.sessions.putSubscription(s.clientId, toStoredSubscription(sub)));
  }

  unsubscribed(s: Session, filter: string): void {
    if (s.persistent) this.#write("unsubscribe", () => this.storage.sessions.deleteSubscription(s.clientId, filter));
  }

  // ---- inbound QoS 2 ----------------------------------------------------------------------------------------

  inboundAdded(s: Session, packetId: number): void {
    if (s.persistent) this.#write("inbound QoS 2", () => this.storage.sessions.addInboundQos2(s.clientId, packetId));
  }

  inboundReleased(s: Session, packetId: number): void {
    if (s.persistent) this.#write("inbound QoS 2", () => this.storage.sessions.removeInboundQos2(s.clientId, packetId));
  }

  // ---- SessionStore: queue and inflight ---------------------------------------------------------------------

  queued(s: Session, d: Delivery): void {
    // QoS 0 is at most once: not worth a write. A durable queue delivery is the queue's (src/queues), not the session's.
    if (!s.persistent || d.qos === 0 || d.owner?.persistsItself === true) return;
    try {
      this.#enqueue(s, d);
    } catch (e) {
      this.#error(e, "enqueue");
    }
  }

  unqueued(s: Session, d: Delivery): void {
    const seq = this.#seqs.get(d);
    if (seq === undefined) return;
    this.#seqs.delete(d);
    try {
      if (this.storage.sessions.dequeue(s.clientId, seq)) this.#unref(d.msg);
      this.#uncommitted = true;
    } catch (e) {
      this.#error(e, "dequeue");
    }
  }

  sent(s: Session, d: Delivery, packetId: number, state: OutStateValue): void {
    if (!s.persistent || d.owner?.persistsItself === true) return;
    try {
      const seq = this.#seqs.get(d);
      const ref = seq === undefined ? undefined : this.#messages.get(d.msg);
      const moved = seq !== undefined && ref !== undefined;
      if (moved) this.#seqs.delete(d);
      const init = {
        packetId,
        // The queue entry's reference becomes the inflight entry's, in one step (moveToInflight).
        messageId: moved ? ref.id : this.#ref(d.msg),
        state,
        qos: d.qos,
        retain: d.retain,
        subscriptionIds: d.subscriptionIds,
      };
      if (moved) this.storage.sessions.moveToInflight(s.clientId, seq, init);
      else this.storage.sessions.putInflight(s.clientId, init);
      this.#uncommitted = true;
    } catch (e) {
      this.#error(e, "inflight");
    }
  }

  released(s: Session, out: Outbound): void {
    if (!s.persistent) return;
    try {
      this.storage.sessions.setInflightState(s.clientId, out.packetId, InflightState.AwaitPubcomp);
      this.#unref(out.delivery.msg);
      this.#uncommitted = true;
    } catch (e) {
      this.#error(e, "inflight");
    }
  }

  completed(s: Session, out: Outbound): void {
    if (!s.persistent) return;
    try {
      // `out.state` is the state the flow ended in: in the PUBREL state the body was released already.
      if (this.storage.sessions.removeInflight(s.clientId, out.packetId) && out.state !== OutState.AwaitPubcomp) {
        this.#unref(out.delivery.msg);
      }
      this.#uncommitted = true;
    } catch (e) {
      this.#error(e, "inflight");
    }
  }

  // ---- retained ---------------------------------------------------------------------------------------------

  retainedSet(msg: Message, previous: Message | undefined): void {
    if (msg.topic.startsWith(SYS_RETAINED)) return; // regenerated every sysInterval: never worth a write
    try {
      this.storage.retained.set(msg.topic, this.#ref(msg));
      if (previous !== undefined) this.#unref(previous);
      this.#uncommitted = true;
    } catch (e) {
      this.#error(e, "retained");
    }
  }

  retainedDeleted(topic: string, previous: Message): void {
    if (topic.startsWith(SYS_RETAINED)) return;
    try {
      if (this.storage.retained.delete(topic)) this.#unref(previous);
      this.#uncommitted = true;
    } catch (e) {
      this.#error(e, "retained");
    }
  }

  // ---- recovery (recover.ts) --------------------------------------------------------------------------------

  /** A message loaded from storage gained one reference (queue, inflight or retained entry) held in memory. */
  adopt(msg: Message, id: MessageId): void {
    const ref = this.#messages.get(msg);
    if (ref === undefined) this.#messages.set(msg, { id, refs: 1 });
    else ref.refs++;
  }

  /** A queue entry loaded from storage. */
  adoptQueued(d: Delivery, id: MessageId, seq: number): void {
    this.adopt(d.msg, id);
    this.#seqs.set(d, seq);
  }

  /** A will loaded from storage and still stored. */
  adoptWill(clientId: string): void {
    this.#wills.add(clientId);
  }

  /** The session record loaded from storage (kept for later updates). */
  adoptRecord(record: SessionRecord): void {
    this.#records.set(record.clientId, record);
  }

  /** Marks that recovery wrote something (so the next acknowledgement waits for it). */
  touched(): void {
    this.#uncommitted = true;
  }

  // ---- internals --------------------------------------------------------------------------------------------

  #ref(msg: Message): MessageId {
    let ref = this.#messages.get(msg);
    if (ref === undefined) {
      // Stored and referenced in the same synchronous step, as the storage layer requires.
      ref = { id: this.storage.messages.store(toStored(msg)), refs: 0 };
      this.#messages.set(msg, ref);
    }
    ref.refs++;
    return ref.id;
  }

  #unref(msg: Message): void {
    const ref = this.#messages.get(msg);
    if (ref !== undefined && --ref.refs <= 0) this.#messages.delete(msg);
  }

  #enqueue(s: Session, d: Delivery): void {
    const seq = this.storage.sessions.enqueue(s.clientId, this.#ref(d.msg), {
      qos: d.qos,
      retain: d.retain,
      subscriptionIds: d.subscriptionIds,
    });
    this.#seqs.set(d, seq);
    this.#uncommitted = true;
  }

  /** A session becomes persistent with state already in memory: write all of it. */
  #writeAll(s: Session): void {
    s.persistent = true;
    const st = this.storage;
    for (const sub of s.subscriptions.values()) st.sessions.putSubscription(s.clientId, toStoredSubscription(sub));
    for (const out of s.inflight.values()) {
      const delivery = {
        qos: out.delivery.qos,
        retain: out.delivery.retain,
        subscriptionIds: out.delivery.subscriptionIds,
      };
      if (out.state === OutState.AwaitPubcomp) {
        st.sessions.putInflight(s.clientId, {
          packetId: out.packetId,
          messageId: undefined,
          state: out.state,
          ...delivery,
        });
      } else {
        st.sessions.putInflight(s.clientId, {
          packetId: out.packetId,
          messageId: this.#ref(out.delivery.msg),
          state: out.state,
          ...delivery,
        });
      }
    }
    for (const d of s.queue.toArray()) if (d.qos > 0) this.#enqueue(s, d);
    for (const id of s.inboundQos2) st.sessions.addInboundQos2(s.clientId, id);
  }

  /** The session stays in memory but is no longer persisted (its expiry interval became 0). */
  #forget(s: Session): void {
    this.storage.sessions.delete(s.clientId); // its will too: sessionOpened writes the new connection's again
    this.#wills.delete(s.clientId);
    this.#releaseAll(s);
    s.persistent = false;
    this.#records.delete(s.clientId);
  }

  /** deleteSession dropped the session's references: mirror that in the message table. */
  #releaseAll(s: Session): void {
    for (const d of s.queue.toArray()) {
      if (this.#seqs.delete(d)) this.#unref(d.msg);
    }
    for (const out of s.inflight.values()) {
      if (out.state !== OutState.AwaitPubcomp) this.#unref(out.delivery.msg);
    }
  }

  /** One storage mutation (not on the per-message path, which inlines this to save the closure). */
  #write(what: string, mutate: () => void): void {
    try {
      mutate();
      this.#uncommitted = true;
    } catch (e) {
      this.#error(e, what);
    }
  }

  /**
   * A storage call failed: a caller bug (STORAGE_INVALID_ARGUMENT) or a dead store (closed, write failed). The
   * in-memory broker carries on; the state may not survive a restart, which is logged loudly, once.
   */
  #error(err: unknown, what: string): void {
    if (this.#errorLogged) return;
    this.#errorLogged = true;
    const code = err instanceof StorageError ? err.code : undefined;
    this.logger.error(
      { err, code, what },
      "storage: persisting broker state failed; state changes from now on may not survive a restart",
    );
  }
}

/** Sends an acknowledgement once its effects are committed (at once without storage). */
export function sendAck(c: ClientContext, packet: Packet): void {
  const p = c.broker.persistence;
  if (p === undefined) c.send(packet);
  else p.afterCommit(c, () => c.send(packet));
}

/** Runs `fn` once the effects so far are committed (at once without storage). */
export function afterCommit(c: ClientContext, fn: () => void): void {
  const p = c.broker.persistence;
  if (p === undefined) fn();
  else p.afterCommit(c, fn);
}
