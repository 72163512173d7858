// MQTT 5.0 acceptance (issue #4): Clean Start, Session Expiry Interval (0, finite, 0xFFFFFFFF, changed by
// DISCONNECT), session resumption with resent PUBLISH (DUP) and PUBREL.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { PacketType, ReasonCode } from "../../../src/codec/index.ts";
import type { RawClient } from "../../helpers/raw-client.ts";
import { startTarget } from "../../helpers/target.ts";
import type { Target } from "../../helpers/target.ts";
import { mqttjs, raw, topicFor, uid } from "./harness.ts";
import type { Ctx } from "./harness.ts";

let target: Target;
before(async () => {
  // Session expiry is tested by advancing the broker's clock (Wharf), not by waiting for it.
  target = await startTarget({ fakeClock: true });
});
after(() => target?.close());

/** Connects `clientId` with a session expiry, subscribes QoS 1 to a fresh topic and disconnects normally. */
async function parkSession(t: Ctx, clientId: string, sessionExpiryInterval: number | undefined): Promise<string> {
  const topic = topicFor("parked");
  const c = await raw(t, target, {
    clientId,
    clean: true,
    properties: sessionExpiryInterval === undefined ? undefined : { sessionExpiryInterval },
  });
  assert.deepEqual((await c.subscribe([{ topicFilter: topic, qos: 1 }])).reasonCodes, [1]);
  c.disconnect();
  await c.waitClosed();
  return topic;
}

/** Publishes one QoS 1 message (waiting for the PUBACK). */
async function publishOne(t: Ctx, topic: string, payload: string): Promise<void> {
  const p = await mqttjs(t, target);
  await p.publishAsync(topic, payload, { qos: 1 });
  await p.endAsync();
}

/** Reconnects with Clean Start 0; returns the client and the queued messages it received (sent before a PINGRESP). */
async function resume(
  t: Ctx,
  clientId: string,
  sessionExpiryInterval = 0,
): Promise<{ c: RawClient; payloads: string[] }> {
  const c = await raw(t, target, { clientId, clean: false, properties: { sessionExpiryInterval } });
  await c.ping(); // queued messages are sent on resume, before the broker reads the PINGREQ
  const payloads = c.pending(PacketType.PUBLISH).map((p) => p.payload.toString());
  return { c, payloads };
}

test("[MQTT-3.1.2-23] [MQTT-3.2.2-3] [MQTT-3.1.2-5] Session Expiry > 0: subscriptions and queued messages survive the connection; Session Present 1", async (t) => {
  const id = `sess-${uid()}`;
  const topic = await parkSession(t, id, 60);
  await publishOne(t, topic, "while-away");
  const { c, payloads } = await resume(t, id);
  assert.equal(c.connack!.sessionPresent, true);
  assert.deepEqual(payloads, ["while-away"]);
});

test("[MQTT-3.1.2-4] [MQTT-3.2.2-2] Clean Start 1 discards the existing session: Session Present 0, nothing delivered", async (t) => {
  const id = `clean-${uid()}`;
  const topic = await parkSession(t, id, 60);
  await publishOne(t, topic, "discarded");
  const c = await raw(t, target, { clientId: id, clean: true, properties: { sessionExpiryInterval: 60 } });
  assert.equal(c.connack!.sessionPresent, false);
  await c.ping();
  assert.deepEqual(c.pending(PacketType.PUBLISH), []);
  c.disconnect(0, { sessionExpiryInterval: 0 });
});

test("[MQTT-3.1.2-6] [MQTT-3.2.2-3] Session Expiry absent (0): the session ends with the network connection", async (t) => {
  const id = `zero-${uid()}`;
  const topic = await parkSession(t, id, undefined);
  await publishOne(t, topic, "lost");
  const { c, payloads } = await resume(t, id);
  assert.equal(c.connack!.sessionPresent, false);
  assert.deepEqual(payloads, []);
});

test("(§3.1.2.11.2, §4.1) an expired session and its queued messages are removed once the interval has passed", async (t) => {
  const id = `exp-${uid()}`;
  const topic = await parkSession(t, id, 1);
  await publishOne(t, topic, "expires-with-session");
  await target.advance(2200);
  const { c, payloads } = await resume(t, id);
  assert.equal(c.connack!.sessionPresent, false, "session expired after 1 s");
  assert.deepEqual(payloads, [], "its queued message went with it");
});

test("(§3.1.2.11.2) Session Expiry 0xFFFFFFFF: the session outlives a finite interval and does not expire", async (t) => {
  const forever = `forever-${uid()}`;
  const short = `short-${uid()}`;
  const topicForever = await parkSession(t, forever, 0xffffffff);
  const topicShort = await parkSession(t, short, 1);
  await publishOne(t, topicForever, "kept");
  await publishOne(t, topicShort, "dropped");
  await target.advance(2200);
  const s = await resume(t, short);
  assert.equal(s.c.connack!.sessionPresent, false, "control: the 1 s session expired");
  const f = await resume(t, forever);
  assert.equal(f.c.connack!.sessionPresent, true, "0xFFFFFFFF session still there");
  assert.deepEqual(f.payloads, ["kept"]);
});

