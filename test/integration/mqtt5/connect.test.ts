// MQTT 5.0 acceptance (issue #4): CONNECT / CONNACK properties — Assigned Client Identifier, Server Keep Alive,
// Request Response Information / Response Information, Request Problem Information, Reason String, User Properties
// and the capability properties driven by configuration.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { PacketType, ReasonCode } from "../../../src/codec/index.ts";
import type { Packet } from "../../../src/codec/index.ts";
import { startTarget } from "../../helpers/target.ts";
import type { Target } from "../../helpers/target.ts";
import { connackOf, mqttjs, raw, topicFor, uid, useTarget, wharfOnly } from "./harness.ts";
import { wharfOptions } from "./wharf-options.ts";

let target: Target;
before(async () => {
  target = await startTarget();
});
after(() => target?.close());

test("[MQTT-3.1.3-6] [MQTT-3.1.3-7] [MQTT-3.2.2-16] an empty Client Identifier gets a unique Assigned Client Identifier that names the session", async (t) => {
  const a = await raw(t, target, { clientId: "", clean: true, properties: { sessionExpiryInterval: 30 } });
  const b = await raw(t, target, { clientId: "" });
  assert.equal(a.connack!.reasonCode, ReasonCode.Success);
  const idA = a.connack!.properties?.assignedClientIdentifier;
  const idB = b.connack!.properties?.assignedClientIdentifier;
  assert.ok(idA !== undefined && idA.length > 0, "CONNACK carries an Assigned Client Identifier");
  assert.ok(idB !== undefined && idB.length > 0);
  assert.notEqual(idA, idB, "assigned identifiers are unique");

  // The server processed the CONNECT as if the client had sent that identifier: the session is found under it.
  const filter = topicFor("assigned");
  await a.subscribe([{ topicFilter: filter, qos: 1 }]);
  a.disconnect();
  await a.closed;
  const again = await raw(t, target, { clientId: idA, clean: false, properties: { sessionExpiryInterval: 30 } });
  assert.equal(again.connack!.sessionPresent, true, "session stored under the assigned identifier");
  assert.equal(again.connack!.properties?.assignedClientIdentifier, undefined, "no assignment for a non-empty id");
  again.disconnect(0, { sessionExpiryInterval: 0 });
});

test("[MQTT-3.2.2-21] [MQTT-3.2.2-22] Server Keep Alive overrides a Keep Alive above the configured maximum", async (t) => {
  const capped = await useTarget(t, { maxKeepAlive: 10 });
  const high = await raw(t, capped, { keepAlive: 60 });
  assert.equal(high.connack!.reasonCode, ReasonCode.Success);
  assert.equal(high.connack!.properties?.serverKeepAlive, 10, "Keep Alive 60 > maximum 10: Server Keep Alive 10");

  const low = await raw(t, capped, { keepAlive: 5 });
  const ska = low.connack!.properties?.serverKeepAlive;
  assert.ok(ska === undefined || ska === 5, `Keep Alive within the maximum is kept (Server Keep Alive ${ska})`);

  // A real client library gets the same answer.
  const js = await mqttjs(t, capped, { keepalive: 60 });
  assert.equal(connackOf(js).properties?.serverKeepAlive, 10);
});

test("[MQTT-3.1.2-28] no Response Information unless the client requests it", async (t) => {
  const absent = await raw(t, target, {});
  assert.equal(absent.connack!.properties?.responseInformation, undefined);
  const zero = await raw(t, target, { properties: { requestResponseInformation: 0 } });
  assert.equal(zero.connack!.properties?.responseInformation, undefined);
});

test(
  "[MQTT-3.1.2-28] Response Information returned on request when configured, usable as a response topic root",
  {
    skip: wharfOnly("never returns Response Information"),
  },
  async (t) => {
    const s = await useTarget(t, { wharf: wharfOptions.responseInformation("responses/") });
    const c = await mqttjs(t, s, { properties: { requestResponseInformation: true } });
    const info = connackOf(c).properties?.responseInformation;
    assert.equal(typeof info, "string");
    assert.ok(info!.startsWith("responses/"), `Response Information ${info} starts with the configured value`);

    const requester = await raw(t, s, { properties: { requestResponseInformation: 1 } });
    const root = requester.connack!.properties!.responseInformation!;
    const suback = await requester.subscribe([{ topicFilter: `${root.replace(/\/$/, "")}/#`, qos: 1 }]);
    assert.deepEqual(suback.reasonCodes, [1], "the client may subscribe below its Response Information");
  },
);

