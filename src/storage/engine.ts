// The storage engine: the Storage interface over any KvBackend. All the logic lives here, once — reference
// counting, cascades, key derivation, group commit — so the memory and LMDB stores behave identically and the
// conformance suite tests both through the same code. One object per concern (docs/storage.md):
//   messages  refs.ts           bodies stored once, reference counted
//   sessions  session-store.ts  per-client records: session, will, subscriptions, queue, inflight, inbound ids
//   retained  retained-store.ts topic → body
//   queues    queue-log.ts      durable queue logs with consumer groups
// sharing one batch (committer.ts, elide.ts): calls made in one synchronous run are one transaction.
import { systemClock } from "../util/clock.ts";
import type { Clock } from "../util/clock.ts";
import { silentLogger } from "../util/logger.ts";
import type { Logger } from "../util/logger.ts";
import { Committer } from "./committer.ts";
import { Elider } from "./elide.ts";
import { StorageError, StorageErrorCode, corruptError } from "./errors.ts";
import { loadIndexes } from "./engine-load.ts";
import type { EngineHost } from "./engine-state.ts";
import { Space } from "./keys.ts";
import type { Key, SpaceName } from "./keys.ts";
import type { KvBackend, KvOp } from "./kv.ts";
import { EngineQueueLogs } from "./queue-log.ts";
import { decodeSchema } from "./records.ts";
import { MessageRefs } from "./refs.ts";
import { EngineRetained } from "./retained-store.ts";
import { EngineSessions } from "./session-store.ts";
import { readSnapshot, snapshotOps } from "./snapshot.ts";
import type { Storage, StorageOptionsBase, StorageStats } from "./storage.ts";
import { Durability } from "./types.ts";
import { hasAny } from "./validate.ts";
import type {
  DurabilityMode,
  IntegrityReport,
  MessageId,
  OpenReport,
  SessionSnapshot,
  StorageSnapshot,
  StoredMessage,
} from "./types.ts";

/**
 * Layout version; a store with a higher one is refused. 2: values are plain msgpack maps (lmdb-kv.ts), not
 * records; a version-1 store is read as it is and marked 2 at its first open by this build, so an older build
 * then refuses it clearly (it would decode the maps as Map objects and call the store corrupt). 3: a consumer
 * group's record lists its first deliveries in flight (`f`) instead of a `qpend` record each; a version-2 store
 * is a valid version-3 store (no lists, every pending entry a record) and is marked 3 at its first open, so a
 * version-2 build, which would ignore the lists (those messages' delivery counts lost), refuses it as newer. 4: a
 * log entry appended with appendMessage holds its body inside (`b`) instead of referencing one in `msg`; older
 * stores are valid version-4 stores (marked 4 at the first open), and a version-3 build refuses a version-4 one
 * as newer instead of calling its entries corrupt.
 */
export const SCHEMA_VERSION = 4;
const SCHEMA_KEY: Key = ["", "schema"];

export interface EngineOptions extends StorageOptionsBase {
  path?: string | undefined;
  /** The backend already commits without fsync (durability none): flush() must sync it. */
  backendNoSync?: boolean;
}

/** Writes the schema key of a new store, or checks an existing one's. */
async function checkSchema(kv: KvBackend, path: string | undefined, clock: Clock, noSync: boolean): Promise<void> {
  const raw = kv.get(Space.Meta, SCHEMA_KEY);
  if (raw === undefined) {
    const used = Object.values(Space).find((s) => hasAny(kv, s));
    if (used !== undefined) throw corruptError(path, `it has data (${used}) but no schema version key`);
    await kv.write([
      { space: Space.Meta, key: SCHEMA_KEY, value: { version: SCHEMA_VERSION, createdAt: clock.now() } },
    ]);
    if (noSync) await kv.sync();
    return;
  }
  let version: number;
  let createdAt: number;
  try {
    ({ version, createdAt } = decodeSchema(raw));
  } catch (e) {
    throw corruptError(path, "its schema version key is malformed", e);
  }
  if (version > SCHEMA_VERSION) {
    throw new StorageError(
      StorageErrorCode.VersionUnsupported,
      `storage: ${path ?? "the store"} has schema version ${version}, written by a newer Wharf; this build reads up to version ${SCHEMA_VERSION}. Run the newer Wharf, or move the directory aside to start empty.`,
      { path },
    );
  }
  if (!Number.isInteger(version) || version < 1) throw corruptError(path, `schema version ${version} is invalid`);
  if (version < SCHEMA_VERSION) {
    // Before anything is written in the new layout.
    await kv.write([{ space: Space.Meta, key: SCHEMA_KEY, value: { version: SCHEMA_VERSION, createdAt } }]);
    if (noSync) await kv.sync();
  }
}

