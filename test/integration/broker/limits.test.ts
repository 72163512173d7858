// Access control, '$' topics, $SYS, and the limits: max inflight, slow-subscriber isolation, max connections,
// max packet size.
import assert from "node:assert/strict";
import { test } from "node:test";
import { PacketType } from "../../../src/codec/index.ts";
import { startBroker } from "../../helpers/broker.ts";
import { mosquittoPub, mosquittoSub, mqttjs, paho, parseSubLines, waitUntil } from "../../helpers/clients.ts";
import { RawClient } from "../../helpers/raw-client.ts";

const ep = (port: number) => ({ host: "127.0.0.1", port });

test("ACL deny: SUBACK 0x80 for a denied filter; a denied PUBLISH is acknowledged but not delivered [MQTT-3.3.5-2]", async (t) => {
  const b = await startBroker({
    sysInterval: 0,
    acl: [
      { permission: "deny", action: "subscribe", topic: "secret/#" },
      { permission: "deny", action: "publish", topic: "readonly/#" },
    ],
  });
  t.after(() => b.close());
  const c = await mqttjs(t, b.url, { protocolVersion: 4, clientId: "acl" });
  await assert.rejects(c.client.subscribeAsync("secret/x", { qos: 1 }), "MQTT.js rejects a 0x80 SUBACK");
  assert.equal((await c.client.subscribeAsync("readonly/#", { qos: 1 }))[0]?.qos, 1);
  const raw = await RawClient.connect(ep(b.port), { clientId: "raw-acl", protocolVersion: 4 }, { protocolVersion: 4 });
  t.after(() => raw.destroy());
  const suback = await raw.subscribe([
    { topicFilter: "secret/#", qos: 0 },
    { topicFilter: "open", qos: 2 },
  ]);
  assert.deepEqual(suback.reasonCodes, [0x80, 2]);
  raw.disconnect();
  await c.client.publishAsync("readonly/x", "denied", { qos: 1 }); // resolves: PUBACK arrived
  await c.client.publishAsync("readonly/x", "denied too", { qos: 2 }); // PUBREC/PUBCOMP flow completes
  const ok = await mqttjs(t, b.url, { protocolVersion: 4, clientId: "writer" });
  assert.equal((await mosquittoPub(t, b.port, ["-t", "readonly/y", "-m", "x", "-q", "1"])).code, 0);
  // Sentinel through the broker itself (not subject to the ACL): the denied messages would have come first.
  await b.broker.publish({ topic: "readonly/sentinel", payload: "sentinel" });
  const got = await c.waitFor(1);
  assert.deepEqual(
    got.map((m) => m.payload),
    ["sentinel"],
  );
  assert.equal(ok.messages.length, 0);

  const py = paho(t, b.port, { steps: [{ subscribe: [["secret/#", 0]] }, { disconnect: true }] });
  await py.waitDone();
  assert.deepEqual(py.events.find((e) => e.event === "suback")?.granted, [128]);
});

test("allowAnonymous=false: CONNACK 0x05 without user name (mosquitto_pub / MQTT.js); auth hook checks passwords", async (t) => {
  const b = await startBroker({
    sysInterval: 0,
    allowAnonymous: false,
    auth: { authenticate: async (ctx) => ctx.username === "u" && ctx.password?.toString() === "p" },
  });
  t.after(() => b.close());
  const anon = await mosquittoPub(t, b.port, ["-t", "x", "-m", "x"]);
  assert.notEqual(anon.code, 0);
  assert.match(anon.stderr, /not authori[sz]ed/i);
  await assert.rejects(mqttjs(t, b.url, { protocolVersion: 4, clientId: "anon" }), /Not authorized/i);
  await assert.rejects(
    mqttjs(t, b.url, { protocolVersion: 4, clientId: "bad", username: "u", password: "no" }),
    /Bad username or password/i,
  );
  const ok = await mqttjs(t, b.url, { protocolVersion: 4, clientId: "good", username: "u", password: "p" });
  assert.equal(ok.client.connected, true);
});

