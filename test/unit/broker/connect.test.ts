import assert from "node:assert/strict";
import { test } from "node:test";
import { PacketType, encode } from "../../../src/codec/index.ts";
import type { ConnackPacket } from "../../../src/codec/index.ts";
import { harness, settle, TestClient, types } from "./harness.ts";
import { brokerInternals } from "../../../src/broker/internal.ts";

test("clean session 1: session present 0, nothing kept after disconnect [MQTT-3.2.2-1] [MQTT-3.1.2-6]", async () => {
  const h = harness();
  const { client, connack } = await h.connect({ clientId: "c1", clean: true });
  assert.equal(connack.sessionPresent, false);
  await client.subscribe("a/b", 1);
  client.disconnect();
  await settle();
  assert.equal(brokerInternals(h.broker).sessions.has("c1"), false);
  assert.equal(h.broker.stats().subscriptions, 0);
});

test("clean session 0: session present 0 first, 1 on reconnect, subscriptions kept [MQTT-3.2.2-2] [MQTT-3.2.2-3] [MQTT-3.1.2-4]", async () => {
  const h = harness();
  const first = await h.connect({ clientId: "p1", clean: false });
  assert.equal(first.connack.sessionPresent, false);
  await first.client.subscribe("x/#", 1);
  first.client.disconnect();
  await settle();
  assert.equal(brokerInternals(h.broker).sessions.has("p1"), true);
  const second = await h.connect({ clientId: "p1", clean: false });
  assert.equal(second.connack.sessionPresent, true);
  const pub = await h.connect({ clientId: "pub" });
  pub.client.publish("x/y", "hello", 1);
  assert.deepEqual(
    (await second.client.publishes()).map((p) => p.payload.toString()),
    ["hello"],
    "the persisted subscription still routes",
  );
});

test("clean session 1 discards an existing persistent session [MQTT-3.1.2-6]", async () => {
  const h = harness();
  const a = await h.connect({ clientId: "p2", clean: false });
  await a.client.subscribe("t", 1);
  a.client.disconnect();
  await settle();
  const b = await h.connect({ clientId: "p2", clean: true });
  assert.equal(b.connack.sessionPresent, false);
  assert.deepEqual(h.broker.subscriptionsOf("p2"), []);
  b.client.disconnect();
  await settle();
  const c = await h.connect({ clientId: "p2", clean: false });
  assert.equal(c.connack.sessionPresent, false, "the clean session's state is not reused");
});

test("empty client id with clean session 1 gets an assigned id [MQTT-3.1.3-6]", async () => {
  const h = harness();
  const a = await h.connect({ clientId: "", clean: true });
  const b = await h.connect({ clientId: "", clean: true });
  assert.equal(h.broker.stats().clientsConnected, 2, "two distinct assigned ids");
  await a.client.subscribe("q", 0);
  b.client.publish("q", "m");
  assert.equal((await a.client.publishes()).length, 1);
});

test("empty client id with clean session 0 is refused with 0x02 [MQTT-3.1.3-8]", async () => {
  const h = harness();
  const { client, connack } = await h.tryConnect({ clientId: "", clean: false });
  assert.equal(connack?.reasonCode, 0x02);
  assert.equal(connack?.sessionPresent, false); // [MQTT-3.2.2-4]
  assert.equal(client.transport.closed, true); // [MQTT-3.2.2-5]
});

test("MQTT 3.1 requires a client id: empty id refused with 0x02", async () => {
  const h = harness();
  const { connack } = await h.tryConnect({ clientId: "", clean: true, version: 3 });
  assert.equal(connack?.reasonCode, 0x02);
});

test("5.0 empty client id is assigned and returned in CONNACK (5.0 [MQTT-3.2.2-16])", async () => {
  const h = harness();
  const { connack } = await h.connect({ clientId: "", clean: false, version: 5 });
  assert.match(connack.properties?.assignedClientIdentifier ?? "", /^wharf-/);
});

