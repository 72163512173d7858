// Durable queues in the cluster (docs/cluster.md "Durable queues in the cluster"): slot ownership in etcd with
// epochs (fencing tokens), fenced slot stores, replication of every slot to its replicas.
export * from "./errors.ts";
export * from "./slots.ts";
export * from "./ops.ts";
export { SlotOwnership } from "./ownership.ts";
export type { InSyncSet, SharedLease, SlotOwner, SlotOwnershipOptions } from "./ownership.ts";
export { FencedQueueStore } from "./fenced-store.ts";
export type { Fence, FencedStoreOptions } from "./fenced-store.ts";
export { SlotMemoryStore } from "./slot-store.ts";
export {
  encodeReplication,
  encodeRequest,
  encodeReply,
  encodeDelivery,
  decodeReplication,
  decodeRequest,
  decodeAck,
  decodeReply,
  decodeDelivery,
} from "./wire.ts";
export type {
  QueueLink,
  QueueReply,
  QueueRequest,
  ReplicaLink,
  ReplicationAck,
  ReplicationFrame,
  SettleAction,
} from "./frames.ts";
export { QueueRouting } from "./routing.ts";
export type { ClusterConsumer, RoutingHost } from "./routing.ts";
export { ReplicaHost } from "./replica-host.ts";
export type { ReplicaCopy, ReplicaHostOptions } from "./replica-host.ts";
export { ReplicationMode, SlotReplicator } from "./replicator.ts";
export type { ReplicaTarget, ReplicationModeValue, SlotReplicatorOptions } from "./replicator.ts";
export { ClusterQueueNode } from "./node.ts";
export type { ClusterQueueNodeOptions, SlotStatus } from "./node.ts";
export { ClusterQueueBackend } from "./backend.ts";
export { QueueFrame, TransportQueueLink } from "./transport-link.ts";
export type { QueuePeers, TransportLinkHandlers } from "./transport-link.ts";
export { startClusterQueues } from "./on-cluster.ts";
export type { ClusterQueuesOptions, StartedClusterQueues } from "./on-cluster.ts";
export { SlotJournal } from "./journal.ts";
export type { JournaledCopy } from "./journal.ts";
