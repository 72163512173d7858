// The package entry (`import { createBroker } from "wharfmq"`): the embedded broker and the types and errors its
// API uses. Lower-level layers are published as deliberate subpaths: "wharfmq/broker" (the core, to plug in other
// transports) and "wharfmq/server" (config loading and the composition root behind `wharf start`).
export { createBroker } from "./server/create-broker.ts";
export type {
  BrokerConfigInput,
  CreateBrokerDeps,
  Health,
  HealthStatus,
  Metrics,
  WharfBroker,
} from "./server/create-broker.ts";
export type { ListenerAddress } from "./server/listener-address.ts";
export { LIVE_CONFIG_KEYS } from "./server/configure.ts";
export type { ConfigureResult } from "./server/configure.ts";
export { ConfigError, ConfigErrorCode } from "./server/config/index.ts";
export type {
  AclRuleConfig,
  ConfigIssue,
  DeepPartial,
  ListenerConfig,
  LogConfig,
  StorageConfig,
  WharfConfig,
} from "./server/config/index.ts";
export { BrokerError, BrokerErrorCode } from "./broker/index.ts";
export type {
  AuthHooks,
  AuthResult,
  AuthenticateContext,
  BrokerStats,
  ClientInfo,
  PublishInfo,
} from "./broker/index.ts";
export { StorageError, StorageErrorCode } from "./storage/index.ts";
export { QueueError, QueueErrorCode } from "./queues/index.ts";
export { TopicError, TopicErrorCode } from "./topics/index.ts";
export type { Clock, Logger, TimerHandle } from "./util/index.ts";
export { systemClock } from "./util/index.ts";
export {
  DEAD_LETTER_PREFIX,
  DEFAULT_PRIORITY,
  DeadLetterProperty,
  InprocError,
  InprocErrorCode,
  PRIORITY_PROPERTY,
  Priority,
  Transaction,
  TransactionState,
} from "./inproc/index.ts";
export type {
  AckMode,
  BatchEntry,
  DeadLetterStats,
  InprocErrorCodeValue,
  InprocMetrics,
  Listener,
  ListenOptions,
  MemoryUsage,
  MessageProperties,
  OverflowPolicy,
  PublishOptions,
  PublishResult,
  ReceivedMessage,
  StreamFrom,
  SubscribeOptions,
  Subscription,
  SubscriptionStats,
  TransactionOptions,
  TransactionStateValue,
} from "./inproc/index.ts";
