// Priority in MQTT session queues, seen by MQTT.js: a backlog (an offline persistent session, or a full inflight
// window) is delivered highest priority first and FIFO within a level, whoever published (MQTT.js 5.0 with the user
// property `priority`, or the in-process API). 5.0 subscribers see the property; 3.1.1 subscribers get the same
// order without it. Messages without a priority keep MQTT's order.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createBroker, type BrokerConfigInput, type WharfBroker } from "../../../src/index.ts";
import { silentLogger } from "../../../src/util/index.ts";
import mqtt from "mqtt";
import type { IClientOptions } from "mqtt";
import { waitUntil } from "../../helpers/clients.ts";
import { connect } from "../queues/helpers.ts";

/** MQTT.js with its message listener attached before CONNACK (a resumed session's backlog follows at once). */
async function resume(t: import("node:test").TestContext, url: string, opts: IClientOptions) {
  const client = mqtt.connect(url, { reconnectPeriod: 0, ...opts });
  t.after(() => client.endAsync(true));
  const got: { payload: string; priority: string | undefined }[] = [];
  client.on("message", (_topic, payload, packet) => {
    const p = packet.properties?.userProperties?.priority;
    got.push({ payload: payload.toString(), priority: Array.isArray(p) ? p[0] : p });
  });
  return {
    got,
    waitFor: async (n: number) => {
      await waitUntil(() => got.length >= n, 5000, `${n} messages (have ${got.length})`);
      return got;
    },
  };
}

async function start(t: import("node:test").TestContext, config: BrokerConfigInput = {}): Promise<WharfBroker> {
  const broker = await createBroker(
    { listeners: [{ host: "127.0.0.1", port: 0 }], sys: { interval: 0 }, ...config },
    { logger: silentLogger },
  );
  t.after(() => broker.close());
  return broker;
}
const urlOf = (b: WharfBroker) => `mqtt://127.0.0.1:${b.listeners[0]!.port}`;

/** Publishes `${name}` with the given priority (undefined: none) from a 5.0 MQTT.js client, QoS 1. */
const SENT: [string, number | undefined][] = [
  ["a", undefined],
  ["b", 9],
  ["c", 0],
  ["d", 9],
  ["e", 4],
  ["f", 7],
  ["g", undefined],
];
const EXPECTED = ["b", "d", "f", "a", "e", "g", "c"];

test("an offline persistent session's backlog comes out by priority (5.0 subscriber sees `priority`)", async (t) => {
  const broker = await start(t);
  const url = urlOf(broker);
  const opts = {
    protocolVersion: 5 as const,
    clientId: "prio-5",
    clean: false,
    properties: { sessionExpiryInterval: 60 },
  };
  const first = await connect(t, url, opts);
  await first.client.subscribeAsync("jobs/#", { qos: 1 });
  await first.client.endAsync();
  const pub = await connect(t, url);
  for (const [name, prio] of SENT) {
    await pub.client.publishAsync(`jobs/${name}`, name, {
      qos: 1,
      properties: prio === undefined ? {} : { userProperties: { priority: String(prio) } },
    });
  }
  const got = await (await resume(t, url, opts)).waitFor(SENT.length);
  assert.deepEqual(
    got.map((g) => g.payload),
    EXPECTED,
  );
  assert.deepEqual(
    got.map((g) => g.priority),
    ["9", "9", "7", undefined, "4", undefined, "0"],
  );
});

test("a 3.1.1 subscriber behind its inflight window gets the same order (no property on 3.1.1)", async (t) => {
  const broker = await start(t, { mqtt: { maxInflight: 1 } });
  const sub = await connect(t, urlOf(broker), { protocolVersion: 4, clientId: "prio-4", clean: false });
  await sub.client.subscribeAsync("work/#", { qos: 1 });
  // Routed in one turn: the first goes out at once (window 1), the rest wait in the session queue.
  await Promise.all([
    broker.publish("work/first", "first", { qos: 1 }),
    ...SENT.map(([name, prio]) =>
      broker.publish(`work/${name}`, name, { qos: 1, ...(prio === undefined ? {} : { priority: prio }) }),
    ),
  ]);
  const got = await sub.waitFor(SENT.length + 1);
  assert.deepEqual(
    got.map((g) => g.payload),
    ["first", ...EXPECTED],
  );
});

test("with LMDB the backlog keeps its priority order across a restart", async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), "wharf-prio-"));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const config: BrokerConfigInput = { storage: { type: "lmdb", dataDir } };
  let broker = await start(t, config);
  const opts = {
    protocolVersion: 5 as const,
    clientId: "prio-db",
    clean: false,
    properties: { sessionExpiryInterval: 600 },
  };
  const first = await connect(t, urlOf(broker), opts);
  await first.client.subscribeAsync("db/#", { qos: 1 });
  await first.client.endAsync();
  for (const [name, prio] of SENT) {
    await broker.publish(`db/${name}`, name, { qos: 1, ...(prio === undefined ? {} : { priority: prio }) });
  }
  await broker.close();
  broker = await start(t, config);
  const got = await (await resume(t, urlOf(broker), opts)).waitFor(SENT.length);
  assert.deepEqual(
    got.map((g) => g.payload),
    EXPECTED,
  );
});