test("'$' topics: '#' and '+/…' do not match them [MQTT-4.7.2-1]; $SYS is published by the broker; client $SYS publish dropped", async (t) => {
  const b = await startBroker({ sysInterval: 1 });
  t.after(() => b.close());
  const all = await mqttjs(t, b.url, { protocolVersion: 4, clientId: "all" });
  await all.client.subscribeAsync(["#", "+/broker/version"], { qos: 0 });
  const sys = mosquittoSub(t, b.port, ["-t", "$SYS/broker/version", "-t", "$SYS/broker/clients/connected", "-C", "2"]);
  await sys.waitForLines(2);
  const values = new Map(parseSubLines(sys.lines).map((m) => [m.topic, m.payload]));
  assert.match(values.get("$SYS/broker/version") ?? "", /^wharf version/);
  assert.match(values.get("$SYS/broker/clients/connected") ?? "", /^\d+$/);

  // A client cannot publish under $SYS: acknowledged (exit 0) but dropped.
  assert.equal((await mosquittoPub(t, b.port, ["-t", "$SYS/broker/version", "-m", "fake", "-q", "1", "-r"])).code, 0);
  await b.broker.publish({ topic: "plain/topic", payload: "sentinel" });
  const got = await all.waitFor(1);
  assert.deepEqual(
    got.map((m) => m.topic),
    ["plain/topic"],
    "no $SYS message reached '#'",
  );
  const check = mosquittoSub(t, b.port, ["-t", "$SYS/broker/version", "-C", "1"]);
  await check.waitForLines(1);
  assert.match(parseSubLines(check.lines)[0]?.payload ?? "", /^wharf version/, "the fake was not stored");
});

test("the in-flight window is bounded in bytes too (maxQueuedBytes): a reader that never acknowledges pins at most that much", async (t) => {
  // 1,000 messages allowed in flight, but 4 KiB of payload: 1 KiB messages stop at 4 in flight (the window opens
  // past the bound only while it is empty, so one message larger than the bound still goes out alone).
  const b = await startBroker({ sysInterval: 0, maxInflight: 1000, maxQueuedBytes: 4096 });
  t.after(() => b.close());
  const raw = await RawClient.connect(ep(b.port), { clientId: "noacker", protocolVersion: 4 }, { protocolVersion: 4 });
  t.after(() => raw.destroy());
  await raw.subscribe([{ topicFilter: "ib", qos: 1 }]);
  const pub = await mqttjs(t, b.url, { protocolVersion: 4, clientId: "ibpub" });
  const kib = Buffer.alloc(1024, 1);
  for (let i = 0; i < 6; i++) await pub.client.publishAsync("ib", kib, { qos: 1 });
  await waitUntil(() => b.broker.stats().queued === 2, 5000, "2 queued behind the byte bound");
  assert.equal(b.broker.stats().inflight, 4, "4 KiB in flight, not 6");
  const first = await raw.next(PacketType.PUBLISH);
  for (let i = 0; i < 3; i++) await raw.next(PacketType.PUBLISH);
  raw.puback(first.packetId!); // 3 KiB in flight: room for one more
  await raw.next(PacketType.PUBLISH);
  await waitUntil(() => b.broker.stats().queued === 1, 5000, "one more sent after the PUBACK");
  assert.equal(b.broker.stats().inflight, 4);
  // A message larger than the whole bound still goes out, once the window is empty.
  const big = await startBroker({ sysInterval: 0, maxQueuedBytes: 512 });
  t.after(() => big.close());
  const r2 = await RawClient.connect(ep(big.port), { clientId: "big", protocolVersion: 4 }, { protocolVersion: 4 });
  t.after(() => r2.destroy());
  await r2.subscribe([{ topicFilter: "ib", qos: 1 }]);
  const p2 = await mqttjs(t, big.url, { protocolVersion: 4, clientId: "bigpub" });
  await p2.client.publishAsync("ib", kib, { qos: 1 });
  assert.equal((await r2.next(PacketType.PUBLISH)).payload.length, 1024);
});

test("maxInflight: at most N unacknowledged QoS 1 messages to a client; the rest flow as PUBACKs arrive", async (t) => {
  const b = await startBroker({ sysInterval: 0, maxInflight: 2 });
  t.after(() => b.close());
  const raw = await RawClient.connect(
    ep(b.port),
    { clientId: "slowacker", protocolVersion: 4 },
    { protocolVersion: 4 },
  );
  t.after(() => raw.destroy());
  await raw.subscribe([{ topicFilter: "mi", qos: 1 }]);
  const pub = await mqttjs(t, b.url, { protocolVersion: 4, clientId: "mipub" });
  for (let i = 0; i < 5; i++) await pub.client.publishAsync("mi", `m${i}`, { qos: 1 });
  await waitUntil(() => b.broker.stats().queued === 3, 5000, "3 queued behind the window");
  const first = [await raw.next(PacketType.PUBLISH), await raw.next(PacketType.PUBLISH)];
  assert.equal(raw.pending(PacketType.PUBLISH).length, 0, "only 2 in flight");
  assert.equal(b.broker.stats().inflight, 2);
  raw.puback(first[0]!.packetId!);
  const third = await raw.next(PacketType.PUBLISH);
  assert.equal(third.payload.toString(), "m2");
  for (const p of [first[1]!, third]) raw.puback(p.packetId!);
  const rest = [await raw.next(PacketType.PUBLISH), await raw.next(PacketType.PUBLISH)];
  assert.deepEqual(
    rest.map((p) => p.payload.toString()),
    ["m3", "m4"],
  );
  raw.disconnect();
});