export class StorageEngine implements Storage {
  readonly kind: "memory" | "lmdb";
  readonly durability: DurabilityMode;
  readonly path: string | undefined;
  readonly openReport: OpenReport;
  readonly openSnapshot: { readonly status: "used" | "absent" | "stale" | "rejected"; readonly reason?: string };
  readonly messages: MessageRefs;
  readonly sessions: EngineSessions;
  readonly retained: EngineRetained;
  readonly queues: EngineQueueLogs;
  readonly #kv: KvBackend;
  readonly #committer: Committer;
  readonly #noSync: boolean;
  readonly #snapshotMinEntries: number;
  readonly #failureListeners = new Set<(error: StorageError) => void>();
  #closed = false;
  #closing: Promise<void> = Promise.resolve();

  /** Opens a store on a backend: checks the schema, rebuilds the indexes, repairs reference counts. */
  static async open(kv: KvBackend, options: EngineOptions = {}): Promise<StorageEngine> {
    const clock = options.clock ?? systemClock;
    const logger = options.logger ?? silentLogger;
    const noSync = options.backendNoSync ?? false;
    try {
      await checkSchema(kv, options.path, clock, noSync);
      const snap = readSnapshot(kv);
      const ix = loadIndexes(kv, options.path, snap.status === "valid" ? snap.snapshot : undefined);
      let openSnapshot: StorageEngine["openSnapshot"] = { status: "absent" };
      if (snap.status === "stale") {
        openSnapshot = { status: "stale", reason: snap.reason };
        logger.warn({ path: options.path, reason: snap.reason }, "storage: index snapshot stale, scanning instead");
      } else if (snap.status === "valid") openSnapshot = { status: ix.fromSnapshot ? "used" : "rejected" };
      if (ix.repairs.length > 0) {
        logger.warn(
          { path: options.path, ...ix.report },
          "storage: repaired reference counts found inconsistent at open",
        );
      }
      // The snapshot goes before the store accepts any write, whether it was used or not: a later crash must
      // find none (the index then changes without it). LMDB commits in order, so nothing written after this can
      // survive a crash without this removal; the repairs ride in the same transaction.
      const removals: KvOp[] =
        snap.status === "absent" ? [] : snap.keys.map((key) => ({ space: Space.Meta, key, remove: true }));
      if (ix.repairs.length > 0 || removals.length > 0) {
        await kv.write([...ix.repairs, ...removals]);
        if (noSync && ix.repairs.length > 0) await kv.sync();
      }
      return new StorageEngine(kv, options, clock, logger, ix, openSnapshot);
    } catch (e) {
      await kv.close();
      throw e;
    }
  }

