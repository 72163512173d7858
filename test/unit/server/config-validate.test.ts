import { test } from "node:test";
import assert from "node:assert/strict";
import {
  ConfigError,
  ConfigErrorCode,
  defaultConfig,
  validateConfig,
  type ConfigIssue,
} from "../../../src/server/config/index.ts";
import { DEFAULT_BROKER_OPTIONS } from "../../../src/broker/options.ts";

/** Validates `raw`, expecting failure; returns the issues. */
function issuesOf(raw: unknown): readonly ConfigIssue[] {
  try {
    validateConfig(raw);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.code, ConfigErrorCode.Invalid);
    assert.equal(err.code, "CONFIG_INVALID");
    return err.errors;
  }
  assert.fail(`expected ${JSON.stringify(raw)} to be rejected`);
}

function onlyIssue(raw: unknown): ConfigIssue {
  const issues = issuesOf(raw);
  assert.equal(issues.length, 1, JSON.stringify(issues));
  return issues[0]!;
}

test("an empty config (no file, empty file, null sections) is all defaults", () => {
  const expected = defaultConfig();
  assert.deepEqual(validateConfig(undefined), expected);
  assert.deepEqual(validateConfig(null), expected);
  assert.deepEqual(validateConfig({}), expected);
  assert.deepEqual(validateConfig({ mqtt: null, log: null, listeners: null, acl: null }), expected);
});

test("defaults: one tcp listener on 0.0.0.0:1883, the broker's defaults, lmdb, info/auto logs", () => {
  const c = defaultConfig();
  assert.deepEqual(c.listeners, [
    { type: "tcp", host: "0.0.0.0", port: 1883, maxConnections: 0, maxPacketSize: 0, nodeSockets: false },
  ]);
  const { sysInterval, acl, scram, serverRedirect, overload, aclDefault, aclReadMode, queues, ...mqttDefaults } =
    DEFAULT_BROKER_OPTIONS;
  const { serverRedirect: redirectConfig, ...mqtt } = c.mqtt;
  assert.deepEqual(mqtt, mqttDefaults);
  assert.equal(serverRedirect, null);
  assert.equal(redirectConfig.serverReference, "", "no redirection");
  assert.equal(c.sys.interval, sysInterval);
  assert.deepEqual(c.acl, { default: aclDefault, mode: aclReadMode, rules: acl });
  assert.deepEqual(c.auth.scram, scram);
  assert.deepEqual(c.queues, queues);
  assert.deepEqual(c.storage, {
    type: "lmdb",
    dataDir: "./data",
    durability: "sync",
    batchIntervalMs: 10,
    controlSocket: "auto",
  });
  assert.deepEqual(c.log, { level: "info", format: "auto" });
  assert.deepEqual(c.overload, overload);
});

test("overload: marks, stall limit and disconnect are validated, naming the field and the value", () => {
  const issues = (input: unknown): string[] => {
    try {
      validateConfig(input);
      return [];
    } catch (err) {
      return (err as Error).message.split("\n");
    }
  };
  assert.deepEqual(issues({ overload: { highWaterBytes: 4096, lowWaterBytes: 1024, stallLimitMs: 0 } }), []);
  const low = issues({ overload: { highWaterBytes: 1000, lowWaterBytes: 2000 } }).join("\n");
  assert.match(low, /overload\.lowWaterBytes: expected at most highWaterBytes \(1000\), got 2000/);
  const msgs = issues({ overload: { highWaterMessages: 10, lowWaterMessages: 11 } }).join("\n");
  assert.match(msgs, /overload\.lowWaterMessages: expected at most highWaterMessages \(10\), got 11/);
  const disc = issues({ overload: { stallLimitMs: 5000, slowConsumerDisconnectMs: 100 } }).join("\n");
  assert.match(
    disc,
    /overload\.slowConsumerDisconnectMs: expected 0 \(never\) or at least stallLimitMs \(5000\), got 100/,
  );
  assert.match(
    issues({ overload: { stallLimitMs: -1 } }).join("\n"),
    /overload\.stallLimitMs: expected an integer 0\.\.3600000, got -1/,
  );
  assert.match(
    issues({ overload: { highWaterBytes: "1MB" } }).join("\n"),
    /overload\.highWaterBytes: expected an integer 1\.\.1073741824, got "1MB"/,
  );
  assert.match(
    issues({ overload: { stalLimitMs: 5 } }).join("\n"),
    /overload\.stalLimitMs: unknown key \(did you mean "stallLimitMs"\?\)/,
  );
});

