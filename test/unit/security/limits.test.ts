// Limits against hostile clients in the broker core (issue #14), with a fake clock: pre-CONNECT packet size,
// 5.0 PUBLISH with a Subscription Identifier, 3.1.1 session expiry, session cap, global queue budget, publish rate,
// rate-limited log lines; and the util pieces (token bucket, semaphore, log limiter).
import { test } from "node:test";
import assert from "node:assert/strict";
import { PacketType } from "../../../src/codec/index.ts";
import type { DisconnectPacket } from "../../../src/codec/index.ts";
import { brokerInternals } from "../../../src/broker/internal.ts";
import {
  FakeClock,
  KeyedTokenBuckets,
  LogLimiter,
  Semaphore,
  SemaphoreFullError,
  TokenBucket,
} from "../../../src/util/index.ts";
import { harness, recordingLogger, settle, TestClient } from "../broker/harness.ts";

test("pre-CONNECT: a header announcing 256 MB is refused after 5 bytes, nothing buffered (maxPacketSizeBeforeConnect)", async () => {
  const h = harness();
  const c = new TestClient(h.broker);
  c.send(Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f]));
  await settle();
  assert.equal(c.transport.closed, true);
  // A CONNECT above the limit (a 70 KB will) is refused too; the same will fits when the limit is raised.
  const big = { topic: "w", payload: Buffer.alloc(65_000), qos: 0 as const, retain: false };
  const password = Buffer.alloc(5_000, 0x61); // with the will: a CONNECT of ~70 KB
  assert.equal(
    (await h.tryConnect({ clientId: "w1", will: big, username: "u", password })).client.transport.closed,
    true,
  );
  const h2 = harness({ maxPacketSizeBeforeConnect: 128 * 1024 });
  assert.equal((await h2.tryConnect({ clientId: "w1", will: big, username: "u", password })).connack?.reasonCode, 0);
});

test("after CONNECT the full maxPacketSize applies: a 100 KB PUBLISH passes", async () => {
  const h = harness();
  const { client: sub } = await h.connect({ clientId: "s" });
  await sub.subscribe("big", 0);
  const { client: pub } = await h.connect({ clientId: "p" });
  pub.send({
    type: PacketType.PUBLISH,
    topic: "big",
    payload: Buffer.alloc(100_000, 1),
    qos: 0,
    retain: false,
    dup: false,
  });
  const got = await sub.publishes();
  assert.equal(got[0]?.payload.length, 100_000);
});

test("[MQTT-3.3.4-6] a 5.0 PUBLISH from a client carrying a Subscription Identifier: DISCONNECT 0x82", async () => {
  const h = harness();
  const { client } = await h.connect({ clientId: "sid", version: 5 });
  client.send({
    type: PacketType.PUBLISH,
    topic: "t",
    payload: Buffer.from("x"),
    qos: 0,
    retain: false,
    dup: false,
    properties: { subscriptionIdentifiers: [7] },
  });
  const got = await client.receive();
  const d = got.find((p): p is DisconnectPacket => p.type === PacketType.DISCONNECT);
  assert.equal(d?.reasonCode, 0x82);
  assert.equal(client.transport.closed, true);
});

test("mqtt.persistentSessionExpiry: a 3.1.1 clean-session-0 session ends that long after its client left", async () => {
  const h = harness({ persistentSessionExpiry: 60 });
  const { client } = await h.connect({ clientId: "p311", clean: false });
  await client.subscribe("a", 1);
  client.disconnect();
  await settle();
  h.clock.advance(59_000);
  assert.equal(brokerInternals(h.broker).sessions.has("p311"), true);
  h.clock.advance(1_000);
  assert.equal(brokerInternals(h.broker).sessions.has("p311"), false);
  // Without the option it never expires (3.1.1).
  const forever = harness();
  const { client: f } = await forever.connect({ clientId: "p", clean: false });
  f.disconnect();
  await settle();
  forever.clock.advance(365 * 86_400_000);
  assert.equal(brokerInternals(forever.broker).sessions.has("p"), true);
});