test("(§3.14.2.2.2) a Session Expiry Interval on DISCONNECT replaces the CONNECT value (lowered to 0: ends now; raised: kept longer)", async (t) => {
  const lowered = `lower-${uid()}`;
  const topicLow = topicFor("lowered");
  const a = await raw(t, target, { clientId: lowered, properties: { sessionExpiryInterval: 60 } });
  await a.subscribe([{ topicFilter: topicLow, qos: 1 }]);
  a.disconnect(ReasonCode.NormalDisconnection, { sessionExpiryInterval: 0 });
  await a.waitClosed();

  const raised = `raise-${uid()}`;
  const topicHigh = topicFor("raised");
  const b = await raw(t, target, { clientId: raised, properties: { sessionExpiryInterval: 1 } });
  await b.subscribe([{ topicFilter: topicHigh, qos: 1 }]);
  b.disconnect(ReasonCode.NormalDisconnection, { sessionExpiryInterval: 60 });
  await b.waitClosed();

  await publishOne(t, topicLow, "low");
  await publishOne(t, topicHigh, "high");
  await target.advance(2200);
  const low = await resume(t, lowered);
  assert.equal(low.c.connack!.sessionPresent, false, "DISCONNECT with interval 0 ended the session");
  assert.deepEqual(low.payloads, []);
  const high = await resume(t, raised);
  assert.equal(high.c.connack!.sessionPresent, true, "DISCONNECT with interval 60 kept the session past 1 s");
  assert.deepEqual(high.payloads, ["high"]);
});

test("[MQTT-3.14.2-2] (§3.14.2.2.2) DISCONNECT raising the Session Expiry Interval from 0 is a Protocol Error: DISCONNECT 0x82 without Session Expiry, session not kept", async (t) => {
  const id = `raise0-${uid()}`;
  const topic = topicFor("raise0");
  const c = await raw(t, target, { clientId: id });
  await c.subscribe([{ topicFilter: topic, qos: 1 }]);
  c.send({ type: PacketType.DISCONNECT, reasonCode: 0, properties: { sessionExpiryInterval: 30 } });
  const closed = await c.waitClosed();
  assert.equal(closed.disconnect?.reasonCode, ReasonCode.ProtocolError);
  // The server never sends a Session Expiry Interval on DISCONNECT [MQTT-3.14.2-2].
  assert.equal(closed.disconnect?.properties?.sessionExpiryInterval, undefined);
  await publishOne(t, topic, "nobody");
  const { c: again, payloads } = await resume(t, id);
  assert.equal(again.connack!.sessionPresent, false, "the invalid DISCONNECT did not extend the session");
  assert.deepEqual(payloads, []);
});

test("[MQTT-4.4.0-1] [MQTT-3.3.1-1] an unacknowledged PUBLISH is resent with DUP 1 and the same Packet Identifier on resume", async (t) => {
  const id = `dup-${uid()}`;
  const topic = topicFor("dup");
  const c = await raw(t, target, { clientId: id, properties: { sessionExpiryInterval: 60 } });
  await c.subscribe([{ topicFilter: topic, qos: 1 }]);
  await publishOne(t, topic, "unacked");
  const first = await c.next(PacketType.PUBLISH);
  assert.equal(first.dup, false); // first attempt
  c.destroy(); // no PUBACK
  await c.closed;
  const again = await raw(t, target, { clientId: id, clean: false, properties: { sessionExpiryInterval: 60 } });
  assert.equal(again.connack!.sessionPresent, true);
  const resent = await again.next(PacketType.PUBLISH);
  assert.equal(resent.packetId, first.packetId);
  assert.equal(resent.dup, true);
  assert.equal(resent.payload.toString(), "unacked");
  again.puback(resent.packetId!);
  again.disconnect(0, { sessionExpiryInterval: 0 });
});

test("[MQTT-4.4.0-1] [MQTT-4.3.3-4] [MQTT-4.3.3-5] an unacknowledged PUBREL is resent with the same Packet Identifier on resume (QoS 2)", async (t) => {
  const id = `rel-${uid()}`;
  const topic = topicFor("pubrel");
  const c = await raw(t, target, { clientId: id, properties: { sessionExpiryInterval: 60 } });
  await c.subscribe([{ topicFilter: topic, qos: 2 }]);
  const p = await mqttjs(t, target);
  await p.publishAsync(topic, "exactly-once", { qos: 2 });
  const pub = await c.next(PacketType.PUBLISH);
  assert.equal(pub.qos, 2);
  c.pubrec(pub.packetId!);
  const rel = await c.next(PacketType.PUBREL);
  assert.equal(rel.packetId, pub.packetId);
  c.destroy(); // no PUBCOMP
  await c.closed;
  const again = await raw(t, target, { clientId: id, clean: false, properties: { sessionExpiryInterval: 60 } });
  const resentRel = await again.next(PacketType.PUBREL);
  assert.equal(resentRel.packetId, pub.packetId);
  assert.equal(again.pending(PacketType.PUBLISH).length, 0, "the message itself is not sent again after PUBREC");
  again.pubcomp(resentRel.packetId);
  await again.ping();
  assert.equal(again.pending(PacketType.PUBLISH).length, 0);
  again.disconnect(0, { sessionExpiryInterval: 0 });
});
