// 5.0 outbound Topic Aliases (src/broker/topic-alias-out.ts): the LRU table on its own, then through the broker.
import assert from "node:assert/strict";
import { test } from "node:test";
import { PacketType } from "../../../src/codec/index.ts";
import type { Packet, PublishPacket } from "../../../src/codec/index.ts";
import { MAX_OUTBOUND_ALIASES, OutboundTopicAliases, outboundAliasesFor } from "../../../src/broker/topic-alias-out.ts";
import type { AliasChoice } from "../../../src/broker/topic-alias-out.ts";
import { harness } from "./harness.ts";

/** Chooses and commits like Connection.writePublish; returns what the PUBLISH carries. */
function send(t: OutboundTopicAliases, topic: string): AliasChoice | undefined {
  const c = t.choose(topic);
  if (c !== undefined) t.commit(topic, c);
  return c;
}

test("first send carries topic and a new alias, later sends only the alias", () => {
  const t = new OutboundTopicAliases(3);
  assert.deepEqual(send(t, "sensors/a"), { topicAlias: 1, omitTopic: false });
  assert.deepEqual(send(t, "sensors/b"), { topicAlias: 2, omitTopic: false });
  assert.deepEqual(send(t, "sensors/a"), { topicAlias: 1, omitTopic: true });
  assert.deepEqual(send(t, "sensors/b"), { topicAlias: 2, omitTopic: true });
  assert.equal(t.size, 2);
});

test("full table: the least recently used topic gives up its alias, never above the maximum [MQTT-3.3.2-11]", () => {
  const t = new OutboundTopicAliases(2);
  send(t, "topic/a"); // 1
  send(t, "topic/b"); // 2
  send(t, "topic/a"); // a used more recently than b
  assert.deepEqual(send(t, "topic/c"), { topicAlias: 2, omitTopic: false }, "b was least recently used");
  assert.deepEqual(send(t, "topic/a"), { topicAlias: 1, omitTopic: true });
  assert.deepEqual(send(t, "topic/b"), { topicAlias: 2, omitTopic: false }, "c is now the LRU one");
  assert.deepEqual(send(t, "topic/c"), { topicAlias: 1, omitTopic: false });
  assert.equal(t.size, 2);
});

test("choose() alone does not change the table (a discarded PUBLISH teaches the client nothing)", () => {
  const t = new OutboundTopicAliases(1);
  assert.deepEqual(t.choose("topic/a"), { topicAlias: 1, omitTopic: false });
  assert.deepEqual(t.choose("topic/a"), { topicAlias: 1, omitTopic: false });
  assert.equal(t.size, 0);
});

test("short topics are not aliased", () => {
  const t = new OutboundTopicAliases(5);
  assert.equal(send(t, "abc"), undefined);
  assert.equal(send(t, "abc"), undefined);
  assert.deepEqual(send(t, "abcd"), { topicAlias: 1, omitTopic: false });
});

test("outboundAliasesFor: none when off or when the client allows none [MQTT-3.1.2-27]; capped", () => {
  assert.equal(outboundAliasesFor("off", 10), undefined);
  assert.equal(outboundAliasesFor("auto", undefined), undefined);
  assert.equal(outboundAliasesFor("auto", 0), undefined);
  assert.equal(outboundAliasesFor("auto", 7)?.maximum, 7);
  assert.equal(outboundAliasesFor("auto", 65535)?.maximum, MAX_OUTBOUND_ALIASES);
});

// ---- through the broker -------------------------------------------------------------------------------------

const pubs = (ps: Packet[]): PublishPacket[] => ps.filter((p): p is PublishPacket => p.type === PacketType.PUBLISH);

/** Resolves aliases as a client must, failing on anything the server must not do. */
function resolve(packets: PublishPacket[], max: number, map = new Map<number, string>()): string[] {
  return packets.map((p) => {
    const alias = p.properties?.topicAlias;
    if (alias === undefined) return p.topic;
    assert.ok(alias >= 1 && alias <= max, `alias ${alias} within 1..${max}`);
    if (p.topic !== "") map.set(alias, p.topic);
    const topic = map.get(alias);
    assert.ok(topic !== undefined, `alias ${alias} used before it was set`);
    return topic;
  });
}

