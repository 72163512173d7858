// The composition root in-process: config -> broker + listeners -> clean close.
import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { DEFAULT_BROKER_OPTIONS } from "../../../src/broker/options.ts";
import {
  defaultConfig,
  startServer,
  toBrokerOptions,
  toStorageOptions,
  validateConfig,
} from "../../../src/server/index.ts";
import { recordingLogger } from "../broker/harness.ts";

const loopback = (extra: object = {}) =>
  validateConfig({
    listeners: [{ host: "127.0.0.1", port: 0 }],
    storage: { type: "memory" },
    management: { port: 0 },
    ...extra,
  });

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => (s.destroy(), resolve(false)));
    s.once("error", () => resolve(true));
  });
}

test("toBrokerOptions covers every broker option: mqtt 1:1, sys.interval, acl", () => {
  const config = validateConfig({
    mqtt: { maxInflight: 7, maximumQoS: 1, connectTimeout: 0 },
    sys: { interval: 0 },
    acl: [{ permission: "deny", action: "publish", topic: "secret/#", username: "u" }],
  });
  const options = toBrokerOptions(config);
  assert.deepEqual(Object.keys(options).sort(), Object.keys(DEFAULT_BROKER_OPTIONS).sort());
  assert.equal(options.maxInflight, 7);
  assert.equal(options.maximumQoS, 1);
  assert.equal(options.connectTimeout, 0);
  assert.equal(options.sysInterval, 0);
  assert.deepEqual(options.acl, [{ permission: "deny", action: "publish", topic: "secret/#", username: "u" }]);
  assert.deepEqual(toBrokerOptions(defaultConfig()), { ...DEFAULT_BROKER_OPTIONS });
});

test("toStorageOptions: storage.type picks the backend; dataDir, durability and batchIntervalMs pass through", () => {
  assert.deepEqual(toStorageOptions(defaultConfig().storage), {
    kind: "lmdb",
    path: "./data",
    durability: "sync",
    batchIntervalMs: 10,
  });
  const memory = validateConfig({ storage: { type: "memory", durability: "batched", batchIntervalMs: 50 } }).storage;
  assert.deepEqual(toStorageOptions(memory), { kind: "memory", durability: "batched", batchIntervalMs: 50 });
});

test("startServer: every listener on its own port, the broker built from the config, one 'listening' line", async (t) => {
  const logger = recordingLogger();
  const entries = logger.lines;
  const config = validateConfig({
    listeners: [
      { host: "127.0.0.1", port: 0 },
      { host: "127.0.0.1", port: 0, maxConnections: 3 },
    ],
    mqtt: { maxInflight: 9 },
    storage: { type: "memory" },
    management: { port: 0 },
  });
  const server = await startServer(config, { logger: logger });
  t.after(() => server.close());
  const ports = server.listeners.map((l) => l.port);
  assert.equal(ports.length, 2);
  assert.ok(ports.every((p) => p > 0));
  assert.notEqual(ports[0], ports[1]);
  assert.equal(server.broker.options.maxInflight, 9);
  const listening = entries.filter((e) => e.msg === "listening");
  assert.equal(listening.length, 1);
  assert.equal(listening[0]!.level, "info");
  assert.deepEqual(
    (listening[0]!.obj as { listeners: unknown }).listeners,
    ports.map((port) => ({ type: "tcp", host: "127.0.0.1", port })),
  );
  for (const port of ports) {
    const client = await mqtt.connectAsync({ host: "127.0.0.1", port, reconnectPeriod: 0 });
    assert.equal(client.connected, true);
    await client.endAsync();
  }
});

test("close(): clients are disconnected, listeners stop accepting, close is idempotent", async () => {
  const server = await startServer(loopback(), { logger: recordingLogger() });
  const port = server.listeners[0]!.port;
  const client = await mqtt.connectAsync({ host: "127.0.0.1", port, reconnectPeriod: 0, protocolVersion: 5 });
  const closed = new Promise<void>((resolve) => client.once("close", () => resolve()));
  const first = server.close();
  assert.equal(server.close(), first);
  await first;
  await closed;
  assert.equal(client.connected, false);
  assert.equal(await refused(port), true);
});

