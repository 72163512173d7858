// Overload (issue #10), over real sockets: backpressure from a subscriber to its publishers engages and releases,
// a stuck subscriber is isolated within the stall limit (fake clock), healthy subscribers lose nothing under
// open-loop load with the default configuration, and every PUBACKed QoS 1 message is delivered. Every assertion
// counts messages; none measures time.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { TestContext } from "node:test";
import { PacketType, encode } from "../../../src/codec/index.ts";
import { brokerInternals } from "../../../src/broker/internal.ts";
import { FakeClock, silentLogger } from "../../../src/util/index.ts";
import type { Logger } from "../../../src/util/index.ts";
import { startBroker } from "../../helpers/broker.ts";
import { mqttjs, waitUntil } from "../../helpers/clients.ts";
import { RawClient } from "../../helpers/raw-client.ts";

const ep = (port: number) => ({ host: "127.0.0.1", port });

/** `count` QoS 0 PUBLISHes on `topic` in one buffer; each payload starts with (stream, seq) as two uint32. */
function publishes(topic: string, stream: number, count: number, size: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const payload = Buffer.alloc(size, 0x2e);
    payload.writeUInt32BE(stream, 0);
    payload.writeUInt32BE(i, 4);
    parts.push(encode({ type: PacketType.PUBLISH, topic, payload, qos: 0, retain: false, dup: false }, 4));
  }
  return Buffer.concat(parts);
}

/** A raw 3.1.1 client that writes everything at once (open loop: as fast as TCP takes it). */
async function openLoopPublisher(t: TestContext, port: number, id: string, data: Buffer): Promise<RawClient> {
  const pub = await RawClient.connect(ep(port), { clientId: id, protocolVersion: 4 }, { protocolVersion: 4 });
  t.after(() => pub.destroy());
  pub.socket.write(data);
  return pub;
}

async function pausedSubscriber(t: TestContext, port: number, id: string, filter: string): Promise<RawClient> {
  const c = await RawClient.connect(ep(port), { clientId: id, protocolVersion: 4 }, { protocolVersion: 4 });
  t.after(() => c.destroy());
  await c.subscribe([{ topicFilter: filter, qos: 0 }]);
  c.socket.pause(); // stops reading: the kernel buffers fill, then the broker's outbound side
  return c;
}

/** Per stream, the sequence numbers in arrival order must be 0..n-1 (nothing lost, duplicated or reordered). */
function assertStreams(payloads: Buffer[], streams: number, perStream: number): void {
  const next = new Array<number>(streams).fill(0);
  for (const p of payloads) {
    const s = p.readUInt32BE(0);
    assert.equal(p.readUInt32BE(4), next[s], `stream ${s} in order, without holes`);
    next[s]!++;
  }
  assert.deepEqual(next, new Array<number>(streams).fill(perStream));
}

test("backpressure engages and releases: a subscriber over its high-water mark holds its publisher's socket until it drains", async (t) => {
  // Stall limit out of reach (fake clock never advanced): this is about the marks alone.
  const b = await startBroker({
    sysInterval: 0,
    clock: new FakeClock(),
    overload: { highWaterBytes: 64 * 1024, lowWaterBytes: 16 * 1024 },
  });
  t.after(() => b.close());
  const sub = await pausedSubscriber(t, b.port, "bp-sub", "bp");
  const n = 40_000; // 40 MB of 1 KB messages: far more than the loopback buffers in between hold
  const pub = await openLoopPublisher(t, b.port, "bp-pub", publishes("bp", 0, n, 1024));
  await waitUntil(() => b.broker.stats().backpressureHolds >= 1, 10_000, "the publisher to be held");
  const received = b.broker.stats().messagesReceived;
  assert.ok(received < n, `held: the broker took ${received} of ${n} messages`);
  assert.ok(pub.socket.writableLength > 0, "the publisher's own socket is backed up (TCP pushes back on it)");
  sub.socket.resume();
  await waitUntil(
    () => sub.received.filter((p) => p.type === PacketType.PUBLISH).length === n,
    60_000,
    "every message at the subscriber",
  );
  const got = sub.received.flatMap((p) => (p.type === PacketType.PUBLISH ? [p.payload] : []));
  assertStreams(got, 1, n);
  const s = b.broker.stats();
  assert.equal(s.messagesReceived, n);
  assert.equal(s.droppedQos0, 0, "nothing dropped");
  assert.equal(s.slowConsumers, 0);
  assert.ok(s.backpressureHolds >= 1);
  await waitUntil(() => pub.socket.writableLength === 0, 10_000, "the publisher's socket to drain (released)");
});

