// /metrics scraped and parsed after known MQTT traffic; config reload through the API (applied, restart-required,
// rejected) and through SIGHUP on a real `wharf start` process.
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import mqtt from "mqtt";
import { request } from "undici";
import { generateToken } from "../../../src/admin/index.ts";
import { loadConfig, startServer, type WharfServer } from "../../../src/server/index.ts";
import { configServer } from "../../helpers/config-server.ts";
import { recordingLogger } from "../broker/harness.ts";
import { parsePrometheusText, sampleValue } from "../../helpers/prom-text.ts";
import { spawnWharf, writeTempFile } from "../../helpers/spawn-wharf.ts";

async function get(port: number, path: string, token?: string) {
  const res = await request(`http://127.0.0.1:${port}${path}`, {
    method: path.endsWith("/reload") ? "POST" : "GET",
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
  const text = await res.body.text();
  return { status: res.statusCode, text, type: String(res.headers["content-type"]) };
}

async function scrape(server: WharfServer) {
  const res = await get(server.management!.http.port, "/metrics");
  assert.equal(res.status, 200);
  assert.match(res.type, /^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(res.text);
}

test("metrics after known traffic: counts match, types and units follow Prometheus conventions, no client ids in labels", async (t) => {
  const server = await configServer(t, [{ host: "127.0.0.1", port: 0 }], { management: { port: 0 } });
  const port = server.listeners[0]!.port;
  const sub = await mqtt.connectAsync({ host: "127.0.0.1", port, clientId: "metrics-sub", reconnectPeriod: 0 });
  const pub = await mqtt.connectAsync({ host: "127.0.0.1", port, clientId: "metrics-pub", reconnectPeriod: 0 });
  t.after(() => (sub.end(true), pub.end(true)));
  await sub.subscribeAsync("m/#", { qos: 1 });
  let got = 0;
  sub.on("message", () => got++);
  for (let i = 0; i < 10; i++) await pub.publishAsync(`m/${i}`, "x".repeat(10), { qos: 1 });
  await pub.publishAsync("keep/me", "r", { qos: 1, retain: true });
  while (got < 10) await new Promise((r) => setTimeout(r, 5));

  let exp = await scrape(server);
  assert.equal(sampleValue(exp, "wharf_messages_received_total"), 11);
  assert.equal(sampleValue(exp, "wharf_messages_sent_total"), 10);
  assert.equal(sampleValue(exp, "wharf_connections", { transport: "tcp" }), 2);
  assert.equal(sampleValue(exp, "wharf_sessions", { state: "connected" }), 2);
  assert.equal(sampleValue(exp, "wharf_subscriptions"), 1);
  assert.equal(sampleValue(exp, "wharf_retained_messages"), 1);
  assert.equal(sampleValue(exp, "wharf_messages_dropped_total", { reason: "queue-full" }), 0);
  assert.ok(sampleValue(exp, "wharf_received_bytes_total")! > 11 * 10);
  assert.ok(sampleValue(exp, "nodejs_eventloop_lag_seconds") !== undefined);
  assert.ok(sampleValue(exp, "nodejs_heap_size_used_bytes")! > 0);
  assert.equal(exp.types.get("wharf_messages_received_total"), "counter");
  assert.equal(exp.types.get("wharf_connections"), "gauge");
  for (const [name, type] of exp.types) {
    if (name.startsWith("wharf_") && type === "counter") assert.match(name, /_total$/, name);
  }
  for (const s of exp.samples) {
    for (const v of Object.values(s.labels))
      assert.ok(!v.startsWith("metrics-") && !v.startsWith("m/"), `${s.name} ${v}`);
  }

  // Counters keep counting across scrapes (they mirror the broker's counters by difference).
  for (let i = 0; i < 5; i++) await pub.publishAsync(`m/${i}`, "y", { qos: 1 });
  while (got < 15) await new Promise((r) => setTimeout(r, 5));
  exp = await scrape(server);
  assert.equal(sampleValue(exp, "wharf_messages_received_total"), 16);
  assert.equal(sampleValue(exp, "wharf_messages_sent_total"), 15);
});

const base = (port: number) =>
  `listeners: [{ host: 127.0.0.1, port: 0 }]\nstorage: { type: memory }\nsys: { interval: 0 }\n` +
  `management: { port: ${port}, tokens: TOKENS }\n`;

test("reload via the API: tokens, webhooks and mqtt limits apply live, protocol features need a restart, an invalid file changes nothing", async (t) => {
  const a = generateToken();
  const b = generateToken();
  const file = writeTempFile(t, "wharf.yaml", base(0).replace("TOKENS", `[{ name: a, hash: "${a.hash}" }]`));
  const server = await startServer(loadConfig(file), { logger: recordingLogger(), configFile: file });
  t.after(() => server.close());
  const mport = server.management!.http.port;
  assert.equal((await get(mport, "/api/v1/broker", a.token)).status, 200);

  writeFileSync(
    file,
    base(0).replace("TOKENS", `[{ name: b, hash: "${b.hash}" }]`) +
      "mqtt: { maxInflight: 7, retainAvailable: false }\nwebhooks: [{ name: hook, url: http://127.0.0.1:9/x }]\n",
  );
  const res = await get(mport, "/api/v1/config/reload", a.token);
  assert.equal(res.status, 200, res.text);
  const report = JSON.parse(res.text) as { applied: string[]; restartRequired: string[]; file: string };
  assert.equal(report.file, file);
  assert.deepEqual(report.applied.sort(), ["management.tokens", "mqtt.maxInflight", "webhooks"]);
  assert.deepEqual(report.restartRequired, ["mqtt.retainAvailable"]);
  assert.equal((await get(mport, "/api/v1/broker", a.token)).status, 401); // the old token is gone
  assert.equal((await get(mport, "/api/v1/broker", b.token)).status, 200);
  assert.deepEqual(
    server.webhooks.status().map((w) => w.name),
    ["hook"],
  );
  assert.equal(server.broker.options.maxInflight, 7); // for connections from now on
  assert.equal(server.broker.options.retainAvailable, true); // not changed live: reported as restart-required

  writeFileSync(file, base(0).replace("TOKENS", "[{ name: c, hash: nope }]") + "mqtt: { maxInflight: 0 }\n");
  const bad = await get(mport, "/api/v1/config/reload", b.token);
  assert.equal(bad.status, 422);
  const err = JSON.parse(bad.text) as { error: { code: string; details: { path: string }[] } };
  assert.equal(err.error.code, "CONFIG_INVALID");
  assert.deepEqual(err.error.details.map((d) => d.path).sort(), ["management.tokens[0].hash", "mqtt.maxInflight"]);
  assert.equal((await get(mport, "/api/v1/broker", b.token)).status, 200); // nothing changed
  assert.deepEqual(
    server.webhooks.status().map((w) => w.name),
    ["hook"],
  );
});

test("SIGHUP reloads the config file of a running `wharf start`; an invalid file is logged and changes nothing", async (t) => {
  const a = generateToken();
  const b = generateToken();
  const file = writeTempFile(t, "wharf.yaml", base(0).replace("TOKENS", `[{ name: a, hash: "${a.hash}" }]`));
  const wharf = await spawnWharf(t, { args: ["--config", file] });
  const listening = wharf.logs.find((l) => l.msg === "listening")!;
  const mport = (listening.management as { port: number }).port;
  assert.equal((await get(mport, "/api/v1/broker", a.token)).status, 200);

  writeFileSync(file, "management: { tokens: [{ name: x, hash: bad }] }\n");
  wharf.child.kill("SIGHUP");
  const rejected = await wharf.waitForLog((l) => String(l.msg).startsWith("configuration NOT reloaded"));
  assert.match(JSON.stringify(rejected), /management\.tokens\[0\]\.hash/);
  assert.equal((await get(mport, "/api/v1/broker", a.token)).status, 200);

  writeFileSync(file, base(0).replace("TOKENS", `[{ name: b, hash: "${b.hash}" }]`));
  wharf.child.kill("SIGHUP");
  await wharf.waitForLog((l) => l.msg === "configuration reloaded");
  assert.equal((await get(mport, "/api/v1/broker", a.token)).status, 401);
  assert.equal((await get(mport, "/api/v1/broker", b.token)).status, 200);
  assert.equal((await wharf.kill("SIGTERM")).code, 0);
});

test("docs/grafana-wharf.json queries only metrics the broker exports", async (t) => {
  const { readFileSync } = await import("node:fs");
  const dash = JSON.parse(readFileSync(new URL("../../../docs/grafana-wharf.json", import.meta.url), "utf8")) as {
    panels: { targets: { expr: string }[] }[];
  };
  const server = await configServer(t, [{ host: "127.0.0.1", port: 0 }], { management: { port: 0 }, sys: {} });
  const exp = await scrape(server);
  const types = exp.types;
  const exported = new Set(exp.types.keys());
  const used = dash.panels.flatMap((p) =>
    p.targets.flatMap((x) => [...x.expr.matchAll(/\b((?:wharf|nodejs)_[a-z0-9_]+)/g)].map((m) => m[1]!)),
  );
  assert.ok(used.length > 15);
  // A histogram family <name> is queried as <name>_bucket (histogram_quantile), <name>_sum or <name>_count.
  const family = (n: string) => {
    const base = n.replace(/_(bucket|sum|count)$/, "");
    return base !== n && types.get(base) === "histogram" ? base : n;
  };
  assert.deepEqual(
    used.map(family).filter((n) => !exported.has(n)),
    [],
  );
  assert.ok(
    used.some((n) => n.endsWith("_bucket")),
    "the latency panels",
  );
});
