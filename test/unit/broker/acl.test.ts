import assert from "node:assert/strict";
import { test } from "node:test";
import { PacketType } from "../../../src/codec/index.ts";
import { aclAllows, filterCovers, filterIntersects } from "../../../src/broker/index.ts";
import type { AclRule } from "../../../src/broker/index.ts";
import { harness, payloads, settle, types } from "./harness.ts";

test("filterCovers: every topic of the inner filter matches the outer one", () => {
  const yes: [string, string][] = [
    ["#", "a/b"],
    ["a/#", "a/+/c"],
    ["a/#", "a"],
    ["a/+", "a/b"],
    ["+/+", "a/+"],
    ["a/b", "a/b"],
    ["$SYS/#", "$SYS/broker/+"],
  ];
  const no: [string, string][] = [
    ["a/b", "a/+"],
    ["a/+", "a/#"],
    ["a/+", "a/b/c"],
    ["#", "$SYS/x"],
    ["+/x", "$SYS/x"],
    ["a", "a/b"],
  ];
  for (const [o, i] of yes) assert.equal(filterCovers(o, i), true, `${o} covers ${i}`);
  for (const [o, i] of no) assert.equal(filterCovers(o, i), false, `${o} does not cover ${i}`);
});

test("filterIntersects: some topic matches both", () => {
  const yes: [string, string][] = [
    ["secret/#", "#"],
    ["secret/#", "+/x"],
    ["a/+/c", "a/b/+"],
    ["a/#", "a"],
    ["a", "+"],
  ];
  const no: [string, string][] = [
    ["a/b", "a/c"],
    ["a/+", "a/b/c"],
    ["$SYS/#", "#"],
    ["$SYS/x", "+/x"],
    ["a/b", "a"],
  ];
  for (const [a, b] of yes) assert.equal(filterIntersects(a, b), true, `${a} ∩ ${b}`);
  for (const [a, b] of no) assert.equal(filterIntersects(a, b), false, `${a} ∩ ${b} = ∅`);
});

test("aclAllows: first match wins, no match allows, client/user scoping and %c/%u", () => {
  const rules: AclRule[] = [
    { permission: "allow", action: "publish", topic: "clients/%c/#" },
    { permission: "deny", action: "publish", topic: "clients/#" },
    { permission: "deny", action: "all", topic: "admin/#", username: "guest" },
    { permission: "allow", action: "subscribe", topic: "users/%u/+" },
    { permission: "deny", action: "subscribe", topic: "users/#" },
  ];
  const alice = { clientId: "c1", username: "alice" };
  const guest = { clientId: "c2", username: "guest" };
  assert.equal(aclAllows(rules, "publish", alice, "clients/c1/x"), true);
  assert.equal(aclAllows(rules, "publish", alice, "clients/c2/x"), false);
  assert.equal(aclAllows(rules, "publish", alice, "other"), true);
  assert.equal(aclAllows(rules, "publish", guest, "admin/x"), false);
  assert.equal(aclAllows(rules, "subscribe", guest, "admin/#"), false);
  assert.equal(aclAllows(rules, "publish", alice, "admin/x"), true);
  assert.equal(aclAllows(rules, "subscribe", alice, "users/alice/+"), true);
  assert.equal(aclAllows(rules, "subscribe", alice, "users/bob/+"), false);
  assert.equal(aclAllows(rules, "subscribe", alice, "users/#"), false, "wider than the allow: the deny applies");
  assert.equal(aclAllows(rules, "subscribe", { clientId: "x", username: undefined }, "users/x/+"), false);
});

const denySecret: AclRule[] = [{ permission: "deny", action: "all", topic: "secret/#" }];

test("ACL deny on SUBSCRIBE: 3.1.1 SUBACK 0x80, 5.0 0x87; other filters in the packet granted", async () => {
  const h = harness({ acl: denySecret });
  const a = await h.connect({ clientId: "a" });
  assert.deepEqual((await a.client.subscribe(["secret/x", "public", "#"], 1)).reasonCodes, [0x80, 1, 0x80]);
  const b = await h.connect({ clientId: "b", version: 5 });
  assert.deepEqual((await b.client.subscribe(["secret/x", "public"], 1)).reasonCodes, [0x87, 1]);
});

