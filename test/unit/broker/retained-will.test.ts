import assert from "node:assert/strict";
import { test } from "node:test";
import { PacketType } from "../../../src/codec/index.ts";
import type { DisconnectPacket, Will } from "../../../src/codec/index.ts";
import { harness, payloads, settle } from "./harness.ts";

const will = (topic: string, payload: string, o: Partial<Will> = {}): Will => ({
  topic,
  payload: Buffer.from(payload),
  qos: 0,
  retain: false,
  ...o,
});

test("retained: stored, delivered with RETAIN=1 on subscribe [MQTT-3.3.1-5] [MQTT-3.3.1-6] [MQTT-3.3.1-8]", async () => {
  const h = harness();
  const pub = await h.connect({ clientId: "p" });
  pub.client.publish("r/1", "v1", 1, { retain: true });
  await pub.client.receive();
  const sub = await h.connect({ clientId: "s" });
  await sub.client.subscribe("r/+", 1);
  const [m] = await sub.client.publishes();
  assert.equal(m?.payload.toString(), "v1");
  assert.equal(m?.retain, true);
  assert.equal(m?.qos, 1, "stored with its QoS");
  assert.equal(h.broker.stats().retained, 1);
});

test("retained: forwarded to existing subscribers with RETAIN cleared [MQTT-3.3.1-9]", async () => {
  const h = harness();
  const sub = await h.connect({ clientId: "s" });
  await sub.client.subscribe("r/#", 0);
  const pub = await h.connect({ clientId: "p" });
  pub.client.publish("r/x", "live", 0, { retain: true });
  const [m] = await sub.client.publishes();
  assert.equal(m?.retain, false);
});

test("retained: replaced by a newer retained message, untouched by a non-retained one [MQTT-3.3.1-12]", async () => {
  const h = harness();
  const pub = await h.connect({ clientId: "p" });
  pub.client.publish("r", "old", 0, { retain: true });
  pub.client.publish("r", "new", 0, { retain: true });
  pub.client.publish("r", "not retained", 0);
  await settle();
  const sub = await h.connect({ clientId: "s" });
  await sub.client.subscribe("r", 0);
  assert.deepEqual(payloads(sub.client.take()), ["new"]);
});

test("retained: empty payload deletes it and is not stored, but is forwarded [MQTT-3.3.1-10] [MQTT-3.3.1-11]", async () => {
  const h = harness();
  const live = await h.connect({ clientId: "live" });
  await live.client.subscribe("r", 0);
  const pub = await h.connect({ clientId: "p" });
  pub.client.publish("r", "v", 0, { retain: true });
  pub.client.publish("r", "", 0, { retain: true });
  const forwarded = await live.client.publishes();
  assert.deepEqual(
    forwarded.map((p) => p.payload.length),
    [1, 0],
  );
  assert.equal(h.broker.stats().retained, 0);
  const sub = await h.connect({ clientId: "s" });
  await sub.client.subscribe("r", 0);
  assert.deepEqual(sub.client.take(), []);
});

test("retained: re-subscribing re-sends retained messages [MQTT-3.8.4-3]; '#' does not see $SYS [MQTT-4.7.2-1]", async () => {
  const h = harness();
  await h.broker.publish({ topic: "a", payload: "1", retain: true });
  await h.broker.publish({ topic: "$SYS/x", payload: "sys", retain: true });
  const { client } = await h.connect({ clientId: "s" });
  await client.subscribe("#", 0);
  assert.deepEqual(payloads(client.take()), ["1"]);
  await client.subscribe("#", 1);
  assert.deepEqual(payloads(client.take()), ["1"]);
  await client.subscribe("$SYS/#", 0);
  assert.deepEqual(payloads(client.take()), ["sys"]);
});

