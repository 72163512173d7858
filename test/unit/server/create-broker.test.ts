// createBroker(): options from the YAML config's schema (embedded defaults), the same validation and errors,
// memory or LMDB storage, zero or more listeners, close() that flushes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { brokerInternals } from "../../../src/broker/internal.ts";
import { ConfigError, ConfigErrorCode, createBroker } from "../../../src/index.ts";
import { defaultConfig, embeddedConfigSchema, validateConfig } from "../../../src/server/index.ts";
import { silentLogger } from "../../../src/util/index.ts";

const quiet = { logger: silentLogger };

test("createBroker: no options = no listeners, memory storage, log level warn, no management server; everything else the YAML defaults", async () => {
  const broker = await createBroker({}, quiet);
  try {
    assert.deepEqual(broker.listeners, []);
    const expected = defaultConfig();
    expected.listeners = [];
    expected.storage.type = "memory";
    expected.log.level = "warn";
    expected.management.enabled = false; // embedded: no admin HTTP port unless `management` is given
    assert.deepEqual(broker.config, expected);
    assert.equal(broker.core.connectionCount, 0);
  } finally {
    await broker.close();
  }
});

test("createBroker: invalid options reject with the config's ConfigError, every problem by path", async () => {
  const err = await createBroker(
    // Deliberately wrong values, as a JavaScript caller could pass them.
    JSON.parse('{"listeners":[{"port":70000}],"mqtt":{"maxInflght":5},"storage":{"type":"sqlite"}}'),
    quiet,
  ).then(
    () => assert.fail("should reject"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ConfigError);
  assert.equal(err.code, ConfigErrorCode.Invalid);
  assert.deepEqual(
    err.errors.map((e) => e.path),
    ["listeners[0].port", "mqtt.maxInflght", "storage.type"],
  );
  assert.match(err.message, /mqtt\.maxInflght: unknown key \(did you mean "maxInflight"\?\)/);
});

test("embedded schema: same keys and checks as the file's; an empty listener list is allowed only here", () => {
  assert.deepEqual(Object.keys(embeddedConfigSchema.shape), Object.keys(validateConfig({})));
  assert.deepEqual(validateConfig({ listeners: [] }, undefined, embeddedConfigSchema).listeners, []);
  assert.throws(() => validateConfig({ listeners: [] }), /listeners: expected a list of at least 1/);
});

test("createBroker with a TCP listener: an MQTT.js client gets what the program publishes", async (t) => {
  const broker = await createBroker({ listeners: [{ host: "127.0.0.1", port: 0 }] }, quiet);
  t.after(() => broker.close());
  const [l] = broker.listeners;
  assert.ok(l !== undefined && l.port > 0);
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${l.port}`, { reconnectPeriod: 0 });
  t.after(() => client.endAsync());
  await client.subscribeAsync("embedded/#", { qos: 1 });
  const got = new Promise<[string, string]>((resolve) =>
    client.once("message", (topic, p) => resolve([topic, p.toString()])),
  );
  await broker.core.publish({ topic: "embedded/hello", payload: "world", qos: 1 });
  assert.deepEqual(await got, ["embedded/hello", "world"]);
});

test("createBroker with LMDB: close() flushes, a new broker on the same directory has the retained message", async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), "wharf-embed-"));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const options = {
    storage: { type: "lmdb" as const, dataDir, durability: "batched" as const, batchIntervalMs: 60_000 },
  };
  const first = await createBroker(options, quiet);
  await first.core.publish({ topic: "state/door", payload: "open", qos: 1, retain: true });
  await first.close(); // the batch interval is a minute: only close() can have written it
  const second = await createBroker(options, quiet);
  try {
    const found: string[] = [];
    brokerInternals(second.core).retained.match(
      "state/#",
      (m) => void found.push(`${m.topic}=${m.payload.toString()}`),
    );
    assert.deepEqual(found, ["state/door=open"]);
  } finally {
    await second.close();
  }
});

test("createBroker: a listener that cannot start rejects and leaves nothing open", async (t) => {
  const first = await createBroker({ listeners: [{ host: "127.0.0.1", port: 0 }] }, quiet);
  t.after(() => first.close());
  const port = first.listeners[0]!.port;
  await assert.rejects(createBroker({ listeners: [{ host: "127.0.0.1", port }] }, quiet), /EADDRINUSE/);
});
