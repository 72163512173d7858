// Hot reload applying live (POST /api/v1/config/reload; SIGHUP calls the same reload): the ACL (and subscriptions
// it no longer allows are removed), users from a new password file, queue limits, allowAnonymous, the log level;
// restart-required changes are reported; an unusable password file changes nothing and the error names the key.
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import mqtt from "mqtt";
import { request } from "undici";
import { generateToken } from "../../../src/admin/index.ts";
import { loadConfig, startServer, type WharfServer } from "../../../src/server/index.ts";
import { recordingLogger } from "../broker/harness.ts";
import { writeTempFile } from "../../helpers/spawn-wharf.ts";
import { passwordFile, tempDir, mqttjsConnack } from "../../integration/security/helpers.ts";
import { until } from "../../helpers/webhook-receiver.ts";

const { token, hash } = generateToken();

function yaml(extra: string): string {
  return (
    `listeners: [{ host: 127.0.0.1, port: 0 }]\nstorage: { type: memory }\nsys: { interval: 0 }\n` +
    `management: { port: 0, tokens: [{ name: ops, hash: "${hash}" }] }\n${extra}`
  );
}

interface Report {
  applied: string[];
  restartRequired: string[];
}

async function reload(server: WharfServer): Promise<{ status: number; body: unknown }> {
  const res = await request(`http://127.0.0.1:${server.management!.http.port}/api/v1/config/reload`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}` },
  });
  return { status: res.statusCode, body: await res.body.json() };
}

async function start(t: { after(fn: () => unknown): void }, body: string) {
  const file = writeTempFile(t, "wharf.yaml", yaml(body));
  const server = await startServer(loadConfig(file), { logger: recordingLogger(), configFile: file });
  t.after(() => server.close());
  return { server, file, url: `mqtt://127.0.0.1:${server.listeners[0]!.port}` };
}

test("reload: a new ACL applies at once — later publishes and subscribes, and existing subscriptions it denies are removed", async (t) => {
  const { server, file, url } = await start(t, "");
  const sub = await mqtt.connectAsync(url, { clientId: "acl-sub", protocolVersion: 5, reconnectPeriod: 0 });
  const pub = await mqtt.connectAsync(url, { clientId: "acl-pub", protocolVersion: 5, reconnectPeriod: 0 });
  t.after(() => (sub.end(true), pub.end(true)));
  const got: string[] = [];
  sub.on("message", (topic) => got.push(topic));
  await sub.subscribeAsync("secret/#", { qos: 1 });
  await sub.subscribeAsync("open/#", { qos: 1 });
  await pub.publishAsync("secret/a", "1", { qos: 1 });
  await until(() => got.length === 1);

  writeFileSync(file, yaml('acl: { rules: [{ permission: deny, action: all, topic: "secret/#" }] }\n'));
  const r = await reload(server);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual((r.body as Report).applied, ["acl"]);
  // The subscription made under the old rules is gone; the allowed one stays.
  assert.deepEqual(
    server.broker.subscriptionsOf("acl-sub").map((s) => s.filter),
    ["open/#"],
  );
  // 5.0 PUBACK 0x87 Not authorized (MQTT.js rejects the publish with it).
  await assert.rejects(pub.publishAsync("secret/b", "2", { qos: 1 }), /Not authorized/);
  // SUBACK 0x87 (MQTT.js rejects the subscribe with it).
  await assert.rejects(sub.subscribeAsync("secret/#", { qos: 1 }), /Not authorized/);
  await pub.publishAsync("open/x", "3", { qos: 1 });
  await until(() => got.length === 2);
  assert.deepEqual(got, ["secret/a", "open/x"]);
});

test("reload: users from another password file apply live; a missing file is refused naming auth.passwordFile and changes nothing", async (t) => {
  const dirA = tempDir(t);
  const dirB = tempDir(t);
  const a = await passwordFile(dirA, { alice: "wonderland" });
  const b = await passwordFile(dirB, { bob: "builder" });
  const { server, file, url } = await start(t, `mqtt: { allowAnonymous: false }\nauth: { passwordFile: "${a}" }\n`);
  const creds = (username: string, password: string) => ({ username, password, protocolVersion: 5 as const });
  assert.equal(await mqttjsConnack(url, creds("alice", "wonderland")), 0);
  assert.equal(await mqttjsConnack(url, creds("bob", "builder")), 0x86);

  writeFileSync(file, yaml(`mqtt: { allowAnonymous: false }\nauth: { passwordFile: "${dirB}/missing.pw" }\n`));
  const bad = await reload(server);
  assert.equal(bad.status, 422);
  const err = (bad.body as { error: { code: string; message: string; details: { path: string }[] } }).error;
  assert.equal(err.code, "CONFIG_INVALID");
  assert.deepEqual(
    err.details.map((d) => d.path),
    ["auth.passwordFile"],
  );
  assert.match(err.message, /missing\.pw/);
  assert.equal(await mqttjsConnack(url, creds("alice", "wonderland")), 0, "nothing changed");

  writeFileSync(file, yaml(`mqtt: { allowAnonymous: false }\nauth: { passwordFile: "${b}" }\n`));
  const ok = await reload(server);
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.deepEqual((ok.body as Report).applied, ["auth.passwordFile"]);
  assert.equal(await mqttjsConnack(url, creds("bob", "builder")), 0);
  assert.equal(await mqttjsConnack(url, creds("alice", "wonderland")), 0x86);
  assert.equal(await mqttjsConnack(url, { protocolVersion: 5 }), 0x87, "anonymous still refused");

  // allowAnonymous is live too.
  writeFileSync(file, yaml(`mqtt: { allowAnonymous: true }\nauth: { passwordFile: "${b}" }\n`));
  assert.deepEqual(((await reload(server)).body as Report).applied, ["mqtt.allowAnonymous"]);
  assert.equal(await mqttjsConnack(url, { protocolVersion: 5 }), 0);
});

test("reload: queue limits apply live; maximumQoS and tracing are reported as restart-required", async (t) => {
  const { server, file, url } = await start(t, "");
  // An offline persistent session collects QoS 1 messages in its queue.
  const away = await mqtt.connectAsync(url, { clientId: "away", clean: false, reconnectPeriod: 0 });
  await away.subscribeAsync("q/#", { qos: 1 });
  await away.endAsync();
  const pub = await mqtt.connectAsync(url, { clientId: "q-pub", reconnectPeriod: 0 });
  t.after(() => pub.end(true));
  for (let i = 0; i < 3; i++) await pub.publishAsync("q/a", String(i), { qos: 1 });
  assert.equal(server.broker.stats().queued, 3);

  writeFileSync(file, yaml("mqtt: { maxQueuedMessages: 4, maximumQoS: 1 }\ntracing: { enabled: true }\n"));
  const r = await reload(server);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const report = r.body as Report;
  assert.deepEqual(report.applied, ["mqtt.maxQueuedMessages"]);
  assert.deepEqual(report.restartRequired.sort(), ["mqtt.maximumQoS", "tracing"]);
  assert.equal(server.broker.options.maximumQoS, 2, "not applied");
  const before = server.broker.stats().queueRejected;
  for (let i = 0; i < 3; i++) await pub.publishAsync("q/a", `more ${i}`, { qos: 1 });
  assert.equal(server.broker.stats().queued, 4, "the new bound holds at the next enqueue");
  assert.equal(server.broker.stats().queueRejected - before, 2);
});
