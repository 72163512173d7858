// 5.0 server features driven by configuration: server redirection (option and broker.redirect()), Response
// Information, Payload Format Indicator validation, the per-session subscription limit, and Reason Strings kept
// within the client's Maximum Packet Size.
import assert from "node:assert/strict";
import { test } from "node:test";
import { PacketType, ReasonCode } from "../../../src/codec/index.ts";
import { Broker } from "../../../src/broker/index.ts";
import { BrokerError } from "../../../src/broker/errors.ts";
import { TestClient, harness, payloads, settle, only } from "./harness.ts";
import { brokerInternals } from "../../../src/broker/internal.ts";

const INVALID_UTF8 = Buffer.from([0x61, 0xc3, 0x28, 0xff]);

// ---- server redirection (§4.11) -------------------------------------------------------------------------------

test("(§4.11) serverRedirect: 5.0 CONNACK 0x9C/0x9D with Server Reference (Reason String unless problem information is off); 3.1.1 CONNACK 0x03", async () => {
  for (const reasonCode of [ReasonCode.UseAnotherServer, ReasonCode.ServerMoved] as const) {
    const h = harness({ serverRedirect: { reasonCode, serverReference: "b.example:1883" } });
    const v5 = await h.tryConnect({ clientId: "a", version: 5 });
    assert.equal(v5.connack?.reasonCode, reasonCode);
    assert.equal(v5.connack?.sessionPresent, false);
    assert.equal(v5.connack?.properties?.serverReference, "b.example:1883");
    assert.equal(typeof v5.connack?.properties?.reasonString, "string");
    assert.equal(v5.client.transport.closed, true);
    const quiet = await h.tryConnect({ clientId: "q", version: 5, properties: { requestProblemInformation: 0 } });
    assert.equal(quiet.connack?.properties?.reasonString, undefined);
    assert.equal(quiet.connack?.properties?.serverReference, "b.example:1883", "not problem information");
    const v4 = await h.tryConnect({ clientId: "b", version: 4 });
    assert.equal(v4.connack?.reasonCode, 0x03, "3.1.1: server unavailable");
    assert.equal(v4.client.transport.closed, true);
    assert.equal(brokerInternals(h.broker).sessions.size, 0, "no session was touched");
  }
});

test("(§4.11) serverRedirect is validated: other reason codes or an empty reference throw BrokerError", () => {
  const bad = [
    { reasonCode: 0x88, serverReference: "x" },
    { reasonCode: 0x9c, serverReference: "" },
  ] as unknown as { reasonCode: 0x9c; serverReference: string }[];
  for (const r of bad) {
    assert.throws(() => new Broker({ serverRedirect: r, sysInterval: 0 }), BrokerError);
    assert.throws(() => new Broker({ sysInterval: 0 }).redirect(r), BrokerError);
  }
});

test("(§4.11) broker.redirect(): new connections refused; with disconnectExisting, 5.0 clients get DISCONNECT with Server Reference, 3.1.1 are closed, wills published; clearing restores service", async () => {
  const h = harness();
  // The watcher is moved too: a persistent session collects the wills (QoS 1) until it comes back.
  const session = { sessionExpiryInterval: 600 };
  const watcher = await h.connect({ clientId: "w", version: 5, clean: false, properties: session });
  await watcher.client.subscribe("will/#", 1);
  const v5 = await h.connect({
    clientId: "v5",
    version: 5,
    will: { topic: "will/v5", payload: Buffer.from("v5 gone"), qos: 1, retain: false },
  });
  const v4 = await h.connect({
    clientId: "v4",
    version: 4,
    will: { topic: "will/v4", payload: Buffer.from("v4 gone"), qos: 1, retain: false },
  });
  // Without disconnectExisting only new connections are affected.
  assert.equal(h.broker.redirect({ reasonCode: 0x9c, serverReference: "b:1883" }), 0);
  assert.equal(h.broker.serverRedirect?.serverReference, "b:1883");
  assert.equal(v5.client.transport.closed, false);
  assert.equal((await h.tryConnect({ clientId: "n", version: 5 })).connack?.reasonCode, 0x9c);

  const moved = h.broker.redirect({ reasonCode: 0x9d, serverReference: "c:1883" }, { disconnectExisting: true });
  assert.equal(moved, 3, "v5, v4 and the watcher");
  const d = only(await v5.client.receive(), PacketType.DISCONNECT);
  assert.equal(d.reasonCode, ReasonCode.ServerMoved);
  assert.equal(d.properties?.serverReference, "c:1883");
  assert.equal(d.properties?.sessionExpiryInterval, undefined); // [MQTT-3.14.2-2]
  assert.equal(v5.client.transport.closed, true);
  assert.deepEqual(await v4.client.receive(), [], "3.1.1 has no DISCONNECT from the server");
  assert.equal(v4.client.transport.closed, true);
  assert.equal(only(await watcher.client.receive(), PacketType.DISCONNECT).reasonCode, ReasonCode.ServerMoved);

  h.broker.redirect(undefined);
  assert.equal(h.broker.serverRedirect, undefined);
  const back = await h.connect({ clientId: "w", version: 5, clean: false, properties: session });
  assert.equal(back.connack.sessionPresent, true);
  assert.deepEqual(
    payloads(back.client.take()).sort(),
    ["v4 gone", "v5 gone"],
    "server-initiated close: wills published",
  );
});

