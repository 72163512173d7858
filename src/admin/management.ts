// The management server: health, metrics, the admin API, the OpenAPI document and the dashboard on one HTTP(S)
// listener (config `management`). The server layer builds it after the MQTT listeners and closes it first.
import { inspectBroker, type Broker } from "../broker/index.ts";
import type { Logger } from "../util/index.ts";
import { clientRoutes } from "./api/clients.ts";
import { queueRoutes } from "./api/queues.ts";
import { retainedRoutes } from "./api/retained.ts";
import { systemRoutes, type ConfigControl, type ListenerInfo } from "./api/system.ts";
import { TokenStore, type TokenEntry } from "./auth.ts";
import { dashboardRoutes } from "./dashboard.ts";
import { healthRoutes, type ReadinessCheck } from "./health.ts";
import { Router } from "./http/router.ts";
import { startHttpServer, type ManagementHttpServer, type ManagementTls } from "./http/server.ts";
import { METRICS_CONTENT_TYPE, type BrokerMetrics } from "./metrics.ts";
import { buildOpenApi } from "./openapi.ts";
import type { WebhookStatus } from "./webhooks/index.ts";

export interface ManagementOptions {
  host: string;
  port: number;
  tls?: ManagementTls | undefined;
  tokens: readonly TokenEntry[];
  dashboard: boolean;
}

export interface ManagementDeps {
  broker: Broker;
  logger: Logger;
  metrics: BrokerMetrics;
  readiness: () => readonly ReadinessCheck[];
  listeners: () => ListenerInfo[];
  config?: ConfigControl | undefined;
  webhooks?: () => WebhookStatus[];
}

export interface Management {
  readonly http: ManagementHttpServer;
  readonly tokens: TokenStore;
  readonly router: Router;
  close(): Promise<void>;
}

/** Every route of the management server (exported for the OpenAPI test). */
export function buildRouter(deps: ManagementDeps, opts: { dashboard: boolean }): Router {
  const router = new Router();
  healthRoutes(router, deps.readiness);
  router.add(
    "GET",
    "/metrics",
    async () => ({ body: await deps.metrics.scrape(), contentType: METRICS_CONTENT_TYPE }),
    { auth: false, summary: "Prometheus metrics (no client ids or topics in labels)" },
  );
  systemRoutes(router, {
    broker: deps.broker,
    listeners: deps.listeners,
    config: deps.config,
    webhooks: deps.webhooks,
  });
  const insp = inspectBroker(deps.broker);
  clientRoutes(router, insp);
  retainedRoutes(router, insp);
  queueRoutes(router, deps.broker);
  if (opts.dashboard) dashboardRoutes(router);
  let openapi: string | undefined;
  router.add(
    "GET",
    "/api/v1/openapi.json",
    () => ({ body: (openapi ??= JSON.stringify(buildOpenApi(router))), contentType: "application/json" }),
    { auth: false, summary: "This API's OpenAPI 3.1 document" },
  );
  return router;
}

export async function startManagement(opts: ManagementOptions, deps: ManagementDeps): Promise<Management> {
  const tokens = new TokenStore(opts.tokens);
  if (tokens.size === 0) {
    deps.logger.info("management: no admin token configured, the admin API refuses every call (run `wharf token`)");
  }
  const router = buildRouter(deps, opts);
  const http = await startHttpServer({
    host: opts.host,
    port: opts.port,
    tls: opts.tls,
    router,
    tokens,
    logger: deps.logger,
  });
  return { http, tokens, router, close: () => http.close() };
}