/** Every Reason String / User Property on packets other than PUBLISH, CONNACK and DISCONNECT. */
function problemInfo(packets: Packet[]): string[] {
  const out: string[] = [];
  for (const p of packets) {
    if (p.type === PacketType.PUBLISH || p.type === PacketType.CONNACK || p.type === PacketType.DISCONNECT) continue;
    const props = "properties" in p ? p.properties : undefined;
    if (props?.reasonString !== undefined) out.push(`type ${p.type}: reason string ${props.reasonString}`);
    if (props?.userProperties !== undefined && props.userProperties.length > 0)
      out.push(`type ${p.type}: user properties`);
  }
  return out;
}

test("[MQTT-3.1.2-29] Request Problem Information 0: no Reason String or User Properties on acknowledgements", async (t) => {
  const denied = topicFor("secret");
  const s = await useTarget(t, { acl: [{ permission: "deny", action: "all", topic: denied }] });
  const c = await raw(t, s, { properties: { requestProblemInformation: 0 } });
  const nobody = topicFor("nobody");
  const id1 = c.publish(nobody, "x", { qos: 1 })!;
  assert.equal(
    (await c.next(PacketType.PUBACK, 3000, (p) => p.packetId === id1)).reasonCode,
    ReasonCode.NoMatchingSubscribers,
  );
  const id2 = c.publish(nobody, "x", { qos: 2 })!;
  const rec = await c.next(PacketType.PUBREC, 3000, (p) => p.packetId === id2);
  assert.ok((rec.reasonCode ?? 0) < 0x80, "PUBREC 0x00 or 0x10");
  c.pubrel(id2);
  await c.next(PacketType.PUBCOMP);
  const id3 = c.publish(denied, "x", { qos: 1 })!;
  assert.equal((await c.next(PacketType.PUBACK, 3000, (p) => p.packetId === id3)).reasonCode, ReasonCode.NotAuthorized);
  const unsub = await c.unsubscribe([topicFor("never")]);
  assert.deepEqual(unsub.reasonCodes, [ReasonCode.NoSubscriptionExisted]);
  c.pubrel(999);
  await c.next(PacketType.PUBCOMP);
  assert.deepEqual(problemInfo(c.received), []);
});

test(
  "[MQTT-3.1.2-29] Reason String on a refused PUBACK when problem information is requested (default)",
  {
    skip: wharfOnly("sends no Reason Strings"),
  },
  async (t) => {
    const denied = topicFor("secret");
    const s = await useTarget(t, { acl: [{ permission: "deny", action: "all", topic: denied }] });
    const c = await raw(t, s, {});
    const id = c.publish(denied, "x", { qos: 1 })!;
    const ack = await c.next(PacketType.PUBACK, 3000, (p) => p.packetId === id);
    assert.equal(ack.reasonCode, ReasonCode.NotAuthorized);
    assert.equal(typeof ack.properties?.reasonString, "string");
    assert.ok(ack.properties!.reasonString!.length > 0);
  },
);

test("[MQTT-3.2.2-9] CONNACK announces the configured Receive Maximum, Maximum Packet Size, Topic Alias Maximum, Maximum QoS and Retain Available", async (t) => {
  const s = await useTarget(t, {
    receiveMaximum: 7,
    maxInflight: 7,
    maxPacketSize: 5000,
    topicAliasMaximum: 4,
    maximumQoS: 1,
    retainAvailable: false,
  });
  const c = await raw(t, s, {});
  const p = c.connack!.properties ?? {};
  assert.equal(p.receiveMaximum, 7);
  assert.equal(p.maximumPacketSize, 5000);
  assert.equal(p.topicAliasMaximum, 4);
  assert.equal(p.maximumQoS, 1);
  assert.equal(p.retainAvailable, 0);
  // And MQTT.js sees the same.
  const js = await mqttjs(t, s);
  assert.equal(connackOf(js).properties?.receiveMaximum, 7);
  assert.equal(connackOf(js).properties?.maximumQoS, 1);
});