  private constructor(
    kv: KvBackend,
    options: EngineOptions,
    clock: Clock,
    logger: Logger,
    ix: ReturnType<typeof loadIndexes>,
    openSnapshot: StorageEngine["openSnapshot"],
  ) {
    this.kind = kv.kind;
    this.#kv = kv;
    this.path = options.path;
    this.durability = options.durability ?? Durability.Sync;
    this.openReport = ix.report;
    this.openSnapshot = openSnapshot;
    this.#snapshotMinEntries = options.snapshotMinEntries ?? 4096;
    this.#noSync = options.backendNoSync ?? false;
    this.#committer = new Committer({
      mode: this.durability,
      batchIntervalMs: options.batchIntervalMs ?? 10,
      maxPendingOps: options.maxPendingOps ?? 4096,
      clock,
      path: this.path,
      source: this,
      write: (ops) => kv.write(ops),
      beforeFlush: () => {
        this.queues.materialize();
        this.messages.writeCounts();
      },
      onFailure: (error) => this.#failed(error, logger),
    });
    const committer = this.#committer;
    const host: EngineHost = {
      kv,
      path: this.path,
      elider: new Elider(committer),
      put: (space: SpaceName, key: Key, value: unknown) => committer.push({ space, key, value }),
      remove: (space: SpaceName, key: Key) => committer.push({ space, key, remove: true }),
      defer: (delta: number) => committer.defer(delta),
      now: () => clock.now(),
      check: () => this.#check(),
    };
    this.messages = new MessageRefs(host, ix.refs, ix.nextMessageId, ix.counted);
    this.sessions = new EngineSessions(host, this.messages, ix.clients);
    this.retained = new EngineRetained(host, this.messages, ix.retained);
    this.queues = new EngineQueueLogs(host, this.messages, ix.logs);
  }

  /** Batches written so far and ops in them (group commit effectiveness). */
  get stats(): StorageStats {
    return { batches: this.#committer.batches, ops: this.#committer.ops, pending: this.#committer.pending };
  }

  get failure(): StorageError | undefined {
    return this.#committer.failed;
  }

  onFailure(listener: (error: StorageError) => void): () => void {
    this.#failureListeners.add(listener);
    return () => this.#failureListeners.delete(listener);
  }

  fail(reason: unknown): StorageError {
    return this.#committer.fail(reason);
  }

  #failed(error: StorageError, logger: Logger): void {
    logger.error({ err: error, code: error.code, path: this.path }, error.message);
    for (const listener of [...this.#failureListeners]) listener(error);
  }

  #check(): void {
    if (this.#closed)
      throw new StorageError(StorageErrorCode.Closed, "storage: the store is closed", { path: this.path });
  }

  // ---- lifecycle -------------------------------------------------------------------------------------------

  commit(): Promise<void> {
    if (this.#closed) return Promise.reject(new StorageError(StorageErrorCode.Closed, "storage: the store is closed"));
    this.messages.dropFloating();
    return this.#committer.commit();
  }

  written(): Promise<void> {
    if (this.#closed) return Promise.reject(new StorageError(StorageErrorCode.Closed, "storage: the store is closed"));
    return this.#committer.written();
  }

  async flush(): Promise<void> {
    this.#check();
    this.messages.dropFloating();
    await this.#committer.flush();
    if (this.#noSync) await this.#kv.sync();
  }

  loadAll(): StorageSnapshot {
    this.#check();
    const sessions: SessionSnapshot[] = [];
    for (const page of this.sessions.pages()) sessions.push(...page);
    const retained = [...this.retained.entries()];
    const messages = new Map<MessageId, StoredMessage>();
    const want = (id: MessageId | undefined): void => {
      if (id === undefined || messages.has(id)) return;
      const m = this.messages.get(id);
      if (m !== undefined) messages.set(id, m);
    };
    for (const s of sessions) {
      for (const q of s.queue) want(q.messageId);
      for (const f of s.inflight) want(f.messageId);
    }
    for (const r of retained) want(r.messageId);
    return { sessions, retained, messages, queueLogs: this.queues.list() };
  }

  verify(): IntegrityReport {
    this.#check();
    const { repaired: _r, ...counts } = loadIndexes(this.#kv, this.path).report;
    return {
      ...counts,
      ok: counts.refcountMismatches === 0 && counts.orphanMessages === 0 && counts.danglingReferences === 0,
    };
  }

  /** The queue logs' index, once everything is written (snapshot.ts); skipped after a storage failure. */
  async #writeSnapshot(): Promise<void> {
    if (this.#snapshotMinEntries <= 0 || this.#committer.failed !== undefined) return;
    const ops = snapshotOps(this.#kv, this.queues.states(), this.messages.nextId, this.#snapshotMinEntries);
    if (ops.length > 0) await this.#kv.write(ops);
  }

  async close(): Promise<void> {
    if (this.#closed) return this.#closing;
    this.#closed = true; // from now on mutations throw: nothing can slip in behind the final flush
    this.messages.dropFloating();
    this.#closing = (async () => {
      try {
        await this.#committer.flush();
        await this.#writeSnapshot();
        if (this.#noSync) await this.#kv.sync();
      } finally {
        this.#committer.stop();
        await this.#kv.close();
      }
    })();
    return this.#closing;
  }
}