test("a listener that cannot bind: startServer rejects and closes what it had started", async (t) => {
  const blocker = createServer();
  blocker.listen(0, "127.0.0.1");
  await once(blocker, "listening");
  t.after(() => blocker.close());
  const taken = (blocker.address() as { port: number }).port;
  const logger = recordingLogger();
  const entries = logger.lines;
  const config = validateConfig({
    listeners: [
      { host: "127.0.0.1", port: 0 },
      { host: "127.0.0.1", port: taken },
    ],
    storage: { type: "memory" },
    management: { port: 0 },
  });
  await assert.rejects(startServer(config, { logger: logger }), { code: "EADDRINUSE" });
  const started = entries.find((e) => e.msg === "tcp listener started");
  assert.ok(started, JSON.stringify(entries));
  assert.equal(await refused((started.obj as { port: number }).port), true);
  assert.ok(!entries.some((e) => e.msg === "listening"));
});

test("storage: lmdb in storage.dataDir by default logs where state lives; memory says it is lost on restart", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "wharf-server-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const type of ["lmdb", "memory"] as const) {
    const logger = recordingLogger();
    const config = validateConfig({
      listeners: [{ host: "127.0.0.1", port: 0 }],
      storage: { type, dataDir: dir },
      management: { port: 0 },
    });
    const server = await startServer(config, { logger });
    assert.equal(server.storage.kind, type);
    await server.close();
    const line = logger.lines.find((e) => (e.obj as { storage?: string }).storage === type);
    assert.ok(line, JSON.stringify(logger.lines));
    assert.equal(line.level, "info");
    if (type === "lmdb") assert.equal((line.obj as { dataDir?: string }).dataDir, dir);
    else assert.match(line.msg, /lost on restart/);
    assert.ok(!logger.lines.some((e) => e.level === "warn" || e.level === "error"), JSON.stringify(logger.lines));
  }
  assert.ok(existsSync(join(dir, "data.mdb")));
});

test("a damaged data directory: startServer rejects with STORAGE_CORRUPT naming the directory, starts nothing", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "wharf-server-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "data.mdb"), Buffer.alloc(64 * 1024, 0x5a));
  const logger = recordingLogger();
  const config = validateConfig({
    listeners: [{ host: "127.0.0.1", port: 0 }],
    storage: { dataDir: dir },
    management: { port: 0 },
  });
  await assert.rejects(startServer(config, { logger }), (err: Error & { code?: string }) => {
    assert.equal(err.code, "STORAGE_CORRUPT");
    assert.ok(err.message.includes(dir), err.message);
    return true;
  });
  assert.ok(!logger.lines.some((e) => e.msg === "listening"));
});

test("acl rules from the config are enforced by the broker", async (t) => {
  const config = loopback({ acl: [{ permission: "deny", action: "publish", topic: "secret/#" }] });
  const server = await startServer(config, { logger: recordingLogger() });
  t.after(() => server.close());
  const port = server.listeners[0]!.port;
  const sub = await mqtt.connectAsync({ host: "127.0.0.1", port, reconnectPeriod: 0 });
  const pub = await mqtt.connectAsync({ host: "127.0.0.1", port, reconnectPeriod: 0 });
  t.after(() => (sub.end(true), pub.end(true)));
  await sub.subscribeAsync("#", { qos: 1 });
  const topics: string[] = [];
  const gotPublic = new Promise<void>((resolve) =>
    sub.on("message", (topic) => {
      topics.push(topic);
      if (topic === "public/x") resolve();
    }),
  );
  await pub.publishAsync("secret/x", "no", { qos: 1 });
  await pub.publishAsync("public/x", "yes", { qos: 1 });
  await gotPublic;
  assert.deepEqual(topics, ["public/x"]);
});