test("(§3.2.2.3.11-13) with the default configuration wildcard, subscription identifier and shared subscriptions are available", async (t) => {
  const c = await raw(t, target, {});
  const p = c.connack!.properties ?? {};
  for (const k of [
    "wildcardSubscriptionAvailable",
    "subscriptionIdentifiersAvailable",
    "sharedSubscriptionAvailable",
  ] as const) {
    assert.ok(p[k] === undefined || p[k] === 1, `${k} is absent or 1 (got ${p[k]})`);
  }
  assert.ok(p.retainAvailable === undefined || p.retainAvailable === 1);
  assert.ok(p.maximumQoS === undefined || p.maximumQoS === 2, "QoS 2 supported by default: Maximum QoS absent");
});

test(
  "(§3.2.2.3.11-13) wildcard, subscription identifier and shared subscription availability set to 0 by configuration",
  {
    skip: wharfOnly("has no option to disable wildcard, subscription identifier or shared subscriptions"),
  },
  async (t) => {
    const s = await useTarget(t, {
      wharf: {
        ...wharfOptions.existing.wildcardSubscriptionAvailable(false),
        ...wharfOptions.existing.subscriptionIdentifiersAvailable(false),
        ...wharfOptions.existing.sharedSubscriptionAvailable(false),
      },
    });
    const c = await raw(t, s, {});
    const p = c.connack!.properties ?? {};
    assert.equal(p.wildcardSubscriptionAvailable, 0);
    assert.equal(p.subscriptionIdentifiersAvailable, 0);
    assert.equal(p.sharedSubscriptionAvailable, 0);
  },
);

test("[MQTT-3.2.2-10] [MQTT-3.2.2-11] [MQTT-3.2.2-12] Maximum QoS 1: QoS 2 SUBSCRIBE granted QoS 1, Will QoS 2 refused with 0x9B, QoS 2 PUBLISH answered with DISCONNECT 0x9B", async (t) => {
  const s = await useTarget(t, { maximumQoS: 1 });
  const sub = await raw(t, s, {});
  const suback = await sub.subscribe([{ topicFilter: topicFor("q"), qos: 2 }]);
  assert.deepEqual(suback.reasonCodes, [1]);

  const will = await raw(t, s, { will: { topic: topicFor("w"), payload: Buffer.from("x"), qos: 2, retain: false } });
  assert.equal(will.connack!.reasonCode, ReasonCode.QoSNotSupported);
  assert.equal(will.connack!.sessionPresent, false); // [MQTT-3.2.2-6]
  await will.waitClosed(); // [MQTT-3.2.2-7]

  const pub = await raw(t, s, {});
  pub.publish(topicFor("q"), "x", { qos: 2 });
  const closed = await pub.waitClosed();
  assert.equal(closed.disconnect?.reasonCode, ReasonCode.QoSNotSupported);
});

test("[MQTT-3.2.2-13] [MQTT-3.2.2-14] Retain Available 0: a retained Will is refused with CONNACK 0x9A, a retained PUBLISH with DISCONNECT 0x9A", async (t) => {
  const s = await useTarget(t, { retainAvailable: false });
  const will = await raw(t, s, { will: { topic: topicFor("w"), payload: Buffer.from("x"), qos: 0, retain: true } });
  assert.equal(will.connack!.reasonCode, ReasonCode.RetainNotSupported);
  await will.waitClosed();

  const pub = await raw(t, s, {});
  assert.equal(pub.connack!.properties?.retainAvailable, 0);
  pub.publish(topicFor("r"), "x", { qos: 0, retain: true });
  const closed = await pub.waitClosed();
  assert.equal(closed.disconnect?.reasonCode, ReasonCode.RetainNotSupported);
});

test("(§3.1.2.11.8) User Properties on CONNECT are accepted and the connection works (MQTT.js)", async (t) => {
  const topic = topicFor("connect-user-props");
  const c = await mqttjs(t, target, {
    clientId: `up-${uid()}`,
    properties: { userProperties: { app: "wharf-e2e", zone: ["a", "b"] } },
  });
  assert.equal(c.connected, true);
  await c.subscribeAsync(topic, { qos: 1 });
  const got = new Promise<string>((resolve) => c.once("message", (_t, payload) => resolve(payload.toString())));
  await c.publishAsync(topic, "hello", { qos: 1 });
  assert.equal(await got, "hello");
});