test("a stuck subscriber is isolated within the stall limit: the publisher waits, then goes on; QoS 0 to the stuck one is dropped and counted, one log line", async (t) => {
  const clock = new FakeClock();
  const warnings: string[] = [];
  const logger: Logger = {
    ...silentLogger,
    warn: (obj: unknown, msg?: string) => void warnings.push(typeof obj === "string" ? obj : (msg ?? "")),
    child: () => logger,
  };
  const b = await startBroker({ sysInterval: 0, clock, logger, overload: { stallLimitMs: 1000 } });
  t.after(() => b.close());
  const stuck = await pausedSubscriber(t, b.port, "stuck", "sc");
  const healthy = await mqttjs(t, b.url, { protocolVersion: 4, clientId: "healthy" });
  await healthy.client.subscribeAsync("sc", { qos: 0 });
  const n = 40_000;
  await openLoopPublisher(t, b.port, "sc-pub", publishes("sc", 0, n, 1024));
  await waitUntil(() => b.broker.stats().backpressureHolds >= 1, 10_000, "the stuck subscriber to hold the publisher");
  assert.ok(healthy.messages.length < n, "while held, the healthy subscriber waits too");
  assert.equal(b.broker.stats().slowConsumers, 0);
  // The healthy one drains what reached the broker so far, and its own episode (if any) ends: only the stuck one
  // is over its marks when the (fake) stall clock moves. The stuck one's episode must be running then: it can end
  // for a moment although the client never reads, when the kernel takes the bytes Node held for it (its send
  // buffer grows) and the socket drains below the low-water mark; the publisher then goes until its next message
  // to the stuck one begins a new episode. Advanced in that gap, the clock found no stall timer (one failure).
  const stuckPressure = () => brokerInternals(b.broker).sessions.get("stuck")?.link?.madePressure;
  await waitUntil(
    () => healthy.messages.length === b.broker.stats().messagesReceived && stuckPressure()?.congested === true,
    20_000,
    "the healthy subscriber to catch up while the stuck one is over its marks",
  );
  clock.advance(999);
  assert.equal(b.broker.stats().slowConsumers, 0, "not before the limit");
  clock.advance(1);
  assert.equal(b.broker.stats().slowConsumers, 1, "declared slow at the limit");
  await healthy.waitFor(n, 60_000);
  assertStreams(
    healthy.messages.map((m) => m.bytes),
    1,
    n,
  );
  const s = b.broker.stats();
  assert.ok(s.droppedSlow > 0, "the stuck one's QoS 0 messages were dropped");
  assert.equal(s.droppedSlow, s.droppedQos0, "and counted as QoS 0 drops");
  assert.ok(s.queued <= 1000, `its queue stayed bounded (${s.queued})`);
  assert.equal(warnings.filter((w) => w.startsWith("slow consumer")).length, 1, "one log line per episode");
  stuck.destroy();
});

test("open loop with the default configuration: 4 publishers -> 1 subscriber and 1 -> 10 lose nothing", async (t) => {
  // Default marks and limits; only the stall limit's clock is fake and stands still. On the real clock a loaded
  // machine (load average 20 under land.sh) let this in-process MQTT.js reader lag past the 1 s stall limit, so it
  // was declared slow and its QoS 0 dropped (9,553 of 100,000 arrived): a property of the machine, not of the
  // marks this test is about. The stall limit itself is tested above with a clock the test moves.
  const b = await startBroker({ sysInterval: 0, clock: new FakeClock() });
  t.after(() => b.close());
  // Fan-in: four raw publishers write 25,000 messages each as fast as TCP takes them; MQTT.js reads.
  const sub = await mqttjs(t, b.url, { protocolVersion: 4, clientId: "fanin-sub" });
  await sub.client.subscribeAsync("fanin", { qos: 0 });
  const perPublisher = 25_000;
  for (let p = 0; p < 4; p++)
    await openLoopPublisher(t, b.port, `fanin-p${p}`, publishes("fanin", p, perPublisher, 100));
  await sub.waitFor(4 * perPublisher, 60_000);
  assertStreams(
    sub.messages.map((m) => m.bytes),
    4,
    perPublisher,
  );
  // Fan-out: one publisher, ten MQTT.js subscribers.
  const subs = [];
  for (let i = 0; i < 10; i++) {
    const s = await mqttjs(t, b.url, { protocolVersion: 4, clientId: `fanout-s${i}` });
    await s.client.subscribeAsync("fanout", { qos: 0 });
    subs.push(s);
  }
  const n = 20_000;
  await openLoopPublisher(t, b.port, "fanout-p", publishes("fanout", 0, n, 100));
  for (const s of subs) {
    await s.waitFor(n, 60_000);
    assertStreams(
      s.messages.map((m) => m.bytes),
      1,
      n,
    );
  }
  const stats = b.broker.stats();
  assert.equal(stats.droppedQos0, 0);
  assert.equal(stats.queueRejected, 0);
  assert.equal(stats.slowConsumers, 0);
});

test("QoS 1 (3.1.1): every PUBACKed message reaches the reading subscriber (1,600 x 64 KB, MQTT.js on both ends)", async (t) => {
  const b = await startBroker({ sysInterval: 0 });
  t.after(() => b.close());
  const sub = await mqttjs(t, b.url, { protocolVersion: 4, clientId: "q1-sub" });
  await sub.client.subscribeAsync("q1", { qos: 1 });
  const pub = await mqttjs(t, b.url, { protocolVersion: 4, clientId: "q1-pub" });
  const n = 1600;
  const acks = await Promise.all(
    Array.from({ length: n }, (_, i) => {
      const payload = Buffer.alloc(64 * 1024, 0x61);
      payload.writeUInt32BE(0, 0);
      payload.writeUInt32BE(i, 4);
      return pub.client.publishAsync("q1", payload, { qos: 1 });
    }),
  );
  assert.equal(acks.length, n, "every PUBLISH was acknowledged");
  await sub.waitFor(n, 60_000);
  assertStreams(
    sub.messages.map((m) => m.bytes),
    1,
    n,
  );
  const s = b.broker.stats();
  assert.equal(s.queueRejected, 0, "nothing refused");
});
