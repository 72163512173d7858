// MQTT 5.0 acceptance (issue #4): PUBLISH properties passed through unchanged (Payload Format Indicator, Content
// Type, Response Topic, Correlation Data, User Properties in order), request/response, payload format validation
// and the reason codes of PUBACK / PUBREC / PUBCOMP.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { PacketType, ReasonCode } from "../../../src/codec/index.ts";
import { startTarget } from "../../helpers/target.ts";
import type { Target } from "../../helpers/target.ts";
import {
  Inbox,
  expected,
  mqttjs,
  outcome,
  raw,
  runPaho,
  sleep,
  topicFor,
  uid,
  useTarget,
  wharfOnly,
} from "./harness.ts";
import { wharfOptions } from "./wharf-options.ts";

let target: Target;
before(async () => {
  target = await startTarget({ wharf: wharfOptions.validatePayloadFormat(false) });
});
after(() => target?.close());

test("[MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-20] Payload Format Indicator, Content Type, Response Topic and Correlation Data reach every subscriber unaltered", async (t) => {
  const topic = topicFor("props");
  const correlationData = Buffer.from([0, 1, 2, 0xfe, 0xff]);
  const js = await mqttjs(t, target);
  const inbox = new Inbox(js);
  await js.subscribeAsync(topic, { qos: 1 });
  const wire = await raw(t, target, {});
  await wire.subscribe([{ topicFilter: topic, qos: 0 }]);

  const pub = await mqttjs(t, target);
  await pub.publishAsync(topic, "h\u00e9llo", {
    qos: 1,
    properties: {
      payloadFormatIndicator: true,
      contentType: "text/plain; charset=utf-8",
      responseTopic: `${topic}/reply`,
      correlationData,
    },
  });
  const m = await inbox.next();
  assert.equal(m.payload.toString(), "h\u00e9llo");
  assert.equal(m.packet.properties?.payloadFormatIndicator, true);
  assert.equal(m.packet.properties?.contentType, "text/plain; charset=utf-8");
  assert.equal(m.packet.properties?.responseTopic, `${topic}/reply`);
  assert.deepEqual(m.packet.properties?.correlationData, correlationData);

  const p = await wire.next(PacketType.PUBLISH);
  assert.equal(p.properties?.payloadFormatIndicator, 1);
  assert.equal(p.properties?.contentType, "text/plain; charset=utf-8");
  assert.equal(p.properties?.responseTopic, `${topic}/reply`);
  assert.deepEqual(p.properties?.correlationData, correlationData);

  // Payload Format Indicator 0 is forwarded as 0 or omitted (same meaning), never turned into 1.
  await pub.publishAsync(topic, Buffer.from([0xff, 0x00]), { qos: 1, properties: { payloadFormatIndicator: false } });
  const bin = await wire.next(PacketType.PUBLISH);
  assert.ok((bin.properties?.payloadFormatIndicator ?? 0) === 0);
  assert.deepEqual(bin.payload, Buffer.from([0xff, 0x00]));
});

interface UserPropsResult {
  sent: [string, string][];
  received: { payload: string; userProperties: [string, string][] }[];
}

test("[MQTT-3.3.2-17] [MQTT-3.3.2-18] User Properties are forwarded unaltered and in order, repeated keys included (paho-mqtt)", async () => {
  const r = await runPaho<UserPropsResult>("v5_user_properties.py", target);
  assert.deepEqual(
    r.received.map((m) => m.payload),
    ["qos0", "qos1", "qos2"],
  );
  for (const m of r.received) assert.deepEqual(m.userProperties, r.sent, `order kept (${m.payload})`);
});

interface RequestResponseResult {
  responseTopic: string;
  correlationData: string;
  requests: { payload: string; responseTopic: string | null; correlationData: string }[];
  responses: { topic: string; payload: string; correlationData: string }[];
}

test("[MQTT-3.3.2-15] [MQTT-3.3.2-16] (§4.10) request/response: the responder gets Response Topic and Correlation Data and its answer reaches the requester (paho-mqtt)", async () => {
  const r = await runPaho<RequestResponseResult>("v5_request_response.py", target);
  assert.deepEqual(r.requests, [
    { payload: "ping", responseTopic: r.responseTopic, correlationData: r.correlationData },
  ]);
  assert.equal(r.responses.length, 1);
  assert.equal(r.responses[0]!.topic, r.responseTopic);
  assert.equal(r.responses[0]!.payload, "response to ping");
  assert.equal(r.responses[0]!.correlationData, r.correlationData);
});

const INVALID_UTF8 = Buffer.from([0x61, 0xc3, 0x28, 0xff]);

