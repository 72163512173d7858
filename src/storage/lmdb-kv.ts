// LMDB backend (lmdb-js): one environment in the data directory, one named database per key space, keys in
// lmdb-js's ordered encoding ([group, id] arrays), values in its msgpack encoding (Buffers round-trip).
import { open } from "lmdb";
import type { Database, RootDatabase } from "lmdb";
import { ALL_SPACES } from "./keys.ts";
import type { Key, KeyId, SpaceName } from "./keys.ts";
import { isRemove } from "./kv.ts";
import type { KvBackend, KvEntry, KvOp } from "./kv.ts";
import { corruptError } from "./errors.ts";
import { openError, prepareDirectory, probeDirectory } from "./lmdb-check.ts";
import { acquireLock } from "./lock.ts";

const MAX_DBS = 32;

/**
 * Values are plain msgpack maps (schema version 2). lmdb-js's default encodes each object as a msgpack record whose
 * definition (its keys) is written inline in every value, and without shared structures msgpackr rebuilds that
 * definition on every encode: ~450 bytes of garbage and a record definition per object encoded (a queue message
 * is 3 values). Records of version-1 stores still decode (the record extension carries its own keys).
 */
const VALUE_ENCODING = { useRecords: false, mapsAsObjects: true } as const;

export interface LmdbKvOptions {
  path: string;
  /**
   * true: commits are not fsync'd (durability "batched" and "none"; sync() makes them durable). The environment
   * is otherwise opened identically in every mode (overlappingSync off), so switching modes between restarts is
   * safe: LMDB reads the same meta pages.
   */
  noSync: boolean;
  /** Check the directory in a child process first (see lmdb-probe.mjs). Default true. */
  verify?: boolean;
}

/** `sync` exists on lmdb-js databases but is missing from its type definitions. */
interface Syncable {
  sync(callback: (error?: unknown) => void): void;
}

/**
 * lmdb-js rejects the ops of a failed commit with "Commit failed (see commitError for details)" and the cause in
 * `commitError`, a promise rejected in the same turn (and unhandled unless handled here). Rethrows the cause.
 */
async function commitFailure(e: unknown): Promise<never> {
  const inner = isLmdbCommitFailure(e) ? e.commitError : undefined;
  if (inner instanceof Promise) {
    const cause = await Promise.race([
      inner.then(
        () => e,
        (x: unknown) => x,
      ),
      new Promise<unknown>((resolve) => setImmediate(() => resolve(e))),
    ]);
    throw cause;
  }
  throw e;
}

function isLmdbCommitFailure(e: unknown): e is Error & { commitError: unknown } {
  return e instanceof Error && e.message.startsWith("Commit failed") && "commitError" in e;
}

let strayRejectionsGuarded = false;

/**
 * lmdb-js (3.x) bug worked around: with event-turn batching it creates, at the start of each batch, a commit
 * promise it never hands out; when that transaction fails (disk full, EIO) the promise rejects unhandled and
 * the process dies before the failure can be reported (found by storage-failure.test.ts: RLIMIT_FSIZE). The
 * failure itself reaches the store through the promises of the batch's own ops (write() below), so such a
 * stray rejection is dropped here; any other unhandled rejection still ends the process as Node's default
 * does (unless someone else listens).
 */
function guardStrayCommitRejections(): void {
  if (strayRejectionsGuarded) return;
  strayRejectionsGuarded = true;
  process.on("unhandledRejection", (reason) => {
    if (isLmdbCommitFailure(reason)) {
      if (reason.commitError instanceof Promise) reason.commitError.catch(() => undefined);
      return;
    }
    if (process.listenerCount("unhandledRejection") > 1) return; // another handler decides
    throw reason;
  });
}

/** lmdb-js takes mutable key arrays; it never modifies them. */
function lmdbKey(key: Key): KeyId[] {
  return key as unknown as KeyId[];
}

function isKey(k: unknown): k is Key {
  return (
    Array.isArray(k) &&
    k.length === 2 &&
    typeof k[0] === "string" &&
    (typeof k[1] === "string" || typeof k[1] === "number")
  );
}

function isEntry(e: { key: unknown; value: unknown }): e is KvEntry {
  return isKey(e.key);
}

export class LmdbKv implements KvBackend {
  readonly kind = "lmdb";
  readonly path: string;
  readonly #root: RootDatabase;
  readonly #dbs: ReadonlyMap<SpaceName, Database>;
  readonly #unlock: () => void;

  private constructor(path: string, root: RootDatabase, dbs: ReadonlyMap<SpaceName, Database>, unlock: () => void) {
    this.path = path;
    this.#root = root;
    this.#dbs = dbs;
    this.#unlock = unlock;
  }

