// The storage engine: the Storage interface over any KvBackend. All the logic lives here, once — reference
// counting, cascades, key derivation, group commit — so the memory and LMDB stores behave identically and the
// conformance suite tests both through the same code.
import { systemClock } from "../util/clock.ts";
import type { Clock } from "../util/clock.ts";
import { silentLogger } from "../util/logger.ts";
import type { Logger } from "../util/logger.ts";
import { Committer } from "./committer.ts";
import { Elider } from "./elide.ts";
import { StorageError, StorageErrorCode, corruptError } from "./errors.ts";
import { loadIndexes, readSnapshot } from "./engine-load.ts";
import { newClient } from "./engine-state.ts";
import type { ClientState, LogState } from "./engine-state.ts";
import { Space, keyText } from "./keys.ts";
import type { Key, SpaceName } from "./keys.ts";
import type { KvBackend } from "./kv.ts";
import { EngineQueueLogs } from "./queue-log.ts";
import {
  decodeMessage,
  decodeQueued,
  decodeSchema,
  encodeInbound,
  encodeInflight,
  encodeMessage,
  encodeQueued,
  encodeSession,
  encodeSubscription,
  encodeWill,
} from "./records.ts";
import type { MessageStore, QueueLogStore, Storage, StorageOptionsBase, StorageStats } from "./storage.ts";
import { Durability, InflightState } from "./types.ts";
import { checkInflight, checkPacketId, checkQos, hasAny, invalid } from "./validate.ts";
import type {
  DeliveryOptions,
  DurabilityMode,
  InflightInit,
  InflightMessage,
  InflightStateValue,
  IntegrityReport,
  MessageId,
  OpenReport,
  QueuedMessage,
  SessionRecord,
  StorageSnapshot,
  StoredMessage,
  StoredSubscription,
  StoredWill,
} from "./types.ts";

/** Layout version written at creation; a store with a higher one is refused. */
export const SCHEMA_VERSION = 1;
const SCHEMA_KEY: Key = ["", "schema"];

export interface EngineOptions extends StorageOptionsBase {
  path?: string | undefined;
  /** The backend already commits without fsync (durability none): flush() must sync it. */
  backendNoSync?: boolean;
}

export class StorageEngine implements Storage {
  readonly kind: "memory" | "lmdb";
  readonly durability: DurabilityMode;
  readonly path: string | undefined;
  readonly messages: MessageStore;
  readonly queues: QueueLogStore;
  #report: OpenReport | undefined;
  readonly #kv: KvBackend;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #committer: Committer;
  readonly #elider: Elider;
  /** Messages stored and released within the batch now pending: no refcount write either. */
  readonly #vanished = new Set<MessageId>();
  readonly #noSync: boolean;
  #clients = new Map<string, ClientState>();
  #refs = new Map<MessageId, number>();
  readonly #floating = new Map<MessageId, Record<string, unknown>>();
  readonly #dirty = new Set<MessageId>();
  #retained = new Map<string, MessageId>();
  #logs = new Map<string, LogState>();
  #nextMessageId = 1;
  #closed = false;
  #closing: Promise<void> = Promise.resolve();

