// MQTT 5.0 acceptance (issue #4): MQTT 3.1.1 / 3.1 and 5.0 clients exchange messages on the same topics at every
// QoS; 5.0-only properties are dropped for the older subscribers.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { PacketType } from "../../../src/codec/index.ts";
import type { QoS } from "../../../src/codec/index.ts";
import { startTarget } from "../../helpers/target.ts";
import type { Target } from "../../helpers/target.ts";
import { Inbox, mqttjs, raw, topicFor } from "./harness.ts";

let target: Target;
before(async () => {
  target = await startTarget();
});
after(() => target?.close());

const QOS: QoS[] = [0, 1, 2];

for (const [label, version] of [
  ["3.1.1", 4],
  ["3.1", 3],
] as const) {
  test(`(§4.3) a v${label} subscriber and a v5 publisher, and the reverse, exchange messages at QoS 0, 1 and 2 (MQTT.js)`, async (t) => {
    const base = topicFor(`interop-v${version}`);
    const old = await mqttjs(t, target, {
      protocolVersion: version,
      ...(version === 3 ? { protocolId: "MQIsdp" as const } : {}),
    });
    const oldInbox = new Inbox(old);
    const v5 = await mqttjs(t, target);
    const v5Inbox = new Inbox(v5);
    for (const q of QOS) {
      await old.subscribeAsync(`${base}/to-old/${q}`, { qos: q });
      await v5.subscribeAsync(`${base}/to-v5/${q}`, { qos: q });
    }
    for (const q of QOS) {
      await v5.publishAsync(`${base}/to-old/${q}`, `v5-q${q}`, {
        qos: q,
        properties: { userProperties: { a: "1" }, contentType: "text/plain", messageExpiryInterval: 60 },
      });
      await old.publishAsync(`${base}/to-v5/${q}`, `old-q${q}`, { qos: q });
    }
    const toOld = await oldInbox.count(3);
    const toV5 = await v5Inbox.count(3);
    const byTopic = (ms: typeof toOld): Record<string, [string, number]> =>
      Object.fromEntries(ms.map((m) => [m.topic, [m.payload.toString(), m.packet.qos]]));
    assert.deepEqual(byTopic(toOld), {
      [`${base}/to-old/0`]: ["v5-q0", 0],
      [`${base}/to-old/1`]: ["v5-q1", 1],
      [`${base}/to-old/2`]: ["v5-q2", 2],
    });
    assert.deepEqual(byTopic(toV5), {
      [`${base}/to-v5/0`]: ["old-q0", 0],
      [`${base}/to-v5/1`]: ["old-q1", 1],
      [`${base}/to-v5/2`]: ["old-q2", 2],
    });
    for (const m of toOld) assert.equal(m.packet.properties, undefined, "no properties for an old client");
  });
}

test("[MQTT-3.8.4-8] (§4.3) QoS is downgraded to the subscription's across versions: v5 QoS 2 to a v3.1.1 QoS 1 subscription, v3.1.1 QoS 2 to a v5 QoS 0 subscription", async (t) => {
  const base = topicFor("interop-downgrade");
  const old = await mqttjs(t, target, { protocolVersion: 4 });
  const oldInbox = new Inbox(old);
  const v5 = await mqttjs(t, target);
  const v5Inbox = new Inbox(v5);
  await old.subscribeAsync(`${base}/old`, { qos: 1 });
  await v5.subscribeAsync(`${base}/v5`, { qos: 0 });
  await v5.publishAsync(`${base}/old`, "a", { qos: 2 });
  await old.publishAsync(`${base}/v5`, "b", { qos: 2 });
  assert.equal((await oldInbox.next()).packet.qos, 1);
  assert.equal((await v5Inbox.next()).packet.qos, 0);
});

test("(§2.2.2) on the wire, a v3.1.1 subscriber gets a plain 3.1.1 PUBLISH for a v5 message with properties, live and retained", async (t) => {
  const topic = topicFor("interop-wire");
  // Our 3.1.1 decoder would misread any 5.0 property bytes as payload.
  const old = await raw(t, target, { protocolVersion: 4 }, { protocolVersion: 4 });
  old.autoAck = true;
  await old.subscribe([{ topicFilter: topic, qos: 2 }]);
  const v5 = await mqttjs(t, target);
  const props = {
    payloadFormatIndicator: true,
    messageExpiryInterval: 60,
    contentType: "application/json",
    responseTopic: `${topic}/reply`,
    correlationData: Buffer.from("c0rr"),
    userProperties: { k: ["1", "2"] },
  };
  await v5.publishAsync(topic, '{"live":true}', { qos: 1, retain: true, properties: props });
  const live = await old.next(PacketType.PUBLISH);
  assert.equal(live.payload.toString(), '{"live":true}');
  assert.equal(live.topic, topic);
  assert.equal(live.properties, undefined);

  const late = await raw(t, target, { protocolVersion: 4 }, { protocolVersion: 4 });
  await late.subscribe([{ topicFilter: topic, qos: 1 }]);
  const retained = await late.next(PacketType.PUBLISH);
  assert.equal(retained.retain, true);
  assert.equal(retained.payload.toString(), '{"live":true}');
  assert.equal(retained.properties, undefined);
  late.puback(retained.packetId!);
  await v5.publishAsync(topic, "", { qos: 1, retain: true });
});

test("(§3.1.2.5) a v3.1.1 client's will reaches a v5 subscriber; a v5 will with properties reaches a v3.1.1 subscriber", async (t) => {
  const base = topicFor("interop-will");
  const v5sub = await mqttjs(t, target);
  const v5Inbox = new Inbox(v5sub);
  await v5sub.subscribeAsync(`${base}/from-old`, { qos: 1 });
  const oldSub = await mqttjs(t, target, { protocolVersion: 4 });
  const oldInbox = new Inbox(oldSub);
  await oldSub.subscribeAsync(`${base}/from-v5`, { qos: 1 });

  const oldDying = await raw(
    t,
    target,
    { protocolVersion: 4, will: { topic: `${base}/from-old`, payload: Buffer.from("old-bye"), qos: 1, retain: false } },
    { protocolVersion: 4 },
  );
  oldDying.destroy();
  const v5Dying = await raw(t, target, {
    will: {
      topic: `${base}/from-v5`,
      payload: Buffer.from("v5-bye"),
      qos: 1,
      retain: false,
      properties: { contentType: "text/plain", userProperties: [["x", "y"]] },
    },
  });
  v5Dying.destroy();
  assert.equal((await v5Inbox.next()).payload.toString(), "old-bye");
  const w = await oldInbox.next();
  assert.equal(w.payload.toString(), "v5-bye");
  assert.equal(w.packet.properties, undefined);
});
