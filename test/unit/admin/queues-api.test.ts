// /api/v1/queues end to end: durable queues filled and consumed by an MQTT.js 5.0 client, managed over HTTP —
// list (paging, prefix), stats, inspect, purge, redrive the DLQ, delete — every answer checked against the OpenAPI
// document, and the errors' stable codes (404 NOT_FOUND, 409 CONFLICT while consumed, 400 on a bad limit).
import { test } from "node:test";
import assert from "node:assert/strict";
import type mqtt from "mqtt";
import { call, conforms, conformsError, connect, start, waitFor } from "../../helpers/admin-api.ts";

const enc = encodeURIComponent;

async function consumeAndReject(c: mqtt.MqttClient, n: number): Promise<string[]> {
  const ids: string[] = [];
  c.on("message", (topic, _p, packet) => {
    if (topic !== "$queue/jobs" || ids.length >= n) return;
    const id = packet.properties?.userProperties?.["message-id"];
    if (typeof id !== "string") return;
    ids.push(id);
    void c.publishAsync("$queue/jobs/$reject", "", {
      qos: 1,
      properties: { userProperties: { "message-id": id, reason: "bad job" } },
    });
  });
  await c.subscribeAsync("$queue/jobs", { qos: 1, properties: { userProperties: { prefetch: String(n) } } });
  return ids;
}