test("will: published when the socket closes without DISCONNECT [MQTT-3.1.2-8]", async () => {
  const h = harness();
  const sub = await h.connect({ clientId: "s" });
  await sub.client.subscribe("w", 1);
  const dying = await h.connect({ clientId: "d", will: will("w", "gone", { qos: 1 }) });
  dying.client.drop();
  const [m] = await sub.client.publishes();
  assert.equal(m?.payload.toString(), "gone");
  assert.equal(m?.qos, 1);
});

test("will: not published after DISCONNECT [MQTT-3.1.2-10] [MQTT-3.14.4-3]", async () => {
  const h = harness();
  const sub = await h.connect({ clientId: "s" });
  await sub.client.subscribe("w", 0);
  const leaving = await h.connect({ clientId: "d", will: will("w", "gone") });
  leaving.client.disconnect();
  await settle();
  assert.equal(leaving.client.transport.closed, true);
  assert.deepEqual(await sub.client.receive(), []);
});

test("will: retained will is stored as retained [MQTT-3.1.2-17]", async () => {
  const h = harness();
  const d = await h.connect({ clientId: "d", will: will("status/d", "offline", { retain: true }) });
  d.client.drop();
  await settle();
  const sub = await h.connect({ clientId: "s" });
  await sub.client.subscribe("status/+", 0);
  const [m] = sub.client.take().filter((p) => p.type === PacketType.PUBLISH);
  assert.equal(m?.type === PacketType.PUBLISH && m.retain, true);
});

test("will: published on a protocol violation and on takeover", async () => {
  const h = harness();
  const sub = await h.connect({ clientId: "s" });
  await sub.client.subscribe("w/#", 0);
  const bad = await h.connect({ clientId: "bad", will: will("w/bad", "bad") });
  bad.client.send({ type: PacketType.CONNACK, sessionPresent: false, reasonCode: 0 });
  const taken = await h.connect({ clientId: "dup", will: will("w/dup", "dup") });
  await h.connect({ clientId: "dup" });
  assert.deepEqual(payloads(await sub.client.receive()), ["bad", "dup"]);
  assert.equal(taken.client.transport.closed, true);
});

test("keepalive: closed after 1.5 x keepalive without packets, will published [MQTT-3.1.2-24]", async () => {
  const h = harness();
  const sub = await h.connect({ clientId: "s" });
  await sub.client.subscribe("w", 0);
  const quiet = await h.connect({ clientId: "q", keepAlive: 10, will: will("w", "timeout") });
  h.clock.advance(14_999);
  assert.equal(quiet.client.transport.closed, false, "still alive before 15 s");
  h.clock.advance(1);
  assert.equal(quiet.client.transport.closed, true);
  assert.deepEqual(payloads(await sub.client.receive()), ["timeout"]);
});

test("keepalive: any packet (PINGREQ) resets the 1.5 x window", async () => {
  const h = harness();
  const { client } = await h.connect({ clientId: "k", keepAlive: 10 });
  for (let i = 0; i < 5; i++) {
    h.clock.advance(14_000);
    client.send({ type: PacketType.PINGREQ });
  }
  assert.equal(client.transport.closed, false);
  h.clock.advance(15_000);
  assert.equal(client.transport.closed, true);
});

test("keepalive 0 disables the timeout; maxKeepAlive caps a larger keepalive (3.1.1: supervised at the cap)", async () => {
  const h = harness({ maxKeepAlive: 20 });
  const idle = await h.connect({ clientId: "zero", keepAlive: 0 });
  const big = await h.connect({ clientId: "big", keepAlive: 600 });
  h.clock.advance(30_000);
  assert.equal(idle.client.transport.closed, false);
  assert.equal(big.client.transport.closed, true, "1.5 x 20 s");
});

test("5.0 keepalive timeout sends DISCONNECT 0x8D; maxKeepAlive announced as Server Keep Alive", async () => {
  const h = harness({ maxKeepAlive: 30 });
  const { client, connack } = await h.connect({ clientId: "k5", keepAlive: 0, version: 5 });
  assert.equal(connack.properties?.serverKeepAlive, 30);
  h.clock.advance(45_000);
  const last = client.take().at(-1) as DisconnectPacket | undefined;
  assert.equal(last?.type, PacketType.DISCONNECT);
  assert.equal(last.reasonCode, 0x8d);
});