test("slow subscriber isolation: a subscriber that stops reading does not slow another; its backlog stays bounded", async (t) => {
  const b = await startBroker({ sysInterval: 0, maxQueuedMessages: 50 });
  t.after(() => b.close());
  const stalled = await RawClient.connect(
    ep(b.port),
    { clientId: "stalled", protocolVersion: 4 },
    { protocolVersion: 4 },
  );
  t.after(() => stalled.destroy());
  await stalled.subscribe([{ topicFilter: "flood", qos: 0 }]);
  stalled.socket.pause(); // stops reading: its TCP window fills, then the broker's writes report backpressure
  const fast = await mqttjs(t, b.url, { protocolVersion: 4, clientId: "fast" });
  await fast.client.subscribeAsync("flood", { qos: 1 });
  const pub = await mqttjs(t, b.url, { protocolVersion: 4, clientId: "flooder" });
  const payload = Buffer.alloc(64 * 1024, 0x61);
  const count = 300; // 19 MB: more than the loopback socket buffers of the stalled client hold
  for (let i = 0; i < count; i++) {
    payload.writeUInt32BE(i, 0);
    await pub.client.publishAsync("flood", payload, { qos: 1 });
  }
  const got = await fast.waitFor(count, 20_000);
  assert.deepEqual(
    got.map((m) => m.bytes.readUInt32BE(0)),
    Array.from({ length: count }, (_, i) => i),
    "the reading subscriber got every message, in order",
  );
  const s = b.broker.stats();
  assert.ok(s.droppedQos0 > 0, "the stalled subscriber's QoS 0 overflow was dropped, not buffered without bound");
  assert.ok(s.queued <= 50, `queued ${s.queued} within the bound`);
  assert.equal(s.queueRejected, 0, "no QoS 1 message was refused");
  stalled.destroy(); // otherwise shutdown waits closeTimeout for a socket that never drains
});

test("maxConnections: connections beyond the listener limit are closed at once", async (t) => {
  const b = await startBroker({ sysInterval: 0, maxConnections: 2 });
  t.after(() => b.close());
  await mqttjs(t, b.url, { protocolVersion: 4, clientId: "c1" });
  await mqttjs(t, b.url, { protocolVersion: 4, clientId: "c2" });
  const extra = await RawClient.open(ep(b.port), { protocolVersion: 4 });
  t.after(() => extra.destroy());
  extra.sendConnect({ clientId: "c3", protocolVersion: 4 });
  await extra.waitClosed();
  assert.equal(extra.connack, undefined);
  assert.equal(extra.received.length, 0);
  assert.equal(b.listener.connections, 2);
});

test("max packet size (listener limit): a larger packet closes the connection and is not delivered", async (t) => {
  const b = await startBroker({ sysInterval: 0, listenerMaxPacketSize: 1024 });
  t.after(() => b.close());
  const sub = await mqttjs(t, b.url, { protocolVersion: 4, clientId: "s" });
  await sub.client.subscribeAsync("big", { qos: 0 });
  const raw = await RawClient.connect(ep(b.port), { clientId: "big", protocolVersion: 4 }, { protocolVersion: 4 });
  t.after(() => raw.destroy());
  raw.publish("big", Buffer.alloc(2000));
  await raw.waitClosed();
  const small = await RawClient.connect(ep(b.port), { clientId: "small", protocolVersion: 4 }, { protocolVersion: 4 });
  t.after(() => small.destroy());
  small.publish("big", Buffer.alloc(500, 0x62));
  const got = await sub.waitFor(1);
  assert.deepEqual(
    got.map((m) => m.payload.length),
    [500],
  );
  small.disconnect();
});