test("(§4.11) broker.redirect() refuses a connection still in its CONNECT (async authenticate hook) with CONNACK 0x9C", async () => {
  let release!: (ok: boolean) => void;
  const h = harness({ auth: { authenticate: () => new Promise<boolean>((r) => (release = r)) } });
  const client = new TestClient(h.broker, 5);
  client.sendConnect({ clientId: "pending" });
  await settle();
  assert.equal(h.broker.redirect({ reasonCode: 0x9c, serverReference: "b" }, { disconnectExisting: true }), 1);
  release(true);
  const connack = only(await client.receive(), PacketType.CONNACK);
  assert.equal(connack.reasonCode, ReasonCode.UseAnotherServer);
  assert.equal(connack.properties?.serverReference, "b");
  assert.equal(brokerInternals(h.broker).sessions.size, 0);
});

// ---- Response Information -------------------------------------------------------------------------------------

test("[MQTT-3.1.2-28] Response Information only on request, %c/%u expanded; none when not configured", async () => {
  const h = harness({ responseInformation: "resp/%u/%c/" });
  const asked = await h.connect({
    clientId: "rr",
    version: 5,
    username: "ann",
    properties: { requestResponseInformation: 1 },
  });
  assert.equal(asked.connack.properties?.responseInformation, "resp/ann/rr/");
  const anonymous = await h.connect({ clientId: "an", version: 5, properties: { requestResponseInformation: 1 } });
  assert.equal(anonymous.connack.properties?.responseInformation, "resp//an/");
  for (const rri of [undefined, 0]) {
    const c = await h.connect({ clientId: `no${rri}`, version: 5, properties: { requestResponseInformation: rri } });
    assert.equal(c.connack.properties?.responseInformation, undefined);
  }
  const unset = harness();
  const none = await unset.connect({ clientId: "x", version: 5, properties: { requestResponseInformation: 1 } });
  assert.equal(none.connack.properties?.responseInformation, undefined);
});

// ---- Payload Format Indicator validation ----------------------------------------------------------------------

test("(§3.3.2.3.2) validatePayloadFormat (default on): invalid UTF-8 with indicator 1 -> PUBACK/PUBREC 0x99 (id not kept), QoS 0 -> DISCONNECT 0x99; not routed", async () => {
  const h = harness();
  const sub = await h.connect({ clientId: "s", version: 5 });
  await sub.client.subscribe("t", 2);
  const { client } = await h.connect({ clientId: "p", version: 5 });
  const pfi = { payloadFormatIndicator: 1 };
  const id1 = client.publish("t", INVALID_UTF8, 1, { properties: pfi });
  const id2 = client.publish("t", INVALID_UTF8, 2, { properties: pfi });
  client.publish("t", "caf\u00e9", 1, { properties: pfi });
  client.publish("t", INVALID_UTF8, 1); // no indicator: binary, fine
  client.publish("t", INVALID_UTF8, 1, { properties: { payloadFormatIndicator: 0 } });
  const acks = await client.receive();
  const puback = acks.find((p) => p.type === PacketType.PUBACK && p.packetId === id1);
  assert.ok(puback?.type === PacketType.PUBACK);
  assert.equal(puback.reasonCode, ReasonCode.PayloadFormatInvalid);
  assert.equal(typeof puback.properties?.reasonString, "string");
  const pubrec = only(acks, PacketType.PUBREC);
  assert.equal(pubrec.packetId, id2);
  assert.equal(pubrec.reasonCode, ReasonCode.PayloadFormatInvalid);
  assert.equal(
    brokerInternals(h.broker).sessions.get("p")!.inboundQos2.has(id2!),
    false,
    "a PUBREC >= 0x80 ends the exchange",
  );
  assert.equal(payloads(await sub.client.receive()).length, 3, "only the valid ones");

  client.publish("t", INVALID_UTF8, 0, { properties: pfi });
  const d = only(await client.receive(), PacketType.DISCONNECT);
  assert.equal(d.reasonCode, ReasonCode.PayloadFormatInvalid);
  assert.equal(client.transport.closed, true);
  assert.deepEqual(await sub.client.receive(), []);
});

