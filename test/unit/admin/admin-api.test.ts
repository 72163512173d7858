// The management server end to end: a real startServer() with MQTT.js clients, the admin API over HTTP (undici),
// every route's auth, paging and error codes, and every response checked against the OpenAPI document.
import { test } from "node:test";
import assert from "node:assert/strict";
import { request } from "undici";
import { call, conforms, conformsError, connect, hash, start, token, waitFor } from "../../helpers/admin-api.ts";

test("the OpenAPI 3.1 document lists every route once, with unique operationIds and the bearer scheme", async (t) => {
  const server = await start(t);
  const res = await call(server, "GET", "/api/v1/openapi.json", { token: null });
  assert.equal(res.status, 200);
  const doc = res.body as {
    openapi: string;
    paths: Record<string, Record<string, { operationId: string; security?: unknown[] }>>;
    components: { securitySchemes: Record<string, { scheme: string }> };
  };
  assert.equal(doc.openapi, "3.1.0");
  assert.equal(doc.components.securitySchemes.bearer!.scheme, "bearer");
  const ids = new Set<string>();
  for (const route of server.management!.router.routes) {
    const op = doc.paths[route.pattern.replace(/:([A-Za-z]+)/g, "{$1}")]?.[route.method.toLowerCase()];
    assert.ok(op, `${route.method} ${route.pattern}`);
    assert.ok(!ids.has(op.operationId), op.operationId);
    ids.add(op.operationId);
    // Unauthenticated routes say so (security: []); the rest inherit the global bearer requirement.
    assert.equal(op.security !== undefined, !route.auth, `${route.method} ${route.pattern}`);
  }
  const operations = Object.values(doc.paths).flatMap((p) => Object.keys(p));
  assert.equal(operations.length, server.management!.router.routes.length);
});

test("every authenticated route: 401 without a token and with a wrong one; 403 NO_ADMIN_TOKENS when none is configured", async (t) => {
  const server = await start(t);
  const closed = await start(t, []);
  const routes = server.management!.router.routes.filter((r) => r.auth);
  assert.ok(routes.length >= 15, String(routes.length));
  for (const r of routes) {
    const path = r.pattern.replace(/:([A-Za-z]+)/g, "x");
    const none = await call(server, r.method, path, { token: null });
    await conformsError(server, none, 401, "UNAUTHORIZED");
    assert.match(String(none.headers["www-authenticate"]), /^Bearer/);
    await conformsError(server, await call(server, r.method, path, { token: `${token}x` }), 401, "UNAUTHORIZED");
    const off = await call(closed, r.method, path);
    await conformsError(closed, off, 403, "NO_ADMIN_TOKENS");
    assert.match((off.body as { error: { message: string } }).error.message, /wharf token.*management\.tokens/);
  }
  // Health, metrics, the document and the dashboard need no token.
  for (const path of ["/healthz", "/readyz", "/metrics", "/api/v1/openapi.json", "/"]) {
    assert.equal((await call(closed, "GET", path, { token: null })).status, 200, path);
  }
});

test("routing errors: unknown path 404, wrong method 405 with Allow, bad JSON body 400 — all JSON with a code", async (t) => {
  const server = await start(t);
  await conformsError(server, await call(server, "GET", "/api/v1/nope"), 404, "NOT_FOUND");
  const wrong = await call(server, "PUT", "/api/v1/clients");
  await conformsError(server, wrong, 405, "METHOD_NOT_ALLOWED");
  assert.equal(wrong.headers.allow, "GET");
  const m = server.management!.http;
  const bad = await request(`http://127.0.0.1:${m.port}/api/v1/config/reload`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: "{nope",
  });
  // reload ignores bodies; a body that is not JSON on a route that reads one is tested in router tests
  await bad.body.dump();
  assert.equal(bad.statusCode, 503); // started without a config file
});

test("healthz and readyz: 200 while serving, readyz lists its checks", async (t) => {
  const server = await start(t);
  const h = await call(server, "GET", "/healthz", { token: null });
  await conforms(server, "GET", "/healthz", h);
  const r = await call(server, "GET", "/readyz", { token: null });
  await conforms(server, "GET", "/readyz", r);
  const checks = (r.body as { checks: { name: string; ok: boolean }[] }).checks;
  assert.deepEqual(
    checks.map((c) => [c.name, c.ok]),
    [
      ["broker", true],
      ["storage", true],
      ["listeners", true],
    ],
  );
});

