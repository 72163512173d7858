// MQTT 5.0 acceptance (issue #4): SUBSCRIBE options (No Local, Retain As Published, Retain Handling, Subscription
// Identifier) and the reason codes of SUBACK / UNSUBACK.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { PacketType, ReasonCode } from "../../../src/codec/index.ts";
import { startTarget } from "../../helpers/target.ts";
import type { Target } from "../../helpers/target.ts";
import { Inbox, mqttjs, onMosquitto, outcome, raw, runPaho, sleep, topicFor, useTarget, wharfOnly } from "./harness.ts";
import type { Ctx } from "./harness.ts";
import { wharfOptions } from "./wharf-options.ts";

let target: Target;
before(async () => {
  target = await startTarget();
});
after(() => target?.close());

test("[MQTT-3.8.3-3] No Local: a client's own messages are not sent back on a No Local subscription", async (t) => {
  const topic = topicFor("nolocal");
  const self = await mqttjs(t, target);
  const selfInbox = new Inbox(self);
  await self.subscribeAsync(topic, { qos: 1, nl: true });
  const other = await mqttjs(t, target);
  const otherInbox = new Inbox(other);
  await other.subscribeAsync(topic, { qos: 1, nl: false });
  await self.publishAsync(topic, "from-self", { qos: 1 });
  await other.publishAsync(topic, "from-other", { qos: 1 });
  await otherInbox.count(2);
  // "from-self" was routed (PUBACKed) before "from-other" was published: had it gone to self, it would have
  // arrived before "from-other" on the same connection. No wait needed.
  await selfInbox.next((m) => m.payload.toString() === "from-other");
  assert.deepEqual(
    selfInbox.messages.map((m) => m.payload.toString()),
    ["from-other"],
  );
  assert.deepEqual(otherInbox.messages.map((m) => m.payload.toString()).sort(), ["from-other", "from-self"]);
});

test("[MQTT-3.3.1-12] [MQTT-3.3.1-13] Retain As Published: the RETAIN flag is kept with 1 and cleared with 0 on live delivery", async (t) => {
  const topic = topicFor("rap");
  const kept = await raw(t, target, {});
  await kept.subscribe([{ topicFilter: topic, qos: 1, retainAsPublished: true }]);
  const cleared = await raw(t, target, {});
  await cleared.subscribe([{ topicFilter: topic, qos: 1, retainAsPublished: false }]);
  const pub = await mqttjs(t, target);
  await pub.publishAsync(topic, "retained", { qos: 1, retain: true });
  await pub.publishAsync(topic, "plain", { qos: 1, retain: false });
  const k1 = await kept.next(PacketType.PUBLISH);
  const k2 = await kept.next(PacketType.PUBLISH);
  assert.deepEqual([k1.retain, k2.retain], [true, false]);
  const c1 = await cleared.next(PacketType.PUBLISH);
  const c2 = await cleared.next(PacketType.PUBLISH);
  assert.deepEqual([c1.retain, c2.retain], [false, false]);
  await pub.publishAsync(topic, "", { qos: 1, retain: true }); // clean up
});

test("[MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-11] Retain Handling 0 sends retained messages on every subscribe, 1 only for a new subscription, 2 never", async (t) => {
  const base = topicFor("rh");
  const pub = await mqttjs(t, target);
  await pub.publishAsync(`${base}/x`, "state", { qos: 1, retain: true });
  const c = await raw(t, target, {});
  const retainedCount = async (rh: 0 | 1 | 2, filter: string): Promise<number> => {
    await c.subscribe([{ topicFilter: filter, qos: 1, retainHandling: rh }]);
    await c.ping(); // retained messages for the subscription are sent before the broker reads the PINGREQ
    const n = c.pending(PacketType.PUBLISH).length;
    for (const p of c.pending(PacketType.PUBLISH)) {
      assert.equal(p.retain, true, "sent because of the subscription: RETAIN 1 [MQTT-3.3.1-13]");
      c.puback(p.packetId!);
      await c.next(PacketType.PUBLISH); // consume
    }
    return n;
  };
  assert.equal(await retainedCount(0, `${base}/#`), 1, "RH 0, new");
  assert.equal(await retainedCount(0, `${base}/#`), 1, "RH 0, existing: sent again");
  assert.equal(await retainedCount(1, `${base}/+`), 1, "RH 1, new");
  assert.equal(await retainedCount(1, `${base}/+`), 0, "RH 1, existing: not sent");
  assert.equal(await retainedCount(2, `${base}/x`), 0, "RH 2, new: not sent");
  await pub.publishAsync(`${base}/x`, "", { qos: 1, retain: true });
});