test("(§3.3.2.3.2) without payload validation, a Payload Format Indicator 1 payload is forwarded byte for byte", async (t) => {
  const topic = topicFor("pfi-pass");
  const sub = await raw(t, target, {});
  await sub.subscribe([{ topicFilter: topic, qos: 1 }]);
  const pub = await raw(t, target, {});
  const id = pub.publish(topic, INVALID_UTF8, { qos: 1, properties: { payloadFormatIndicator: 1 } })!;
  const ack = await pub.next(PacketType.PUBACK, 3000, (p) => p.packetId === id);
  assert.equal(ack.reasonCode ?? 0, 0);
  const m = await sub.next(PacketType.PUBLISH);
  assert.deepEqual(m.payload, INVALID_UTF8);
  assert.equal(m.properties?.payloadFormatIndicator, 1);
});

test(
  "(§3.3.2.3.2) with payload validation configured, invalid UTF-8 under Payload Format Indicator 1 is refused with 0x99 and not delivered",
  {
    skip: wharfOnly("does not validate payloads against the Payload Format Indicator"),
  },
  async (t) => {
    const s = await useTarget(t, { wharf: wharfOptions.validatePayloadFormat(true) });
    const topic = topicFor("pfi-check");
    const sub = await raw(t, s, {});
    await sub.subscribe([{ topicFilter: topic, qos: 2 }]);
    const pub = await raw(t, s, {});
    const id1 = pub.publish(topic, INVALID_UTF8, { qos: 1, properties: { payloadFormatIndicator: 1 } })!;
    const ack = await pub.next(PacketType.PUBACK, 3000, (p) => p.packetId === id1);
    assert.equal(ack.reasonCode, ReasonCode.PayloadFormatInvalid);
    const id2 = pub.publish(topic, INVALID_UTF8, { qos: 2, properties: { payloadFormatIndicator: 1 } })!;
    const rec = await pub.next(PacketType.PUBREC, 3000, (p) => p.packetId === id2);
    assert.equal(rec.reasonCode, ReasonCode.PayloadFormatInvalid);
    // Valid UTF-8, and binary without the indicator, still pass.
    pub.publish(topic, "caf\u00e9", { qos: 1, properties: { payloadFormatIndicator: 1 } });
    pub.publish(topic, INVALID_UTF8, { qos: 1 });
    const a = await sub.next(PacketType.PUBLISH);
    const b = await sub.next(PacketType.PUBLISH);
    assert.deepEqual([a.payload.toString(), b.payload], ["caf\u00e9", INVALID_UTF8]);
    assert.equal(await sub.arrives(PacketType.PUBLISH, 300), false, "the invalid ones were dropped");
  },
);

test("(§3.4.2.1, §3.5.2.1) 0x10 No matching subscribers on PUBACK (and PUBREC, where the server reports it)", async (t) => {
  const c = await raw(t, target, {});
  const topic = topicFor("nobody");
  const id1 = c.publish(topic, "x", { qos: 1 })!;
  assert.equal(
    (await c.next(PacketType.PUBACK, 3000, (p) => p.packetId === id1)).reasonCode,
    ReasonCode.NoMatchingSubscribers,
  );
  const id2 = c.publish(topic, "x", { qos: 2 })!;
  const rec = await c.next(PacketType.PUBREC, 3000, (p) => p.packetId === id2);
  // Documented deviation: Mosquitto answers PUBREC 0x00 (0x10 is a MAY).
  assert.equal(rec.reasonCode ?? 0, expected(ReasonCode.NoMatchingSubscribers, ReasonCode.Success));
  c.pubrel(id2);
  assert.equal((await c.next(PacketType.PUBCOMP)).reasonCode ?? 0, 0);
  // With a subscriber, 0x00.
  const sub = await raw(t, target, {});
  await sub.subscribe([{ topicFilter: topic, qos: 0 }]);
  const id3 = c.publish(topic, "x", { qos: 1 })!;
  assert.equal((await c.next(PacketType.PUBACK, 3000, (p) => p.packetId === id3)).reasonCode ?? 0, 0);
});

