// Durable queues end to end with MQTT.js 5.0 over real sockets (docs/queues.md).
import assert from "node:assert/strict";
import { test } from "node:test";
import { startBroker } from "../../helpers/broker.ts";
import { waitUntil } from "../../helpers/clients.ts";
import { connect, consume, publishCode, settle, sleep, subscribeCodes } from "./helpers.ts";

test("publish → deliver → $ack: PUBACK, delivery user properties, the message leaves the queue", async (t) => {
  const b = await startBroker();
  t.after(() => b.close());
  const pub = await connect(t, b.url);
  const sub = await connect(t, b.url);
  assert.deepEqual(await consume(sub, "jobs/email", { group: "workers" }), [1]);
  assert.equal(await publishCode(pub, "$queue/jobs/email", "hello", { "partition-key": "user-1", app: "x" }), 0);
  const [m] = await sub.waitFor(1);
  assert.equal(m!.topic, "$queue/jobs/email");
  assert.equal(m!.payload, "hello");
  assert.equal(m!.qos, 1);
  assert.match(m!.props["message-id"]!, /^1-\d+$/, "<seq>-<append ms>");
  assert.equal(m!.props["delivery-count"], "1");
  assert.equal(m!.props["partition-key"], "user-1");
  assert.equal(m!.props.app, "x", "the publisher's user properties are forwarded");
  assert.equal(b.broker.queues.info("jobs/email")!.depth, 1);
  const id = m!.props["message-id"]!;
  assert.equal(await settle(sub, "jobs/email", "ack", "1-1"), 0x83, "the seq with another append time is not it");
  assert.equal(await settle(sub, "jobs/email", "ack", id), 0);
  assert.equal(b.broker.queues.info("jobs/email")!.depth, 0);
  assert.equal(await settle(sub, "jobs/email", "ack", id), 0x83, "already settled");
});

test("one consumer per message within a group; every group gets every message", async (t) => {
  const b = await startBroker();
  t.after(() => b.close());
  const [a1, a2, g2] = await Promise.all([connect(t, b.url), connect(t, b.url), connect(t, b.url)]);
  await consume(a1, "q", { group: "A" });
  await consume(a2, "q", { group: "A" });
  await consume(g2, "q", { group: "B", prefetch: 100 });
  const pub = await connect(t, b.url);
  for (let i = 0; i < 20; i++) await pub.client.publishAsync("$queue/q", String(i), { qos: 1 });
  await g2.waitFor(20);
  await waitUntil(() => a1.got.length + a2.got.length >= 20, 5000, "group A");
  const a = [...a1.got, ...a2.got].map((m) => m.payload).sort();
  assert.equal(new Set(a).size, 20, "each message once in group A");
  assert.ok(a1.got.length > 0 && a2.got.length > 0, "both members of A got work");
  assert.deepEqual(g2.got.map((m) => m.payload).sort(), a);
  for (const m of a1.got) await settle(a1, "q", "ack", m.props["message-id"]!, { "consumer-group": "A" });
  for (const m of a2.got) await settle(a2, "q", "ack", m.props["message-id"]!);
  assert.equal(b.broker.queues.info("q")!.depth, 20, "group B has not settled");
  for (const m of g2.got) await settle(g2, "q", "ack", m.props["message-id"]!);
  assert.equal(b.broker.queues.info("q")!.depth, 0);
});