test("takeover: a new connection with a client id in use closes the old one [MQTT-3.1.4-2]", async () => {
  const h = harness();
  const old = await h.connect({ clientId: "dup", clean: false });
  await old.client.subscribe("t", 1);
  const fresh = await h.connect({ clientId: "dup", clean: false });
  assert.equal(old.client.transport.closed, true);
  assert.equal(fresh.connack.sessionPresent, true, "the session survives the takeover");
  assert.equal(h.broker.stats().clientsConnected, 1);
  const pub = await h.connect({ clientId: "pub" });
  pub.client.publish("t", "after", 1);
  assert.equal((await fresh.client.publishes()).length, 1);
  assert.equal(old.client.take().filter((p) => p.type === PacketType.PUBLISH).length, 0);
});

test("5.0 takeover sends DISCONNECT 0x8E to the old connection (5.0 [MQTT-3.1.4-3])", async () => {
  const h = harness();
  const old = await h.connect({ clientId: "dup5", version: 5 });
  await h.connect({ clientId: "dup5", version: 5 });
  const got = old.client.take();
  const d = got.find((p) => p.type === PacketType.DISCONNECT);
  assert.equal(d?.type === PacketType.DISCONNECT ? d.reasonCode : undefined, 0x8e);
});

test("a second CONNECT is a protocol violation: connection closed [MQTT-3.1.0-2]", async () => {
  const h = harness();
  const { client } = await h.connect({ clientId: "twice" });
  client.sendConnect({ clientId: "twice" });
  await settle();
  assert.equal(client.transport.closed, true);
  assert.equal(h.broker.stats().clientsConnected, 0);
});

test("first packet not CONNECT closes without answer [MQTT-3.1.0-1]", async () => {
  const h = harness();
  const client = new TestClient(h.broker);
  client.send(encode({ type: PacketType.PINGREQ }, 4));
  await settle();
  assert.equal(client.transport.closed, true);
  assert.deepEqual(client.take(), []);
});

test("unsupported protocol level: CONNACK 0x01 then close [MQTT-3.1.2-2]", async () => {
  const h = harness();
  const client = new TestClient(h.broker);
  // CONNECT "MQTT" level 6.
  client.send(Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x06, 0x02, 0x00, 0x3c, 0x00, 0x00]));
  const got = await client.receive();
  assert.deepEqual(types(got), [PacketType.CONNACK]);
  assert.equal((got[0] as ConnackPacket).reasonCode, 0x01);
  assert.equal(client.transport.closed, true);
});

test("client sending a server-only packet (SUBACK) is disconnected", async () => {
  const h = harness();
  const { client } = await h.connect({ clientId: "bad" });
  client.send({ type: PacketType.SUBACK, packetId: 1, reasonCodes: [0] });
  await settle();
  assert.equal(client.transport.closed, true);
});

test("data after a refused CONNECT is not processed [MQTT-3.1.4-5]", async () => {
  const h = harness({ allowAnonymous: false });
  const client = new TestClient(h.broker);
  client.sendConnect({ clientId: "anon" });
  client.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: "#", qos: 0 }] });
  const got = await client.receive();
  assert.deepEqual(types(got), [PacketType.CONNACK]);
  assert.equal(h.broker.stats().subscriptions, 0);
});

test("allowAnonymous=false refuses clients without user name: 3.1.1 0x05, 5.0 0x87", async () => {
  const h = harness({ allowAnonymous: false });
  assert.equal((await h.tryConnect({ clientId: "a4" })).connack?.reasonCode, 0x05);
  assert.equal((await h.tryConnect({ clientId: "a5", version: 5 })).connack?.reasonCode, 0x87);
  // Issue #14: a user name nobody can verify is no identity. Without an authenticate hook nothing checks
  // passwords, so every client is refused (this used to be accepted: CONNACK 0).
  assert.equal((await h.tryConnect({ clientId: "a6", username: "u" })).connack?.reasonCode, 0x05);
  assert.equal((await h.tryConnect({ clientId: "a7", username: "u", version: 5 })).connack?.reasonCode, 0x87);
});

