// Sessions end to end: clean session / session present, offline queueing and redelivery, resend with DUP,
// takeover and empty client identifiers, with MQTT.js, mosquitto_sub/pub, paho and a raw codec client.
import assert from "node:assert/strict";
import { test } from "node:test";
import { PacketType } from "../../../src/codec/index.ts";
import { startBroker } from "../../helpers/broker.ts";
import {
  mosquittoPub,
  mosquittoSub,
  mqttjs,
  paho,
  parseSubLines,
  sessionPresent,
  waitUntil,
} from "../../helpers/clients.ts";
import { RawClient } from "../../helpers/raw-client.ts";
import { brokerInternals } from "../../../src/broker/internal.ts";

test("MQTT.js: session present 0/1 [MQTT-3.2.2-1..3]; QoS 1/2 queued offline and delivered on reconnect [MQTT-3.1.2-5]", async (t) => {
  const b = await startBroker({ sysInterval: 0 });
  t.after(() => b.close());
  const opts = { protocolVersion: 4 as const, clientId: "persist", clean: false };
  const first = await mqttjs(t, b.url, opts);
  assert.equal(sessionPresent(first), false);
  await first.client.subscribeAsync("off/#", { qos: 2 });
  await first.client.endAsync();
  await waitUntil(() => b.broker.stats().clientsConnected === 0, 5000, "disconnect processed");

  const pub = await mqttjs(t, b.url, { protocolVersion: 4, clientId: "offpub" });
  await pub.client.publishAsync("off/0", "q0", { qos: 0 });
  await pub.client.publishAsync("off/1", "q1", { qos: 1 });
  await pub.client.publishAsync("off/2", "q2", { qos: 2 });
  assert.equal(b.broker.stats().queued, 2, "QoS 0 is not queued for offline sessions by default");

  const second = await mqttjs(t, b.url, opts);
  assert.equal(sessionPresent(second), true);
  const got = await second.waitFor(2);
  assert.deepEqual(
    got.map((m) => [m.payload, m.qos]),
    [
      ["q1", 1],
      ["q2", 2],
    ],
  );

  const clean = await mqttjs(t, b.url, { protocolVersion: 4, clientId: "persist", clean: true });
  assert.equal(sessionPresent(clean), false);
});

test("mosquitto_sub -c: persistent session survives the client, queued messages arrive on restart", async (t) => {
  const b = await startBroker({ sysInterval: 0 });
  t.after(() => b.close());
  const id = "msub-persist";
  const first = mosquittoSub(t, b.port, ["-c", "-i", id, "-t", "mq/off", "-q", "1"]);
  await waitUntil(() => b.broker.subscriptionsOf(id).length === 1, 8000, "subscribed");
  await first.kill("SIGTERM"); // mosquitto_sub disconnects cleanly on SIGTERM
  await waitUntil(() => b.broker.stats().clientsConnected === 0, 5000, "disconnected");
  for (let i = 0; i < 3; i++) {
    assert.equal((await mosquittoPub(t, b.port, ["-t", "mq/off", "-m", `m${i}`, "-q", "1"])).code, 0);
  }
  const second = mosquittoSub(t, b.port, ["-c", "-i", id, "-t", "mq/off", "-q", "1", "-C", "3"]);
  await second.waitForLines(3);
  assert.deepEqual(
    parseSubLines(second.lines).map((m) => m.payload),
    ["m0", "m1", "m2"],
  );
});

test("paho clean_session=False: offline QoS 1 queued and redelivered; session present flag", async (t) => {
  const b = await startBroker({ sysInterval: 0 });
  t.after(() => b.close());
  const first = paho(t, b.port, {
    client_id: "paho-p",
    clean: false,
    steps: [{ subscribe: [["py/off", 1]] }, { disconnect: true }],
  });
  assert.equal((await first.waitDone()).event, "done");
  assert.equal(first.events.find((e) => e.event === "connack")?.session_present, 0);
  await waitUntil(() => b.broker.stats().clientsConnected === 0, 5000, "disconnected");
  await b.broker.publish({ topic: "py/off", payload: "while-away", qos: 1 });
  const second = paho(t, b.port, {
    client_id: "paho-p",
    clean: false,
    steps: [{ wait_messages: 1 }, { disconnect: true }],
  });
  await second.waitDone();
  assert.equal(second.events.find((e) => e.event === "connack")?.session_present, 1);
  assert.deepEqual(
    second.messages().map((m) => [m.payload, m.qos]),
    [["while-away", 1]],
  );
});