test("clients and sessions: list with paging and filters, inspect, disconnect (5.0: 0x98), delete a session; 404s", async (t) => {
  const server = await start(t);
  const port = server.listeners[0]!.port;
  const a = await connect(port, "app-a");
  const b = await connect(port, "app-b", { protocolVersion: 5, username: "bob" });
  const c = await connect(port, "other-c", { clean: false });
  t.after(() => (a.end(true), b.end(true), c.end(true)));
  await c.subscribeAsync("c/#", { qos: 1 });
  await b.subscribeAsync("b/+", { qos: 0 });

  const all = await call(server, "GET", "/api/v1/clients");
  await conforms(server, "GET", "/api/v1/clients", all);
  const page1 = (await call(server, "GET", "/api/v1/clients?limit=2")).body as {
    items: { clientId: string }[];
    total: number;
  };
  assert.equal(page1.total, 3);
  assert.deepEqual(
    page1.items.map((i) => i.clientId),
    ["app-a", "app-b"],
  );
  const page2 = (await call(server, "GET", "/api/v1/clients?limit=2&offset=2")).body as {
    items: { clientId: string }[];
  };
  assert.deepEqual(
    page2.items.map((i) => i.clientId),
    ["other-c"],
  );
  const prefixed = (await call(server, "GET", "/api/v1/clients?prefix=app-")).body as { total: number };
  assert.equal(prefixed.total, 2);
  const bobs = (await call(server, "GET", "/api/v1/clients?username=bob")).body as { items: { clientId: string }[] };
  assert.deepEqual(
    bobs.items.map((i) => i.clientId),
    ["app-b"],
  );
  for (const q of ["limit=0", "limit=1001", "offset=-1", "limit=abc"]) {
    await conformsError(server, await call(server, "GET", `/api/v1/clients?${q}`), 400, "BAD_REQUEST");
  }
  await conformsError(server, await call(server, "GET", "/api/v1/sessions?connected=maybe"), 400, "BAD_REQUEST");

  const one = await call(server, "GET", "/api/v1/clients/app-b");
  await conforms(server, "GET", "/api/v1/clients/:clientId", one);
  assert.equal((one.body as { username: string }).username, "bob");
  assert.equal((one.body as { protocolVersion: number }).protocolVersion, 5);
  assert.equal((one.body as { subscriptions: number }).subscriptions, 1);
  await conformsError(server, await call(server, "GET", "/api/v1/clients/nobody"), 404, "NOT_FOUND");

  const subs = await call(server, "GET", "/api/v1/clients/other-c/subscriptions");
  await conforms(server, "GET", "/api/v1/clients/:clientId/subscriptions", subs);
  assert.deepEqual(
    (subs.body as { items: { filter: string; qos: number }[] }).items.map((s) => [s.filter, s.qos]),
    [["c/#", 1]],
  );
  const allSubs = await call(server, "GET", "/api/v1/subscriptions");
  await conforms(server, "GET", "/api/v1/subscriptions", allSubs);
  assert.equal((allSubs.body as { total: number }).total, 2);
  const bSubs = (await call(server, "GET", "/api/v1/subscriptions?filterPrefix=b/")).body as { total: number };
  assert.equal(bSubs.total, 1);

  // Disconnect: the 5.0 client is told why (0x98 Administrative action); its session entry stays until it ends.
  const reason = new Promise<number | undefined>((resolve) => b.once("disconnect", (p) => resolve(p.reasonCode)));
  const dis = await call(server, "POST", "/api/v1/clients/app-b/disconnect");
  await conforms(server, "POST", "/api/v1/clients/:clientId/disconnect", dis);
  assert.equal(await reason, 0x98);
  await conformsError(server, await call(server, "POST", "/api/v1/clients/nobody/disconnect"), 404, "NOT_FOUND");

  // other-c goes offline with a persistent session (clean: false, 3.1.1): listed as a session, not as a client.
  await c.endAsync();
  await waitFor(async () => ((await call(server, "GET", "/api/v1/clients")).body as { total: number }).total === 1);
  const offline = await call(server, "GET", "/api/v1/sessions?connected=false");
  await conforms(server, "GET", "/api/v1/sessions", offline);
  assert.deepEqual(
    (offline.body as { items: { clientId: string }[] }).items.map((i) => i.clientId),
    ["other-c"],
  );
  const detail = await call(server, "GET", "/api/v1/sessions/other-c");
  await conforms(server, "GET", "/api/v1/sessions/:clientId", detail);
  assert.equal((detail.body as { subscriptionList: unknown[] }).subscriptionList.length, 1);
  await conformsError(server, await call(server, "GET", "/api/v1/clients/other-c"), 404, "NOT_FOUND");

  const del = await call(server, "DELETE", "/api/v1/sessions/other-c");
  await conforms(server, "DELETE", "/api/v1/sessions/:clientId", del);
  await conformsError(server, await call(server, "GET", "/api/v1/sessions/other-c"), 404, "NOT_FOUND");
  await conformsError(server, await call(server, "DELETE", "/api/v1/sessions/other-c"), 404, "NOT_FOUND");
  assert.equal(server.broker.subscriptionsOf("other-c").length, 0);

  // Deleting the session of a connected client disconnects it first.
  const closedA = new Promise<void>((resolve) => a.once("close", () => resolve()));
  await conforms(
    server,
    "DELETE",
    "/api/v1/sessions/:clientId",
    await call(server, "DELETE", "/api/v1/sessions/app-a"),
  );
  await closedA;
});

