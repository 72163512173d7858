// Retained messages, wills and keepalive end to end.
import assert from "node:assert/strict";
import { test } from "node:test";
import { PacketType } from "../../../src/codec/index.ts";
import { startBroker } from "../../helpers/broker.ts";
import { mosquittoPub, mosquittoSub, mqttjs, paho, parseSubLines, waitUntil } from "../../helpers/clients.ts";
import { RawClient } from "../../helpers/raw-client.ts";
import { FakeClock } from "../../../src/util/clock.ts";

test("retained via mosquitto_pub -r: set, replace, clear with an empty payload [MQTT-3.3.1-5] [MQTT-3.3.1-10] [MQTT-3.3.1-11]", async (t) => {
  const b = await startBroker({ sysInterval: 0 });
  t.after(() => b.close());
  const pub = (args: string[]) => mosquittoPub(t, b.port, ["-t", "ret/a", "-r", ...args]);
  assert.equal((await pub(["-m", "v1", "-q", "1"])).code, 0);
  assert.equal((await pub(["-m", "v2", "-q", "2"])).code, 0);

  const sub = mosquittoSub(t, b.port, ["-t", "ret/#", "-q", "2", "-C", "1"]);
  await sub.waitForLines(1);
  const [m] = parseSubLines(sub.lines);
  assert.deepEqual(
    [m?.payload, m?.retain, m?.qos],
    ["v2", true, 2],
    "replaced, RETAIN set for a new subscription [MQTT-3.3.1-8]",
  );

  assert.equal((await pub(["-n"])).code, 0); // zero-length payload clears
  await waitUntil(() => b.broker.stats().retained === 0, 5000, "retained cleared");
  const py = paho(t, b.port, { steps: [{ subscribe: [["ret/#", 1]] }, { sleep: 0.05 }, { disconnect: true }] });
  await py.waitDone();
  assert.deepEqual(py.messages(), [], "no retained message after clearing");
});

test("retained forwarded to an existing subscriber with RETAIN 0 [MQTT-3.3.1-9], to new ones with RETAIN 1 (MQTT.js)", async (t) => {
  const b = await startBroker({ sysInterval: 0 });
  t.after(() => b.close());
  const live = await mqttjs(t, b.url, { protocolVersion: 4, clientId: "live" });
  await live.client.subscribeAsync("rf/+", { qos: 1 });
  const pub = await mqttjs(t, b.url, { protocolVersion: 4, clientId: "pub" });
  await pub.client.publishAsync("rf/x", "state", { qos: 1, retain: true });
  const [fwd] = await live.waitFor(1);
  assert.equal(fwd?.retain, false);
  const late = await mqttjs(t, b.url, { protocolVersion: 3, protocolId: "MQIsdp", clientId: "late" });
  await late.client.subscribeAsync("rf/#", { qos: 1 });
  const [stored] = await late.waitFor(1);
  assert.deepEqual([stored?.payload, stored?.retain], ["state", true]);
});

test("will published when the client process dies (paho killed: socket closed without DISCONNECT) [MQTT-3.1.2-8]", async (t) => {
  const b = await startBroker({ sysInterval: 0 });
  t.after(() => b.close());
  const watcher = await mqttjs(t, b.url, { protocolVersion: 4, clientId: "watch" });
  await watcher.client.subscribeAsync("status/#", { qos: 1 });
  const dying = paho(t, b.port, {
    client_id: "device",
    will: { topic: "status/device", payload: "offline", qos: 1, retain: true },
    steps: [{ hold: true }],
  });
  await dying.waitEvent((e) => e.event === "connack");
  await dying.kill("SIGKILL");
  const [w] = await watcher.waitFor(1, 8000);
  assert.deepEqual([w?.topic, w?.payload, w?.qos], ["status/device", "offline", 1]);
  assert.equal(b.broker.stats().retained, 1, "retained will stored [MQTT-3.1.2-17]");
});

test("will published on MQTT.js socket destroy, not after DISCONNECT [MQTT-3.1.2-10]", async (t) => {
  const b = await startBroker({ sysInterval: 0 });
  t.after(() => b.close());
  const watcher = await mqttjs(t, b.url, { protocolVersion: 4, clientId: "watch" });
  await watcher.client.subscribeAsync("w/#", { qos: 0 });
  const will = (payload: string) => ({ topic: "w/x", payload: Buffer.from(payload), qos: 0 as const, retain: false });

  const polite = await mqttjs(t, b.url, { protocolVersion: 4, clientId: "polite", will: will("polite-will") });
  await polite.client.endAsync(); // sends DISCONNECT
  await waitUntil(() => b.broker.stats().clientsConnected === 1, 5000, "polite client gone");

  const rude = await mqttjs(t, b.url, { protocolVersion: 4, clientId: "rude", will: will("rude-will") });
  (rude.client as unknown as { stream: { destroy(): void } }).stream.destroy();
  const got = await watcher.waitFor(1);
  assert.deepEqual(
    got.map((m) => m.payload),
    ["rude-will"],
    "only the connection that died without DISCONNECT",
  );
});

test("keepalive timeout at 1.5 x keepalive closes the connection and publishes the will [MQTT-3.1.2-24]", async (t) => {
  const b = await startBroker({ sysInterval: 0 });
  t.after(() => b.close());
  const watcher = await mqttjs(t, b.url, { protocolVersion: 4, clientId: "watch" });
  await watcher.client.subscribeAsync("ka/#", { qos: 0 });
  const silent = await RawClient.connect(
    { host: "127.0.0.1", port: b.port },
    {
      clientId: "silent",
      keepAlive: 1,
      protocolVersion: 4,
      will: { topic: "ka/silent", payload: Buffer.from("timed out"), qos: 0, retain: false },
    },
    { protocolVersion: 4 },
  );
  t.after(() => silent.destroy());
  assert.equal(silent.connack?.reasonCode, 0);
  // The raw client sends nothing after CONNECT: no PINGREQ.
  await silent.waitClosed(8000);
  const [w] = await watcher.waitFor(1, 8000);
  assert.equal(w?.payload, "timed out");
});

test("a client that keeps sending PINGREQ within the keepalive stays connected", async (t) => {
  const clock = new FakeClock(); // keepalive time passes by advancing the broker's clock, not by waiting
  const b = await startBroker({ sysInterval: 0, clock });
  t.after(() => b.close());
  const c = await RawClient.connect(
    { host: "127.0.0.1", port: b.port },
    { clientId: "pinger", keepAlive: 1, protocolVersion: 4 },
    { protocolVersion: 4 },
  );
  t.after(() => c.destroy());
  for (let i = 0; i < 4; i++) {
    clock.advance(600); // a well-behaved client's ping period, shorter than 1.5 s
    c.send({ type: PacketType.PINGREQ });
    await c.next(PacketType.PINGRESP);
  }
  assert.equal(c.isClosed, false, "2.4 s in, well past 1.5 s, still open");
  c.disconnect();
});