  private constructor(kv: KvBackend, options: EngineOptions) {
    this.kind = kv.kind;
    this.#kv = kv;
    this.path = options.path;
    this.durability = options.durability ?? Durability.Sync;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
    this.#noSync = options.backendNoSync ?? false;
    this.#committer = new Committer({
      mode: this.durability,
      batchIntervalMs: options.batchIntervalMs ?? 10,
      maxPendingOps: options.maxPendingOps ?? 4096,
      clock: this.#clock,
      path: this.path,
      write: (ops) => kv.write(ops),
      beforeFlush: () => this.#writeRefcounts(),
    });
    this.#elider = new Elider(this.#committer);
    this.messages = { store: (m) => this.storeMessage(m), get: (id) => this.getMessage(id) };
    this.queues = new EngineQueueLogs({
      kv,
      elider: this.#elider,
      logs: () => this.#logs,
      incref: (id) => this.#incref(id),
      decref: (id) => this.#decref(id),
      now: () => this.#clock.now(),
      check: () => this.#check(),
    });
  }

  /** Opens a store on a backend: checks the schema, rebuilds the indexes, repairs reference counts. */
  static async open(kv: KvBackend, options: EngineOptions = {}): Promise<StorageEngine> {
    const engine = new StorageEngine(kv, options);
    try {
      await engine.#load();
    } catch (e) {
      engine.#committer.stop();
      await kv.close();
      throw e;
    }
    return engine;
  }

  get openReport(): OpenReport {
    return this.#report!;
  }

  /** Batches written so far and ops in them (group commit effectiveness). */
  get stats(): StorageStats {
    return { batches: this.#committer.batches, ops: this.#committer.ops, pending: this.#committer.pending };
  }

  async #load(): Promise<void> {
    const raw = this.#kv.get(Space.Meta, SCHEMA_KEY);
    if (raw === undefined) {
      const used = Object.values(Space).find((s) => hasAny(this.#kv, s));
      if (used !== undefined) throw corruptError(this.path, `it has data (${used}) but no schema version key`);
      await this.#kv.write([
        { space: Space.Meta, key: SCHEMA_KEY, value: { version: SCHEMA_VERSION, createdAt: this.#clock.now() } },
      ]);
      if (this.#noSync) await this.#kv.sync();
    } else {
      let version: number;
      try {
        version = decodeSchema(raw).version;
      } catch (e) {
        throw corruptError(this.path, "its schema version key is malformed", e);
      }
      if (version > SCHEMA_VERSION) {
        throw new StorageError(
          StorageErrorCode.VersionUnsupported,
          `storage: ${this.path ?? "the store"} has schema version ${version}, written by a newer Wharf; this build reads up to version ${SCHEMA_VERSION}. Run the newer Wharf, or move the directory aside to start empty.`,
          { path: this.path },
        );
      }
      if (!Number.isInteger(version) || version < 1)
        throw corruptError(this.path, `schema version ${version} is invalid`);
    }
    const ix = loadIndexes(this.#kv, this.path);
    this.#clients = ix.clients;
    this.#refs = ix.refs;
    this.#retained = ix.retained;
    this.#logs = ix.logs;
    this.#nextMessageId = ix.nextMessageId;
    this.#report = ix.report;
    if (ix.repairs.length > 0) {
      this.#logger.warn(
        { path: this.path, ...ix.report },
        "storage: repaired reference counts found inconsistent at open",
      );
      await this.#kv.write(ix.repairs);
      if (this.#noSync) await this.#kv.sync();
    }
  }

  // ---- plumbing --------------------------------------------------------------------------------------------

  #check(): void {
    if (this.#closed)
      throw new StorageError(StorageErrorCode.Closed, "storage: the store is closed", { path: this.path });
  }

  #put(space: SpaceName, key: Key, value: unknown): void {
    this.#committer.push({ space, key, value });
  }

  #remove(space: SpaceName, key: Key): void {
    this.#committer.push({ space, key, remove: true });
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

  #incref(id: MessageId): void {
    const n = this.#refs.get(id);
    if (n === undefined) {
      const body = this.#floating.get(id);
      if (body === undefined) {
        throw invalid(
          `message ${id} is not stored (never stored, released at a commit while unreferenced, or deleted)`,
        );
      }
      this.#floating.delete(id);
      this.#elider.put(Space.Message, ["", id], body, true); // ids are never reused: a fresh key
      this.#refs.set(id, 1);
    } else this.#refs.set(id, n + 1);
    this.#dirty.add(id);
  }

  #decref(id: MessageId): void {
    const n = this.#refs.get(id);
    if (n === undefined) return;
    if (n <= 1) {
      this.#refs.delete(id);
      if (this.#elider.remove(Space.Message, ["", id])) this.#vanished.add(id);
    } else this.#refs.set(id, n - 1);
    this.#dirty.add(id);
  }

  /** Refcounts are written once per batch, whatever number of references changed: a fan-out to N sessions costs one write. */
  #writeRefcounts(): void {
    for (const id of this.#dirty) {
      if (this.#vanished.has(id)) continue; // stored and released within this batch: its count was never written
      const n = this.#refs.get(id);
      if (n === undefined) this.#remove(Space.Refcount, ["", id]);
      else this.#put(Space.Refcount, ["", id], n);
    }
    this.#dirty.clear();
    this.#vanished.clear();
  }

  // ---- messages --------------------------------------------------------------------------------------------

  storeMessage(message: StoredMessage): MessageId {
    this.#check();
    checkQos(message.qos, "message");
    const id = this.#nextMessageId++;
    this.#floating.set(id, encodeMessage(message));
    return id;
  }

  getMessage(id: MessageId): StoredMessage | undefined {
    this.#check();
    const raw = this.#kv.get(Space.Message, ["", id]);
    return raw === undefined ? undefined : decodeMessage(raw);
  }

  // ---- sessions, subscriptions, wills ----------------------------------------------------------------------

  putSession(session: SessionRecord): void {
    this.#check();
    const c = this.#client(session.clientId);
    c.session = true;
    this.#put(Space.Session, ["", c.key], encodeSession(session));
  }

  deleteSession(clientId: string): void {
    this.#check();
    const c = this.#existing(clientId);
    if (c === undefined) return;
    for (const f of c.subs) this.#remove(Space.Subscription, [c.key, f]);
    for (const [seq, id] of c.queue) {
      this.#elider.remove(Space.Queue, [c.key, seq]);
      this.#decref(id);
    }
    for (const [packetId, m] of c.inflight) {
      this.#elider.remove(Space.Inflight, [c.key, packetId]);
      if (m.messageId !== undefined) this.#decref(m.messageId);
    }
    for (const packetId of c.inbound) this.#elider.remove(Space.Inbound, [c.key, packetId]);
    if (c.will) this.#remove(Space.Will, ["", c.key]);
    if (c.session) this.#remove(Space.Session, ["", c.key]);
    this.#clients.delete(c.key);
  }

  putSubscription(clientId: string, subscription: StoredSubscription): void {
    this.#check();
    checkQos(subscription.qos, "subscription");
    const c = this.#client(clientId);
    const f = keyText(subscription.filter);
    c.subs.add(f);
    this.#put(Space.Subscription, [c.key, f], encodeSubscription(subscription, c.carry));
  }

  deleteSubscription(clientId: string, filter: string): void {
    this.#check();
    const c = this.#existing(clientId);
    const f = keyText(filter);
    if (c?.subs.delete(f)) this.#remove(Space.Subscription, [c.key, f]);
  }

  putWill(will: StoredWill): void {
    this.#check();
    checkQos(will.will.qos, "will");
    const c = this.#client(will.clientId);
    c.will = true;
    this.#put(Space.Will, ["", c.key], encodeWill(will));
  }

  deleteWill(clientId: string): boolean {
    this.#check();
    const c = this.#existing(clientId);
    if (!c?.will) return false;
    c.will = false;
    this.#remove(Space.Will, ["", c.key]);
    return true;
  }

  // ---- offline queue and inflight --------------------------------------------------------------------------

  enqueue(clientId: string, messageId: MessageId, delivery: DeliveryOptions): number {
    this.#check();
    checkQos(delivery.qos, "delivery");
    this.#incref(messageId); // first: throws for an unknown message before anything changes
    const c = this.#client(clientId);
    const seq = c.nextSeq++;
    c.queue.set(seq, messageId);
    this.#elider.put(Space.Queue, [c.key, seq], encodeQueued(messageId, delivery, c.carry), true); // a new seq
    return seq;
  }

  dequeue(clientId: string, seq: number): boolean {
    this.#check();
    const c = this.#existing(clientId);
    const id = c?.queue.get(seq);
    if (c === undefined || id === undefined) return false;
    c.queue.delete(seq);
    this.#elider.remove(Space.Queue, [c.key, seq]);
    this.#decref(id);
    return true;
  }

  readQueue(clientId: string, fromSeq = 0, limit = Infinity): QueuedMessage[] {
    this.#check();
    return this.#kv.range(Space.Queue, keyText(clientId), fromSeq, limit).map((e) => {
      const { clientId: _c, ...q } = decodeQueued(Number(e.key[1]), e.value);
      return q;
    });
  }

  putInflight(clientId: string, inflight: InflightInit): void {
    this.#check();
    checkInflight(inflight);
    const c = this.#client(clientId);
    this.#setInflight(c, inflight, c.nextSeq++);
  }

  moveToInflight(clientId: string, seq: number, inflight: InflightInit): void {
    this.#check();
    checkInflight(inflight);
    const c = this.#existing(clientId);
    const queued = c?.queue.get(seq);
    if (c === undefined || queued === undefined) throw invalid(`client ${clientId} has no queue entry ${seq}`);
    // Order = send order [MQTT-4.4.0-1], which is this call's order, not the entry's queue position. The
    // inflight entry references the message before the queue entry lets go of it: the count never hits zero.
    this.#setInflight(c, inflight, c.nextSeq++);
    c.queue.delete(seq);
    this.#elider.remove(Space.Queue, [c.key, seq]);
    this.#decref(queued);
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
    if (m.messageId !== undefined) this.#incref(m.messageId);
    const old = c.inflight.get(m.packetId);
    if (old?.messageId !== undefined) this.#decref(old.messageId);
    c.inflight.set(m.packetId, m);
    this.#elider.put(Space.Inflight, [c.key, m.packetId], encodeInflight(m, c.carry), old === undefined);
  }

  setInflightState(clientId: string, packetId: number, state: InflightStateValue): void {
    this.#check();
    const c = this.#existing(clientId);
    const m = c?.inflight.get(packetId);
    if (c === undefined || m === undefined) throw invalid(`client ${clientId} has no inflight packet ${packetId}`);
    const next: InflightInit = { ...m, state };
    checkInflight(next);
    this.#setInflight(c, next, m.order);
  }

  removeInflight(clientId: string, packetId: number): boolean {
    this.#check();
    const c = this.#existing(clientId);
    const m = c?.inflight.get(packetId);
    if (c === undefined || m === undefined) return false;
    c.inflight.delete(packetId);
    this.#elider.remove(Space.Inflight, [c.key, packetId]);
    if (m.messageId !== undefined) this.#decref(m.messageId);
    return true;
  }

  // ---- inbound QoS 2 ---------------------------------------------------------------------------------------

  addInboundQos2(clientId: string, packetId: number): void {
    this.#check();
    checkPacketId(packetId);
    const c = this.#client(clientId);
    const fresh = !c.inbound.has(packetId);
    c.inbound.add(packetId);
    this.#elider.put(Space.Inbound, [c.key, packetId], encodeInbound(this.#clock.now(), c.carry), fresh);
  }

  removeInboundQos2(clientId: string, packetId: number): boolean {
    this.#check();
    const c = this.#existing(clientId);
    if (!c?.inbound.delete(packetId)) return false;
    this.#elider.remove(Space.Inbound, [c.key, packetId]);
    return true;
  }

  // ---- retained --------------------------------------------------------------------------------------------

  setRetained(topic: string, messageId: MessageId): void {
    this.#check();
    const k = keyText(topic);
    const old = this.#retained.get(k);
    this.#incref(messageId);
    if (old !== undefined) this.#decref(old);
    this.#retained.set(k, messageId);
    this.#put(Space.Retained, ["", k], { t: topic, m: messageId });
  }

  deleteRetained(topic: string): boolean {
    this.#check();
    const k = keyText(topic);
    const old = this.#retained.get(k);
    if (old === undefined) return false;
    this.#retained.delete(k);
    this.#remove(Space.Retained, ["", k]);
    this.#decref(old);
    return true;
  }

  // ---- lifecycle -------------------------------------------------------------------------------------------

  commit(): Promise<void> {
    if (this.#closed) return Promise.reject(new StorageError(StorageErrorCode.Closed, "storage: the store is closed"));
    this.#floating.clear();
    return this.#committer.commit();
  }

  async flush(): Promise<void> {
    this.#check();
    this.#floating.clear();
    await this.#committer.flush();
    if (this.#noSync) await this.#kv.sync();
  }

  loadAll(): StorageSnapshot {
    this.#check();
    return readSnapshot(this.#kv, this.path, this.queues.list());
  }

  verify(): IntegrityReport {
    this.#check();
    const { repaired: _r, ...counts } = loadIndexes(this.#kv, this.path).report;
    return {
      ...counts,
      ok: counts.refcountMismatches === 0 && counts.orphanMessages === 0 && counts.danglingReferences === 0,
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return this.#closing;
    this.#closed = true; // from now on mutations throw: nothing can slip in behind the final flush
    this.#floating.clear();
    this.#closing = (async () => {
      try {
        await this.#committer.flush();
        if (this.#noSync) await this.#kv.sync();
      } finally {
        this.#committer.stop();
        await this.#kv.close();
      }
    })();
    return this.#closing;
  }
}
