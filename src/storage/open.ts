// Factories: the one place that knows which backend goes with which options.
import { resolve } from "node:path";
import { StorageEngine } from "./engine.ts";
import { MemoryKv } from "./memory-kv.ts";
import type { Storage, StorageOptionsBase } from "./storage.ts";
import { Durability } from "./types.ts";

/** LMDB data directory when none is configured. */
export const DEFAULT_DATA_DIR = "./data";

export interface MemoryStorageOptions extends StorageOptionsBase {
  /** The "disk" to open: pass the same MemoryKv again to reopen a closed store (tests). Default: a new one. */
  backend?: MemoryKv;
}

export interface LmdbStorageOptions extends StorageOptionsBase {
  /** Data directory; created if missing. Default ./data. */
  path?: string;
  /** Check an existing data file in a child process before mapping it (lmdb-probe.mjs). Default true. */
  verify?: boolean;
}

export type StorageOptions = ({ kind: "memory" } & MemoryStorageOptions) | ({ kind: "lmdb" } & LmdbStorageOptions);

export function openMemoryStorage(options: MemoryStorageOptions = {}): Promise<Storage> {
  return StorageEngine.open(options.backend ?? new MemoryKv(), options);
}

/**
 * Opens (creating if needed) an LMDB store. Rejects with a StorageError (STORAGE_CORRUPT, STORAGE_UNREADABLE,
 * STORAGE_VERSION_UNSUPPORTED) naming the directory when it cannot be used as it is.
 */
export async function openLmdbStorage(options: LmdbStorageOptions = {}): Promise<Storage> {
  const path = resolve(options.path ?? DEFAULT_DATA_DIR);
  const durability = options.durability ?? Durability.Sync;
  // Only "none" commits without fsync; "batched" makes fewer commits, each durable (docs/storage.md).
  const noSync = durability === Durability.None;
  // Loaded here, not at the top: the lmdb package and its msgpackr cost ~50 ms of CPU that a memory store never needs.
  const { LmdbKv } = await import("./lmdb-kv.ts");
  const kv = await LmdbKv.open({ path, noSync, verify: options.verify });
  return StorageEngine.open(kv, { ...options, path, durability, backendNoSync: noSync });
}

export function openStorage(options: StorageOptions): Promise<Storage> {
  return options.kind === "memory" ? openMemoryStorage(options) : openLmdbStorage(options);
}
