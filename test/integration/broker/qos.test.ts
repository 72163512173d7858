// QoS 0/1/2 in both directions with MQTT.js (3.1.1 and 3.1), mosquitto_pub/sub and paho, plus the exactly-once
// guarantee of inbound QoS 2 across a reconnect (raw codec client resending PUBLISH DUP / PUBREL).
import assert from "node:assert/strict";
import { test } from "node:test";
import { PacketType } from "../../../src/codec/index.ts";
import { startBroker } from "../../helpers/broker.ts";
import { mosquittoPub, mosquittoSub, mqttjs, paho, parseSubLines, waitUntil } from "../../helpers/clients.ts";
import { RawClient } from "../../helpers/raw-client.ts";

const QOS = [0, 1, 2] as const;

test("MQTT.js 3.1.1 and 3.1: QoS 0/1/2 publish and subscribe", async (t) => {
  const b = await startBroker({ sysInterval: 0 });
  t.after(() => b.close());
  for (const version of [4, 3] as const) {
    const extra = version === 3 ? { protocolId: "MQIsdp" as const } : {};
    const sub = await mqttjs(t, b.url, { protocolVersion: version, clientId: `sub${version}`, ...extra });
    const pub = await mqttjs(t, b.url, { protocolVersion: version, clientId: `pub${version}`, ...extra });
    const granted = await sub.client.subscribeAsync(`v${version}/+`, { qos: 2 });
    assert.equal(granted[0]?.qos, 2);
    for (const qos of QOS) await pub.client.publishAsync(`v${version}/q${qos}`, `m${qos}`, { qos });
    const got = await sub.waitFor(3);
    assert.deepEqual(
      got.map((m) => [m.topic, m.payload, m.qos, m.dup]),
      QOS.map((q) => [`v${version}/q${q}`, `m${q}`, q, false]),
    );
    sub.messages.length = 0;
  }
});

test("mosquitto_pub -> mosquitto_sub at QoS 0/1/2 (mqttv311 and mqttv31)", async (t) => {
  const b = await startBroker({ sysInterval: 0 });
  t.after(() => b.close());
  for (const version of ["mqttv311", "mqttv31"] as const) {
    const id = `msub-${version}`;
    const sub = mosquittoSub(t, b.port, ["-i", id, "-t", `mq/${version}/#`, "-q", "2", "-C", "3"], version);
    await waitUntil(() => b.broker.subscriptionsOf(id).length === 1, 8000, "mosquitto_sub subscribed");
    for (const qos of QOS) {
      const r = await mosquittoPub(
        t,
        b.port,
        ["-t", `mq/${version}/${qos}`, "-m", `p${qos}`, "-q", String(qos)],
        version,
      );
      assert.equal(r.code, 0, r.stderr);
    }
    await sub.waitForLines(3);
    assert.deepEqual(
      parseSubLines(sub.lines).map((m) => [m.topic, m.payload, m.qos]),
      QOS.map((q) => [`mq/${version}/${q}`, `p${q}`, q]),
    );
    assert.equal(await sub.exited, 0);
  }
});

test("paho (3.1.1 and 3.1): QoS 0/1/2 publish and subscribe", async (t) => {
  const b = await startBroker({ sysInterval: 0 });
  t.after(() => b.close());
  for (const protocol of [4, 3] as const) {
    const sub = paho(t, b.port, {
      client_id: `psub${protocol}`,
      protocol,
      steps: [{ subscribe: [[`py${protocol}/#`, 2]] }, { wait_messages: 3, timeout: 10 }, { disconnect: true }],
    });
    await sub.waitEvent((e) => e.event === "suback");
    const pub = paho(t, b.port, {
      client_id: `ppub${protocol}`,
      protocol,
      steps: QOS.map((q) => ({ publish: { topic: `py${protocol}/${q}`, payload: `p${q}`, qos: q } })),
    });
    assert.equal((await pub.waitDone()).event, "done");
    assert.equal(pub.events.filter((e) => e.event === "published").length, 3, "QoS 1/2 completed (PUBACK/PUBCOMP)");
    assert.equal((await sub.waitDone()).event, "done");
    assert.deepEqual(
      sub.messages().map((m) => [m.topic, m.payload, m.qos]),
      QOS.map((q) => [`py${protocol}/${q}`, `p${q}`, q]),
    );
  }
});

test("overlapping subscriptions (MQTT.js): one delivery at the highest granted QoS [MQTT-3.3.5-1]", async (t) => {
  const b = await startBroker({ sysInterval: 0 });
  t.after(() => b.close());
  const sub = await mqttjs(t, b.url, { protocolVersion: 4, clientId: "ov" });
  await sub.client.subscribeAsync({ "ov/+": { qos: 0 }, "ov/#": { qos: 2 }, "ov/x": { qos: 1 } });
  const pub = await mqttjs(t, b.url, { protocolVersion: 4, clientId: "ovp" });
  await pub.client.publishAsync("ov/x", "two", { qos: 2 });
  await pub.client.publishAsync("ov/x", "one", { qos: 1 });
  await pub.client.publishAsync("ov/end", "end", { qos: 0 });
  const got = await sub.waitFor(3);
  assert.deepEqual(
    got.map((m) => [m.payload, m.qos]),
    [
      ["two", 2],
      ["one", 1],
      ["end", 0],
    ],
  );
});

test("QoS 2 exactly once across reconnects: PUBLISH resent with DUP and PUBREL after reconnect [MQTT-4.3.3-2]", async (t) => {
  const b = await startBroker({ sysInterval: 0 });
  t.after(() => b.close());
  const sub = await mqttjs(t, b.url, { protocolVersion: 4, clientId: "eo-sub" });
  await sub.client.subscribeAsync("eo/#", { qos: 2 });
  const ep = { host: "127.0.0.1", port: b.port };
  const fields = { clientId: "eo-pub", clean: false, protocolVersion: 4 as const };

  const c1 = await RawClient.connect(ep, fields, { protocolVersion: 4 });
  t.after(() => c1.destroy());
  c1.publish("eo/t", "exactly-once", { qos: 2, packetId: 42 });
  await c1.next(PacketType.PUBREC);
  c1.destroy(); // the PUBREC "got lost": the client will resend the PUBLISH
  await waitUntil(() => b.broker.stats().clientsConnected === 1, 5000, "first connection gone");

  const c2 = await RawClient.connect(ep, fields, { protocolVersion: 4 });
  t.after(() => c2.destroy());
  assert.equal(c2.connack?.sessionPresent, true);
  c2.publish("eo/t", "exactly-once", { qos: 2, packetId: 42, dup: true });
  assert.equal((await c2.next(PacketType.PUBREC)).packetId, 42);
  c2.destroy(); // and the connection dies again before PUBREL
  await waitUntil(() => b.broker.stats().clientsConnected === 1, 5000, "second connection gone");

  const c3 = await RawClient.connect(ep, fields, { protocolVersion: 4 });
  t.after(() => c3.destroy());
  c3.pubrel(42);
  assert.equal((await c3.next(PacketType.PUBCOMP)).packetId, 42);
  // A sentinel on the same topic after the exchange: any duplicate would have been routed before it.
  c3.publish("eo/t", "sentinel", { qos: 0 });
  const got = await sub.waitFor(2);
  assert.deepEqual(
    got.map((m) => m.payload),
    ["exactly-once", "sentinel"],
  );
  assert.equal(got[0]?.qos, 2);
  c3.disconnect();
});