test("[MQTT-3.3.4-2] [MQTT-3.3.4-3] [MQTT-3.3.4-4] overlapping subscriptions: one delivery at the highest granted QoS carrying every matching Subscription Identifier (MQTT.js)", async (t) => {
  const base = topicFor("subid");
  const c = await raw(t, target, {});
  await c.subscribe([{ topicFilter: `${base}/+`, qos: 0 }], { subscriptionIdentifiers: [1] });
  await c.subscribe([{ topicFilter: `${base}/#`, qos: 2 }], { subscriptionIdentifiers: [268_435_455] });
  await c.subscribe([{ topicFilter: `${base}/a`, qos: 1 }]); // no identifier
  const js = await mqttjs(t, target);
  const inbox = new Inbox(js);
  await js.subscribeAsync(`${base}/+`, { qos: 1, properties: { subscriptionIdentifier: 5 } });
  await js.subscribeAsync(`${base}/#`, { qos: 1, properties: { subscriptionIdentifier: 6 } });

  const pub = await mqttjs(t, target);
  await pub.publishAsync(`${base}/a`, "x", { qos: 2 });
  if (onMosquitto) {
    // Documented deviation: Mosquitto sends one copy per matching subscription, each with that subscription's
    // identifier only — allowed by [MQTT-3.3.4-5], but Wharf must send one copy.
    await c.next(PacketType.PUBLISH);
    await sleep(300);
    const copies = c.received.filter((p) => p.type === PacketType.PUBLISH);
    const ids = copies.map((p) => (p.type === PacketType.PUBLISH ? (p.properties?.subscriptionIdentifiers ?? []) : []));
    assert.deepEqual(ids.map((x) => x.join(",")).sort(), ["", "1", "268435455"]);
    return;
  }
  const m = await c.next(PacketType.PUBLISH);
  assert.equal(m.qos, 2, "highest QoS of the matching subscriptions");
  assert.deepEqual(
    [...(m.properties?.subscriptionIdentifiers ?? [])].sort((x, y) => x - y),
    [1, 268_435_455],
  );
  c.pubrec(m.packetId!);
  c.pubcomp((await c.next(PacketType.PUBREL)).packetId);
  const j = await inbox.next();
  const ids = j.packet.properties?.subscriptionIdentifier;
  assert.deepEqual([...(Array.isArray(ids) ? ids : [ids])].sort(), [5, 6]);
  await sleep(300);
  assert.equal(c.pending(PacketType.PUBLISH).length, 0, "delivered once");
  assert.equal(inbox.messages.length, 1, "delivered once (MQTT.js)");
});

interface SubIdsResult {
  suback: number[][];
  received: { topic: string; payload: string; qos: number; subscriptionIdentifiers: number[] }[];
}

test("[MQTT-3.3.4-3] [MQTT-3.3.4-4] [MQTT-3.3.4-5] Subscription Identifiers with paho-mqtt: every matching identifier, once per message", async () => {
  const r = await runPaho<SubIdsResult>("v5_subscription_ids.py", target);
  assert.deepEqual(r.suback, [[0], [1], [0]]);
  if (onMosquitto) {
    // Documented deviation: one copy per matching subscription, each with its own identifier [MQTT-3.3.4-5].
    const one = r.received.filter((m) => m.payload === "one").map((m) => m.subscriptionIdentifiers.join(","));
    assert.deepEqual(one.sort(), ["", "300000", "7"]);
    const two = r.received.filter((m) => m.payload === "two");
    assert.deepEqual(
      two.map((m) => m.subscriptionIdentifiers),
      [[300000]],
    );
    return;
  }
  assert.equal(r.received.length, 2, `one delivery per message: ${JSON.stringify(r.received)}`);
  const [one, two] = r.received;
  assert.equal(one!.payload, "one");
  assert.equal(one!.qos, 1);
  assert.deepEqual(
    [...one!.subscriptionIdentifiers].sort((x, y) => x - y),
    [7, 300000],
  );
  assert.equal(two!.payload, "two");
  assert.deepEqual(two!.subscriptionIdentifiers, [300000], "only the matching subscription's identifier");
});

