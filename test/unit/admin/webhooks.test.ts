// Webhook delivery against a real local HTTP receiver, time on a FakeClock: batching, HMAC signature, retry with
// exponential backoff, the circuit breaker opening and closing, the bounded buffer counting what it drops, 4xx.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { WebhookDispatcher, type WebhookMetrics, type WebhookOptions } from "../../../src/admin/index.ts";
import { FakeClock, silentLogger } from "../../../src/util/index.ts";
import { httpWorker } from "../../../src/admin/http-worker.ts";
import { listenLocal } from "../../helpers/webhook-receiver.ts";

interface Received {
  headers: IncomingMessage["headers"];
  raw: string;
  body: {
    schemaVersion: number;
    webhook: string;
    events: { id: string; type: string; topic?: string; data: unknown }[];
  };
}

/** A real HTTP receiver whose answer (status, or hanging) the test decides per request. */
async function receiver(t: { after(fn: () => unknown): void }) {
  const requests: Received[] = [];
  let answer: number | "hang" = 200;
  const waiters: (() => void)[] = [];
  const base = await listenLocal(t, (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      requests.push({ headers: req.headers, raw, body: JSON.parse(raw) as Received["body"] });
      for (const w of waiters.splice(0)) w();
      if (answer === "hang") return;
      res.statusCode = answer;
      res.end("ok");
    });
  });
  return {
    url: `${base}/hook`,
    requests,
    set(a: number | "hang") {
      answer = a;
    },
    /** Resolves once `n` requests have arrived in total. */
    async count(n: number) {
      while (requests.length < n) await new Promise<void>((r) => waiters.push(r));
    },
  };
}

function countingMetrics() {
  const counts = new Map<string, number>();
  const add = (k: string, n = 1) => counts.set(k, (counts.get(k) ?? 0) + n);
  const breaker: boolean[] = [];
  const m: WebhookMetrics = {
    queued: (_w, n) => add("queued", n),
    delivered: (_w, n) => add("delivered", n),
    dropped: (_w, reason, n) => add(`dropped_${reason}`, n),
    request: (_w, result) => add(`request_${result}`),
    breakerState: (_w, open) => breaker.push(open),
  };
  return { m, counts, breaker };
}

function options(url: string, over: Partial<WebhookOptions> = {}): WebhookOptions {
  return {
    name: "test",
    url,
    events: [],
    topics: ["#"],
    secret: "",
    batchSize: 10,
    batchDelayMs: 100,
    timeoutMs: 1000,
    maxRetries: 5,
    backoffMs: 100,
    backoffMaxMs: 1000,
    bufferSize: 100,
    breakerThreshold: 3,
    breakerResetMs: 5000,
    ...over,
  };
}

/** Lets real I/O (the HTTP exchange) happen between fake-clock steps. */
const io = () => new Promise((r) => setTimeout(r, 20));

/** Waits (real time) until `n` HTTP attempts have ended, whatever their result. */
async function settled(counts: Map<string, number>, n: number): Promise<void> {
  const done = () => [...counts].filter(([k]) => k.startsWith("request_")).reduce((a, [, v]) => a + v, 0);
  while (done() < n) await new Promise((r) => setTimeout(r, 5));
}

test("events are batched (size and delay), carry the schema version, and are signed with HMAC-SHA256", async (t) => {
  const rx = await receiver(t);
  const clock = new FakeClock();
  const { m, counts } = countingMetrics();
  const d = new WebhookDispatcher([options(rx.url, { secret: "s3cret", batchSize: 3 })], {
    clock,
    logger: silentLogger,
    metrics: m,
  });
  t.after(() => d.close());
  for (let i = 0; i < 4; i++) d.emit("client.connected", { clientId: `c${i}` });
  // 3 fill a batch (sent at once on the next timer tick); the 4th waits for batchDelayMs.
  clock.advance(0);
  await settled(counts, 1);
  assert.equal(rx.requests[0]!.body.events.length, 3);
  clock.advance(99);
  await io();
  assert.equal(rx.requests.length, 1);
  clock.advance(1);
  await rx.count(2);
  assert.equal(rx.requests[1]!.body.events.length, 1);
  await d.idle();
  for (const r of rx.requests) {
    assert.equal(r.body.schemaVersion, 1);
    assert.equal(r.body.webhook, "test");
    const ts = String(r.headers["x-wharf-timestamp"]);
    const expected = `sha256=${createHmac("sha256", "s3cret").update(`${ts}.${r.raw}`).digest("hex")}`;
    assert.equal(r.headers["x-wharf-signature"], expected);
    assert.equal(ts, String(Math.floor(clock.now() / 1000)));
  }
  assert.deepEqual(
    rx.requests.flatMap((r) => r.body.events.map((e) => (e.data as { clientId: string }).clientId)),
    ["c0", "c1", "c2", "c3"],
  );
  assert.equal(new Set(rx.requests.flatMap((r) => r.body.events.map((e) => e.id))).size, 4);
  assert.equal(counts.get("delivered"), 4);
});