test("broker: a 5.0 client with Topic Alias Maximum gets aliased PUBLISHes that resolve to the right topics", async () => {
  const h = harness();
  const { client } = await h.connect({ clientId: "s", version: 5, properties: { topicAliasMaximum: 2 } });
  await client.subscribe("x/#", 1);
  const topics = ["x/one", "x/one", "x/two", "x/three", "x/one", "x/three"];
  for (const topic of topics) await h.broker.publish({ topic, payload: "p", qos: 0 });
  const got = pubs(await client.receive());
  assert.deepEqual(resolve(got, 2), topics);
  assert.deepEqual(
    got.map((p) => [p.topic === "" ? "" : "topic", p.properties?.topicAlias]),
    [
      ["topic", 1],
      ["", 1],
      ["topic", 2],
      ["topic", 1], // table full: x/one (least recently used) gives its alias to x/three
      ["topic", 2], // x/one comes back and takes x/two's
      ["", 1],
    ],
  );
});

test("broker: no aliases for 3.1.1, for 5.0 without Topic Alias Maximum, or with outboundTopicAliases off", async () => {
  for (const [opts, connect] of [
    [{}, { version: 4 as const }],
    [{}, { version: 5 as const }],
    [{ outboundTopicAliases: "off" as const }, { version: 5 as const, properties: { topicAliasMaximum: 5 } }],
  ] as const) {
    const h = harness(opts);
    const { client } = await h.connect({ clientId: "s", ...connect });
    await client.subscribe("x/#", 0);
    for (let i = 0; i < 3; i++) await h.broker.publish({ topic: "x/topic", payload: "p", qos: 0 });
    const got = pubs(await client.receive());
    assert.equal(got.length, 3);
    for (const p of got) {
      assert.equal(p.topic, "x/topic");
      assert.equal(p.properties?.topicAlias, undefined);
    }
  }
});

test("broker: aliases are per connection: reset on reconnect, resends after it carry the topic [MQTT-3.3.2-7]", async () => {
  const h = harness();
  const props = { topicAliasMaximum: 4, sessionExpiryInterval: 60 };
  const first = await h.connect({ clientId: "s", version: 5, properties: props });
  await first.client.subscribe("x/#", 1);
  await h.broker.publish({ topic: "x/topic", payload: "1", qos: 1 });
  await h.broker.publish({ topic: "x/topic", payload: "2", qos: 1 });
  const before = pubs(await first.client.receive());
  assert.deepEqual(
    before.map((p) => p.topic),
    ["x/topic", ""],
  );
  first.client.drop(); // both unacknowledged
  const second = await h.connect({ clientId: "s", version: 5, clean: false, properties: props });
  const resent = pubs(second.client.take().concat(await second.client.receive()));
  assert.deepEqual(
    resent.map((p) => [p.dup, p.topic]),
    [
      [true, "x/topic"],
      [true, ""],
    ],
    "the first resend teaches the new connection the alias again",
  );
  assert.deepEqual(resolve(resent, 4), ["x/topic", "x/topic"]);
});

test("broker: a PUBLISH discarded as too large for the client does not set an alias", async () => {
  const h = harness();
  const { client } = await h.connect({
    clientId: "s",
    version: 5,
    properties: { topicAliasMaximum: 2, maximumPacketSize: 64 },
  });
  await client.subscribe("x/#", 0);
  await h.broker.publish({ topic: "x/topic", payload: Buffer.alloc(100), qos: 0 }); // discarded
  await h.broker.publish({ topic: "x/topic", payload: "small", qos: 0 });
  const got = pubs(await client.receive());
  assert.equal(got.length, 1);
  assert.equal(got[0]!.topic, "x/topic", "the alias is introduced with the topic");
  assert.equal(got[0]!.properties?.topicAlias, 1);
});
