// Durable queues in the cluster (docs/cluster.md "Durable queues in the cluster"): slot ownership in etcd with
// epochs (fencing tokens), fenced slot stores, replication of every slot to its replicas.
export * from "./errors.ts";
export * from "./slots.ts";
export * from "./ops.ts";
export { SlotOwnership } from "./ownership.ts";
export type { InSyncSet, SlotOwner, SlotOwnershipOptions } from "./ownership.ts";
export { FencedQueueStore } from "./fenced-store.ts";
export type { Fence, FencedStoreOptions } from "./fenced-store.ts";
