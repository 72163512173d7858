// MQTT 5.0 acceptance (issue #4): Topic Alias Maximum in both directions — inbound aliases resolved and validated,
// outbound aliases assigned per connection by the server.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { PacketType, ReasonCode } from "../../../src/codec/index.ts";
import type { PublishPacket } from "../../../src/codec/index.ts";
import type { RawClient } from "../../helpers/raw-client.ts";
import { startTarget } from "../../helpers/target.ts";
import type { Target } from "../../helpers/target.ts";
import { Inbox, expected, mqttjs, raw, topicFor, uid, useTarget, wharfOnly } from "./harness.ts";
import { wharfOptions } from "./wharf-options.ts";

let target: Target;
before(async () => {
  target = await startTarget({ topicAliasMaximum: 3 });
});
after(() => target?.close());

test("[MQTT-3.3.2-12] (§3.3.2.3.4) inbound aliases: set with a topic, used with an empty topic, remapped; subscribers see full topics", async (t) => {
  const a = topicFor("alias-a");
  const b = topicFor("alias-b");
  const sub = await mqttjs(t, target);
  const inbox = new Inbox(sub);
  await sub.subscribeAsync([a, b], { qos: 1 });
  const pub = await raw(t, target, {});
  assert.equal(pub.connack!.properties?.topicAliasMaximum, 3);
  pub.publish(a, "1", { qos: 1, properties: { topicAlias: 1 } }); // set 1 -> a
  pub.publish("", "2", { qos: 1, properties: { topicAlias: 1 } }); // use 1
  pub.publish(b, "3", { qos: 1, properties: { topicAlias: 3 } }); // set 3 -> b (the maximum)
  pub.publish("", "4", { qos: 1, properties: { topicAlias: 3 } });
  pub.publish(b, "5", { qos: 1, properties: { topicAlias: 1 } }); // remap 1 -> b
  pub.publish("", "6", { qos: 1, properties: { topicAlias: 1 } });
  const msgs = await inbox.count(6);
  assert.deepEqual(
    msgs.map((m) => [m.topic, m.payload.toString()]),
    [
      [a, "1"],
      [a, "2"],
      [b, "3"],
      [b, "4"],
      [b, "5"],
      [b, "6"],
    ],
  );
  for (const m of msgs)
    assert.equal(m.packet.properties?.topicAlias, undefined, "the publisher's alias is not forwarded");
});

test("[MQTT-3.3.2-8] a Topic Alias of 0 closes the connection with DISCONNECT 0x94", async (t) => {
  const c = await raw(t, target, {});
  c.publish(topicFor("zero"), "x", { properties: { topicAlias: 0 } });
  const closed = await c.waitClosed();
  // Documented deviation: Mosquitto treats alias 0 as a Malformed Packet (0x81).
  assert.equal(closed.disconnect?.reasonCode, expected(ReasonCode.TopicAliasInvalid, ReasonCode.MalformedPacket));
});

test("[MQTT-3.2.2-17] [MQTT-3.3.2-9] a Topic Alias above the server's Topic Alias Maximum gets DISCONNECT 0x94", async (t) => {
  const c = await raw(t, target, {});
  c.publish(topicFor("above"), "x", { properties: { topicAlias: 4 } });
  const closed = await c.waitClosed();
  assert.equal(closed.disconnect?.reasonCode, ReasonCode.TopicAliasInvalid);
});

test("[MQTT-3.2.2-18] Topic Alias Maximum 0: the server announces no aliases and refuses any with DISCONNECT 0x94", async (t) => {
  const none = await useTarget(t, { topicAliasMaximum: 0 });
  const c = await raw(t, none, {});
  const tam = c.connack!.properties?.topicAliasMaximum;
  assert.ok(tam === undefined || tam === 0, `Topic Alias Maximum absent or 0 (got ${tam})`);
  c.publish(topicFor("no-aliases"), "x", { properties: { topicAlias: 1 } });
  const closed = await c.waitClosed();
  assert.equal(closed.disconnect?.reasonCode, ReasonCode.TopicAliasInvalid);
});

test("(§3.3.2.3.4) an empty topic with an alias that was never set is a Protocol Error: DISCONNECT 0x82", async (t) => {
  const c = await raw(t, target, {});
  c.publish(topicFor("set"), "x", { properties: { topicAlias: 1 } });
  c.publish("", "x", { properties: { topicAlias: 2 } });
  const closed = await c.waitClosed();
  assert.equal(closed.disconnect?.reasonCode, ReasonCode.ProtocolError);
});

test("[MQTT-3.3.2-7] inbound alias mappings are not carried to a new network connection, even for the same session", async (t) => {
  const id = `alias-sess-${uid()}`;
  const first = await raw(t, target, { clientId: id, properties: { sessionExpiryInterval: 30 } });
  first.publish(topicFor("carried"), "x", { qos: 1, properties: { topicAlias: 2 } });
  await first.next(PacketType.PUBACK);
  first.disconnect();
  await first.waitClosed();
  const second = await raw(t, target, { clientId: id, clean: false, properties: { sessionExpiryInterval: 0 } });
  assert.equal(second.connack!.sessionPresent, true);
  second.publish("", "x", { qos: 1, properties: { topicAlias: 2 } });
  const closed = await second.waitClosed();
  assert.equal(closed.disconnect?.reasonCode, ReasonCode.ProtocolError);
});

