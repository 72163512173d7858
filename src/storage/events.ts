// The storage layer's event seam, like the broker's (src/broker/events.ts): node:diagnostics_channel channels that
// cost one property read per batch while nobody listens. The metrics' storage commit latency histogram attaches
// here (src/admin/metrics.ts).
import diagnostics from "node:diagnostics_channel";
import type { Channel } from "node:diagnostics_channel";

export const StorageChannel = {
  /** One batch (one backend transaction) written. */
  Commit: "wharf:storage:commit",
} as const;

export interface StorageCommitEvent {
  /** The store that wrote it (the Storage object: compare by identity; several stores may share a process). */
  readonly source: object | undefined;
  /** Puts and deletes in the batch. */
  readonly ops: number;
  /** From handing the batch to the backend to its completion (with durability sync: the fsync included). */
  readonly seconds: number;
}

export interface TypedStorageChannel<E> {
  readonly hasSubscribers: boolean;
  publish(event: E): void;
}

const commit: Channel = diagnostics.channel(StorageChannel.Commit);

/** Held for the life of the process (diagnostics_channel keeps channels only weakly). */
export const storageEvents = {
  commit: commit as TypedStorageChannel<StorageCommitEvent>,
} as const;

/** Subscribes `fn` to storage commits; returns the unsubscribe function. */
export function onStorageCommit(fn: (e: StorageCommitEvent) => void): () => void {
  const listener = (message: unknown): void => fn(message as StorageCommitEvent);
  diagnostics.subscribe(StorageChannel.Commit, listener);
  return () => {
    diagnostics.unsubscribe(StorageChannel.Commit, listener);
  };
}