test("5.0 will delay: published after the delay; not published if the client reconnects first", async () => {
  const h = harness();
  const sub = await h.connect({ clientId: "s" });
  await sub.client.subscribe("w", 0);
  const props = { sessionExpiryInterval: 100 };
  const a = await h.connect({
    clientId: "wd",
    version: 5,
    clean: false,
    properties: props,
    will: will("w", "late", { properties: { willDelayInterval: 10 } }),
  });
  a.client.drop();
  h.clock.advance(9_000);
  assert.deepEqual(await sub.client.receive(), []);
  h.clock.advance(1_000);
  assert.deepEqual(payloads(await sub.client.receive()), ["late"]);

  const b = await h.connect({
    clientId: "wd",
    version: 5,
    clean: false,
    properties: props,
    will: will("w", "never", { properties: { willDelayInterval: 10 } }),
  });
  b.client.drop();
  h.clock.advance(5_000);
  await h.connect({ clientId: "wd", version: 5, clean: false, properties: props });
  h.clock.advance(20_000);
  assert.deepEqual(await sub.client.receive(), [], "reconnected within the delay (5.0 [MQTT-3.1.2-26])");
});

test("5.0 DISCONNECT 0x04 publishes the will", async () => {
  const h = harness();
  const sub = await h.connect({ clientId: "s" });
  await sub.client.subscribe("w", 0);
  const a = await h.connect({ clientId: "d5", version: 5, will: will("w", "asked") });
  a.client.disconnect(undefined, 0x04);
  assert.deepEqual(payloads(await sub.client.receive()), ["asked"]);
});

test("5.0 will properties reach subscribers; will-only properties (Will Delay Interval) do not [MQTT-3.1.3-10]", async () => {
  const h = harness();
  const sub = await h.connect({ clientId: "s5", version: 5 });
  await sub.client.subscribe("w", 1);
  const a = await h.connect({
    clientId: "d5",
    version: 5,
    properties: { sessionExpiryInterval: 1 },
    will: will("w", "bye", {
      qos: 1,
      properties: { willDelayInterval: 60, contentType: "text/plain", userProperties: [["k", "v"]] },
    }),
  });
  a.client.drop();
  h.clock.advance(1_000); // the session ends before the will delay: the will goes then
  const [m] = await sub.client.publishes();
  assert.equal(m?.payload.toString(), "bye");
  assert.equal(m?.properties?.contentType, "text/plain");
  assert.deepEqual(m?.properties?.userProperties, [["k", "v"]]);
  assert.equal(m?.properties?.willDelayInterval, undefined);
});

test("retained before live [MQTT-3.3.1-9]: live messages wait behind retained ones still held back by the inflight window", async () => {
  const h = harness({ maxInflight: 1 });
  for (const i of [0, 1, 2])
    await h.broker.publish({ topic: `r/${i}`, payload: `retained ${i}`, qos: 1, retain: true });
  const { client } = await h.connect({ clientId: "s" });
  await client.subscribe("r/#", 1);
  const { client: pub } = await h.connect({ clientId: "p" });
  pub.publish("r/x", "live qos0", 0); // the connection could take it now: it still waits for r/1 and r/2
  pub.publish("r/y", "live qos1", 1);
  const order: string[] = [];
  for (let round = 0; round < 10 && order.length < 5; round++) {
    for (const p of (await client.receive()).filter((x) => x.type === PacketType.PUBLISH)) {
      order.push(p.payload.toString());
      client.ack(p);
    }
  }
  assert.deepEqual(order, ["retained 0", "retained 1", "retained 2", "live qos0", "live qos1"]);
});