test("unacknowledged QoS 1 resent with DUP and the same id on reconnect; PUBREL resent for QoS 2 [MQTT-4.4.0-1]", async (t) => {
  const b = await startBroker({ sysInterval: 0 });
  t.after(() => b.close());
  const ep = { host: "127.0.0.1", port: b.port };
  const fields = { clientId: "redeliver", clean: false, protocolVersion: 4 as const };
  const c1 = await RawClient.connect(ep, fields, { protocolVersion: 4 });
  t.after(() => c1.destroy());
  await c1.subscribe([{ topicFilter: "rd/#", qos: 2 }]);
  await b.broker.publish({ topic: "rd/1", payload: "one", qos: 1 });
  await b.broker.publish({ topic: "rd/2", payload: "two", qos: 2 });
  const m1 = await c1.next(PacketType.PUBLISH);
  const m2 = await c1.next(PacketType.PUBLISH);
  c1.pubrec(m2.packetId!);
  await c1.next(PacketType.PUBREL);
  c1.destroy(); // neither PUBACK for m1 nor PUBCOMP for m2
  await waitUntil(() => b.broker.stats().clientsConnected === 0, 5000, "gone");

  const c2 = await RawClient.connect(ep, fields, { protocolVersion: 4 });
  t.after(() => c2.destroy());
  const again = await c2.next(PacketType.PUBLISH);
  assert.deepEqual([again.packetId, again.dup, again.payload.toString()], [m1.packetId, true, "one"]);
  assert.equal((await c2.next(PacketType.PUBREL)).packetId, m2.packetId);
  c2.puback(again.packetId!);
  c2.pubcomp(m2.packetId!);
  await waitUntil(() => b.broker.stats().inflight === 0, 5000, "flows completed");
  c2.disconnect();
});

test("takeover: MQTT.js and paho connections with a client id in use are closed [MQTT-3.1.4-2]", async (t) => {
  const b = await startBroker({ sysInterval: 0 });
  t.after(() => b.close());
  const old = await mqttjs(t, b.url, { protocolVersion: 4, clientId: "same" });
  const closed = new Promise<void>((r) => old.client.once("close", () => r()));
  const fresh = await mqttjs(t, b.url, { protocolVersion: 4, clientId: "same" });
  await closed;
  await fresh.client.subscribeAsync("tk", { qos: 1 });
  await b.broker.publish({ topic: "tk", payload: "new owner", qos: 1 });
  assert.deepEqual(
    (await fresh.waitFor(1)).map((m) => m.payload),
    ["new owner"],
  );
  assert.equal(old.messages.length, 0);

  const holder = paho(t, b.port, { client_id: "py-same", steps: [{ hold: true }] });
  await holder.waitEvent((e) => e.event === "connack");
  const taker = paho(t, b.port, { client_id: "py-same", steps: [{ disconnect: true }] });
  await taker.waitDone();
  await holder.waitEvent((e) => e.event === "disconnected", 8000, "old paho connection closed by the server");
});

test("empty client id: accepted with clean session 1 (assigned id), refused with 0x02 when clean session 0 [MQTT-3.1.3-8]", async (t) => {
  const b = await startBroker({ sysInterval: 0 });
  t.after(() => b.close());
  const ok = await mqttjs(t, b.url, { protocolVersion: 4, clientId: "", clean: true });
  assert.ok(
    [...brokerInternals(b.broker).sessions.keys()].some((id) => id.startsWith("wharf-")),
    "an id was assigned",
  );
  await ok.client.subscribeAsync("e", { qos: 0 });
  await ok.client.publishAsync("e", "works");
  await ok.waitFor(1);

  // MQTT.js and paho refuse to send this CONNECT at all, so the raw codec client sends it.
  const raw = await RawClient.connect(
    { host: "127.0.0.1", port: b.port },
    { clientId: "", clean: false, protocolVersion: 4 },
    { protocolVersion: 4 },
  );
  t.after(() => raw.destroy());
  assert.equal(raw.connack?.reasonCode, 0x02);
  await raw.waitClosed();

  const py = paho(t, b.port, {
    client_id: "",
    clean: true,
    steps: [
      { subscribe: [["e2", 1]] },
      { publish: { topic: "e2", payload: "py", qos: 1 } },
      { wait_messages: 1 },
      { disconnect: true },
    ],
  });
  await py.waitDone();
  assert.deepEqual(
    py.messages().map((m) => m.payload),
    ["py"],
  );
});
