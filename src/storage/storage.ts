// The one storage interface the broker persists through (docs/storage.md). Two implementations share all logic
// (engine.ts) over different backends: memory (tests, `--storage memory`) and LMDB (the default).
//
// Write model: every mutation is synchronous and cheap — it updates the store's small in-memory indexes
// (reference counts, per-session keys) and appends ops to the current batch. commit() returns the promise the
// broker waits on before acknowledging (PUBACK, PUBREC, SUBACK …); what it guarantees depends on the
// durability mode. Batches are atomic: after a crash either all of a batch is there or none of it.
//
// Read model: reads (sessions.pages, readQueue, messages.get, queues.read) see committed batches only, so call them
// after `await flush()` (or `await commit()` in sync mode). The broker is expected to keep its own in-memory
// state and use reads at startup and for paging large queues.
import type { Clock } from "../util/clock.ts";
import type { Logger } from "../util/logger.ts";
import type { StorageError } from "./errors.ts";
import type {
  DeliveryOptions,
  DurabilityMode,
  InflightInit,
  InflightStateValue,
  IntegrityReport,
  MessageId,
  OpenReport,
  PendingEntry,
  RetainedEntry,
  SessionSnapshot,
  QueueGroupInfo,
  QueueEntryMeta,
  QueueLogEntry,
  QueueLogInfo,
  QueueLogRef,
  QueuedMessage,
  SessionRecord,
  StorageSnapshot,
  StoredMessage,
  StoredSubscription,
  StoredWill,
} from "./types.ts";

/** Message bodies: stored once, referenced by session queues, inflight entries, retained entries and queue logs. */
export interface MessageStore {
  /**
   * Stages a body and returns its id. It is written with its first reference (a queue log append, a session's
   * enqueue/putInflight, setRetained) and deleted with its last; a body still unreferenced at the next
   * commit()/flush() is dropped, so store and reference it in the same synchronous step.
   */
  store(message: StoredMessage): MessageId;
  /** A committed body. */
  get(id: MessageId): StoredMessage | undefined;
}

/**
 * Durable queue logs (`$queue/…`, src/queues) with consumer groups. Per queue, entries with increasing seqs
 * (1, 2, 3 …, never reused, also after a restart) referencing stored bodies. Per consumer group a cursor (the
 * next seq it hands out) and pending entries (handed out, unacknowledged). All calls are synchronous and only
 * add to the current batch, so calls made in one synchronous run are committed together (one transaction):
 * e.g. `ack` on one log + `move` to a dead-letter log + `append` elsewhere, then `await storage.commit()`.
 * Counters and group state (`length`, `has`, `cursor`, `groups`, `pending`) include calls not yet committed;
 * `read` sees committed entries (docs/storage.md, "Queue logs").
 */
export interface QueueLogStore {
  /**
   * Appends a reference to a stored body (messages.store) to `queue` (created if new); returns its seq. `meta` is
   * kept with the entry (read back by `read` and `scan`).
   */
  append(queue: string, messageId: MessageId, meta?: QueueEntryMeta): number;
  /**
   * Appends `message` to `queue` (created if new) with a body of its own, referenced by this entry only; returns its
   * seq. The same as `append(queue, messages.store(message), meta)`, but nothing is encoded or pushed until the
   * batch is cut, so an entry removed before that (appended and acknowledged within one batch window) is never
   * written at all. The hot path of durable queues (src/queues). `appendedAt` (ms) is the entry's append time when
   * the caller already took it (the queue engine: one clock reading per message, and the same time before and
   * after a restart); the store's clock otherwise.
   */
  appendMessage(queue: string, message: StoredMessage, meta?: QueueEntryMeta, appendedAt?: number): number;
  /** Committed entries with seq >= fromSeq, ascending, at most `limit`, with their bodies. */
  read(queue: string, fromSeq: number, limit: number): QueueLogEntry[];
  /** Committed entries with seq >= fromSeq, ascending, at most `limit`, without their bodies (startup paging). */
  scan(queue: string, fromSeq: number, limit: number): QueueLogRef[];
  has(queue: string, seq: number): boolean;
  /** Deletes one entry (and its pending entries in every group) and releases its body. False if none. */
  remove(queue: string, seq: number): boolean;
  /**
   * Moves entry `seq` to the end of `to` (dead-letter or retry log; `to` may be `queue` itself) in one step:
   * the body is not copied, the entry's pending entries in `queue` are dropped. Returns its seq in `to`.
   */
  move(queue: string, seq: number, to: string): number;
  /** Deletes every entry with seq <= `seq` (retention). Cost: one key delete per entry. */
  deleteUpTo(queue: string, seq: number): void;
  /** Entries in the log. */
  length(queue: string): number;
  /** Every queue with a log: name, first and next seq, length. */
  list(): QueueLogInfo[];
  /** Deletes a queue's log entirely, groups included; a later append starts again at seq 1. */
  drop(queue: string): void;

