// Harnesses the storage conformance suite runs against: each gives a fresh "disk" that stores can be opened on,
// closed and reopened, plus raw access to tamper with it while no store is open.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { open } from "lmdb";
import { MemoryKv, openLmdbStorage, openMemoryStorage } from "../../src/storage/index.ts";
import type { Storage, StorageOptionsBase } from "../../src/storage/index.ts";
import type { Key, SpaceName } from "../../src/storage/keys.ts";
import type { KvOp } from "../../src/storage/kv.ts";

export interface TamperOp {
  space: SpaceName;
  key: Key;
  /** undefined = delete */
  value?: unknown;
}

export interface StorageHarness {
  readonly name: "memory" | "lmdb";
  /** Data directory (lmdb) for messages in assertions. */
  readonly path: string | undefined;
  /** Opens a store on this harness's disk (close the previous one first). */
  open(options?: StorageOptionsBase): Promise<Storage>;
  /** Raw writes to the disk, bypassing the engine (reference counts included). No store may be open. */
  tamper(ops: TamperOp[]): Promise<void>;
  /** Closes what is open and deletes the disk. */
  dispose(): Promise<void>;
}

export type HarnessFactory = () => Promise<StorageHarness>;

/**
 * Every clean close in the suite writes the index snapshot (the default threshold is 4096 log entries), so each
 * reopen test also tests the snapshot path; tampering, crashes and the scan path's own tests see it stale or absent.
 */
const SNAPSHOT_ALWAYS: StorageOptionsBase = { snapshotMinEntries: 1 };

/**
 * The conformance suite tests the storage API, so its LMDB reopens skip the check process that reads the whole file
 * in a child before mapping it (lmdb-probe.mjs, about 0.1 s of CPU per reopen, 60-odd reopens here). That check has
 * its own tests (test/unit/storage/lmdb-open.test.ts) and runs at every broker restart in the integration tests.
 */
const NO_CHECK_PROCESS = { verify: false } as const;

function toKv(ops: TamperOp[]): KvOp[] {
  return ops.map((o) =>
    o.value === undefined
      ? { space: o.space, key: o.key, remove: true }
      : { space: o.space, key: o.key, value: o.value },
  );
}

/** Tracks opened stores so dispose() can close whatever a failed test left open. */
class Opened {
  readonly stores: Storage[] = [];
  async closeAll(): Promise<void> {
    for (const s of this.stores.splice(0)) await s.close().catch(() => undefined);
  }
}

export const memoryHarness: HarnessFactory = () => {
  const backend = new MemoryKv();
  const opened = new Opened();
  return Promise.resolve({
    name: "memory",
    path: undefined,
    async open(options) {
      const s = await openMemoryStorage({ ...SNAPSHOT_ALWAYS, ...options, backend });
      opened.stores.push(s);
      return s;
    },
    tamper: (ops) => backend.write(toKv(ops)),
    dispose: () => opened.closeAll(),
  });
};

export async function tempDir(prefix = "wharf-storage-"): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Raw lmdb-js access to a data directory, opened like the store opens it. */
export async function rawLmdbWrite(path: string, ops: TamperOp[]): Promise<void> {
  const root = open({ path, maxDbs: 32, overlappingSync: false, noSubdir: false });
  try {
    for (const o of ops) {
      const db = root.openDB({ name: o.space });
      const key = [...o.key];
      if (o.value === undefined) await db.remove(key);
      else await db.put(key, o.value);
    }
  } finally {
    await root.close();
  }
}

export const lmdbHarness: HarnessFactory = async () => {
  const dir = await tempDir();
  const path = join(dir, "data");
  const opened = new Opened();
  return {
    name: "lmdb",
    path,
    async open(options) {
      const s = await openLmdbStorage({ ...SNAPSHOT_ALWAYS, ...NO_CHECK_PROCESS, ...options, path });
      opened.stores.push(s);
      return s;
    },
    tamper: (ops) => rawLmdbWrite(path, ops),
    async dispose() {
      await opened.closeAll();
      await rm(dir, { recursive: true, force: true });
    },
  };
};
