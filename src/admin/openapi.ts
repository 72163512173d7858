// The OpenAPI 3.1 document of the management API, served at /api/v1/openapi.json. Paths come from the router
// itself (a route cannot exist undocumented); the response schemas are declared here per route, and a test checks
// every route's real responses against them (test/unit/admin/openapi.test.ts).
import { BROKER_VERSION } from "../broker/index.ts";
import type { Route, Router } from "./http/router.ts";

type JsonSchema = Record<string, unknown>;

const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });
const nullable = (type: string): JsonSchema => ({ type: [type, "null"] });
/** An object schema whose properties are all required except those in `optional`: each key is written once. */
const object = (properties: Record<string, JsonSchema>, optional: string[] = []): JsonSchema => ({
  type: "object",
  required: Object.keys(properties).filter((k) => !optional.includes(k)),
  properties,
});
const pageOf = (item: string): JsonSchema =>
  object({
    items: { type: "array", items: ref(item) },
    total: { type: "integer", minimum: 0 },
    offset: { type: "integer", minimum: 0 },
    limit: { type: "integer", minimum: 1 },
  });

const schemas: Record<string, JsonSchema> = {
  Error: object({
    error: {
      type: "object",
      required: ["code", "message"],
      properties: {
        code: {
          type: "string",
          enum: [
            "UNAUTHORIZED",
            "NO_ADMIN_TOKENS",
            "NOT_FOUND",
            "METHOD_NOT_ALLOWED",
            "BAD_REQUEST",
            "PAYLOAD_TOO_LARGE",
            "CONFLICT",
            "CONFIG_INVALID",
            "UNAVAILABLE",
            "INTERNAL",
          ],
        },
        message: { type: "string" },
        details: {},
      },
    },
  }),
  Client: object({
    clientId: { type: "string" },
    connected: { type: "boolean" },
    username: nullable("string"),
    protocolVersion: nullable("integer"),
    remoteAddress: nullable("string"),
    transport: nullable("string"),
    sessionExpiryInterval: { type: "integer", minimum: 0 },
    subscriptions: { type: "integer", minimum: 0 },
    queued: { type: "integer", minimum: 0 },
    inflight: { type: "integer", minimum: 0 },
  }),
  Subscription: object({
    clientId: { type: "string" },
    filter: { type: "string" },
    qos: { type: "integer", enum: [0, 1, 2] },
    noLocal: { type: "boolean" },
    retainAsPublished: { type: "boolean" },
    retainHandling: { type: "integer", enum: [0, 1, 2] },
    identifier: nullable("integer"),
    shareGroup: nullable("string"),
  }),
  Retained: object({
    topic: { type: "string" },
    qos: { type: "integer", enum: [0, 1, 2] },
    payloadSize: { type: "integer", minimum: 0 },
    payload: nullable("string"),
    payloadBase64: { type: "string" },
  }),
  Stats: {
    type: "object",
    required: [
      "clientsConnected",
      "clientsTotal",
      "clientsMaximum",
      "messagesReceived",
      "messagesSent",
      "bytesReceived",
      "bytesSent",
      "subscriptions",
      "retained",
      "droppedQos0",
      "queueRejected",
      "expired",
      "queued",
      "inflight",
      "uptime",
    ],
    additionalProperties: { type: "integer", minimum: 0 },
  },
  Listener: object(
    {
      type: { type: "string" },
      host: { type: "string" },
      port: { type: "integer" },
      connections: { type: "integer", description: "open connections (coap: observations)" },
      path: { type: "string" },
    },
    ["connections", "path"],
  ),
  BrokerInfo: object({
    name: { type: "string" },
    version: { type: "string" },
    listeners: { type: "array", items: ref("Listener") },
    stats: ref("Stats"),
  }),
  QueueGroup: object({
    name: { type: "string" },
    consumers: {
      type: "array",
      items: {
        type: "object",
        required: ["id", "prefetch", "inflight", "partitions"],
        properties: {
          id: { type: "string" },
          prefetch: { type: "integer", minimum: 1 },
          inflight: { type: "integer", minimum: 0 },
          partitions: { type: "array", items: { type: "integer", minimum: 0 } },
        },
      },
    },
    inflight: { type: "integer", minimum: 0 },
    retrying: { type: "integer", minimum: 0 },
    backlog: { type: "integer", minimum: 0 },
    floor: { type: "integer" },
  }),
  Queue: object(
    {
      name: { type: "string" },
      type: { type: "string" },
      ordering: { type: "string" },
      partitions: { type: "integer", minimum: 1 },
      depth: { type: "integer", minimum: 0 },
      bytes: { type: "integer", minimum: 0 },
      firstSeq: { type: "integer", minimum: 0 },
      nextSeq: { type: "integer", minimum: 0 },
      inflight: { type: "integer", minimum: 0 },
      dlqDepth: { type: "integer", minimum: 0 },
      dlq: { type: "string", description: "The DLQ's name (absent when the queue has none)" },
      groups: { type: "array", items: ref("QueueGroup") },
      counters: { type: "object", additionalProperties: { type: "integer", minimum: 0 } },
    },
    ["dlq"],
  ),
  QueueMessage: object({
    seq: { type: "integer", minimum: 0 },
    messageId: { type: "string" },
    partition: { type: "integer", minimum: 0 },
    enqueuedAt: { type: "integer", description: "ms since the epoch" },
    expiresAt: nullable("integer"),
    partitionKey: nullable("string"),
    payloadSize: { type: "integer", minimum: 0 },
    payload: nullable("string"),
    payloadBase64: { type: "string" },
    dlq: {
      type: ["object", "null"],
      required: ["reason", "originalQueue", "originalId", "group", "deliveryCount"],
      properties: {
        reason: { type: "string" },
        originalQueue: { type: "string" },
        originalId: { type: "string" },
        group: { type: "string" },
        deliveryCount: { type: "integer", minimum: 0 },
      },
    },
  }),
  QueuePage: pageOf("Queue"),
  QueueMessagePage: pageOf("QueueMessage"),
  QueuePurged: object({ queue: { type: "string" }, purged: { type: "integer", minimum: 0 } }),
  QueueRedriven: object({ queue: { type: "string" }, moved: { type: "integer", minimum: 0 } }),
  ClientPage: pageOf("Client"),
  SubscriptionPage: pageOf("Subscription"),
  RetainedPage: pageOf("Retained"),
  SessionDetail: {
    allOf: [ref("Client"), object({ subscriptionList: { type: "array", items: ref("Subscription") } })],
  },
  Done: {
    type: "object",
    description: "What was done: the key of the object acted on and a true flag",
    minProperties: 2,
  },
  ReloadReport: object(
    {
      file: { type: "string" },
      applied: { type: "array", items: { type: "string" } },
      restartRequired: { type: "array", items: { type: "string" } },
      failed: {
        type: "array",
        items: {
          type: "object",
          required: ["path", "message"],
          properties: { path: { type: "string" }, message: { type: "string" } },
        },
      },
    },
    ["failed"],
  ),
  Config: { type: "object", description: "The effective configuration (docs/configuration.md), secrets masked" },
  WebhookStatusList: object({
    items: {
      type: "array",
      items: {
        type: "object",
        required: ["name", "url", "buffered", "breaker", "consecutiveFailures", "delivered", "dropped"],
        properties: {
          name: { type: "string" },
          url: { type: "string" },
          buffered: { type: "integer", minimum: 0 },
          breaker: { type: "string", enum: ["closed", "open", "half-open"] },
          consecutiveFailures: { type: "integer", minimum: 0 },
          delivered: { type: "integer", minimum: 0 },
          dropped: { type: "object", additionalProperties: { type: "integer", minimum: 0 } },
        },
      },
    },
  }),
  Health: object({ status: { type: "string", enum: ["ok"] } }),
  Readiness: object({
    status: { type: "string", enum: ["ready", "not ready"] },
    checks: {
      type: "array",
      items: {
        type: "object",
        required: ["name", "ok"],
        properties: { name: { type: "string" }, ok: { type: "boolean" }, reason: { type: "string" } },
      },
    },
  }),
};