test("event and topic filters: only subscribed types; message events only on matching topics", async (t) => {
  const rx = await receiver(t);
  const clock = new FakeClock();
  const { m } = countingMetrics();
  const d = new WebhookDispatcher(
    [options(rx.url, { events: ["message.published", "client.disconnected"], topics: ["sensors/#"], batchDelayMs: 0 })],
    { clock, logger: silentLogger, metrics: m },
  );
  t.after(() => d.close());
  assert.equal(d.wants("client.connected"), false);
  d.emit("client.connected", { clientId: "x" });
  d.emit("message.published", { qos: 0 }, "other/t");
  d.emit("message.published", { qos: 1 }, "sensors/a");
  d.emit("client.disconnected", { clientId: "x" });
  clock.advance(0);
  await rx.count(1);
  await d.idle();
  const events = rx.requests.flatMap((r) => r.body.events);
  assert.deepEqual(
    events.map((e) => [e.type, e.topic]),
    [
      ["message.published", "sensors/a"],
      ["client.disconnected", undefined],
    ],
  );
});

test("retry with exponential backoff: a batch failing twice arrives on the third attempt, once", async (t) => {
  const rx = await receiver(t);
  const clock = new FakeClock();
  const { m, counts } = countingMetrics();
  const d = new WebhookDispatcher([options(rx.url, { batchDelayMs: 0, backoffMs: 100 })], {
    clock,
    logger: silentLogger,
    metrics: m,
    random: () => 0.5, // jitter factor 1.0
  });
  t.after(() => d.close());
  rx.set(503);
  d.emit("session.created", { clientId: "a" });
  clock.advance(0);
  await settled(counts, 1);
  clock.advance(99); // first retry after 100 ms
  await io();
  assert.equal(rx.requests.length, 1);
  clock.advance(1);
  await settled(counts, 2);
  rx.set(200);
  clock.advance(199); // second retry after 200 ms
  await io();
  assert.equal(rx.requests.length, 2);
  clock.advance(1);
  await rx.count(3);
  await d.idle();
  assert.equal(counts.get("request_http_error"), 2);
  assert.equal(counts.get("delivered"), 1);
  assert.equal(new Set(rx.requests.map((r) => r.body.events[0]!.id)).size, 1); // the same event, retried
});

test("circuit breaker: opens after threshold failures (no requests while open), half-opens after resetMs, closes on success", async (t) => {
  const rx = await receiver(t);
  const clock = new FakeClock();
  const { m, counts, breaker } = countingMetrics();
  const d = new WebhookDispatcher(
    [
      options(rx.url, {
        batchDelayMs: 0,
        backoffMs: 10,
        backoffMaxMs: 10,
        breakerThreshold: 3,
        breakerResetMs: 5000,
        maxRetries: 100,
      }),
    ],
    { clock, logger: silentLogger, metrics: m, random: () => 0.5 },
  );
  t.after(() => d.close());
  rx.set(500);
  d.emit("client.connected", { clientId: "a" });
  clock.advance(0);
  for (let i = 1; i <= 3; i++) {
    await settled(counts, i);
    clock.advance(10);
  }
  assert.equal(d.status()[0]!.breaker, "open");
  assert.deepEqual(breaker, [false, true]);
  // Open: time passes, events keep coming, nothing is sent.
  d.emit("client.connected", { clientId: "b" });
  clock.advance(4000);
  await io();
  assert.equal(rx.requests.length, 3);
  // Half-open after 5 s: one trial, which succeeds and closes the breaker; the rest follows.
  rx.set(200);
  clock.advance(1000);
  await settled(counts, 4);
  clock.advance(0);
  await settled(counts, 5);
  await d.idle();
  assert.equal(d.status()[0]!.breaker, "closed");
  assert.deepEqual(breaker, [false, true, false]);
  const delivered = rx.requests
    .slice(3)
    .flatMap((r) => r.body.events.map((e) => (e.data as { clientId: string }).clientId));
  assert.deepEqual(delivered, ["a", "b"]);
  assert.equal(counts.get("delivered"), 2);
});

test("a failed half-open trial opens the breaker again for another resetMs", async (t) => {
  const rx = await receiver(t);
  const clock = new FakeClock();
  const { m, counts } = countingMetrics();
  const d = new WebhookDispatcher(
    [
      options(rx.url, {
        batchDelayMs: 0,
        backoffMs: 10,
        backoffMaxMs: 10,
        breakerThreshold: 1,
        breakerResetMs: 1000,
        maxRetries: 100,
      }),
    ],
    { clock, logger: silentLogger, metrics: m, random: () => 0.5 },
  );
  t.after(() => d.close());
  rx.set(500);
  d.emit("client.connected", {});
  clock.advance(0);
  await settled(counts, 1);
  assert.equal(d.status()[0]!.breaker, "open");
  clock.advance(1000);
  await settled(counts, 2); // the trial
  assert.equal(d.status()[0]!.breaker, "open");
  clock.advance(999);
  await io();
  assert.equal(rx.requests.length, 2);
  clock.advance(1);
  await rx.count(3);
});

