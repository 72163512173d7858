import { test } from "node:test";
import assert from "node:assert/strict";
import {
  ConfigError,
  ConfigErrorCode,
  defaultConfig,
  loadConfig,
  mergeOverrides,
  parseConfigText,
} from "../../../src/server/config/index.ts";
import { writeTempFile } from "../../helpers/spawn-wharf.ts";

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail("expected a ConfigError");
}

test("YAML syntax errors name the file, line and column", () => {
  const err = configError(() => parseConfigText("log:\n  level: info\nmqtt: [1, 2\nsys: {}\n", "bad.yaml"));
  assert.equal(err.code, ConfigErrorCode.Invalid);
  assert.equal(err.file, "bad.yaml");
  assert.ok(err.errors.length >= 1);
  assert.match(err.errors[0]!.message, /^bad\.yaml:\d+:\d+: YAML syntax error: /);
  assert.match(err.message, /^invalid configuration in bad\.yaml/);
  const dup = configError(() => parseConfigText("sys:\n  interval: 1\nsys:\n  interval: 2\n", "dup.yaml"));
  assert.match(dup.errors[0]!.message, /^dup\.yaml:3:1: YAML syntax error: Map keys must be unique/);
  const indent = configError(() => parseConfigText("log:\n  level: info\n format: json\n", "indent.yaml"));
  assert.match(indent.errors[0]!.message, /^indent\.yaml:3:\d+: /);
});

test("YAML aliases to missing anchors are reported, not thrown raw", () => {
  const err = configError(() => parseConfigText("log: *nothing\n", "alias.yaml"));
  assert.match(err.errors[0]!.message, /^alias\.yaml: YAML/);
});

test("loadConfig: a missing file is a CONFIG_UNREADABLE error naming it", (t) => {
  const file = `${writeTempFile(t, "exists.yaml", "")}.nope`;
  const err = configError(() => loadConfig(file));
  assert.equal(err.code, ConfigErrorCode.Unreadable);
  assert.equal(err.code, "CONFIG_UNREADABLE");
  assert.ok(err.message.startsWith(`cannot read config file ${file}:`));
  assert.equal(err.errors[0]!.value, file);
});

test("loadConfig: no file and no overrides = defaults; an empty file = defaults", (t) => {
  assert.deepEqual(loadConfig(), defaultConfig());
  const file = writeTempFile(t, "empty.yaml", "# nothing but a comment\n");
  assert.deepEqual(loadConfig(file), defaultConfig());
});

test("loadConfig precedence: defaults <- file <- overrides", (t) => {
  const file = writeTempFile(
    t,
    "wharf.yaml",
    [
      "listeners:",
      "  - host: 10.0.0.1",
      "    port: 2883",
      "    maxConnections: 50",
      "  - port: 2884",
      "log: { level: warn, format: json }",
      "storage: { dataDir: /var/lib/wharf }",
      "",
    ].join("\n"),
  );
  const fromFile = loadConfig(file);
  assert.equal(fromFile.listeners[0]!.host, "10.0.0.1");
  assert.equal(fromFile.log.level, "warn");
  assert.equal(fromFile.mqtt.maxInflight, defaultConfig().mqtt.maxInflight); // default kept

  const c = loadConfig(file, {
    listeners: [{ port: 0 }],
    log: { level: "debug" },
    storage: { type: "memory" },
  });
  // The override changes only what it names: the first listener's port.
  assert.deepEqual(c.listeners, [
    { type: "tcp", host: "10.0.0.1", port: 0, maxConnections: 50, maxPacketSize: 0, nodeSockets: false },
    { type: "tcp", host: "0.0.0.0", port: 2884, maxConnections: 0, maxPacketSize: 0, nodeSockets: false },
  ]);
  assert.deepEqual(c.log, { level: "debug", format: "json" });
  assert.deepEqual(c.storage, {
    type: "memory",
    dataDir: "/var/lib/wharf",
    durability: "sync",
    batchIntervalMs: 10,
    controlSocket: "auto",
  });

  // Without a file, overrides apply over the defaults (the default listener).
  const noFile = loadConfig(undefined, { listeners: [{ host: "127.0.0.1", port: 0 }] });
  assert.deepEqual(noFile.listeners, [
    { type: "tcp", host: "127.0.0.1", port: 0, maxConnections: 0, maxPacketSize: 0, nodeSockets: false },
  ]);
});

test("loadConfig validates file and overrides together: bad values from both are reported", (t) => {
  const file = writeTempFile(t, "bad.yaml", "mqtt:\n  maximumQoS: 5\n");
  const err = configError(() => loadConfig(file, { listeners: [{ port: 70_000 }] }));
  assert.deepEqual(
    err.errors.map((e) => [e.path, e.value]),
    [
      ["listeners[0].port", 70_000],
      ["mqtt.maximumQoS", 5],
    ],
  );
  assert.equal(err.file, file);
});

test("mergeOverrides: mappings by key, lists by index, scalars replaced, file errors not hidden", () => {
  assert.deepEqual(mergeOverrides({ a: 1, b: { c: 2, d: 3 } }, { b: { d: 4 } }), { a: 1, b: { c: 2, d: 4 } });
  assert.deepEqual(mergeOverrides({ l: [{ x: 1 }, { x: 2 }] }, { l: [{ y: 9 }] }), { l: [{ x: 1, y: 9 }, { x: 2 }] });
  assert.deepEqual(mergeOverrides(undefined, { a: 1 }), { a: 1 });
  assert.deepEqual(mergeOverrides({ a: null }, { a: { b: 1 } }), { a: { b: 1 } });
  assert.deepEqual(mergeOverrides({ a: 1 }, undefined), { a: 1 });
  // The file's "listeners" is not a list: keep it so that validation reports it.
  assert.deepEqual(mergeOverrides({ listeners: "x" }, { listeners: [{ port: 1 }] }), { listeners: "x" });
  assert.deepEqual(mergeOverrides({ log: 5 }, { log: { level: "info" } }), { log: 5 });
});