/** The success response of each route: status, and a component schema name or a raw media type. */
const SUCCESS: Record<string, { status: number; schema?: string; mediaType?: string }> = {
  "GET /healthz": { status: 200, schema: "Health" },
  "GET /readyz": { status: 200, schema: "Readiness" },
  "GET /metrics": { status: 200, mediaType: "text/plain" },
  "GET /api/v1/openapi.json": { status: 200, mediaType: "application/json" },
  "GET /api/v1/broker": { status: 200, schema: "BrokerInfo" },
  "GET /api/v1/broker/stats": { status: 200, schema: "Stats" },
  "GET /api/v1/clients": { status: 200, schema: "ClientPage" },
  "GET /api/v1/clients/:clientId": { status: 200, schema: "Client" },
  "POST /api/v1/clients/:clientId/disconnect": { status: 200, schema: "Done" },
  "GET /api/v1/clients/:clientId/subscriptions": { status: 200, schema: "SubscriptionPage" },
  "GET /api/v1/sessions": { status: 200, schema: "ClientPage" },
  "GET /api/v1/sessions/:clientId": { status: 200, schema: "SessionDetail" },
  "DELETE /api/v1/sessions/:clientId": { status: 200, schema: "Done" },
  "GET /api/v1/subscriptions": { status: 200, schema: "SubscriptionPage" },
  "GET /api/v1/retained": { status: 200, schema: "RetainedPage" },
  "GET /api/v1/retained/:topic": { status: 200, schema: "Retained" },
  "DELETE /api/v1/retained/:topic": { status: 200, schema: "Done" },
  "GET /api/v1/config": { status: 200, schema: "Config" },
  "POST /api/v1/config/reload": { status: 200, schema: "ReloadReport" },
  "GET /api/v1/webhooks": { status: 200, schema: "WebhookStatusList" },
  "GET /api/v1/queues": { status: 200, schema: "QueuePage" },
  "GET /api/v1/queues/:name": { status: 200, schema: "Queue" },
  "GET /api/v1/queues/:name/messages": { status: 200, schema: "QueueMessagePage" },
  "POST /api/v1/queues/:name/purge": { status: 200, schema: "QueuePurged" },
  "POST /api/v1/queues/:name/redrive": { status: 200, schema: "QueueRedriven" },
  "DELETE /api/v1/queues/:name": { status: 200, schema: "Done" },
  "GET /": { status: 200, mediaType: "text/html" },
  "GET /dashboard/:file": { status: 200, mediaType: "application/octet-stream" },
};

