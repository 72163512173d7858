// The `sessions` concern: everything persisted per MQTT client — session record, will, subscriptions, offline
// queue, outbound inflight state, inbound QoS 2 ids — over the engine's batch. Every write is decided from the
// small in-memory index of each client (engine-state.ts), never by reading the disk. Recovery reads the committed
// state page by page (pages()), one client's records at a time.
import type { ClientState, EngineHost } from "./engine-state.ts";
import { newClient } from "./engine-state.ts";
import { Space, keyText } from "./keys.ts";
import { corruptError } from "./errors.ts";
import {
  CorruptRecordError,
  decodeInflight,
  decodeQueued,
  decodeSession,
  decodeSubscription,
  decodeWill,
  encodeInbound,
  encodeInflight,
  encodeQueued,
  encodeSession,
  encodeSubscription,
  encodeWill,
} from "./records.ts";
import type { MessageRefs } from "./refs.ts";
import type { SessionStorage } from "./storage.ts";
import { InflightState } from "./types.ts";
import type {
  DeliveryOptions,
  InflightInit,
  InflightMessage,
  InflightStateValue,
  MessageId,
  QueuedMessage,
  SessionRecord,
  SessionSnapshot,
  StoredSubscription,
  StoredWill,
} from "./types.ts";
import { checkInflight, checkPacketId, checkQos, invalid } from "./validate.ts";

/** Clients per page when pages() is given no size: bounds what one step of recovery holds. */
export const DEFAULT_PAGE_SIZE = 1000;

export class EngineSessions implements SessionStorage {
  readonly #h: EngineHost;
  readonly #refs: MessageRefs;
  readonly #clients: Map<string, ClientState>;

  constructor(host: EngineHost, refs: MessageRefs, clients: Map<string, ClientState>) {
    this.#h = host;
    this.#refs = refs;
    this.#clients = clients;
  }

