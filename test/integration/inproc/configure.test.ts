// broker.configure(): one validated call for what can change live (log level, ACL, limits). Invalid values and keys
// that cannot change at runtime throw ConfigError naming each path, and the old configuration stays in force;
// accepted changes are observed by MQTT.js clients (ACL, subscription cap, publish rate, inflight window).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { pino } from "pino";
import {
  ConfigError,
  ConfigErrorCode,
  createBroker,
  InprocError,
  LIVE_CONFIG_KEYS,
  type BrokerConfigInput,
  type WharfBroker,
} from "../../../src/index.ts";
import { silentLogger, type Logger } from "../../../src/util/index.ts";
import { mqttjs, waitUntil } from "../../helpers/clients.ts";
import { connect, publishCode, subscribeCodes } from "../queues/helpers.ts";

async function withListener(t: import("node:test").TestContext, config: BrokerConfigInput = {}, logger?: Logger) {
  const broker = await createBroker(
    { listeners: [{ host: "127.0.0.1", port: 0 }], sys: { interval: 0 }, ...config },
    { logger: logger ?? silentLogger },
  );
  t.after(() => broker.close());
  return [broker, `mqtt://127.0.0.1:${broker.listeners[0]!.port}`] as const;
}

/** Runs `fn`, expecting a ConfigError; returns its "path: message" lines. */
function configErrors(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.code, ConfigErrorCode.Invalid);
    return err.errors.map((e) => `${e.path}: ${e.message}`);
  }
  assert.fail("expected a ConfigError");
}

test("invalid values are refused with the schema's path-named errors; nothing changes", async (t) => {
  const [broker] = await withListener(t, { mqtt: { maxInflight: 20 } });
  const before = structuredClone(broker.config);
  const errors = configErrors(() =>
    broker.configure({
      mqtt: { maxInflight: 0, maxInflght: 3 } as BrokerConfigInput["mqtt"],
      log: { level: "loud" as "info" },
    }),
  );
  assert.ok(
    errors.some((e) => e.startsWith("mqtt.maxInflight: expected an integer 1..65535")),
    errors.join("\n"),
  );
  assert.ok(
    errors.some((e) => e.startsWith('mqtt.maxInflght: unknown key (did you mean "maxInflight"?)')),
    errors.join("\n"),
  );
  assert.ok(
    errors.some((e) => e.startsWith("log.level: expected one of")),
    errors.join("\n"),
  );
  assert.deepEqual(broker.config, before);
  assert.equal(broker.core.options.maxInflight, 20);
});

test("a key that cannot change at runtime is named, and the live keys of the same call are not applied", async (t) => {
  const [broker] = await withListener(t, { mqtt: { maxInflight: 20 } });
  const errors = configErrors(() =>
    broker.configure({ mqtt: { maxInflight: 5, maxPacketSize: 1000 }, storage: { durability: "none" } }),
  );
  assert.equal(errors.length, 2, errors.join("\n"));
  assert.match(
    errors[0]!,
    /^mqtt\.maxPacketSize: cannot change at runtime \(restart the broker\); live: log\.level, acl/,
  );
  assert.match(errors[1]!, /^storage\.durability: cannot change at runtime/);
  assert.equal(broker.config.mqtt.maxInflight, 20);
  assert.equal(broker.core.options.maxInflight, 20, "the old configuration stays in force");
  assert.deepEqual(broker.configure({ mqtt: { maxInflight: 20 } }), { changed: [] }, "no change is fine");
  assert.ok(LIVE_CONFIG_KEYS.includes("acl"));
});

test("ACL changes apply to the next publish and subscribe of connected MQTT.js clients", async (t) => {
  const [broker, url] = await withListener(t);
  const c = await connect(t, url);
  assert.equal(await publishCode(c, "secret/a", "1"), 0);
  const r = broker.configure({
    acl: { rules: [{ permission: "deny", action: "all", topic: "secret/#" }] },
  });
  assert.deepEqual(r.changed, ["acl.rules"]);
  assert.equal(await publishCode(c, "secret/a", "2"), 0x87, "PUBACK 0x87 Not authorized");
  assert.deepEqual(await subscribeCodes(c, ["secret/#", "open/#"], { qos: 1 }), [0x87, 1]);
  assert.equal(await publishCode(c, "open/a", "3"), 0);
  assert.deepEqual(broker.configure({ acl: { rules: [], default: "deny" } }).changed.sort(), [
    "acl.default",
    "acl.rules",
  ]);
  assert.equal(await publishCode(c, "open/b", "4"), 0x87, "default deny");
  broker.configure({ acl: { default: "allow" } });
  assert.equal(await publishCode(c, "secret/b", "5"), 0);
});

test("limits: maxSubscriptionsPerSession, publishRate and maxInflight apply from their next use", async (t) => {
  const [broker, url] = await withListener(t);
  const c = await connect(t, url);
  assert.deepEqual(await subscribeCodes(c, ["a", "b"], { qos: 1 }), [1, 1]);
  broker.configure({ mqtt: { maxSubscriptionsPerSession: 3 } });
  assert.deepEqual(await subscribeCodes(c, ["c", "d"], { qos: 1 }), [1, 0x97], "a fourth filter: 0x97 Quota exceeded");

  broker.configure({ mqtt: { publishRate: { burst: 2, perSecond: 1 } } });
  const fast = await mqttjs(t, url, { protocolVersion: 5 });
  let reason: number | undefined;
  fast.client.on("disconnect", (p) => (reason = p.reasonCode));
  for (let i = 0; i < 5; i++) fast.client.publish("rate/x", String(i), { qos: 0 });
  await waitUntil(() => reason !== undefined, 5000, "DISCONNECT");
  assert.equal(reason, 0x96, "Message rate too high");

  // maxInflight applies to the next CONNECT: a client that never acknowledges holds at most 2 in flight.
  broker.configure({ mqtt: { maxInflight: 2 } });
  const slow = await mqttjs(t, url, {
    protocolVersion: 5,
    customHandleAcks: () => {}, // never PUBACKs
  });
  await slow.client.subscribeAsync("inflight/#", { qos: 1 });
  for (let i = 0; i < 5; i++) await broker.publish("inflight/x", String(i), { qos: 1 });
  await waitUntil(() => broker.metrics().broker.queued === 3, 5000, "3 queued behind the window");
  assert.equal(broker.metrics().broker.inflight, 2);
});

test("log.level changes the logger's level; a logger without a level refuses it", async (t) => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const logger = pino({ level: "warn" }, sink);
  const [broker] = await withListener(t, {}, logger);
  broker.configure({ mqtt: { maxInflight: 50 } }); // logged at info: not shown at warn
  assert.deepEqual(broker.configure({ log: { level: "info" } }).changed, ["log.level"]);
  assert.equal(logger.level, "info");
  broker.configure({ mqtt: { maxInflight: 60 } });
  const changes = lines.filter((l) => l.includes("broker options changed at runtime"));
  assert.equal(changes.length, 1, "only the change made at info level was logged");
  assert.match(changes[0]!, /"changed":\["maxInflight"\]/);

  const [silent] = await withListener(t);
  assert.match(configErrors(() => silent.configure({ log: { level: "debug" } }))[0]!, /^log\.level: cannot change/);
});

test("configure() after close() is refused", async () => {
  const broker: WharfBroker = await createBroker({}, { logger: silentLogger });
  await broker.close();
  assert.throws(() => broker.configure({ log: { level: "info" } }), InprocError);
});
