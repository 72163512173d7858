// The operations layer: management HTTP server (health, Prometheus metrics, admin API, dashboard) and webhooks.
export { startManagement, buildRouter } from "./management.ts";
export type { Management, ManagementDeps, ManagementOptions } from "./management.ts";
export type { ConfigControl, ListenerInfo, ReloadOutcome, ReloadReport } from "./api/system.ts";
export type { ReadinessCheck } from "./health.ts";
export { TokenStore, generateToken, hashToken, HOW_TO_SET_A_TOKEN } from "./auth.ts";
export type { TokenEntry } from "./auth.ts";
export { AdminError, AdminErrorCode } from "./errors.ts";
export { createBrokerMetrics, METRICS_CONTENT_TYPE } from "./metrics.ts";
export type { BrokerMetrics, WebhookMetrics } from "./metrics.ts";
export { buildOpenApi, declaredSuccess } from "./openapi.ts";
export { Router } from "./http/router.ts";
export type { ManagementTls } from "./http/server.ts";
export * from "./webhooks/index.ts";
export { BrokerEventBridge } from "./broker-events.ts";
export type { EventBridgeOptions } from "./broker-events.ts";
export type { EventMetrics } from "./metrics.ts";
