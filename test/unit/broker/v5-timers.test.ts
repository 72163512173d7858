// Exact timer behaviour of the 5.0 session features on a FakeClock: Session Expiry Interval (0, finite,
// 0xFFFFFFFF, changed by DISCONNECT), Will Delay Interval (delay or session end, whichever first; cancelled by a
// resumed session) and Message Expiry Interval (queued, in flight, retained, delayed wills).
import assert from "node:assert/strict";
import { test } from "node:test";
import { PacketType, ReasonCode } from "../../../src/codec/index.ts";
import type { DisconnectPacket, Properties, PublishPacket, QoS, Will } from "../../../src/codec/index.ts";
import { harness, payloads, settle } from "./harness.ts";
import type { Harness } from "./harness.ts";
import { brokerInternals } from "../../../src/broker/internal.ts";

const NEVER = 0xffffffff;

function will(payload: string, delay: number | undefined, properties: Properties = {}, qos: QoS = 0): Will {
  return {
    topic: "will",
    payload: Buffer.from(payload),
    qos,
    retain: false,
    properties: delay === undefined ? properties : { ...properties, willDelayInterval: delay },
  };
}

/** A 3.1.1 subscriber to "will" (it never expires or gets expiry properties). */
async function willWatcher(h: Harness) {
  const w = await h.connect({ clientId: "watcher" });
  await w.client.subscribe("will", 0);
  return w.client;
}

/** Connects `id` with a persistent 5.0 session subscribed to "t" at QoS 1, then drops the connection. */
async function offlineSubscriber(h: Harness, id: string, expiry: number): Promise<void> {
  const a = await h.connect({ clientId: id, version: 5, clean: false, properties: { sessionExpiryInterval: expiry } });
  await a.client.subscribe("t", 1);
  a.client.drop();
  await settle();
}

// ---- Session Expiry Interval ----------------------------------------------------------------------------------

test("(§3.1.2.11.2) Session Expiry absent (0): the session ends with the connection, also without DISCONNECT [MQTT-3.1.2-6]", async () => {
  const h = harness();
  const a = await h.connect({ clientId: "zero", version: 5, clean: false });
  await a.client.subscribe("t", 1);
  a.client.drop();
  await settle();
  assert.equal(brokerInternals(h.broker).sessions.has("zero"), false);
  assert.equal(h.clock.pending, 0, "no timer left behind");
});

test("(§3.1.2.11.2) finite Session Expiry: kept until exactly the interval after the connection closed, queued messages included", async () => {
  const h = harness();
  await offlineSubscriber(h, "fin", 30);
  await h.broker.publish({ topic: "t", payload: "queued", qos: 1 });
  h.clock.advance(29_999);
  assert.equal(brokerInternals(h.broker).sessions.get("fin")?.queue.length, 1);
  h.clock.advance(1);
  assert.equal(brokerInternals(h.broker).sessions.has("fin"), false, "expired at the interval");
  const again = await h.connect({
    clientId: "fin",
    version: 5,
    clean: false,
    properties: { sessionExpiryInterval: 30 },
  });
  assert.equal(again.connack.sessionPresent, false);
  assert.deepEqual(again.client.take(), [], "queued messages went with the session");
});

test("(§3.1.2.11.2) the expiry countdown restarts at every disconnection", async () => {
  const h = harness();
  const props = { sessionExpiryInterval: 60 };
  await offlineSubscriber(h, "re", 60);
  h.clock.advance(59_000);
  const b = await h.connect({ clientId: "re", version: 5, clean: false, properties: props });
  assert.equal(b.connack.sessionPresent, true);
  h.clock.advance(30_000); // connected: no expiry runs
  b.client.drop();
  await settle();
  h.clock.advance(59_999);
  assert.equal(brokerInternals(h.broker).sessions.has("re"), true);
  h.clock.advance(1);
  assert.equal(brokerInternals(h.broker).sessions.has("re"), false);
});