test("ACL deny on PUBLISH: dropped but acknowledged in 3.1.1 [MQTT-3.3.5-2]; 5.0 PUBACK/PUBREC 0x87", async () => {
  const h = harness({ acl: [{ permission: "deny", action: "publish", topic: "secret/#" }] });
  const spy = await h.connect({ clientId: "spy" });
  assert.deepEqual((await spy.client.subscribe("secret/+", 0)).reasonCodes, [0], "subscribing is allowed");
  const pub = await h.connect({ clientId: "p" });
  pub.client.publish("secret/a", "s1", 1, { retain: true });
  pub.client.publish("secret/a", "s2", 2);
  assert.deepEqual(types(await pub.client.receive()), [PacketType.PUBACK, PacketType.PUBREC]);
  pub.client.send({ type: PacketType.PUBREL, packetId: 2 });
  assert.deepEqual(types(await pub.client.receive()), [PacketType.PUBCOMP]);
  assert.equal(h.broker.stats().retained, 0);
  const p5 = await h.connect({ clientId: "p5", version: 5 });
  p5.client.publish("secret/a", "s3", 1);
  p5.client.publish("secret/a", "s4", 2);
  const codes = (await p5.client.receive()).map((p) => ("reasonCode" in p ? p.reasonCode : -1));
  assert.deepEqual(codes, [0x87, 0x87]);
  assert.deepEqual(payloads(spy.client.take()), []);
});

test("client PUBLISH to $SYS/ is dropped but acknowledged (3.1.1) / 0x87 (5.0)", async () => {
  const h = harness();
  const sub = await h.connect({ clientId: "s" });
  await sub.client.subscribe("$SYS/#", 0);
  const pub = await h.connect({ clientId: "p" });
  pub.client.publish("$SYS/broker/version", "fake", 1, { retain: true });
  assert.deepEqual(types(await pub.client.receive()), [PacketType.PUBACK]);
  assert.deepEqual(await sub.client.receive(), []);
  assert.equal(h.broker.stats().retained, 0);
  const p5 = await h.connect({ clientId: "p5", version: 5 });
  p5.client.publish("$SYS/x", "fake", 1);
  const [ack] = await p5.client.receive();
  assert.equal(ack?.type === PacketType.PUBACK ? ack.reasonCode : 0, 0x87);
});

test("'$' topics: filters starting with a wildcard do not match them [MQTT-4.7.2-1]", async () => {
  const h = harness();
  const { client } = await h.connect({ clientId: "d" });
  await client.subscribe(["#", "+/x"], 0);
  const other = await h.connect({ clientId: "o" });
  await other.client.subscribe("$app/+", 0);
  const pub = await h.connect({ clientId: "p" });
  pub.client.publish("$app/x", "dollar");
  pub.client.publish("app/x", "plain");
  assert.deepEqual(payloads(await client.receive()), ["plain"]);
  assert.deepEqual(payloads(await other.client.receive()), ["dollar"]);
});

test("authorization hooks: async publish/subscribe decisions, packet order preserved, hook errors deny", async () => {
  const h = harness({
    auth: {
      authorizePublish: async (client, topic) => {
        await Promise.resolve();
        if (topic === "boom") throw new Error("hook failed");
        return client.username === "writer";
      },
      authorizeSubscribe: (_client, filter) => filter !== "forbidden",
    },
  });
  const sub = await h.connect({ clientId: "s" });
  assert.deepEqual((await sub.client.subscribe(["t", "forbidden", "boom"], 0)).reasonCodes, [0, 0x80, 0]);
  const reader = await h.connect({ clientId: "r", username: "reader" });
  reader.client.publish("t", "no", 1);
  reader.client.send({ type: PacketType.PINGREQ });
  assert.deepEqual(types(await reader.client.receive()), [PacketType.PUBACK, PacketType.PINGRESP]);
  const writer = await h.connect({ clientId: "w", username: "writer" });
  writer.client.publish("t", "1", 1);
  writer.client.publish("boom", "x", 0);
  writer.client.publish("t", "2", 0);
  await settle(6);
  assert.deepEqual(payloads(sub.client.take()), ["1", "2"]);
});

test("wills are authorized like publishes (an ACL-denied will is not published)", async () => {
  const h = harness({ acl: [{ permission: "deny", action: "publish", topic: "w/denied" }] });
  const sub = await h.connect({ clientId: "s" });
  await sub.client.subscribe("w/#", 0);
  const a = await h.connect({
    clientId: "a",
    will: { topic: "w/denied", payload: Buffer.from("x"), qos: 0, retain: false },
  });
  const b = await h.connect({
    clientId: "b",
    will: { topic: "w/ok", payload: Buffer.from("y"), qos: 0, retain: false },
  });
  a.client.drop();
  b.client.drop();
  assert.deepEqual(payloads(await sub.client.receive()), ["y"]);
});