test("mqtt.maxSessions: a new session beyond the cap is refused (3.1.1 0x03, 5.0 0x97); existing ones resume", async () => {
  const h = harness({ maxSessions: 2 });
  const { client: a } = await h.connect({ clientId: "a", clean: false });
  await h.connect({ clientId: "b" });
  assert.equal((await h.tryConnect({ clientId: "c" })).connack?.reasonCode, 0x03);
  assert.equal((await h.tryConnect({ clientId: "c5", version: 5 })).connack?.reasonCode, 0x97);
  a.disconnect();
  await settle();
  const again = await h.tryConnect({ clientId: "a", clean: false });
  assert.equal(again.connack?.reasonCode, 0);
  assert.equal(again.connack?.sessionPresent, true);
});

test("mqtt.maxQueuedBytesTotal: one budget over all session queues; QoS 1 beyond it refused (5.0 publisher 0x97)", async () => {
  const h = harness({ maxQueuedBytesTotal: 3000, maxQueuedBytes: 0 });
  for (const id of ["o1", "o2"]) {
    const { client } = await h.connect({ clientId: id, clean: false });
    await client.subscribe(`q/${id}`, 1);
    client.disconnect();
  }
  await settle();
  const { client: pub } = await h.connect({ clientId: "pub", version: 5 });
  const acks: number[] = [];
  for (const topic of ["q/o1", "q/o1", "q/o2", "q/o2"]) {
    const id = pub.nextId();
    pub.send({
      type: PacketType.PUBLISH,
      topic,
      payload: Buffer.alloc(1000),
      qos: 1,
      retain: false,
      dup: false,
      packetId: id,
    });
    const got = await pub.receive();
    const ack = got.find((p) => p.type === PacketType.PUBACK);
    acks.push((ack as { reasonCode?: number } | undefined)?.reasonCode ?? 0);
  }
  assert.deepEqual(acks, [0, 0, 0, 0x97], "the fourth KB would exceed the 3,000-byte budget");
  const s = brokerInternals(h.broker).sessions;
  assert.equal(s.get("o1")!.queue.bytes + s.get("o2")!.queue.bytes, 3000);
});

test("publishRate: over the bucket -> 5.0 DISCONNECT 0x96 Message rate too high; 3.1.1 closed; refills with time", async () => {
  const h = harness({ publishRate: { burst: 3, perSecond: 1 } });
  const { client } = await h.connect({ clientId: "fast", version: 5 });
  const pub = () =>
    client.send({ type: PacketType.PUBLISH, topic: "t", payload: Buffer.from("x"), qos: 0, retain: false, dup: false });
  for (let i = 0; i < 3; i++) pub();
  h.clock.advance(1000);
  pub(); // refilled one token
  await settle();
  assert.equal(client.transport.closed, false);
  pub();
  const d = (await client.receive()).find((p): p is DisconnectPacket => p.type === PacketType.DISCONNECT);
  assert.equal(d?.reasonCode, 0x96);
  const { client: v3 } = await h.connect({ clientId: "fast3" });
  for (let i = 0; i < 4; i++)
    v3.send({ type: PacketType.PUBLISH, topic: "t", payload: Buffer.from("x"), qos: 0, retain: false, dup: false });
  await settle();
  assert.equal(v3.transport.closed, true);
});

test("publishByteRate: payload bytes per client are limited the same way", async () => {
  const h = harness({ publishByteRate: { burst: 1000, perSecond: 100 } });
  const { client } = await h.connect({ clientId: "bytes", version: 5 });
  client.send({ type: PacketType.PUBLISH, topic: "t", payload: Buffer.alloc(900), qos: 0, retain: false, dup: false });
  await settle();
  assert.equal(client.transport.closed, false);
  client.send({ type: PacketType.PUBLISH, topic: "t", payload: Buffer.alloc(900), qos: 0, retain: false, dup: false });
  const d = (await client.receive()).find((p): p is DisconnectPacket => p.type === PacketType.DISCONNECT);
  assert.equal(d?.reasonCode, 0x96);
});

