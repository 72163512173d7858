// Storage layer entry (docs/storage.md).
export * from "./types.ts";
export * from "./errors.ts";
export type {
  MessageStore,
  QueueLogStore,
  RetainedStorage,
  SessionStorage,
  Storage,
  StorageOptionsBase,
  StorageStats,
} from "./storage.ts";
export { DEFAULT_DATA_DIR, openLmdbStorage, openMemoryStorage, openStorage } from "./open.ts";
export type { LmdbStorageOptions, MemoryStorageOptions, StorageOptions } from "./open.ts";
export { MemoryKv } from "./memory-kv.ts";
export { SCHEMA_VERSION } from "./engine.ts";
export { StorageChannel, onStorageCommit, storageEvents } from "./events.ts";
export type { StorageCommitEvent } from "./events.ts";
// The KV backends themselves, for a concern kept in an environment of its own (src/cluster/queues journal.ts).
// LmdbKv is not re-exported: importing this index must not load lmdb (a memory store never needs it). Import
// ./lmdb-kv.ts itself.
export type { LmdbKv } from "./lmdb-kv.ts";
export type { KvBackend, KvOp } from "./kv.ts";
export { Space } from "./keys.ts";