/** Subscribes a raw client allowing `topicAliasMaximum` aliases (absent if undefined) to `filter`. */
async function aliasSubscriber(
  t: Parameters<typeof raw>[0],
  s: Target,
  filter: string,
  tam: number | undefined,
  clientId?: string,
): Promise<RawClient> {
  const c = await raw(t, s, {
    clientId: clientId ?? `alias-sub-${uid()}`,
    properties: tam === undefined ? undefined : { topicAliasMaximum: tam },
  });
  await c.subscribe([{ topicFilter: filter, qos: 0 }]);
  return c;
}

/** Resolves every PUBLISH the way a client must (§3.3.2.3.4), failing on any rule the server breaks. */
function resolveAliases(packets: PublishPacket[], max: number): string[] {
  const map = new Map<number, string>();
  return packets.map((p) => {
    const alias = p.properties?.topicAlias;
    if (alias === undefined) {
      assert.notEqual(p.topic, "", "empty topic without alias");
      return p.topic;
    }
    assert.ok(alias >= 1 && alias <= max, `alias ${alias} within 1..${max} [MQTT-3.1.2-26] [MQTT-3.3.2-11]`);
    if (p.topic !== "") {
      map.set(alias, p.topic);
      return p.topic;
    }
    const topic = map.get(alias);
    assert.ok(topic !== undefined, `alias ${alias} used before it was set on this connection`);
    return topic;
  });
}

async function publishRound(t: Parameters<typeof raw>[0], s: Target, topics: string[], rounds: number): Promise<void> {
  const pub = await mqttjs(t, s);
  for (let r = 0; r < rounds; r++) for (const topic of topics) await pub.publishAsync(topic, `${r}`, { qos: 1 });
}

test("[MQTT-3.1.2-27] no outbound Topic Alias to a client that did not announce a Topic Alias Maximum", async (t) => {
  const base = topicFor("out-none");
  const topics = [`${base}/x`, `${base}/y`];
  const c = await aliasSubscriber(t, target, `${base}/#`, undefined);
  await publishRound(t, target, topics, 3);
  await c.ping(); // every message was routed before its PUBACK: all are here before the PINGRESP
  const got = c.pending(PacketType.PUBLISH);
  assert.equal(got.length, 6);
  for (const p of got) {
    assert.equal(p.properties?.topicAlias, undefined);
    assert.ok(p.topic.startsWith(base));
  }
});

test(
  "[MQTT-3.1.2-26] [MQTT-3.3.2-11] outbound aliases: assigned when the client allows them, never above its maximum, always resolvable",
  {
    skip: wharfOnly("never assigns outbound Topic Aliases"),
  },
  async (t) => {
    const base = topicFor("out-auto");
    const topics = [`${base}/a`, `${base}/b`, `${base}/c`];
    const c = await aliasSubscriber(t, target, `${base}/#`, 2);
    // More topics than aliases, each sent twice in a row so any sensible policy reuses an alias.
    const sequence = [...topics, ...topics].flatMap((x) => [x, x]);
    await publishRound(t, target, sequence, 1);
    await c.ping();
    const got = c.pending(PacketType.PUBLISH);
    assert.equal(got.length, 12);
    const resolved = resolveAliases(got, 2);
    assert.deepEqual(resolved, sequence, "every message under its own topic");
    assert.ok(
      got.some((p) => p.topic === "" && p.properties?.topicAlias !== undefined),
      "at least one PUBLISH sent with an empty topic and an alias",
    );
  },
);

test(
  "[MQTT-3.3.2-7] outbound aliases are reset on reconnect: the first use of an alias on the new connection carries the topic",
  {
    skip: wharfOnly("never assigns outbound Topic Aliases"),
  },
  async (t) => {
    const base = topicFor("out-reset");
    const topics = [`${base}/a`];
    const id = `alias-reset-${uid()}`;
    const first = await aliasSubscriber(t, target, `${base}/#`, 5, id);
    await publishRound(t, target, topics, 2);
    await first.next(PacketType.PUBLISH);
    const aliased = await first.next(PacketType.PUBLISH);
    assert.equal(aliased.topic, "", "second message on the first connection uses the alias");
    first.destroy();
    await first.closed;
    const second = await aliasSubscriber(t, target, `${base}/#`, 5, id);
    await publishRound(t, target, topics, 2);
    const p1 = await second.next(PacketType.PUBLISH);
    assert.equal(p1.topic, topics[0], "no mapping carried over from the previous connection");
    resolveAliases([p1, await second.next(PacketType.PUBLISH)], 5);
  },
);

// Mosquitto passes this one vacuously (it never assigns outbound aliases); it checks Wharf's "off" policy.
test("(§3.3.2.3.4) outbound alias policy is configurable: off means no aliases even when the client allows them", async (t) => {
  const s = await useTarget(t, { wharf: wharfOptions.outboundTopicAliases("off") });
  const base = topicFor("out-off");
  const c = await aliasSubscriber(t, s, `${base}/#`, 10);
  await publishRound(t, s, [`${base}/a`, `${base}/b`], 3);
  await c.ping();
  const got = c.pending(PacketType.PUBLISH);
  assert.equal(got.length, 6);
  for (const p of got) assert.equal(p.properties?.topicAlias, undefined);
});

test("(§3.3.2.3.4) an MQTT.js subscriber that allows aliases receives every message under its full topic", async (t) => {
  const base = topicFor("out-js");
  const topics = [`${base}/a`, `${base}/b`, `${base}/c`, `${base}/d`];
  const sub = await mqttjs(t, target, { properties: { topicAliasMaximum: 2 } });
  const inbox = new Inbox(sub);
  await sub.subscribeAsync(`${base}/#`, { qos: 1 });
  await publishRound(t, target, topics, 3);
  const msgs = await inbox.count(12);
  assert.deepEqual(
    msgs.map((m) => m.topic),
    Array.from({ length: 3 }, () => topics).flat(),
  );
});