/** Query parameters of the list routes. */
const QUERY: Record<string, string[]> = {
  "GET /api/v1/clients": ["limit", "offset", "prefix", "username"],
  "GET /api/v1/sessions": ["limit", "offset", "prefix", "username", "connected"],
  "GET /api/v1/clients/:clientId/subscriptions": ["limit", "offset"],
  "GET /api/v1/subscriptions": ["limit", "offset", "filterPrefix"],
  "GET /api/v1/retained": ["limit", "offset", "filter"],
  "GET /api/v1/queues": ["limit", "offset", "prefix"],
  "GET /api/v1/queues/:name/messages": ["limit"],
  "POST /api/v1/queues/:name/redrive": ["limit"],
};

const QUERY_SCHEMA: Record<string, JsonSchema> = {
  limit: { type: "integer", minimum: 1, maximum: 1000, default: 100 },
  offset: { type: "integer", minimum: 0, default: 0 },
  connected: { type: "boolean" },
  // Per route, where a parameter means something else than in the paged lists.
  "GET /api/v1/queues/:name/messages limit": { type: "integer", minimum: 1, maximum: 1000, default: 10 },
  "POST /api/v1/queues/:name/redrive limit": {
    type: "integer",
    minimum: 1,
    description: "At most this many dead letters (default: all)",
  },
};

export function routeKey(route: Pick<Route, "method" | "pattern">): string {
  return `${route.method} ${route.pattern}`;
}

/** The success response declared for `route` (tests use it); undefined = undocumented. */
export function declaredSuccess(route: Pick<Route, "method" | "pattern">) {
  return SUCCESS[routeKey(route)];
}

const errorResponse = (description: string) => ({
  description,
  content: { "application/json": { schema: ref("Error") } },
});

export function buildOpenApi(router: Router): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of router.routes) {
    const key = routeKey(route);
    const ok = SUCCESS[key];
    if (ok === undefined) throw new Error(`route ${key} has no declared response in openapi.ts`);
    const path = route.pattern.replace(/:([A-Za-z]+)/g, "{$1}");
    const params = [
      ...route.segments
        .filter((s) => s.startsWith(":"))
        .map((s) => ({ name: s.slice(1), in: "path", required: true, schema: { type: "string" } })),
      ...(QUERY[key] ?? []).map((name) => ({
        name,
        in: "query",
        required: false,
        schema: QUERY_SCHEMA[`${key} ${name}`] ?? QUERY_SCHEMA[name] ?? { type: "string" },
      })),
    ];
    const responses: Record<string, unknown> = {
      [String(ok.status)]: {
        description: "OK",
        content: { [ok.mediaType ?? "application/json"]: { schema: ok.schema ? ref(ok.schema) : {} } },
      },
    };
    if (route.auth) {
      responses["401"] = errorResponse("Missing or invalid bearer token");
      responses["403"] = errorResponse("No admin token configured (NO_ADMIN_TOKENS)");
    }
    if (params.some((p) => p.in === "path")) responses["404"] = errorResponse("Not found");
    if (params.some((p) => p.in === "query")) responses["400"] = errorResponse("Bad query parameter");
    if (key === "GET /readyz") {
      responses["503"] = { description: "Not ready", content: { "application/json": { schema: ref("Readiness") } } };
    }
    if (key === "POST /api/v1/config/reload") {
      responses["422"] = errorResponse("The config file is invalid: nothing changed (details: the issues)");
      responses["503"] = errorResponse("Started without a config file");
    }
    if (key === "DELETE /api/v1/queues/:name") {
      responses["409"] = errorResponse("The queue still has consumers (CONFLICT, details.queueCode QUEUE_BUSY)");
    }
    if (key === "GET /api/v1/config") responses["503"] = errorResponse("No configuration available");
    (paths[path] ??= {})[route.method.toLowerCase()] = {
      operationId: `${route.method.toLowerCase()}${path.replace(/[{}]/g, "").replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? "").toUpperCase())}`,
      summary: route.summary,
      ...(params.length > 0 ? { parameters: params } : {}),
      ...(route.auth ? {} : { security: [] }),
      responses,
    };
  }
  return {
    openapi: "3.1.0",
    info: { title: "Wharf management API", version: BROKER_VERSION },
    servers: [{ url: "/" }],
    security: [{ bearer: [] }],
    paths,
    components: {
      schemas,
      securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "A token from management.tokens" } },
    },
  };
}