test("(§3.1.2.11.2) Session Expiry 0xFFFFFFFF never expires (no timer is even armed)", async () => {
  const h = harness();
  await offlineSubscriber(h, "forever", NEVER);
  assert.equal(h.clock.pending, 0);
  h.clock.advance(10 * 365 * 86_400_000);
  assert.equal(brokerInternals(h.broker).sessions.has("forever"), true);
  const b = await h.connect({
    clientId: "forever",
    version: 5,
    clean: false,
    properties: { sessionExpiryInterval: NEVER },
  });
  assert.equal(b.connack.sessionPresent, true);
});

test("(§3.14.2.2.2) a Session Expiry Interval on DISCONNECT replaces the CONNECT one: lowered to 0 ends now, raised keeps longer", async () => {
  const h = harness();
  const connect = async (id: string, expiry: number) =>
    (await h.connect({ clientId: id, version: 5, clean: false, properties: { sessionExpiryInterval: expiry } })).client;

  const lower = await connect("lower", 600);
  lower.disconnect({ sessionExpiryInterval: 0 });
  await settle();
  assert.equal(brokerInternals(h.broker).sessions.has("lower"), false);

  const raise = await connect("raise", 10);
  raise.disconnect({ sessionExpiryInterval: 100 });
  await settle();
  const forever = await connect("forever", 10);
  forever.disconnect({ sessionExpiryInterval: NEVER });
  await settle();
  const kept = await connect("kept", 10);
  kept.disconnect(); // absent on DISCONNECT: the CONNECT value stands
  await settle();
  h.clock.advance(10_000);
  assert.equal(brokerInternals(h.broker).sessions.has("kept"), false);
  assert.equal(brokerInternals(h.broker).sessions.has("raise"), true);
  h.clock.advance(89_999);
  assert.equal(brokerInternals(h.broker).sessions.has("raise"), true);
  h.clock.advance(1);
  assert.equal(brokerInternals(h.broker).sessions.has("raise"), false);
  h.clock.advance(365 * 86_400_000);
  assert.equal(brokerInternals(h.broker).sessions.has("forever"), true);
});

test("(§3.14.2.2.2) [MQTT-3.14.2-2] DISCONNECT raising Session Expiry from 0: DISCONNECT 0x82 without Session Expiry; the session ends and the will is published", async () => {
  const h = harness();
  const watcher = await willWatcher(h);
  const a = await h.connect({ clientId: "z", version: 5, clean: false, will: will("protocol error", undefined) });
  a.client.disconnect({ sessionExpiryInterval: 30 });
  const d = a.client.take().at(-1) as DisconnectPacket | undefined;
  assert.equal(d?.type, PacketType.DISCONNECT);
  assert.equal(d.reasonCode, ReasonCode.ProtocolError);
  assert.equal(d.properties?.sessionExpiryInterval, undefined);
  assert.equal(brokerInternals(h.broker).sessions.has("z"), false);
  assert.deepEqual(payloads(await watcher.receive()), ["protocol error"], "not a normal disconnection");
});

test("3.1.1: clean session 0 never expires, clean session 1 ends with the connection", async () => {
  const h = harness();
  const p = await h.connect({ clientId: "p", clean: false });
  const c = await h.connect({ clientId: "c", clean: true });
  p.client.drop();
  c.client.drop();
  await settle();
  h.clock.advance(365 * 86_400_000);
  assert.equal(brokerInternals(h.broker).sessions.has("p"), true);
  assert.equal(brokerInternals(h.broker).sessions.has("c"), false);
});

// ---- Will Delay Interval --------------------------------------------------------------------------------------

test("[MQTT-3.1.2-8] Will Delay: published exactly when the delay has passed (session outlives it)", async () => {
  const h = harness();
  const watcher = await willWatcher(h);
  const a = await h.connect({
    clientId: "wd",
    version: 5,
    properties: { sessionExpiryInterval: 100 },
    will: will("late", 10),
  });
  a.client.drop();
  h.clock.advance(9_999);
  assert.deepEqual(await watcher.receive(), []);
  h.clock.advance(1);
  assert.deepEqual(payloads(await watcher.receive()), ["late"]);
  assert.equal(brokerInternals(h.broker).sessions.has("wd"), true, "the session outlives its will");
});