  // ---- consumer groups -------------------------------------------------------------------------------------
  groups(queue: string): QueueGroupInfo[];
  /** The group's next seq to hand out; undefined if there is no such group. */
  cursor(queue: string, group: string): number | undefined;
  /** Sets a group's cursor, creating the group (and the queue) if new. The cursor may move back (replay). */
  setCursor(queue: string, group: string, seq: number): void;
  /** Deletes a group with its cursor and pending entries (the log's entries stay). */
  dropGroup(queue: string, group: string): void;
  /** Records (or replaces) entry.seq as handed out to the group. The group and the entry must exist. */
  putPending(queue: string, group: string, entry: PendingEntry): void;
  getPending(queue: string, group: string, seq: number): PendingEntry | undefined;
  /** The group's pending entries in seq order. */
  pending(queue: string, group: string): PendingEntry[];
  /** Drops a pending entry, leaving the log entry (nack with requeue: move the cursor back or re-put it). */
  removePending(queue: string, group: string, seq: number): boolean;
  /**
   * Acknowledges `seq` for the group: drops its pending entry and deletes the log entry (releasing the body)
   * once no group needs it any more: every group's cursor is past it and none has it pending. False if the
   * group had nothing pending at `seq` and nothing was deleted.
   */
  ack(queue: string, group: string, seq: number): boolean;
}

/**
 * The `sessions` concern: everything persisted per MQTT client. Sessions with an expiry interval, their
 * subscriptions, offline queue (references to stored bodies), outbound inflight state, inbound QoS 2 ids, and
 * the will of any connection.
 */
export interface SessionStorage {
  /** Creates or replaces the session record (connect, disconnect: expiresAt, lastSeen). */
  put(session: SessionRecord): void;
  /** Deletes everything of the client: session, will, subscriptions, queue, inflight, inbound QoS 2 ids. */
  delete(clientId: string): void;

  putSubscription(clientId: string, subscription: StoredSubscription): void;
  deleteSubscription(clientId: string, filter: string): void;
  putWill(will: StoredWill): void;
  deleteWill(clientId: string): boolean;

  /** Appends a reference to a stored body to the client's queue; returns its seq (increasing per client). */
  enqueue(clientId: string, messageId: MessageId, delivery: DeliveryOptions): number;
  /** Removes a queue entry (sent at QoS 0, expired, dropped). False if there was none. */
  dequeue(clientId: string, seq: number): boolean;
  /** Committed queue entries with seq >= fromSeq, ascending. */
  readQueue(clientId: string, fromSeq?: number, limit?: number): QueuedMessage[];
  /** Records a QoS 1/2 PUBLISH sent (replacing any entry with that packet id). */
  putInflight(clientId: string, inflight: InflightInit): void;
  /** Sends queue entry `seq` as `inflight` in one step (the entry leaves the queue; resend order = call order). */
  moveToInflight(clientId: string, seq: number, inflight: InflightInit): void;
  /** PUBREC received → AwaitPubcomp: the message body's reference is released. */
  setInflightState(clientId: string, packetId: number, state: InflightStateValue): void;
  /** PUBACK / PUBCOMP received. False if there was no such entry. */
  removeInflight(clientId: string, packetId: number): boolean;

  /** Inbound QoS 2 packet ids received and not yet released (exactly once across restarts) [MQTT-4.3.3-2]. */
  addInboundQos2(clientId: string, packetId: number): void;
  removeInboundQos2(clientId: string, packetId: number): boolean;

