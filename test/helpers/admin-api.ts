// Helpers of the admin API tests: a real server with the management server on an ephemeral port, calls over HTTP
// (undici), and checks of each answer against the served OpenAPI document.
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { request } from "undici";
import { generateToken } from "../../src/admin/index.ts";
import { declaredSuccess } from "../../src/admin/openapi.ts";
import { startServer, validateConfig, type WharfServer } from "../../src/server/index.ts";
import { recordingLogger } from "../unit/broker/harness.ts";
import { validate } from "./json-schema.ts";

export const { token, hash } = generateToken();

export interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  text: string;
}

export async function call(
  server: WharfServer,
  method: string,
  path: string,
  opts: { token?: string | null; body?: unknown } = {},
): Promise<Res> {
  const m = server.management!.http;
  const headers: Record<string, string> = {};
  const t = opts.token === undefined ? token : opts.token;
  if (t !== null) headers.authorization = `Bearer ${t}`;
  if (opts.body !== undefined) headers["content-type"] = "application/json";
  const res = await request(`http://127.0.0.1:${m.port}${path}`, {
    method: method as "GET",
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.body.text();
  let body: unknown = text;
  if (String(res.headers["content-type"]).startsWith("application/json")) body = JSON.parse(text);
  return { status: res.statusCode, headers: res.headers, body, text };
}

export async function start(
  t: { after(fn: () => unknown): void },
  tokens = [{ name: "ops", hash }],
  extra: Record<string, unknown> = {},
): Promise<WharfServer> {
  const config = validateConfig({
    listeners: [{ host: "127.0.0.1", port: 0 }],
    storage: { type: "memory" },
    management: { port: 0, tokens },
    sys: { interval: 0 },
    ...extra,
  });
  const server = await startServer(config, { logger: recordingLogger() });
  t.after(() => server.close());
  return server;
}

let openapi: Record<string, unknown> | undefined;
/** Checks a success response against the route's schema in the served OpenAPI document. */
export async function conforms(server: WharfServer, method: string, pattern: string, res: Res): Promise<void> {
  openapi ??= (await call(server, "GET", "/api/v1/openapi.json", { token: null })).body as Record<string, unknown>;
  const ok = declaredSuccess({ method: method as "GET", pattern });
  assert.ok(ok, `${method} ${pattern} undocumented`);
  assert.equal(res.status, ok.status, `${method} ${pattern}: ${res.text}`);
  const path = pattern.replace(/:([A-Za-z]+)/g, "{$1}");
  const op = (openapi.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>)[path]?.[
    method.toLowerCase()
  ];
  assert.ok(op, `${method} ${path} missing from openapi.json`);
  const content = (op.responses[String(res.status)] as { content: Record<string, { schema: Record<string, unknown> }> })
    .content;
  const json = content["application/json"];
  if (json !== undefined && typeof res.body === "object") {
    assert.deepEqual(validate(json.schema, res.body, openapi), [], `${method} ${pattern}`);
  }
}

export async function conformsError(server: WharfServer, res: Res, status: number, code: string): Promise<void> {
  assert.equal(res.status, status, res.text);
  assert.equal((res.body as { error: { code: string } }).error.code, code);
  openapi ??= (await call(server, "GET", "/api/v1/openapi.json", { token: null })).body as Record<string, unknown>;
  assert.deepEqual(validate({ $ref: "#/components/schemas/Error" }, res.body, openapi), []);
}

export function connect(port: number, clientId: string, extra: mqtt.IClientOptions = {}): Promise<mqtt.MqttClient> {
  return mqtt.connectAsync({ host: "127.0.0.1", port, clientId, reconnectPeriod: 0, ...extra });
}

export async function waitFor(pred: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
