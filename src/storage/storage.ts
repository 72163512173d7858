// The one storage interface the broker persists through (docs/storage.md). Two implementations share all logic
// (engine.ts) over different backends: memory (tests, `--storage memory`) and LMDB (the default).
//
// Write model: every mutation is synchronous and cheap — it updates the store's small in-memory indexes
// (reference counts, per-session keys) and appends ops to the current batch. commit() returns the promise the
// broker waits on before acknowledging (PUBACK, PUBREC, SUBACK …); what it guarantees depends on the
// durability mode. Batches are atomic: after a crash either all of a batch is there or none of it.
//
// Read model: reads (loadAll, readQueue, getMessage, queueLog.read) see committed batches only, so call them
// after `await flush()` (or `await commit()` in sync mode). The broker is expected to keep its own in-memory
// state and use reads at startup and for paging large queues.
import type { Clock } from "../util/clock.ts";
import type { Logger } from "../util/logger.ts";
import type {
  DeliveryOptions,
  DurabilityMode,
  InflightInit,
  InflightStateValue,
  IntegrityReport,
  MessageId,
  OpenReport,
  QueueLogEntry,
  QueueLogInfo,
  QueuedMessage,
  SessionRecord,
  StorageSnapshot,
  StoredMessage,
  StoredSubscription,
  StoredWill,
} from "./types.ts";

/**
 * Durable queue logs (`$queue/…`): per queue, entries with dense increasing sequence numbers starting at 1;
 * consumers delete acknowledged prefixes. Messages are stored inline (one log per message).
 */
export interface QueueLog {
  /** Appends and returns the entry's seq. */
  append(queue: string, message: StoredMessage): number;
  /** Committed entries with seq >= fromSeq, ascending, at most `limit`. */
  read(queue: string, fromSeq: number, limit: number): QueueLogEntry[];
  /** Deletes every entry with seq <= `seq` (clamped to the last appended). Cost: one key delete per entry. */
  deleteUpTo(queue: string, seq: number): void;
  /** Entries appended and not deleted (counts calls made, committed or not). */
  length(queue: string): number;
  /** Every queue with a log: name, first and next seq. */
  list(): QueueLogInfo[];
  /** Deletes a queue's log entirely; a later append starts again at seq 1. */
  drop(queue: string): void;
}

export interface Storage {
  readonly kind: "memory" | "lmdb";
  readonly durability: DurabilityMode;
  /** Data directory (lmdb) or undefined (memory). */
  readonly path: string | undefined;
  /** What open() found and repaired. */
  readonly openReport: OpenReport;
  readonly queueLog: QueueLog;
  /** Group-commit counters. */
  readonly stats: StorageStats;

  // ---- message bodies (stored once, reference counted) ----------------------------------------------------
  /**
   * Stages a message body and returns its id. It is written with its first reference (enqueue, putInflight,
   * setRetained) and deleted with its last; a message still unreferenced at the next commit()/flush() is
   * dropped, so store and reference it in the same synchronous step.
   */
  storeMessage(message: StoredMessage): MessageId;
  /** A committed message body. */
  getMessage(id: MessageId): StoredMessage | undefined;

  // ---- sessions -------------------------------------------------------------------------------------------
  /** Creates or replaces the session record (connect, disconnect: expiresAt, lastSeen). */
  putSession(session: SessionRecord): void;
  /** Deletes everything of the client: session, will, subscriptions, queue, inflight, inbound QoS 2 ids. */
  deleteSession(clientId: string): void;

  putSubscription(clientId: string, subscription: StoredSubscription): void;
  deleteSubscription(clientId: string, filter: string): void;

  // ---- outbound: offline queue and inflight ---------------------------------------------------------------
  /** Appends a reference to a stored message to the client's queue; returns its seq (increasing per client). */
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

  // ---- inbound QoS 2 (exactly once across restarts) -------------------------------------------------------
  addInboundQos2(clientId: string, packetId: number): void;
  removeInboundQos2(clientId: string, packetId: number): boolean;

  // ---- retained messages and wills -------------------------------------------------------------------------
  setRetained(topic: string, messageId: MessageId): void;
  deleteRetained(topic: string): boolean;
  putWill(will: StoredWill): void;
  deleteWill(clientId: string): boolean;

  // ---- lifecycle -----------------------------------------------------------------------------------------
  /** Resolves at the durability mode's acknowledgement point; rejects with STORAGE_WRITE_FAILED. */
  commit(): Promise<void>;
  /** Resolves when everything so far is committed and fsync'd, whatever the mode. */
  flush(): Promise<void>;
  /** Everything persisted (committed state): the broker's startup load. */
  loadAll(): StorageSnapshot;
  /** Recounts references in the committed state against stored refcounts. */
  verify(): IntegrityReport;
  /** Flushes (fsync included in every mode) and closes. Further calls throw STORAGE_CLOSED. */
  close(): Promise<void>;
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
  /** batched/none: pending ops beyond which commit() waits for the disk. Default 4096 (also bounds the size of one batch, i.e. the main-thread work of writing it). */
  maxPendingOps?: number;
  clock?: Clock;
  logger?: Logger;
}