test("authenticate hook: { accept, username } renames the client; reasonString is sent to 5.0 clients", async () => {
  const subscribers: (string | undefined)[] = [];
  const h = harness({
    allowAnonymous: false,
    auth: {
      authenticate: (ctx) =>
        ctx.password?.toString() === "token"
          ? { accept: true, username: "from-token" }
          : { reasonCode: 0x8a, reasonString: "banned" },
      authorizeSubscribe: (client) => (subscribers.push(client.username), true),
    },
  });
  // 5.0 allows a Password without User Name (e.g. a JWT): not anonymous, the hook decides.
  const ok = await h.tryConnect({ clientId: "t", password: Buffer.from("token"), version: 5 });
  assert.equal(ok.connack?.reasonCode, 0);
  ok.client.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: "a", qos: 0 }] });
  await ok.client.receive();
  assert.deepEqual(subscribers, ["from-token"]);
  const bad = await h.tryConnect({ clientId: "b", password: Buffer.from("x"), version: 5 });
  assert.equal(bad.connack?.reasonCode, 0x8a);
  assert.equal(bad.connack?.properties?.reasonString, "banned");
});

test("authenticate hook: false -> 0x04 (3.1.1) / 0x86 (5.0); reasonCode is mapped; async works", async () => {
  const seen: string[] = [];
  const h = harness({
    auth: {
      authenticate: async (ctx) => {
        await Promise.resolve();
        seen.push(`${ctx.clientId}:${ctx.transport}`);
        if (ctx.username === "banned") return { reasonCode: 0x8a };
        return ctx.password?.toString() === "secret";
      },
    },
  });
  const code = async (o: Parameters<typeof h.tryConnect>[0]) => (await h.tryConnect(o)).connack?.reasonCode;
  assert.equal(await code({ clientId: "a", username: "u", password: Buffer.from("no") }), 0x04);
  assert.equal(await code({ clientId: "b", username: "u", password: Buffer.from("no"), version: 5 }), 0x86);
  assert.equal(await code({ clientId: "c", username: "banned", version: 5 }), 0x8a);
  assert.equal(await code({ clientId: "d", username: "banned" }), 0x05);
  assert.equal(await code({ clientId: "e", username: "u", password: Buffer.from("secret") }), 0x00);
  assert.deepEqual(seen, ["a:test", "b:test", "c:test", "d:test", "e:test"]);
});

test("authenticate hook that throws or rejects refuses the client (server unavailable)", async () => {
  const h1 = harness({
    auth: {
      authenticate: () => {
        throw new Error("boom");
      },
    },
  });
  assert.equal((await h1.tryConnect({ clientId: "t" })).connack?.reasonCode, 0x03);
  const h2 = harness({ auth: { authenticate: () => Promise.reject(new Error("boom")) } });
  assert.equal((await h2.tryConnect({ clientId: "t", version: 5 })).connack?.reasonCode, 0x88);
});

test("packets sent right after CONNECT wait for an async authenticate hook and keep their order", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const h = harness({ auth: { authenticate: async () => (await gate, true) } });
  const sub = new TestClient(h.broker);
  sub.sendConnect({ clientId: "ordered" });
  sub.send({ type: PacketType.SUBSCRIBE, packetId: 7, subscriptions: [{ topicFilter: "o", qos: 1 }] });
  sub.send({
    type: PacketType.PUBLISH,
    topic: "o",
    payload: Buffer.from("1"),
    qos: 1,
    packetId: 8,
    dup: false,
    retain: false,
  });
  sub.send({ type: PacketType.PINGREQ });
  await settle();
  assert.deepEqual(sub.take(), [], "nothing answered before the hook resolves");
  release();
  const got = await sub.receive();
  assert.deepEqual(types(got), [
    PacketType.CONNACK,
    PacketType.SUBACK,
    PacketType.PUBLISH, // own message back to the subscription
    PacketType.PUBACK,
    PacketType.PINGRESP,
  ]);
});

test("no CONNECT within connectTimeout: connection closed (FakeClock)", async () => {
  const h = harness({ connectTimeout: 10 });
  const client = new TestClient(h.broker);
  h.clock.advance(9_999);
  assert.equal(client.transport.closed, false);
  h.clock.advance(1);
  assert.equal(client.transport.closed, true);
});