test("takeover fight: log lines about one client id are rate limited (5 per 10 s per key, then a suppressed count)", async () => {
  const logger = recordingLogger();
  const h = harness({ logger });
  for (let i = 0; i < 200; i++) await h.connect({ clientId: "shared" });
  const takeovers = logger.lines.filter((l) => l.msg === "client id in use: taking over").length;
  const connected = logger.lines.filter((l) => l.msg === "client connected").length;
  assert.ok(takeovers <= 5 && takeovers >= 1, `takeover lines: ${takeovers}`);
  assert.ok(connected <= 5, `connected lines: ${connected}`);
  h.clock.advance(10_000);
  await h.connect({ clientId: "shared" });
  const next = logger.lines.filter((l) => l.msg === "client id in use: taking over").at(-1);
  assert.ok((next?.obj as { suppressed?: number }).suppressed! > 0, "the next window reports what was dropped");
  // Another client's lines are not affected.
  await h.connect({ clientId: "other" });
  assert.ok(
    logger.lines.some((l) => l.msg === "client connected" && (l.obj as { clientId?: string }).clientId === undefined),
  );
});

test("TokenBucket / KeyedTokenBuckets: burst, refill, debt, bounded keys", () => {
  const clock = new FakeClock();
  const b = new TokenBucket({ burst: 2, rate: 1 }, () => clock.now());
  assert.equal(b.take(), true);
  assert.equal(b.take(), true);
  assert.equal(b.take(), false);
  clock.advance(1000);
  assert.equal(b.take(), true);
  assert.equal(b.charge(5), false, "into debt");
  clock.advance(3000);
  assert.equal(b.take(), false, "debt paid back first");
  clock.advance(3000);
  assert.equal(b.take(), true);
  const keyed = new KeyedTokenBuckets({ burst: 1, rate: 0.001 }, clock, 10);
  for (let i = 0; i < 100; i++) keyed.take(`k${i}`);
  assert.ok(keyed.size <= 10);
});

test("Semaphore: at most `limit` at once, bounded queue, SemaphoreFullError beyond", async () => {
  const s = new Semaphore(1, 1);
  let release!: () => void;
  const first = s.run(() => new Promise<void>((r) => (release = r)));
  const second = s.run(async () => "second");
  await assert.rejects(
    s.run(async () => "third"),
    SemaphoreFullError,
  );
  assert.equal(s.active, 1);
  assert.equal(s.waiting, 1);
  release();
  await first;
  assert.equal(await second, "second");
  assert.equal(s.active, 0);
});

test("LogLimiter: per key, window, suppressed count", () => {
  const clock = new FakeClock();
  const logger = recordingLogger();
  const l = new LogLimiter(clock, { burst: 2, intervalMs: 1000 });
  for (let i = 0; i < 10; i++) l.log(logger, "info", "a", {}, "x");
  l.log(logger, "info", "b", {}, "y");
  assert.equal(logger.lines.length, 3);
  clock.advance(1000);
  l.log(logger, "info", "a", {}, "x");
  assert.deepEqual(logger.lines.at(-1)?.obj, { suppressed: 8 });
});

test("retained messages on subscribe are delivered completely with flow control, never cut off by the queue bound", async () => {
  const h = harness({ maxQueuedMessages: 10, maxInflight: 5 });
  for (let i = 0; i < 200; i++) {
    await h.broker.publish({ topic: `r/${i}`, payload: `v${i}`, qos: 1, retain: true });
  }
  const { client } = await h.connect({ clientId: "reader" });
  await client.subscribe("r/#", 1);
  const seen = new Set<string>();
  for (let round = 0; round < 100 && seen.size < 200; round++) {
    for (const p of await client.publishes()) {
      seen.add(p.topic);
      client.ack(p);
    }
  }
  assert.equal(seen.size, 200, "every retained message arrived although the queue holds 10");
  assert.equal(brokerInternals(h.broker).sessions.get("reader")!.backlogLength, 0);
});
