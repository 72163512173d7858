// The broker core's public surface: the Broker facade, its options and hooks, the transport seam, and the seams
// features plug into (events, settlement). Internals (runtime, registry, router, persistence) are not exported;
// tests reach them through internal.ts.
export { Broker } from "./broker.ts";
export type { BrokerDeps } from "./broker.ts";
export type { AuthHooks, AuthResult, AuthenticateContext, ClientInfo, PublishInfo } from "./hooks.ts";
export { aclAllows, filterCovers, filterIntersects } from "./acl.ts";
export type { BrokerStats } from "./stats.ts";
export type { RetainedStore } from "./retained.ts";
export { MemoryRetainedStore } from "./retained.ts";
export type { Message } from "./message.ts";
export type { Session, Subscription } from "./session.ts";
// The clustering seam (BrokerDeps.routing): what src/cluster builds its router from.
export type { RoutingParts } from "./runtime.ts";
export { localQueueBackend } from "./queue-backend.ts";
export type { QueueBackend, QueueMembership, QueueOutcome, QueueSettleAction } from "./queue-backend.ts";
export type { Producer } from "./backpressure.ts";
export type { LocalRouter, RouteResult, Router } from "./router.ts";
// The session seam (BrokerDeps.sessions): client-id ownership and session takeover across nodes.
export type { OpenedSession, SessionClient, SessionRegistry, LocalSessionRegistry } from "./session-registry.ts";
export { exportSession } from "./session-transfer.ts";
export type { SessionParts, SessionState, TransferredOutbound } from "./session-transfer.ts";
export { OutState } from "./session.ts";
export type { OutStateValue } from "./session.ts";
export { DEFAULT_BROKER_OPTIONS } from "./options.ts";
export type { AclRule, BrokerOptions, ScramUserOption, ServerRedirect } from "./options.ts";
export { validateScramUser } from "./authenticators.ts";
export { BrokerError, BrokerErrorCode } from "./errors.ts";
export { LIVE_OPTIONS } from "./reconfigure.ts";
export type { LiveOptionName, LiveOptions } from "./reconfigure.ts";
export type {
  ConnectionAcceptor,
  ConnectionHandler,
  ListenerLimits,
  PeerIdentity,
  TransportConnection,
} from "./transport.ts";
export { sysTopics } from "./sys.ts";
export { BROKER_VERSION } from "./version.ts";
export { inspectBroker } from "./inspect.ts";
export type {
  BrokerTracer,
  ConnectTrace,
  MessageTrace,
  PublishTrace,
  TraceConnectInfo,
  TracedPublish,
  TracedBatch,
  TracedQueueDelivery,
  QueueTrace,
  SubscriptionTrace,
} from "./tracing.ts";
export type { BrokerInspector, ConnectionView } from "./inspect.ts";
export { BrokerChannel, onBrokerEvent } from "./events.ts";
export type { DeliveryLatencySink } from "./latency.ts";
export type {
  AuthResultEvent,
  BrokerChannelName,
  BrokerEventMap,
  ConnectEvent,
  DeadLetteredEvent,
  DeliveryEvent,
  DisconnectEvent,
  DropEvent,
  DropEventReason,
  PublishInEvent,
  SessionCreatedEvent,
  SessionEndedEvent,
  SettlementEvent,
  SubscribeEvent,
  UnsubscribeEvent,
} from "./events.ts";
export { DropReason, FlowState, HandBackReason } from "./settlement.ts";
export type { DropReasonValue, FlowStateValue, HandBackReasonValue, Settlement } from "./settlement.ts";
export type { Delivery, DeliveryHolder, DeliveryOwner } from "./message.ts";