test("(§3.3.2.3.2) validatePayloadFormat false forwards the bytes; Request Problem Information 0 drops the Reason String", async () => {
  const off = harness({ validatePayloadFormat: false });
  const sub = await off.connect({ clientId: "s", version: 5 });
  await sub.client.subscribe("t", 0);
  const pub = await off.connect({ clientId: "p", version: 5 });
  pub.client.publish("t", INVALID_UTF8, 1, { properties: { payloadFormatIndicator: 1 } });
  assert.equal(only(await pub.client.receive(), PacketType.PUBACK).reasonCode ?? 0, 0);
  const [m] = await sub.client.publishes();
  assert.deepEqual(m?.payload, INVALID_UTF8);

  const on = harness();
  const quiet = await on.connect({ clientId: "q", version: 5, properties: { requestProblemInformation: 0 } });
  quiet.client.publish("t", INVALID_UTF8, 1, { properties: { payloadFormatIndicator: 1 } });
  const ack = only(await quiet.client.receive(), PacketType.PUBACK);
  assert.equal(ack.reasonCode, ReasonCode.PayloadFormatInvalid);
  assert.equal(ack.properties?.reasonString, undefined); // [MQTT-3.1.2-29]
});

test("(§3.1.3.2.3) a will with Payload Format Indicator 1 and invalid UTF-8 is refused with CONNACK 0x99", async () => {
  const h = harness();
  const will = {
    topic: "w",
    payload: INVALID_UTF8,
    qos: 0 as const,
    retain: false,
    properties: { payloadFormatIndicator: 1 },
  };
  const { client, connack } = await h.tryConnect({ clientId: "w", version: 5, will });
  assert.equal(connack?.reasonCode, ReasonCode.PayloadFormatInvalid);
  assert.equal(client.transport.closed, true);
  const off = harness({ validatePayloadFormat: false });
  assert.equal((await off.tryConnect({ clientId: "w", version: 5, will })).connack?.reasonCode, 0);
});

// ---- maxSubscriptionsPerSession -------------------------------------------------------------------------------

test("(§3.9.3) maxSubscriptionsPerSession: extra filters get SUBACK 0x97 (3.1.1: 0x80); replacing or freeing one is fine", async () => {
  const h = harness({ maxSubscriptionsPerSession: 2 });
  const { client } = await h.connect({ clientId: "q", version: 5 });
  const first = await client.subscribe(["a", "b", "c"], 1);
  assert.deepEqual(first.reasonCodes, [1, 1, ReasonCode.QuotaExceeded]);
  assert.equal(typeof first.properties?.reasonString, "string");
  assert.deepEqual((await client.subscribe(["a"], 0)).reasonCodes, [0], "replacement is not a new subscription");
  assert.deepEqual((await client.subscribe(["$share/g/x"], 0)).reasonCodes, [ReasonCode.QuotaExceeded], "shared too");
  client.send({ type: PacketType.UNSUBSCRIBE, packetId: client.nextId(), topicFilters: ["b"] });
  await client.receive();
  assert.deepEqual((await client.subscribe(["c"], 0)).reasonCodes, [0]);
  assert.deepEqual(
    h.broker
      .subscriptionsOf("q")
      .map((s) => s.filter)
      .sort(),
    ["a", "c"],
  );

  const v4 = await h.connect({ clientId: "v4", version: 4 });
  assert.deepEqual((await v4.client.subscribe(["a", "b", "c"], 1)).reasonCodes, [1, 1, 0x80]);

  const unlimited = harness();
  const u = await unlimited.connect({ clientId: "u", version: 5 });
  const many = Array.from({ length: 50 }, (_, i) => `t/${i}`);
  assert.ok((await u.client.subscribe(many, 0)).reasonCodes.every((rc) => rc === 0));
});

// ---- Reason String within the client's Maximum Packet Size ----------------------------------------------------

test("[MQTT-3.4.2-2] a PUBACK Reason String is left out when it would exceed the client's Maximum Packet Size; kept when it fits", async () => {
  const acl = [{ permission: "deny" as const, action: "publish" as const, topic: "secret" }];
  for (const [max, kept] of [
    [20, false],
    [200, true],
  ] as const) {
    const h = harness({ acl });
    const { client } = await h.connect({ clientId: `m${max}`, version: 5, properties: { maximumPacketSize: max } });
    client.publish("secret", "x", 1);
    const ack = only(await client.receive(), PacketType.PUBACK);
    assert.equal(ack.reasonCode, ReasonCode.NotAuthorized);
    assert.equal(ack.properties?.reasonString !== undefined, kept, `max ${max}`);
  }
});
