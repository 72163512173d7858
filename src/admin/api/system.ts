// /api/v1/broker (identity, listeners, stats), /api/v1/config (effective config, secrets masked) and
// /api/v1/config/reload, /api/v1/webhooks (delivery state of each endpoint).
import type { Broker } from "../../broker/index.ts";
import { BROKER_VERSION } from "../../broker/index.ts";
import { AdminError, AdminErrorCode } from "../errors.ts";
import type { Router } from "../http/router.ts";
import type { WebhookStatus } from "../webhooks/index.ts";

export interface ListenerInfo {
  type: string;
  host: string;
  port: number;
  /** Open connections (coap: observations). */
  connections?: number;
  /** ws listeners: the HTTP path MQTT is served on. */
  path?: string;
}

/** One config reload: what took effect and what waits for a restart. */
export interface ReloadReport {
  file: string;
  /** Dotted paths (or section names) that changed and were applied live. */
  applied: string[];
  /** Dotted paths that changed but only take effect after a restart. */
  restartRequired: string[];
  /** Parts that could not be applied and kept their previous state (e.g. a listener certificate file unreadable). */
  failed?: { path: string; message: string }[];
}

export type ReloadOutcome =
  | { ok: true; report: ReloadReport }
  | { ok: false; message: string; errors: readonly { path: string; message: string }[] };

export interface ConfigControl {
  /** The effective config, secrets (token hashes, webhook secrets, TLS key paths) masked. */
  effective(): unknown;
  /** Re-reads the config file; an invalid one changes nothing. Undefined when the broker runs without a file. */
  reload?: () => Promise<ReloadOutcome>;
}

export interface SystemDeps {
  broker: Broker;
  listeners: () => ListenerInfo[];
  config?: ConfigControl | undefined;
  webhooks?: () => WebhookStatus[];
}

export function systemRoutes(router: Router, deps: SystemDeps): void {
  const { broker } = deps;
  router.add(
    "GET",
    "/api/v1/broker",
    () => ({
      json: { name: "wharf", version: BROKER_VERSION, listeners: deps.listeners(), stats: broker.stats() },
    }),
    { summary: "Broker identity, listeners and statistics" },
  );
  router.add("GET", "/api/v1/broker/stats", () => ({ json: broker.stats() }), { summary: "Broker statistics" });
  router.add(
    "GET",
    "/api/v1/config",
    () => {
      if (deps.config === undefined) throw new AdminError(AdminErrorCode.Unavailable, "no configuration available");
      return { json: deps.config.effective() };
    },
    { summary: "The effective configuration, secrets masked" },
  );
  router.add(
    "POST",
    "/api/v1/config/reload",
    async () => {
      const reload = deps.config?.reload;
      if (reload === undefined) {
        throw new AdminError(
          AdminErrorCode.Unavailable,
          "the broker was started without a config file: nothing to reload",
        );
      }
      const outcome = await reload();
      if (!outcome.ok) throw new AdminError(AdminErrorCode.ConfigInvalid, outcome.message, outcome.errors);
      return { json: outcome.report };
    },
    { summary: "Reload the config file (as SIGHUP does); an invalid file changes nothing (422)" },
  );
  router.add("GET", "/api/v1/webhooks", () => ({ json: { items: deps.webhooks?.() ?? [] } }), {
    summary: "Webhook endpoints: buffered events, breaker state, counts",
  });
}