test("connectTimeout is kept per connection when connections arrive at different times and most connect (FakeClock)", async () => {
  const h = harness({ connectTimeout: 10 });
  const early = new TestClient(h.broker);
  h.clock.advance(4_000);
  const connected = new TestClient(h.broker);
  connected.sendConnect({ clientId: "on-time" });
  await connected.receive();
  const late = new TestClient(h.broker);
  h.clock.advance(5_999);
  assert.equal(early.transport.closed, false);
  h.clock.advance(1);
  assert.equal(early.transport.closed, true, "10 s after it opened");
  assert.equal(late.transport.closed, false);
  h.clock.advance(3_999);
  assert.equal(late.transport.closed, false);
  h.clock.advance(1);
  assert.equal(late.transport.closed, true, "10 s after it opened, not with the first");
  h.clock.advance(60_000);
  assert.equal(connected.transport.closed, false, "a connected client has no connect timeout");
});

test("keepalive: clients with one keepalive share a deadline list, each closed 1.5 x after its own start; none left after [MQTT-3.1.2-24]", async () => {
  const h = harness();
  const deadlines = brokerInternals(h.broker).deadlines;
  const a = await h.connect({ clientId: "a", keepAlive: 10 });
  h.clock.advance(4_000);
  const b = await h.connect({ clientId: "b", keepAlive: 10 });
  const c = await h.connect({ clientId: "c", keepAlive: 20 });
  const gone = await h.connect({ clientId: "gone", keepAlive: 30 });
  gone.client.disconnect();
  await settle();
  assert.equal(deadlines.durations, 2, "one list per keepalive in use (15 s, 30 s); the 45 s one left with its client");
  h.clock.advance(10_999);
  assert.equal(a.client.transport.closed, false);
  h.clock.advance(1);
  assert.equal(a.client.transport.closed, true, "15 s after a's CONNECT");
  h.clock.advance(3_999);
  assert.equal(b.client.transport.closed, false);
  h.clock.advance(1);
  assert.equal(b.client.transport.closed, true, "15 s after b's CONNECT");
  h.clock.advance(14_999);
  assert.equal(c.client.transport.closed, false);
  h.clock.advance(1);
  assert.equal(c.client.transport.closed, true, "30 s after c's CONNECT");
  assert.equal(deadlines.durations, 0, "lists are forgotten when they run empty");
});

test("input is bounded while an async authenticate hook is pending: the transport is paused, then resumed", async () => {
  let release: ((r: boolean) => void) | undefined;
  const h = harness({ auth: { authenticate: () => new Promise<boolean>((r) => (release = r)) } });
  const client = new TestClient(h.broker, 4);
  client.sendConnect({ clientId: "slow" });
  await settle();
  assert.ok(release !== undefined, "the hook is pending");
  // 200 PUBLISHes of 1 KiB pipelined behind the CONNECT: more than PENDING_INPUT_LIMIT (64 KiB).
  for (let i = 0; i < 200; i++) client.publish("t", Buffer.alloc(1024), 0);
  assert.equal(client.transport.paused, true, "paused once the pending input passed the limit");
  assert.equal(client.transport.pauses, 1);
  release(true);
  const got = await client.receive();
  assert.equal(got[0]?.type, PacketType.CONNACK);
  assert.equal(client.transport.paused, false, "resumed once the queued packets were handled");
  assert.equal(h.broker.stats().messagesReceived, 200, "nothing sent before the pause was lost");
});

test("input below the bound while a hook is pending does not pause the transport", async () => {
  let release: ((r: boolean) => void) | undefined;
  const h = harness({ auth: { authenticate: () => new Promise<boolean>((r) => (release = r)) } });
  const client = new TestClient(h.broker, 4);
  client.sendConnect({ clientId: "small" });
  await settle();
  for (let i = 0; i < 10; i++) client.publish("t", "x", 0);
  release!(true);
  await client.receive();
  assert.equal(client.transport.pauses, 0);
  assert.equal(h.broker.stats().messagesReceived, 10);
});
