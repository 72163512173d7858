// The ordered key-value seam between the storage engine (all logic: references, counts, cascades, group commit)
// and a backend (memory maps or LMDB). A backend only applies batches atomically and answers reads of what it
// has applied.
import type { Key, KeyId, SpaceName } from "./keys.ts";

export type KvOp =
  | { readonly space: SpaceName; readonly key: Key; readonly value: unknown }
  | { readonly space: SpaceName; readonly key: Key; readonly value?: undefined; readonly remove: true };

export interface KvEntry {
  readonly key: Key;
  readonly value: unknown;
}

export interface KvBackend {
  readonly kind: "memory" | "lmdb";
  /**
   * Apply every op, in order, as one atomic transaction. The promise resolves when it is committed (for LMDB
   * opened in sync mode: fsync'd) and rejects if it was not; then nothing of it was applied.
   */
  write(ops: readonly KvOp[]): Promise<void>;
  /** Force everything written so far to stable storage (fsync), whatever the backend's per-commit setting. */
  sync(): Promise<void>;
  get(space: SpaceName, key: Key): unknown;
  /** Entries of one group with numeric ids >= from, ascending, at most `limit` (default: all). */
  range(space: SpaceName, group: string, from: number, limit?: number): KvEntry[];
  /** Every entry of one group, ids ascending (numbers, then strings), read lazily. */
  group(space: SpaceName, group: string): Iterable<KvEntry>;
  /** Highest numeric id in a group, if any. */
  lastId(space: SpaceName, group: string): number | undefined;
  /** Every entry of a space, groups in any order, ids ascending within a group. */
  entries(space: SpaceName): Iterable<KvEntry>;
  /** Every key of a space (no value decoding). */
  keys(space: SpaceName): Iterable<Key>;
  /** Number of entries in a space, without reading them. */
  count(space: SpaceName): number;
  /**
   * A counter of committed writes that moves by exactly one per write() and survives reopening (LMDB: the last
   * transaction id): the index snapshot records it to tell that nothing was written after it (snapshot.ts).
   */
  generation(): number;
  close(): Promise<void>;
}

export function isRemove(op: KvOp): op is Extract<KvOp, { remove: true }> {
  return "remove" in op;
}

/** Sort order of ids within a group: numbers ascending, then strings (the order both backends use). */
export function compareIds(a: KeyId, b: KeyId): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "number") return -1;
  if (typeof b === "number") return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