  /**
   * The committed state of every client, `pageSize` clients (default 1000) per page in client key order, each
   * page read from the backend when the iteration reaches it: recovery never holds more than one page of
   * records (plus what it keeps). Bodies are referenced by id (messages.get).
   */
  pages(pageSize?: number): Iterable<SessionSnapshot[]>;
}

/** The `retained` concern: one reference to a stored body per topic. */
export interface RetainedStorage {
  /** Replaces the topic's retained message (the previous body's reference is released). */
  set(topic: string, messageId: MessageId): void;
  delete(topic: string): boolean;
  /** Topics with a retained message (counts calls made). */
  readonly size: number;
  /** Committed entries, read lazily (one at a time) from the backend. */
  entries(): Iterable<RetainedEntry>;
}

export interface Storage {
  readonly kind: "memory" | "lmdb";
  readonly durability: DurabilityMode;
  /** Data directory (lmdb) or undefined (memory). */
  readonly path: string | undefined;
  /** What open() found and repaired. */
  readonly openReport: OpenReport;
  /**
   * Whether open() rebuilt the queue-log index from the snapshot of the last clean close (snapshot.ts):
   * `used`; `absent` (none: first open, or the last run did not close cleanly); `stale` (something wrote after
   * it, or it is unreadable: `reason`); `rejected` (valid, but the reference counts disagreed: scanned instead).
   */
  readonly openSnapshot: { readonly status: "used" | "absent" | "stale" | "rejected"; readonly reason?: string };
  /** Group-commit counters. */
  readonly stats: StorageStats;

  /** Message bodies, shared by every concern below. */
  readonly messages: MessageStore;
  readonly sessions: SessionStorage;
  readonly retained: RetainedStorage;
  /** Durable queue logs with consumer groups. */
  readonly queues: QueueLogStore;

  // ---- lifecycle -------------------------------------------------------------------------------------------
  /** Resolves at the durability mode's acknowledgement point; rejects with STORAGE_WRITE_FAILED. */
  commit(): Promise<void>;
  /** Resolves when everything so far is committed and fsync'd, whatever the mode. */
  flush(): Promise<void>;
  /**
   * Resolves once everything so far is written to the backend (readable: `read`, `messages.get`), without
   * hurrying the write: in batched mode it waits for the batch timer, unlike flush(). Rejects like commit().
   */
  written(): Promise<void>;
  /** Everything persisted (committed state) at once, bodies included: tests and tools. Recovery uses pages(). */
  loadAll(): StorageSnapshot;
  /** Recounts references in the committed state against stored refcounts. */
  verify(): IntegrityReport;
  /** Flushes (fsync included in every mode) and closes. Further calls throw STORAGE_CLOSED. */
  close(): Promise<void>;

  // ---- failure ---------------------------------------------------------------------------------------------
  /**
   * Set once a write failed (or fail() was called): the in-memory state is ahead of the disk for good. Every
   * later commit() and flush() rejects with it; nothing more is written.
   */
  readonly failure: StorageError | undefined;
  /** Called once, when the store fails; returns a function that removes the listener. */
  onFailure(listener: (error: StorageError) => void): () => void;
  /**
   * Fails the store on purpose: a caller whose own state can no longer be mirrored (a storage call it made threw)
   * stops everything from being committed after it. Returns the store's failure (the first one wins).
   */
  fail(reason: unknown): StorageError;
}

export interface StorageStats {
  /** Backend writes (LMDB transactions) completed. */
  batches: number;
  /** Ops in them (puts and deletes). */
  ops: number;
  /** Ops waiting for the next batch. */
  pending: number;
}

export interface StorageOptionsBase {
  /** Default "sync". */
  durability?: DurabilityMode;
  /** batched: interval between durable commits, ms. Default 10. */
  batchIntervalMs?: number;
  /**
   * batched/none: live pending ops (not those cancelled out within the batch) beyond which commit() waits for the
   * disk. Default 4096 (also bounds the size of one batch, i.e. the main-thread work of writing it).
   */
  maxPendingOps?: number;
  clock?: Clock;
  logger?: Logger;
  /**
   * A clean close writes the queue logs' index snapshot when they hold at least this many entries (default
   * 4096; below that the scan at open costs a few ms). 0 or less: never.
   */
  snapshotMinEntries?: number;
}