test("queues API: list, stats, inspect, DLQ redrive, purge, delete (409 while consumed); 404 and 400 codes", async (t) => {
  const server = await start(t, undefined, { queues: [{ name: "jobs", retry: { maxRetries: 0 } }] });
  const port = server.listeners[0]!.port;
  const pub = await connect(port, "q-pub", { protocolVersion: 5 });
  t.after(() => pub.end(true));
  for (const m of ["a", "b", "c"]) await pub.publishAsync("$queue/jobs", m, { qos: 1 });
  await pub.publishAsync("$queue/other/q", Buffer.from([0xff]), { qos: 1 });

  const list = await call(server, "GET", "/api/v1/queues");
  await conforms(server, "GET", "/api/v1/queues", list);
  const names = (list.body as { items: { name: string; depth: number }[] }).items.map((q) => [q.name, q.depth]);
  assert.deepEqual(names, [
    ["jobs", 3],
    ["other/q", 1],
  ]);
  const paged = (await call(server, "GET", "/api/v1/queues?limit=1&offset=1")).body as {
    items: { name: string }[];
    total: number;
  };
  assert.equal(paged.total, 2);
  assert.deepEqual(
    paged.items.map((q) => q.name),
    ["other/q"],
  );
  assert.equal(((await call(server, "GET", "/api/v1/queues?prefix=oth")).body as { total: number }).total, 1);
  await conformsError(server, await call(server, "GET", "/api/v1/queues?limit=0"), 400, "BAD_REQUEST");

  const stats = await call(server, "GET", "/api/v1/queues/jobs");
  await conforms(server, "GET", "/api/v1/queues/:name", stats);
  assert.equal((stats.body as { depth: number }).depth, 3);
  assert.equal((stats.body as { counters: { published: number } }).counters.published, 3);
  const slash = await call(server, "GET", `/api/v1/queues/${enc("other/q")}`);
  assert.equal((slash.body as { name: string }).name, "other/q");
  await conformsError(server, await call(server, "GET", "/api/v1/queues/nope"), 404, "NOT_FOUND");

  const peek = await call(server, "GET", "/api/v1/queues/jobs/messages?limit=2");
  await conforms(server, "GET", "/api/v1/queues/:name/messages", peek);
  const peeked = peek.body as { items: { payload: string; messageId: string; dlq: null }[]; total: number };
  assert.deepEqual(
    peeked.items.map((m) => m.payload),
    ["a", "b"],
  );
  assert.equal(peeked.total, 3);
  assert.match(peeked.items[0]!.messageId, /^1-\d+$/);
  const bin = (await call(server, "GET", `/api/v1/queues/${enc("other/q")}/messages`)).body as {
    items: { payload: null; payloadBase64: string }[];
  };
  assert.deepEqual(bin.items[0], { ...bin.items[0], payload: null, payloadBase64: "/w==" });
  await conformsError(server, await call(server, "GET", "/api/v1/queues/jobs/messages?limit=1001"), 400, "BAD_REQUEST");
  await conformsError(server, await call(server, "GET", "/api/v1/queues/nope/messages"), 404, "NOT_FOUND");

  // A consumer rejects two messages: they go to dlq/jobs with the reason.
  const consumer = await connect(port, "q-worker", { protocolVersion: 5 });
  t.after(() => consumer.end(true));
  const rejected = await consumeAndReject(consumer, 2);
  await waitFor(() => server.broker.queues.info("dlq/jobs")?.depth === 2);
  const dlq = (await call(server, "GET", `/api/v1/queues/${enc("dlq/jobs")}/messages`)).body as {
    items: { payload: string; dlq: { reason: string; originalQueue: string; originalId: string } }[];
  };
  assert.deepEqual(
    dlq.items.map((m) => [m.payload, m.dlq.reason, m.dlq.originalQueue, m.dlq.originalId]),
    [
      ["a", "rejected: bad job", "jobs", rejected[0]],
      ["b", "rejected: bad job", "jobs", rejected[1]],
    ],
  );
  assert.equal(((await call(server, "GET", "/api/v1/queues/jobs")).body as { dlqDepth: number }).dlqDepth, 2);

  // Delete is refused while the queue has a consumer: 409 CONFLICT with the engine's code.
  const busy = await call(server, "DELETE", "/api/v1/queues/jobs");
  await conformsError(server, busy, 409, "CONFLICT");
  assert.deepEqual((busy.body as { error: { details: unknown } }).error.details, { queueCode: "QUEUE_BUSY" });
  await consumer.unsubscribeAsync("$queue/jobs");

  // Redrive one dead letter (by the queue's name), then the rest (by the DLQ's name).
  const one = await call(server, "POST", "/api/v1/queues/jobs/redrive?limit=1");
  await conforms(server, "POST", "/api/v1/queues/:name/redrive", one);
  assert.deepEqual(one.body, { queue: "jobs", moved: 1 });
  assert.equal(server.broker.queues.info("dlq/jobs")!.depth, 1);
  const back = server.broker.queues.peek("jobs", 10).map((m) => m.record.payload.toString());
  assert.deepEqual(back, ["c", "a"]);
  const rest = await call(server, "POST", `/api/v1/queues/${enc("dlq/jobs")}/redrive`);
  assert.deepEqual(rest.body, { queue: "dlq/jobs", moved: 1 });
  await conformsError(server, await call(server, "POST", "/api/v1/queues/nope/redrive"), 404, "NOT_FOUND");
  await conformsError(server, await call(server, "POST", "/api/v1/queues/jobs/redrive?limit=x"), 400, "BAD_REQUEST");

  const purge = await call(server, "POST", "/api/v1/queues/jobs/purge");
  await conforms(server, "POST", "/api/v1/queues/:name/purge", purge);
  assert.deepEqual(purge.body, { queue: "jobs", purged: 3 });
  assert.equal(server.broker.queues.info("jobs")!.depth, 0);
  await conformsError(server, await call(server, "POST", "/api/v1/queues/nope/purge"), 404, "NOT_FOUND");

  const del = await call(server, "DELETE", `/api/v1/queues/${enc("other/q")}`);
  await conforms(server, "DELETE", "/api/v1/queues/:name", del);
  assert.equal(server.broker.queues.info("other/q"), undefined);
  await conformsError(server, await call(server, "DELETE", `/api/v1/queues/${enc("other/q")}`), 404, "NOT_FOUND");
});