test("$nack with retry-after redelivers with delivery-count 2; $reject goes to $queue/dlq/<name> with its reason", async (t) => {
  const b = await startBroker();
  t.after(() => b.close());
  const c = await connect(t, b.url);
  await consume(c, "work");
  await c.client.publishAsync("$queue/work", "try-again", { qos: 1 });
  const [first] = await c.waitFor(1);
  assert.equal(await settle(c, "work", "nack", first!.props["message-id"]!, { "retry-after": "50" }), 0);
  const [, again] = await c.waitFor(2);
  assert.equal(again!.payload, "try-again");
  assert.equal(again!.props["delivery-count"], "2");
  assert.equal(await settle(c, "work", "reject", again!.props["message-id"]!, { reason: "bad input" }), 0);
  const ops = await connect(t, b.url);
  await consume(ops, "dlq/work");
  const [dead] = await ops.waitFor(1);
  assert.equal(dead!.topic, "$queue/dlq/work");
  assert.equal(dead!.payload, "try-again");
  assert.equal(dead!.props["dlq-reason"], "rejected: bad input");
  assert.equal(dead!.props["original-queue"], "work");
  assert.equal(dead!.props["delivery-count"], "2", "the final delivery count in the original queue");
  assert.equal(b.broker.queues.info("work")!.depth, 0);
});

test("past maxRetries (delivery timeouts) a message goes to the DLQ", async (t) => {
  const b = await startBroker({
    queues: [{ name: "flaky", deliveryTimeout: 100, retry: { maxRetries: 1, initialBackoff: 10, maxBackoff: 20 } }],
  });
  t.after(() => b.close());
  const c = await connect(t, b.url);
  await consume(c, "flaky");
  await c.client.publishAsync("$queue/flaky", "never-acked", { qos: 1 });
  await c.waitFor(2, 3000); // delivered, timed out, delivered again
  assert.equal(c.got[1]!.props["delivery-count"], "2");
  await waitUntil(() => b.broker.queues.info("flaky")!.dlqDepth === 1, 3000, "dead-lettered");
  assert.equal(b.broker.queues.peek("dlq/flaky")[0]!.record.dlq?.reason, "max-retries");
});

test("a consumer that disconnects has its unsettled messages redelivered to the group at once", async (t) => {
  const b = await startBroker();
  t.after(() => b.close());
  const a = await connect(t, b.url);
  await consume(a, "q", { prefetch: 5 });
  const pub = await connect(t, b.url);
  for (let i = 0; i < 3; i++) await pub.client.publishAsync("$queue/q", String(i), { qos: 1 });
  await a.waitFor(3);
  const other = await connect(t, b.url);
  await consume(other, "q", { prefetch: 5 });
  a.client.stream.destroy(); // connection lost, no DISCONNECT
  await other.waitFor(3, 2000); // well below the 30 s delivery timeout
  assert.deepEqual(
    other.got.map((m) => [m.payload, m.props["delivery-count"]]),
    [
      ["0", "2"],
      ["1", "2"],
      ["2", "2"],
    ],
  );
});

test("prefetch bounds unsettled deliveries per consumer", async (t) => {
  const b = await startBroker();
  t.after(() => b.close());
  const c = await connect(t, b.url);
  await consume(c, "q", { prefetch: 2 });
  const pub = await connect(t, b.url);
  for (let i = 0; i < 5; i++) await pub.client.publishAsync("$queue/q", String(i), { qos: 1 });
  await c.waitFor(2);
  await sleep(100);
  assert.equal(c.got.length, 2);
  await settle(c, "q", "ack", c.got[0]!.props["message-id"]!);
  await c.waitFor(3);
  await sleep(50);
  assert.equal(c.got.length, 3);
});

test("limits: the publisher gets 0x97 with a reason string; a wildcard queue subscription gets 0xA2", async (t) => {
  const b = await startBroker({ queues: [{ name: "small", limits: { maxDepth: 1, maxMessageSize: 8 } }] });
  t.after(() => b.close());
  const pub = await connect(t, b.url);
  assert.equal(await publishCode(pub, "$queue/small", "1"), 0);
  assert.equal(await publishCode(pub, "$queue/small", "2"), 0x97);
  assert.equal(await publishCode(pub, "$queue/small", "123456789"), 0x97, "too large: 0x97 (0x95 is no PUBACK code)");
  assert.equal(b.broker.queues.info("small")!.depth, 1);
  assert.deepEqual(await subscribeCodes(pub, ["$queue/+", "$queue/a/#"], { qos: 1 }), [0xa2, 0xa2]);
});