test("[MQTT-3.1.2-8] Will Delay: the session ending first sends the will then (expiry < delay; DISCONNECT 0x04 lowering expiry to 0)", async () => {
  const h = harness();
  const watcher = await willWatcher(h);
  const a = await h.connect({
    clientId: "short",
    version: 5,
    properties: { sessionExpiryInterval: 5 },
    will: will("at session end", 60),
  });
  a.client.drop();
  h.clock.advance(4_999);
  assert.deepEqual(await watcher.receive(), []);
  h.clock.advance(1);
  assert.deepEqual(payloads(await watcher.receive()), ["at session end"]);
  assert.equal(brokerInternals(h.broker).sessions.has("short"), false);

  const b = await h.connect({
    clientId: "ends-now",
    version: 5,
    properties: { sessionExpiryInterval: 600 },
    will: will("with 0x04", 60),
  });
  b.client.disconnect({ sessionExpiryInterval: 0 }, ReasonCode.DisconnectWithWillMessage);
  assert.deepEqual(payloads(await watcher.receive()), ["with 0x04"], "session ended at once: will at once");

  const c = await h.connect({ clientId: "no-session", version: 5, will: will("immediately", 60) });
  c.client.drop();
  assert.deepEqual(payloads(await watcher.receive()), ["immediately"], "Session Expiry 0: no delay possible");
});

test("[MQTT-3.1.3-9] a new connection to the session before the delay cancels the will; with Clean Start 1 the old session ends and the will goes at once", async () => {
  const h = harness();
  const watcher = await willWatcher(h);
  const props = { sessionExpiryInterval: 300 };
  const a = await h.connect({ clientId: "res", version: 5, clean: false, properties: props, will: will("never", 30) });
  a.client.drop();
  h.clock.advance(29_000);
  const resumed = await h.connect({ clientId: "res", version: 5, clean: false, properties: props });
  assert.equal(resumed.connack.sessionPresent, true);
  h.clock.advance(120_000);
  assert.deepEqual(await watcher.receive(), []);

  // Takeover while connected (no DISCONNECT from the old connection): the resumed session cancels its will too.
  const b = await h.connect({ clientId: "take", version: 5, clean: false, properties: props, will: will("taken", 30) });
  await h.connect({ clientId: "take", version: 5, clean: false, properties: props });
  assert.equal(only5(b.client.take()), ReasonCode.SessionTakenOver);
  h.clock.advance(60_000);
  assert.deepEqual(await watcher.receive(), []);

  const c = await h.connect({
    clientId: "clean",
    version: 5,
    clean: false,
    properties: props,
    will: will("replaced", 30),
  });
  c.client.drop();
  h.clock.advance(1_000);
  await h.connect({ clientId: "clean", version: 5, clean: true, properties: props });
  assert.deepEqual(payloads(await watcher.receive()), ["replaced"], "the session ended: its will is sent then");
  h.clock.advance(60_000);
  assert.deepEqual(await watcher.receive(), [], "and only once");
});

function only5(packets: { type: number }[]): number | undefined {
  const d = packets.find((p): p is DisconnectPacket => p.type === PacketType.DISCONNECT);
  return d?.reasonCode;
}

// ---- Message Expiry Interval ----------------------------------------------------------------------------------