test("defaultConfig returns a fresh copy each time", () => {
  const a = defaultConfig();
  a.listeners[0]!.port = 1;
  a.acl.rules.push({ permission: "deny", action: "all", topic: "#" });
  assert.equal(defaultConfig().listeners[0]!.port, 1883);
  assert.deepEqual(defaultConfig().acl.rules, []);
});

test("given values are kept and missing keys take their defaults", () => {
  const c = validateConfig({
    listeners: [{ port: 0 }, { host: "::1", port: 1884, maxConnections: 5 }],
    mqtt: { maximumQoS: 1, allowAnonymous: false, clientIdPrefix: "" },
    sys: { interval: 0 },
    acl: [{ permission: "allow", action: "subscribe", topic: "a/+/c", username: "u" }],
    storage: { type: "memory", durability: "batched" },
    log: { level: "debug", format: "json" },
  });
  assert.deepEqual(c.listeners, [
    { type: "tcp", host: "0.0.0.0", port: 0, maxConnections: 0, maxPacketSize: 0, nodeSockets: false },
    { type: "tcp", host: "::1", port: 1884, maxConnections: 5, maxPacketSize: 0, nodeSockets: false },
  ]);
  assert.equal(c.mqtt.maximumQoS, 1);
  assert.equal(c.mqtt.allowAnonymous, false);
  assert.equal(c.mqtt.clientIdPrefix, "");
  assert.equal(c.mqtt.maxInflight, DEFAULT_BROKER_OPTIONS.maxInflight);
  assert.equal(c.sys.interval, 0);
  // Optional keys that were not given are absent, not undefined.
  assert.deepEqual(c.acl.rules, [{ permission: "allow", action: "subscribe", topic: "a/+/c", username: "u" }]);
  assert.ok(!("clientId" in c.acl.rules[0]!));
  assert.deepEqual(c.storage, {
    type: "memory",
    dataDir: "./data",
    durability: "batched",
    batchIntervalMs: 10,
    controlSocket: "auto",
  });
  assert.deepEqual(c.log, { level: "debug", format: "json" });
});