test("retained: list by filter with paging, get and delete by URL-encoded topic, 400 on a bad filter", async (t) => {
  const server = await start(t);
  const port = server.listeners[0]!.port;
  const pub = await connect(port, "pub");
  t.after(() => pub.end(true));
  await pub.publishAsync("home/kitchen/temp", "21.5", { retain: true, qos: 1 });
  await pub.publishAsync("home/hall/temp", "19", { retain: true, qos: 1 });
  await pub.publishAsync("bin/blob", Buffer.from([0xff, 0xfe]), { retain: true, qos: 1 });

  const list = await call(server, "GET", "/api/v1/retained?filter=home/%2B/temp");
  await conforms(server, "GET", "/api/v1/retained", list);
  assert.deepEqual(
    (list.body as { items: { topic: string }[] }).items.map((i) => i.topic),
    ["home/hall/temp", "home/kitchen/temp"],
  );
  const paged = (await call(server, "GET", "/api/v1/retained?limit=1&offset=1")).body as {
    items: { topic: string }[];
    total: number;
  };
  assert.equal(paged.total, 3);
  assert.deepEqual(
    paged.items.map((i) => i.topic),
    ["home/hall/temp"],
  );
  await conformsError(server, await call(server, "GET", "/api/v1/retained?filter=a/%23/b"), 400, "BAD_REQUEST");

  const one = await call(server, "GET", `/api/v1/retained/${encodeURIComponent("home/kitchen/temp")}`);
  await conforms(server, "GET", "/api/v1/retained/:topic", one);
  assert.equal((one.body as { payload: string }).payload, "21.5");
  const bin = (await call(server, "GET", `/api/v1/retained/${encodeURIComponent("bin/blob")}`)).body as {
    payload: null;
    payloadBase64: string;
  };
  assert.equal(bin.payload, null);
  assert.equal(bin.payloadBase64, "//4=");

  const del = await call(server, "DELETE", `/api/v1/retained/${encodeURIComponent("home/kitchen/temp")}`);
  await conforms(server, "DELETE", "/api/v1/retained/:topic", del);
  await conformsError(
    server,
    await call(server, "GET", `/api/v1/retained/${encodeURIComponent("home/kitchen/temp")}`),
    404,
    "NOT_FOUND",
  );
  await conformsError(
    server,
    await call(server, "DELETE", `/api/v1/retained/${encodeURIComponent("home/kitchen/temp")}`),
    404,
    "NOT_FOUND",
  );
  // A new subscriber no longer gets it.
  const sub = await connect(port, "sub");
  t.after(() => sub.end(true));
  const got: string[] = [];
  sub.on("message", (topic) => got.push(topic));
  await sub.subscribeAsync("home/#");
  await waitFor(() => got.length >= 1);
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(got, ["home/hall/temp"]);
});

test("broker info, stats, config (secrets masked), webhooks status, dashboard files", async (t) => {
  const server = await start(t);
  const info = await call(server, "GET", "/api/v1/broker");
  await conforms(server, "GET", "/api/v1/broker", info);
  assert.deepEqual((info.body as { listeners: unknown }).listeners, [
    { type: "tcp", host: "127.0.0.1", port: server.listeners[0]!.port, connections: 0 },
  ]);
  await conforms(server, "GET", "/api/v1/broker/stats", await call(server, "GET", "/api/v1/broker/stats"));
  const config = await call(server, "GET", "/api/v1/config");
  await conforms(server, "GET", "/api/v1/config", config);
  assert.ok(!config.text.includes(hash.slice(7)), "token hash leaked");
  assert.equal((config.body as { management: { tokens: { hash: string }[] } }).management.tokens[0]!.hash, "********");
  await conforms(server, "GET", "/api/v1/webhooks", await call(server, "GET", "/api/v1/webhooks"));
  const page = await call(server, "GET", "/", { token: null });
  assert.match(page.text, /<title>Wharf dashboard<\/title>/);
  assert.match(String(page.headers["content-security-policy"]), /default-src 'none'/);
  assert.equal((await call(server, "GET", "/dashboard/app.js", { token: null })).status, 200);
  assert.equal((await call(server, "GET", "/dashboard/../../etc/passwd", { token: null })).status, 404);
  await conforms(server, "GET", "/metrics", await call(server, "GET", "/metrics", { token: null }));
});