test("(§3.4.2.1) 0x87 Not authorized on PUBACK and PUBREC for a denied topic; the message is not delivered", async (t) => {
  const denied = topicFor("denied");
  const s = await useTarget(t, { acl: [{ permission: "deny", action: "publish", topic: denied }] });
  const watcher = await raw(t, s, {});
  await watcher.subscribe([{ topicFilter: "wharf-e2e/#", qos: 1 }]);
  const c = await raw(t, s, {});
  const id1 = c.publish(denied, "x", { qos: 1 })!;
  assert.equal((await c.next(PacketType.PUBACK, 3000, (p) => p.packetId === id1)).reasonCode, ReasonCode.NotAuthorized);
  const id2 = c.publish(denied, "x", { qos: 2 })!;
  assert.equal((await c.next(PacketType.PUBREC, 3000, (p) => p.packetId === id2)).reasonCode, ReasonCode.NotAuthorized);
  await watcher.ping(); // both refusals were acknowledged: a delivery would have come before the PINGRESP
  assert.deepEqual(watcher.pending(PacketType.PUBLISH), []);
});

test("(§3.3.2.1) [MQTT-3.3.2-2] a Topic Name with wildcards is refused: PUBACK 0x90 or DISCONNECT (0x81 / 0x82 / 0x90)", async (t) => {
  const c = await raw(t, target, {});
  const id = c.publish(`${topicFor("wild")}/+/x`, "x", { qos: 1 })!;
  const r = await outcome(
    c,
    c.next(PacketType.PUBACK, 3000, (p) => p.packetId === id),
  );
  if (r.ack !== undefined) assert.equal(r.ack.reasonCode, ReasonCode.TopicNameInvalid);
  else
    assert.ok(
      ([ReasonCode.MalformedPacket, ReasonCode.ProtocolError, ReasonCode.TopicNameInvalid] as number[]).includes(
        r.disconnect ?? -1,
      ),
      `DISCONNECT reason ${r.disconnect}`,
    );
});

test(
  "(§3.4.2.1) [MQTT-2.2.1-3] a QoS 1 PUBLISH reusing the Packet Identifier of an unfinished QoS 2 exchange gets PUBACK 0x91",
  {
    skip: wharfOnly("does not detect Packet Identifiers in use (answers PUBACK 0x00)"),
  },
  async (t) => {
    const topic = topicFor("pid-in-use");
    const sub = await raw(t, target, {});
    await sub.subscribe([{ topicFilter: topic, qos: 1 }]);
    const c = await raw(t, target, {});
    c.publish(topic, "qos2", { qos: 2, packetId: 9 });
    await c.next(PacketType.PUBREC);
    c.publish(topic, "qos1", { qos: 1, packetId: 9 });
    const ack = await c.next(PacketType.PUBACK);
    assert.equal(ack.reasonCode, ReasonCode.PacketIdentifierInUse);
    await sub.next(PacketType.PUBLISH, 3000, (p) => p.payload.toString() === "qos2");
    await sub.ping(); // the refused QoS 1 PUBLISH was acknowledged before "qos2" arrived
    assert.ok(!sub.pending(PacketType.PUBLISH).some((p) => p.payload.toString() === "qos1"));
  },
);

test(
  "(§3.7.2.1, §4.3.3) a PUBREL for an unknown Packet Identifier gets PUBCOMP 0x92",
  {
    skip: wharfOnly("answers PUBCOMP 0x00 for an unknown Packet Identifier"),
  },
  async (t) => {
    const c = await raw(t, target, {});
    c.pubrel(4242);
    const comp = await c.next(PacketType.PUBCOMP);
    assert.equal(comp.packetId, 4242);
    assert.equal(comp.reasonCode, ReasonCode.PacketIdentifierNotFound);
  },
);

test(
  "(§3.4.2.1) 0x97 Quota exceeded when every matching subscriber's queue is full",
  {
    skip: wharfOnly("drops messages for a full offline queue silently (PUBACK 0x00)"),
  },
  async (t) => {
    const s = await useTarget(t, { maxQueuedMessages: 1 });
    const topic = topicFor("quota");
    const id = `quota-${uid()}`;
    const sub = await raw(t, s, { clientId: id, properties: { sessionExpiryInterval: 60 } });
    await sub.subscribe([{ topicFilter: topic, qos: 1 }]);
    sub.disconnect();
    await sub.waitClosed();
    const pub = await raw(t, s, {});
    const first = pub.publish(topic, "fits", { qos: 1 })!;
    assert.equal((await pub.next(PacketType.PUBACK, 3000, (p) => p.packetId === first)).reasonCode ?? 0, 0);
    const second = pub.publish(topic, "overflows", { qos: 1 })!;
    const ack = await pub.next(PacketType.PUBACK, 3000, (p) => p.packetId === second);
    assert.equal(ack.reasonCode, ReasonCode.QuotaExceeded);
    await sleep(50);
    const back = await raw(t, s, { clientId: id, clean: false });
    const m = await back.next(PacketType.PUBLISH);
    assert.equal(m.payload.toString(), "fits");
  },
);