  #client(clientId: string): ClientState {
    const key = keyText(clientId);
    let c = this.#clients.get(key);
    if (c === undefined) this.#clients.set(key, (c = newClient(clientId)));
    return c;
  }

  #existing(clientId: string): ClientState | undefined {
    return this.#clients.get(keyText(clientId));
  }

  // ---- session record, subscriptions, will -----------------------------------------------------------------

  put(session: SessionRecord): void {
    this.#h.check();
    const c = this.#client(session.clientId);
    c.session = true;
    this.#h.put(Space.Session, ["", c.key], encodeSession(session));
  }

  delete(clientId: string): void {
    this.#h.check();
    const c = this.#existing(clientId);
    if (c === undefined) return;
    const { elider } = this.#h;
    for (const f of c.subs) this.#h.remove(Space.Subscription, [c.key, f]);
    for (const [seq, id] of c.queue) {
      elider.remove(Space.Queue, [c.key, seq]);
      this.#refs.decref(id);
    }
    for (const [packetId, m] of c.inflight) {
      elider.remove(Space.Inflight, [c.key, packetId]);
      if (m.messageId !== undefined) this.#refs.decref(m.messageId);
    }
    for (const packetId of c.inbound) elider.remove(Space.Inbound, [c.key, packetId]);
    if (c.will) this.#h.remove(Space.Will, ["", c.key]);
    if (c.session) this.#h.remove(Space.Session, ["", c.key]);
    this.#clients.delete(c.key);
  }

  putSubscription(clientId: string, subscription: StoredSubscription): void {
    this.#h.check();
    checkQos(subscription.qos, "subscription");
    const c = this.#client(clientId);
    const f = keyText(subscription.filter);
    c.subs.add(f);
    this.#h.put(Space.Subscription, [c.key, f], encodeSubscription(subscription, c.carry));
  }

  deleteSubscription(clientId: string, filter: string): void {
    this.#h.check();
    const c = this.#existing(clientId);
    const f = keyText(filter);
    if (c?.subs.delete(f)) this.#h.remove(Space.Subscription, [c.key, f]);
  }

  putWill(will: StoredWill): void {
    this.#h.check();
    checkQos(will.will.qos, "will");
    const c = this.#client(will.clientId);
    c.will = true;
    this.#h.put(Space.Will, ["", c.key], encodeWill(will));
  }

  deleteWill(clientId: string): boolean {
    this.#h.check();
    const c = this.#existing(clientId);
    if (!c?.will) return false;
    c.will = false;
    this.#h.remove(Space.Will, ["", c.key]);
    return true;
  }

  // ---- offline queue and inflight --------------------------------------------------------------------------

  enqueue(clientId: string, messageId: MessageId, delivery: DeliveryOptions): number {
    this.#h.check();
    checkQos(delivery.qos, "delivery");
    this.#refs.incref(messageId); // first: throws for an unknown message before anything changes
    const c = this.#client(clientId);
    const seq = c.nextSeq++;
    c.queue.set(seq, messageId);
    this.#h.elider.put(Space.Queue, [c.key, seq], encodeQueued(messageId, delivery, c.carry), true); // a new seq
    return seq;
  }

  dequeue(clientId: string, seq: number): boolean {
    this.#h.check();
    const c = this.#existing(clientId);
    const id = c?.queue.get(seq);
    if (c === undefined || id === undefined) return false;
    c.queue.delete(seq);
    this.#h.elider.remove(Space.Queue, [c.key, seq]);
    this.#refs.decref(id);
    return true;
  }

  readQueue(clientId: string, fromSeq = 0, limit = Infinity): QueuedMessage[] {
    this.#h.check();
    return this.#h.kv.range(Space.Queue, keyText(clientId), fromSeq, limit).map((e) => {
      const { clientId: _c, ...q } = decodeQueued(Number(e.key[1]), e.value);
      return q;
    });
  }

  putInflight(clientId: string, inflight: InflightInit): void {
    this.#h.check();
    checkInflight(inflight);
    const c = this.#client(clientId);
    this.#setInflight(c, inflight, c.nextSeq++);
  }

  moveToInflight(clientId: string, seq: number, inflight: InflightInit): void {
    this.#h.check();
    checkInflight(inflight);
    const c = this.#existing(clientId);
    const queued = c?.queue.get(seq);
    if (c === undefined || queued === undefined) throw invalid(`client ${clientId} has no queue entry ${seq}`);
    // Order = send order [MQTT-4.4.0-1], which is this call's order, not the entry's queue position. The
    // inflight entry references the message before the queue entry lets go of it: the count never hits zero.
    this.#setInflight(c, inflight, c.nextSeq++);
    c.queue.delete(seq);
    this.#h.elider.remove(Space.Queue, [c.key, seq]);
    this.#refs.decref(queued);
  }

  #setInflight(c: ClientState, init: InflightInit, order: number): void {
    // A literal of one fixed shape (not a spread): this runs for every QoS 1/2 message sent to a persistent session.
    const ids = init.subscriptionIds;
    const m: InflightMessage = {
      packetId: init.packetId,
      state: init.state,
      messageId: init.state === InflightState.AwaitPubcomp ? undefined : init.messageId,
      order,
      qos: init.qos,
      retain: init.retain,
      subscriptionIds: ids === undefined ? undefined : [...ids],
    };
    if (m.messageId !== undefined) this.#refs.incref(m.messageId);
    const old = c.inflight.get(m.packetId);
    if (old?.messageId !== undefined) this.#refs.decref(old.messageId);
    c.inflight.set(m.packetId, m);
    this.#h.elider.put(Space.Inflight, [c.key, m.packetId], encodeInflight(m, c.carry), old === undefined);
  }

  setInflightState(clientId: string, packetId: number, state: InflightStateValue): void {
    this.#h.check();
    const c = this.#existing(clientId);
    const m = c?.inflight.get(packetId);
    if (c === undefined || m === undefined) throw invalid(`client ${clientId} has no inflight packet ${packetId}`);
    const next: InflightInit = { ...m, state };
    checkInflight(next);
    this.#setInflight(c, next, m.order);
  }

  removeInflight(clientId: string, packetId: number): boolean {
    this.#h.check();
    const c = this.#existing(clientId);
    const m = c?.inflight.get(packetId);
    if (c === undefined || m === undefined) return false;
    c.inflight.delete(packetId);
    this.#h.elider.remove(Space.Inflight, [c.key, packetId]);
    if (m.messageId !== undefined) this.#refs.decref(m.messageId);
    return true;
  }

  // ---- inbound QoS 2 ---------------------------------------------------------------------------------------

  addInboundQos2(clientId: string, packetId: number): void {
    this.#h.check();
    checkPacketId(packetId);
    const c = this.#client(clientId);
    const fresh = !c.inbound.has(packetId);
    c.inbound.add(packetId);
    this.#h.elider.put(Space.Inbound, [c.key, packetId], encodeInbound(this.#h.now(), c.carry), fresh);
  }

  removeInboundQos2(clientId: string, packetId: number): boolean {
    this.#h.check();
    const c = this.#existing(clientId);
    if (!c?.inbound.delete(packetId)) return false;
    this.#h.elider.remove(Space.Inbound, [c.key, packetId]);
    return true;
  }

  // ---- paged reads -----------------------------------------------------------------------------------------

  *pages(pageSize = DEFAULT_PAGE_SIZE): Generator<SessionSnapshot[], void, undefined> {
    this.#h.check();
    if (!Number.isSafeInteger(pageSize) || pageSize < 1) throw invalid(`page size ${pageSize} is not positive`);
    // The client list is taken once (keys only, in key order); each page reads its clients' records when it is
    // reached, so only one page of records is decoded at a time.
    const keys = [...this.#clients.keys()].sort();
    for (let i = 0; i < keys.length; i += pageSize) {
      this.#h.check();
      const page: SessionSnapshot[] = [];
      for (const key of keys.slice(i, i + pageSize)) {
        const c = this.#clients.get(key);
        const snap = c === undefined ? undefined : this.#read(c);
        if (snap !== undefined) page.push(snap);
      }
      if (page.length > 0) yield page;
    }
  }

  /** One client's committed records; undefined if nothing of it is committed. */
  #read(c: ClientState): SessionSnapshot | undefined {
    const { kv } = this.#h;
    try {
      const rawSession = kv.get(Space.Session, ["", c.key]);
      const rawWill = kv.get(Space.Will, ["", c.key]);
      const s: SessionSnapshot = {
        clientId: c.clientId,
        session: rawSession === undefined ? undefined : decodeSession(rawSession),
        will: rawWill === undefined ? undefined : decodeWill(rawWill),
        subscriptions: [],
        queue: [],
        inflight: [],
        inboundQos2: [],
      };
      for (const { value } of kv.group(Space.Subscription, c.key)) {
        const { clientId: _c, ...sub } = decodeSubscription(value);
        s.subscriptions.push(sub);
      }
      for (const { key, value } of kv.group(Space.Queue, c.key)) {
        const { clientId: _c, ...q } = decodeQueued(Number(key[1]), value);
        s.queue.push(q);
      }
      for (const { key, value } of kv.group(Space.Inflight, c.key)) {
        const { clientId: _c, ...m } = decodeInflight(Number(key[1]), value);
        s.inflight.push(m);
      }
      s.inflight.sort((a, b) => a.order - b.order);
      for (const { key } of kv.group(Space.Inbound, c.key)) s.inboundQos2.push(Number(key[1]));
      const empty =
        s.session === undefined &&
        s.will === undefined &&
        s.subscriptions.length + s.queue.length + s.inflight.length + s.inboundQos2.length === 0;
      return empty ? undefined : s;
    } catch (err) {
      if (err instanceof CorruptRecordError) throw corruptError(this.#h.path, err.message, err);
      throw err;
    }
  }
}