test("a full buffer drops new events and counts them; the broker side never blocks", async (t) => {
  const rx = await receiver(t);
  const clock = new FakeClock();
  const { m, counts } = countingMetrics();
  const d = new WebhookDispatcher(
    [options(rx.url, { bufferSize: 5, batchSize: 5, batchDelayMs: 0, timeoutMs: 60_000 })],
    {
      clock,
      logger: silentLogger,
      metrics: m,
    },
  );
  t.after(() => d.close());
  rx.set("hang"); // the endpoint takes the request and never answers
  for (let i = 0; i < 5; i++) d.emit("client.connected", { i });
  clock.advance(0);
  await rx.count(1); // 5 in flight (still counted as buffered)
  for (let i = 5; i < 1005; i++) d.emit("client.connected", { i });
  assert.equal(d.status()[0]!.buffered, 5);
  assert.equal(d.status()[0]!.dropped.overflow, 1000);
  assert.equal(counts.get("dropped_overflow"), 1000);
  assert.equal(counts.get("queued"), 5);
});

test("a request timing out counts as a failure and is retried; retries exhausted: the batch is dropped and counted", async (t) => {
  const rx = await receiver(t);
  const clock = new FakeClock();
  const { m, counts } = countingMetrics();
  const d = new WebhookDispatcher(
    [options(rx.url, { batchDelayMs: 0, timeoutMs: 500, maxRetries: 1, backoffMs: 10, breakerThreshold: 10 })],
    { clock, logger: silentLogger, metrics: m, random: () => 0.5 },
  );
  t.after(() => d.close());
  rx.set("hang");
  d.emit("client.connected", {});
  clock.advance(0);
  await rx.count(1);
  clock.advance(500); // timeout
  await settled(counts, 1);
  clock.advance(10); // retry 1
  await rx.count(2);
  clock.advance(500);
  await settled(counts, 2);
  await d.idle();
  assert.equal(counts.get("request_timeout"), 2);
  assert.equal(counts.get("dropped_retries_exhausted"), 1);
  assert.equal(d.status()[0]!.dropped.retries_exhausted, 1);
});

test("4xx (except 408/429) is final: the batch is dropped as rejected, not retried", async (t) => {
  const rx = await receiver(t);
  const clock = new FakeClock();
  const { m, counts } = countingMetrics();
  const d = new WebhookDispatcher([options(rx.url, { batchDelayMs: 0 })], { clock, logger: silentLogger, metrics: m });
  t.after(() => d.close());
  rx.set(400);
  d.emit("client.connected", {});
  clock.advance(0);
  await settled(counts, 1);
  await d.idle();
  clock.advance(10_000);
  await io();
  assert.equal(rx.requests.length, 1);
  assert.equal(counts.get("dropped_rejected"), 1);
});

test("reload: unchanged endpoints keep their buffer; removed ones are closed and their events counted", async (t) => {
  const rx = await receiver(t);
  const clock = new FakeClock();
  const { m, counts } = countingMetrics();
  const a = options(rx.url, { name: "a", batchDelayMs: 1000 });
  const b = options(rx.url, { name: "b", batchDelayMs: 1000 });
  const d = new WebhookDispatcher([a, b], { clock, logger: silentLogger, metrics: m });
  t.after(() => d.close());
  d.emit("client.connected", {});
  d.configure([a]);
  assert.deepEqual(
    d.status().map((s) => [s.name, s.buffered]),
    [["a", 1]],
  );
  assert.equal(counts.get("dropped_closed"), 1);
});

test("an endpoint with the real sender starts the HTTP worker when configured, not at its first event", async () => {
  await httpWorker.terminate();
  while (httpWorker.running) await new Promise((r) => setTimeout(r, 5));
  const { m } = countingMetrics();
  // An injected sender (tests, embedding) needs no worker.
  const injected = new WebhookDispatcher([options("http://127.0.0.1:9/")], {
    clock: new FakeClock(),
    logger: silentLogger,
    metrics: m,
    sender: () => Promise.resolve(200),
  });
  assert.equal(httpWorker.running, false);
  injected.close();
  const d = new WebhookDispatcher([options("http://127.0.0.1:9/")], {
    clock: new FakeClock(),
    logger: silentLogger,
    metrics: m,
  });
  assert.equal(httpWorker.running, true);
  d.close();
});