test("[MQTT-3.3.2-5] [MQTT-3.3.2-6] queued messages: expired ones are dropped at exactly their interval; the others carry the remaining interval (rounded up)", async () => {
  const h = harness();
  await offlineSubscriber(h, "q", 3600);
  await h.broker.publish({ topic: "t", payload: "10s", qos: 1, properties: { messageExpiryInterval: 10 } });
  await h.broker.publish({ topic: "t", payload: "20s", qos: 1, properties: { messageExpiryInterval: 20 } });
  await h.broker.publish({ topic: "t", payload: "none", qos: 1 });
  h.clock.advance(9_999);
  const early = await h.connect({
    clientId: "q",
    version: 5,
    clean: false,
    properties: { sessionExpiryInterval: 3600 },
  });
  const got = early.client.take().filter((p): p is PublishPacket => p.type === PacketType.PUBLISH);
  assert.deepEqual(
    got.map((p) => [p.payload.toString(), p.properties?.messageExpiryInterval]),
    [
      ["10s", 1], // 1 ms left: still sent, with 1 s
      ["20s", 11],
      ["none", undefined],
    ],
  );
  assert.equal(h.broker.stats().expired, 0);

  await offlineSubscriber(h, "q2", 3600);
  await h.broker.publish({ topic: "t", payload: "gone", qos: 1, properties: { messageExpiryInterval: 10 } });
  h.clock.advance(10_000);
  const late = await h.connect({
    clientId: "q2",
    version: 5,
    clean: false,
    properties: { sessionExpiryInterval: 3600 },
  });
  assert.deepEqual(payloads(late.client.take()), []);
  assert.equal(h.broker.stats().expired, 1);
});

test("[MQTT-3.3.2-6] a message in flight is resent on reconnect with the interval remaining then", async () => {
  const h = harness();
  const props = { sessionExpiryInterval: 600 };
  const a = await h.connect({ clientId: "inf", version: 5, clean: false, properties: props });
  await a.client.subscribe("t", 1);
  await h.broker.publish({ topic: "t", payload: "x", qos: 1, properties: { messageExpiryInterval: 60 } });
  const [first] = await a.client.publishes();
  assert.equal(first?.properties?.messageExpiryInterval, 60);
  a.client.drop(); // not acknowledged
  await settle();
  h.clock.advance(25_000);
  const b = await h.connect({ clientId: "inf", version: 5, clean: false, properties: props });
  const [again] = b.client.take().filter((p): p is PublishPacket => p.type === PacketType.PUBLISH);
  assert.equal(again?.dup, true);
  assert.equal(again.properties?.messageExpiryInterval, 35);
});

test("(§3.3.2.3.3) retained messages expire: remaining interval to new subscribers, dropped once expired", async () => {
  const h = harness();
  await h.broker.publish({ topic: "r", payload: "soon", retain: true, properties: { messageExpiryInterval: 30 } });
  await h.broker.publish({ topic: "r2", payload: "kept", retain: true });
  h.clock.advance(12_500);
  const a = await h.connect({ clientId: "a", version: 5 });
  await a.client.subscribe(["r", "r2"], 0);
  const got = (await a.client.publishes()).map((p) => [p.payload.toString(), p.properties?.messageExpiryInterval]);
  assert.deepEqual(got.sort(), [
    ["kept", undefined],
    ["soon", 18],
  ]);
  h.clock.advance(17_500);
  const b = await h.connect({ clientId: "b", version: 5 });
  await b.client.subscribe("r", 0);
  assert.deepEqual(await b.client.publishes(), []);
  assert.equal(h.broker.stats().retained, 1, "the expired one was removed");
});

test("(§3.1.3.2.4) a delayed will's Message Expiry Interval starts when the will is published", async () => {
  const h = harness();
  const sub = await h.connect({ clientId: "s", version: 5, clean: false, properties: { sessionExpiryInterval: 600 } });
  await sub.client.subscribe("will", 1);
  sub.client.drop();
  await settle();
  const a = await h.connect({
    clientId: "w",
    version: 5,
    properties: { sessionExpiryInterval: 600 },
    will: will("expiring will", 20, { messageExpiryInterval: 30 }, 1),
  });
  a.client.drop();
  h.clock.advance(20_000); // published now: its 30 s start here
  h.clock.advance(10_000);
  const back = await h.connect({ clientId: "s", version: 5, clean: false, properties: { sessionExpiryInterval: 600 } });
  const [m] = back.client.take().filter((p): p is PublishPacket => p.type === PacketType.PUBLISH);
  assert.equal(m?.payload.toString(), "expiring will");
  assert.equal(m.properties?.messageExpiryInterval, 20);
});