test("[MQTT-3.8.4-3] re-subscribing to the same filter replaces the subscription (new QoS and identifier), no duplicate delivery", async (t) => {
  const topic = topicFor("replace");
  const c = await raw(t, target, {});
  await c.subscribe([{ topicFilter: topic, qos: 0 }], { subscriptionIdentifiers: [3] });
  await c.subscribe([{ topicFilter: topic, qos: 1 }], { subscriptionIdentifiers: [4] });
  const pub = await mqttjs(t, target);
  await pub.publishAsync(topic, "x", { qos: 1 });
  const m = await c.next(PacketType.PUBLISH);
  assert.equal(m.qos, 1);
  assert.deepEqual(m.properties?.subscriptionIdentifiers, [4]);
  await c.ping();
  assert.deepEqual(c.pending(PacketType.PUBLISH), [], "one copy");
});

test("[MQTT-3.9.3-1] [MQTT-3.8.4-6] [MQTT-3.8.4-7] SUBACK has one reason code per filter, in order: granted QoS 0, 1, 2", async (t) => {
  const base = topicFor("suback");
  const c = await raw(t, target, {});
  const s = await c.subscribe([
    { topicFilter: `${base}/2`, qos: 2 },
    { topicFilter: `${base}/0`, qos: 0 },
    { topicFilter: `${base}/1`, qos: 1 },
  ]);
  assert.deepEqual(s.reasonCodes, [2, 0, 1]);
});

test(
  "[MQTT-3.9.3-1] (§3.9.3) SUBACK 0x87 Not authorized for a denied filter, next to granted ones",
  {
    skip: wharfOnly("grants denied subscriptions and filters on delivery instead"),
  },
  async (t) => {
    const base = topicFor("suback-acl");
    const s = await useTarget(t, { acl: [{ permission: "deny", action: "subscribe", topic: `${base}/secret/#` }] });
    const c = await raw(t, s, {});
    const r = await c.subscribe([
      { topicFilter: `${base}/open`, qos: 1 },
      { topicFilter: `${base}/secret/#`, qos: 1 },
    ]);
    assert.deepEqual(r.reasonCodes, [1, ReasonCode.NotAuthorized]);
  },
);

test("(§3.9.3) an invalid Topic Filter gets SUBACK 0x8F next to granted ones (Mosquitto: DISCONNECT 0x81)", async (t) => {
  const base = topicFor("suback-invalid");
  const c = await raw(t, target, {});
  const packetId = c.nextPacketId();
  c.send({
    type: PacketType.SUBSCRIBE,
    packetId,
    subscriptions: [
      { topicFilter: `${base}/ok`, qos: 1 },
      { topicFilter: `${base}/#/bad`, qos: 1 },
    ],
  });
  const r = await outcome(c, c.next(PacketType.SUBACK));
  if (onMosquitto) {
    // Documented deviation: Mosquitto treats the whole SUBSCRIBE as malformed.
    assert.equal(r.disconnect, ReasonCode.MalformedPacket);
    return;
  }
  assert.deepEqual(r.ack?.reasonCodes, [1, ReasonCode.TopicFilterInvalid]);
});

/** SUBSCRIBE refused for an unavailable feature: SUBACK `code` or DISCONNECT `code` (§3.2.2.3.11-13 allow both). */
async function refused(
  t: Ctx,
  s: Target,
  filter: string,
  code: number,
  subscriptionIdentifier?: number,
): Promise<void> {
  const c = await raw(t, s, {});
  const packetId = c.nextPacketId();
  c.send({
    type: PacketType.SUBSCRIBE,
    packetId,
    subscriptions: [{ topicFilter: filter, qos: 1 }],
    properties:
      subscriptionIdentifier === undefined ? undefined : { subscriptionIdentifiers: [subscriptionIdentifier] },
  });
  const r = await outcome(c, c.next(PacketType.SUBACK));
  if (r.ack !== undefined) assert.deepEqual(r.ack.reasonCodes, [code]);
  else assert.equal(r.disconnect, code);
}

