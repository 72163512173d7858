// Queue layer entry (docs/queues.md): durable `$queue/<name>` queues over the storage layer.
export * from "./config.ts";
export * from "./duration.ts";
export * from "./errors.ts";
export * from "./types.ts";
export * from "./store.ts";
export { QueueEngine } from "./engine.ts";
export { EPHEMERAL_GROUP_PREFIX, isValidQueueName } from "./engine-api.ts";
export type {
  DeadLetterNotice,
  EnqueueInput,
  JoinOptions,
  PublishOutcome,
  QueueEngineOptions,
  SettleOutcome,
} from "./engine-api.ts";
export type { Consumer } from "./consumer.ts";
export { backoffDelay } from "./backoff.ts";
export { StorageQueueStore } from "./storage-store.ts";
export { hashKey, partitionFor } from "./partition.ts";