test("stream queue: groups replay from earliest, an offset or latest (stream-offset)", async (t) => {
  const b = await startBroker({ queues: [{ name: "events", type: "stream" }] });
  t.after(() => b.close());
  const pub = await connect(t, b.url);
  for (let i = 1; i <= 4; i++) await pub.client.publishAsync("$queue/events", `e${i}`, { qos: 1 });
  const [all, from3, latest] = await Promise.all([connect(t, b.url), connect(t, b.url), connect(t, b.url)]);
  await consume(all, "events", { group: "all", offset: "earliest" });
  await consume(from3, "events", { group: "from3", offset: "3" });
  await consume(latest, "events", { group: "new", offset: "latest" });
  await all.waitFor(4);
  await from3.waitFor(2);
  await pub.client.publishAsync("$queue/events", "e5", { qos: 1 });
  await latest.waitFor(1);
  assert.deepEqual(
    all.got.slice(0, 4).map((m) => m.payload),
    ["e1", "e2", "e3", "e4"],
  );
  assert.deepEqual(
    from3.got.slice(0, 2).map((m) => m.payload),
    ["e3", "e4"],
  );
  assert.deepEqual(
    latest.got.map((m) => m.payload),
    ["e5"],
  );
  for (const m of all.got) await settle(all, "events", "ack", m.props["message-id"]!);
  assert.equal(b.broker.queues.info("events")!.depth, 5, "a stream keeps acknowledged messages");
});

test("ACL applies to queue publish, subscribe and settle topics; only a consumer of the queue may settle", async (t) => {
  const b = await startBroker({
    acl: [
      { permission: "deny", action: "publish", topic: "$queue/locked", username: "mallory" },
      { permission: "deny", action: "subscribe", topic: "$queue/locked", username: "mallory" },
      { permission: "deny", action: "publish", topic: "$queue/locked/$ack", username: "mallory" },
    ],
  });
  t.after(() => b.close());
  const mallory = await connect(t, b.url, { username: "mallory" });
  assert.equal(await publishCode(mallory, "$queue/locked", "x"), 0x87);
  assert.deepEqual(await consume(mallory, "locked"), [0x87]);
  assert.equal(b.broker.queues.info("locked"), undefined, "nothing was created");
  const alice = await connect(t, b.url, { username: "alice" });
  await consume(alice, "locked");
  await alice.client.publishAsync("$queue/locked", "secret", { qos: 1 });
  await alice.waitFor(1);
  assert.equal(await settle(mallory, "locked", "ack", "1"), 0x87, "ACL");
  const eve = await connect(t, b.url, { username: "eve" });
  assert.equal(await settle(eve, "locked", "ack", "1"), 0x87, "not a consumer");
  assert.equal(b.broker.queues.info("locked")!.depth, 1);
});

test("queue statistics are published under $SYS/broker/queues/", async (t) => {
  const b = await startBroker({ sysInterval: 1 });
  t.after(() => b.close());
  const pub = await connect(t, b.url);
  await pub.client.publishAsync("$queue/jobs/stats", "1", { qos: 1 });
  await pub.client.publishAsync("$queue/jobs/stats", "2", { qos: 1 });
  const watcher = await connect(t, b.url);
  await watcher.client.subscribeAsync("$SYS/broker/queues/#", { qos: 0 });
  await waitUntil(
    () => watcher.got.some((m) => m.topic === "$SYS/broker/queues/jobs/stats/depth" && m.payload === "2"),
    4000,
    "$SYS depth",
  );
  assert.ok(watcher.got.some((m) => m.topic === "$SYS/broker/queues/count" && m.payload === "1"));
  assert.ok(watcher.got.some((m) => m.topic === "$SYS/broker/queues/jobs/stats/published" && m.payload === "2"));
});