test(
  "(§3.2.2.3.11-13) unavailable features are refused: wildcard filter 0xA2, Subscription Identifier 0xA1, shared subscription 0x9E",
  {
    skip: wharfOnly("cannot disable wildcard, subscription identifier or shared subscriptions"),
  },
  async (t) => {
    const base = topicFor("unavailable");
    const noWild = await useTarget(t, { wharf: wharfOptions.existing.wildcardSubscriptionAvailable(false) });
    await refused(t, noWild, `${base}/+`, ReasonCode.WildcardSubscriptionsNotSupported);
    await refused(t, noWild, `${base}/#`, ReasonCode.WildcardSubscriptionsNotSupported);
    const noIds = await useTarget(t, { wharf: wharfOptions.existing.subscriptionIdentifiersAvailable(false) });
    await refused(t, noIds, `${base}/x`, ReasonCode.SubscriptionIdentifiersNotSupported, 9);
    const noShared = await useTarget(t, { wharf: wharfOptions.existing.sharedSubscriptionAvailable(false) });
    await refused(t, noShared, `$share/g/${base}/x`, ReasonCode.SharedSubscriptionsNotSupported);
  },
);

test(
  "(§3.9.3) SUBACK 0x97 Quota exceeded once a session holds the configured maximum number of subscriptions",
  {
    skip: wharfOnly("has no per-client subscription limit"),
  },
  async (t) => {
    const base = topicFor("sub-quota");
    const s = await useTarget(t, { wharf: wharfOptions.maxSubscriptionsPerSession(2) });
    const c = await raw(t, s, {});
    const r = await c.subscribe([
      { topicFilter: `${base}/1`, qos: 1 },
      { topicFilter: `${base}/2`, qos: 1 },
      { topicFilter: `${base}/3`, qos: 1 },
    ]);
    assert.deepEqual(r.reasonCodes, [1, 1, ReasonCode.QuotaExceeded]);
    // Replacing an existing subscription is not a new one.
    const again = await c.subscribe([{ topicFilter: `${base}/1`, qos: 0 }]);
    assert.deepEqual(again.reasonCodes, [0]);
  },
);

test("[MQTT-3.11.3-1] [MQTT-3.11.3-2] UNSUBACK has one reason code per filter, in order: 0x00 removed, 0x11 No subscription existed", async (t) => {
  const base = topicFor("unsuback");
  const c = await raw(t, target, {});
  await c.subscribe([
    { topicFilter: `${base}/a`, qos: 1 },
    { topicFilter: `${base}/c`, qos: 1 },
  ]);
  const r = await c.unsubscribe([`${base}/a`, `${base}/b`, `${base}/c`, `${base}/a`]);
  assert.deepEqual(r.reasonCodes, [
    ReasonCode.Success,
    ReasonCode.NoSubscriptionExisted,
    ReasonCode.Success,
    ReasonCode.NoSubscriptionExisted,
  ]);
  const pub = await mqttjs(t, target);
  await pub.publishAsync(`${base}/a`, "x", { qos: 1 }); // routed before its PUBACK
  await c.ping();
  assert.deepEqual(c.pending(PacketType.PUBLISH), [], "no longer subscribed");
});

test("(§3.11.3) UNSUBSCRIBE of an invalid Topic Filter gets UNSUBACK 0x8F (Mosquitto: DISCONNECT 0x81)", async (t) => {
  const base = topicFor("unsub-invalid");
  const c = await raw(t, target, {});
  const packetId = c.nextPacketId();
  c.send({ type: PacketType.UNSUBSCRIBE, packetId, topicFilters: [`${base}/ok`, `${base}/#/bad`] });
  const r = await outcome(c, c.next(PacketType.UNSUBACK));
  if (onMosquitto) {
    // Documented deviation: Mosquitto treats the whole UNSUBSCRIBE as malformed.
    assert.equal(r.disconnect, ReasonCode.MalformedPacket);
    return;
  }
  assert.deepEqual(r.ack?.reasonCodes, [ReasonCode.NoSubscriptionExisted, ReasonCode.TopicFilterInvalid]);
});