test("unknown keys are rejected at every level, with their dotted path and value", () => {
  const cases: [unknown, string, unknown][] = [
    [{ listner: [] }, "listner", []],
    [{ listeners: [{ port: 1, certfile: "x" }] }, "listeners[0].certfile", "x"],
    [{ listeners: [{}, { portt: 2 }] }, "listeners[1].portt", 2],
    [{ mqtt: { maxInflight: 5, maxInFlight: 6 } }, "mqtt.maxInFlight", 6],
    [{ sys: { intervall: 3 } }, "sys.intervall", 3],
    [{ acl: [{ permission: "deny", action: "all", topic: "#", user: "x" }] }, "acl[0].user", "x"],
    [{ storage: { path: "/x" } }, "storage.path", "/x"],
    [{ log: { file: "a.log" } }, "log.file", "a.log"],
  ];
  for (const [raw, path, value] of cases) {
    const i = onlyIssue(raw);
    assert.equal(i.path, path);
    assert.deepEqual(i.value, value);
    assert.match(i.message, /^unknown key \((allowed: |did you mean )/);
  }
  assert.equal(onlyIssue({ log: { file: 1 } }).message, "unknown key (allowed: level, format)");
  // A near miss names the key probably meant (case or at most two edits).
  assert.equal(onlyIssue({ mqtt: { maxInFlight: 6 } }).message, 'unknown key (did you mean "maxInflight"?)');
  assert.equal(onlyIssue({ listeners: [{ prot: 1 }] }).message, 'unknown key (did you mean "port"?)');
  assert.equal(onlyIssue({ storage: { datadir: "x" } }).message, 'unknown key (did you mean "dataDir"?)');
});

test("wrong types name the path, what was expected and the value found", () => {
  const cases: [unknown, string, string][] = [
    [{ listeners: [{ port: "abc" }] }, "listeners[0].port", 'expected an integer 0..65535, got "abc"'],
    [{ listeners: "tcp://x" }, "listeners", 'expected a list, got "tcp://x"'],
    [{ listeners: [5] }, "listeners[0]", "expected a mapping (key: value), got 5"],
    [{ listeners: [{ host: "" }] }, "listeners[0].host", 'expected a non-empty string, got ""'],
    [
      { listeners: [{ type: "udp" }] },
      "listeners[0].type",
      'expected one of "tcp", "tls", "ws", "wss", "http", "coap", got "udp"',
    ],
    [{ mqtt: [] }, "mqtt", "expected a mapping (key: value), got []"],
    [{ mqtt: { allowAnonymous: "yes" } }, "mqtt.allowAnonymous", 'expected a boolean (true or false), got "yes"'],
    [{ mqtt: { maxInflight: 1.5 } }, "mqtt.maxInflight", "expected an integer 1..65535, got 1.5"],
    [{ mqtt: { clientIdPrefix: 7 } }, "mqtt.clientIdPrefix", "expected a string, got 7"],
    [{ sys: { interval: null } }, "sys.interval", "expected an integer 0..86400, got null"],
    [{ storage: { type: "redis" } }, "storage.type", 'expected one of "lmdb", "memory", got "redis"'],
    [{ storage: { durability: true } }, "storage.durability", 'expected one of "sync", "batched", "none", got true'],
    [
      { log: { level: "verbose" } },
      "log.level",
      'expected one of "trace", "debug", "info", "warn", "error", "silent", got "verbose"',
    ],
    [{ log: { format: "text" } }, "log.format", 'expected one of "auto", "json", "pretty", got "text"'],
    // acl is a mapping {default, mode, rules} or a list of rules (security.ts): anything else is named.
    [{ acl: "deny" }, "acl", 'expected a mapping (key: value), got "deny"'],
    [{ acl: { deny: "#" } }, "acl.deny", "unknown key (allowed: default, mode, rules)"],
    [[1, 2], "", "expected a mapping (key: value), got [1,2]"],
  ];
  for (const [raw, path, message] of cases) {
    const i = onlyIssue(raw);
    assert.equal(i.path, path, JSON.stringify(raw));
    assert.equal(i.message, message);
  }
});

test("ranges: ports, QoS, receive maximum, sizes, intervals", () => {
  const bad: [unknown, string, unknown][] = [
    [{ listeners: [{ port: 65536 }] }, "listeners[0].port", 65536],
    [{ listeners: [{ port: -1 }] }, "listeners[0].port", -1],
    [{ listeners: [{ maxConnections: -1 }] }, "listeners[0].maxConnections", -1],
    [{ listeners: [{ maxPacketSize: 268_435_461 }] }, "listeners[0].maxPacketSize", 268_435_461],
    [{ mqtt: { maximumQoS: 3 } }, "mqtt.maximumQoS", 3],
    [{ mqtt: { maximumQoS: -1 } }, "mqtt.maximumQoS", -1],
    [{ mqtt: { receiveMaximum: 0 } }, "mqtt.receiveMaximum", 0],
    [{ mqtt: { receiveMaximum: 65_536 } }, "mqtt.receiveMaximum", 65_536],
    [{ mqtt: { maxPacketSize: 1 } }, "mqtt.maxPacketSize", 1],
    [{ mqtt: { maxQueuedBytes: -5 } }, "mqtt.maxQueuedBytes", -5],
    [{ mqtt: { maxQueuedMessages: -1 } }, "mqtt.maxQueuedMessages", -1],
    [{ mqtt: { maxKeepAlive: 70_000 } }, "mqtt.maxKeepAlive", 70_000],
    [{ mqtt: { topicAliasMaximum: 65_536 } }, "mqtt.topicAliasMaximum", 65_536],
    [{ sys: { interval: -1 } }, "sys.interval", -1],
    [{ storage: { batchIntervalMs: 0 } }, "storage.batchIntervalMs", 0],
  ];
  for (const [raw, path, value] of bad) {
    const i = onlyIssue(raw);
    assert.equal(i.path, path);
    assert.equal(i.value, value);
  }
  assert.equal(onlyIssue({ mqtt: { maximumQoS: 3 } }).message, "expected one of 0, 1, 2, got 3");
  // The bounds themselves are accepted.
  const ok = validateConfig({
    listeners: [{ port: 65_535, maxPacketSize: 268_435_460 }, { port: 0 }],
    mqtt: { maximumQoS: 0, receiveMaximum: 1, maxPacketSize: 2, maxKeepAlive: 0, topicAliasMaximum: 0 },
    storage: { batchIntervalMs: 60_000 },
  });
  assert.equal(ok.listeners[0]!.port, 65_535);
  assert.equal(ok.mqtt.receiveMaximum, 1);
});

test("listeners: at least one, and no two on the same fixed host:port (port 0 may repeat)", () => {
  const empty = onlyIssue({ listeners: [] });
  assert.equal(empty.path, "listeners");
  assert.equal(empty.message, "expected a list of at least 1, got []");
  const dup = onlyIssue({ listeners: [{ port: 1884 }, { port: 1885 }, { port: 1884 }] });
  assert.equal(dup.path, "listeners[2].port");
  assert.equal(dup.message, "same host and port as listeners[0]");
  assert.equal(validateConfig({ listeners: [{ port: 0 }, { port: 0 }] }).listeners.length, 2);
  assert.equal(validateConfig({ listeners: [{ port: 1884 }, { host: "127.0.0.1", port: 1884 }] }).listeners.length, 2);
});

test("acl rules: permission, action and topic are required; topic must be a valid filter [MQTT-4.7.1-2] [MQTT-4.7.1-3]", () => {
  const missing = issuesOf({ acl: [{ clientId: "c" }] });
  assert.deepEqual(
    missing.map((i) => i.path),
    ["acl[0].permission", "acl[0].action", "acl[0].topic"],
  );
  assert.match(missing[2]!.message, /^missing required key: expected a non-empty string/);
  for (const topic of ["a/#/b", "a#", "a/b+", "+a"]) {
    const i = onlyIssue({ acl: [{ permission: "deny", action: "publish", topic }] });
    assert.equal(i.path, "acl[0].topic");
    assert.equal(i.value, topic);
    assert.match(i.message, /^expected a valid topic filter \(.*\[MQTT-4\.7\.1-[23]\]\), got /);
  }
  assert.equal(onlyIssue({ acl: [{ permission: "maybe", action: "all", topic: "#" }] }).path, "acl[0].permission");
  assert.equal(onlyIssue({ acl: [{ permission: "deny", action: "read", topic: "#" }] }).path, "acl[0].action");
  assert.equal(
    onlyIssue({ acl: [{ permission: "deny", action: "all", topic: "#", clientId: "" }] }).path,
    "acl[0].clientId",
  );
  const ok = validateConfig({ acl: [{ permission: "deny", action: "all", topic: "+/x/#", clientId: "c1" }] });
  assert.deepEqual(ok.acl.rules, [{ permission: "deny", action: "all", topic: "+/x/#", clientId: "c1" }]);
  // The mapping form: default and mode with the rules.
  const m = validateConfig({
    acl: { default: "deny", mode: "filter", rules: [{ permission: "allow", action: "all", topic: "a/#" }] },
  });
  assert.deepEqual(m.acl, {
    default: "deny",
    mode: "filter",
    rules: [{ permission: "allow", action: "all", topic: "a/#" }],
  });
  assert.equal(onlyIssue({ acl: { default: "maybe" } }).path, "acl.default");
  assert.equal(
    onlyIssue({ acl: { rules: [{ permission: "deny", action: "all", topic: "a/#/b" }] } }).path,
    "acl.rules[0].topic",
  );
});

test("every error is reported at once, in one readable multi-line message", () => {
  let err: ConfigError | undefined;
  try {
    validateConfig(
      {
        listeners: [{ port: "abc" }, { host: 5, extra: 1 }],
        mqtt: { maximumQoS: 3, bogus: true },
        acl: [{ permission: "deny", action: "publish", topic: "a/#/b" }],
        log: { level: "loud" },
      },
      "wharf.yaml",
    );
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    err = e;
  }
  assert.ok(err);
  assert.deepEqual(
    err.errors.map((e) => [e.path, e.value]),
    [
      ["listeners[0].port", "abc"],
      ["listeners[1].host", 5],
      ["listeners[1].extra", 1],
      ["mqtt.maximumQoS", 3],
      ["mqtt.bogus", true],
      ["acl[0].topic", "a/#/b"],
      ["log.level", "loud"],
    ],
  );
  const lines = err.message.split("\n");
  assert.equal(lines[0], "invalid configuration in wharf.yaml (7 errors):");
  assert.equal(lines[1], '  listeners[0].port: expected an integer 0..65535, got "abc"');
  assert.equal(lines.length, 8);
  assert.equal(err.file, "wharf.yaml");
});