  static async open(options: LmdbKvOptions): Promise<LmdbKv> {
    const { path } = options;
    const existing = prepareDirectory(path);
    const unlock = acquireLock(path);
    let root: RootDatabase | undefined;
    try {
      if (existing && options.verify !== false) {
        const { databases } = await probeDirectory(path, MAX_DBS);
        const foreign = Object.keys(databases).filter((n) => !(ALL_SPACES as readonly string[]).includes(n));
        if (foreign.length > 0)
          throw corruptError(path, `it holds databases Wharf does not use (${foreign.join(", ")})`);
      }
      // noSubdir explicitly false: lmdb-js infers it from a file extension, so a directory named `wharf.d` or
      // `x.1a2b` would be taken for the data file itself ("Is a directory").
      guardStrayCommitRejections();
      root = open({ path, maxDbs: MAX_DBS, overlappingSync: false, noSync: options.noSync, noSubdir: false });
      const dbs = new Map<SpaceName, Database>();
      for (const name of ALL_SPACES) dbs.set(name, root.openDB({ name, ...VALUE_ENCODING }));
      return new LmdbKv(path, root, dbs, unlock);
    } catch (e) {
      await root?.close();
      unlock();
      throw openError(path, e);
    }
  }

  #db(space: SpaceName): Database {
    const db = this.#dbs.get(space);
    if (db === undefined) throw new Error(`unknown key space ${space}`);
    return db;
  }

  write(ops: readonly KvOp[]): Promise<void> {
    // Every put/remove issued in one synchronous run joins lmdb-js's current event-turn batch: one transaction,
    // committed (and, without noSync, fsync'd) before the returned promises resolve. When the commit fails
    // (disk full, EIO) every op's promise rejects: all of them must be handled, or the process dies of an
    // unhandled rejection instead of reporting STORAGE_WRITE_FAILED.
    // lmdb-js hands every unconditional op of one transaction the same commit promise: waiting on each distinct
    // one (usually one per batch) instead of on every op saves one promise reaction per op (thousands per batch).
    const written: Promise<boolean>[] = [];
    let last: Promise<boolean> | undefined;
    for (const op of ops) {
      const db = this.#db(op.space);
      const p = isRemove(op) ? db.remove(lmdbKey(op.key)) : db.put(lmdbKey(op.key), op.value);
      if (p !== last) written.push((last = p));
    }
    return Promise.all(written).then(() => undefined, commitFailure);
  }

  sync(): Promise<void> {
    return new Promise((resolve, reject) => {
      (this.#root as unknown as Syncable).sync((error) => {
        if (error === undefined || error === null) resolve();
        else reject(error instanceof Error ? error : new Error(`sync failed: ${JSON.stringify(error)}`));
      });
    });
  }

  get(space: SpaceName, key: Key): unknown {
    return this.#db(space).get(lmdbKey(key));
  }

  range(space: SpaceName, group: string, from: number, limit?: number): KvEntry[] {
    const out: KvEntry[] = [];
    const range = this.#db(space).getRange({ start: [group, from], end: [group, Infinity], limit });
    for (const { key, value } of range) if (isKey(key)) out.push({ key, value: value as unknown });
    return out;
  }

  *group(space: SpaceName, group: string): Iterable<KvEntry> {
    // [group] sorts before every [group, id]; the scan stops at the first key of another group.
    for (const { key, value } of this.#db(space).getRange({ start: [group] })) {
      if (!isKey(key)) throw corruptError(this.path, `malformed key ${JSON.stringify(key)} in ${space}`);
      if (key[0] !== group) return;
      yield { key, value: value as unknown };
    }
  }

  lastId(space: SpaceName, group: string): number | undefined {
    const range = this.#db(space).getKeys({
      start: [group, Infinity],
      end: [group, -Infinity],
      reverse: true,
      limit: 1,
    });
    for (const key of range) if (isKey(key) && typeof key[1] === "number") return key[1];
    return undefined;
  }

  *entries(space: SpaceName): Iterable<KvEntry> {
    // lmdb-js's own { key, value } objects are handed on (no copy: one allocation fewer per entry, 1 M at a
    // backlog's open).
    for (const e of this.#db(space).getRange({})) {
      if (!isEntry(e)) throw corruptError(this.path, `malformed key ${JSON.stringify(e.key)} in ${space}`);
      yield e;
    }
  }

  *keys(space: SpaceName): Iterable<Key> {
    for (const key of this.#db(space).getKeys({})) {
      if (!isKey(key)) throw corruptError(this.path, `malformed key ${JSON.stringify(key)} in ${space}`);
      yield key;
    }
  }

  count(space: SpaceName): number {
    return (this.#db(space).getStats() as { entryCount: number }).entryCount;
  }

  generation(): number {
    return (this.#root.getStats() as { lastTxnId: number }).lastTxnId;
  }

  async close(): Promise<void> {
    try {
      await this.#root.close();
    } finally {
      this.#unlock();
    }
  }
}
