// The HTTP worker (src/admin/http-worker.ts) that sends webhook and OTLP POSTs: against a real local receiver, the
// request's socket is not on the main thread (the point of the worker: undici's sockets made the broker's own
// socket writes polymorphic), bodies arrive intact, statuses and network errors come back, an abort cancels the
// request, a worker that dies fails its requests and is replaced, configuring the OTLP batcher starts the worker at
// once (a webhook endpoint: webhooks.test.ts), and a server's listeners open only after the worker's warm-up request.
import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import type { IncomingMessage, ServerResponse } from "node:http";
import { Socket } from "node:net";
import { HttpWorkerError, httpWorker, postFromWorker } from "../../../src/admin/http-worker.ts";
import { postOtlp, PROTOBUF } from "../../../src/admin/otlp.ts";
import { OtlpProtoBatcher } from "../../../src/admin/otlp-batcher.ts";
import { freePort } from "../../helpers/mosquitto.ts";
import { listenLocal, until } from "../../helpers/webhook-receiver.ts";
import { startServer, validateConfig } from "../../../src/server/index.ts";
import { recordingLogger } from "../broker/harness.ts";

interface Held {
  req: IncomingMessage;
  res: ServerResponse;
  body: Buffer;
}

async function holdingReceiver(t: { after(fn: () => unknown): void }) {
  const held: Held[] = [];
  let status = 200;
  const base = await listenLocal(t, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => held.push({ req, res, body: Buffer.concat(chunks) }));
  });
  return {
    url: `${base}/x`,
    held,
    setStatus: (s: number) => (status = s),
    /** Answers every held request. */
    answer: () => {
      for (const h of held.splice(0)) h.res.writeHead(status).end("ok");
    },
  };
}

/** This thread's open sockets (Node's handle list: the test shards run other tests' sockets beside ours). */
const mainThreadSockets = (): Socket[] =>
  (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().filter((h) => h instanceof Socket);

test("a POST's client socket is not on the main thread; the body, headers and status round-trip", async (t) => {
  const rx = await holdingReceiver(t);
  const p = postFromWorker({ url: rx.url, body: '{"a":1}', headers: { "content-type": "application/json" } });
  await until(() => rx.held.length === 1);
  // The receiver's accepted socket is on this thread (the control: the handle list shows it); the client's end,
  // undici's socket, is in the worker. Sent from this thread, as before the worker, it was in the list too.
  const clientPort = rx.held[0]!.req.socket.remotePort;
  const sockets = mainThreadSockets();
  assert.ok(sockets.some((s) => s.remotePort === clientPort));
  assert.ok(!sockets.some((s) => s.localPort === clientPort));
  assert.equal(rx.held[0]!.body.toString(), '{"a":1}');
  assert.equal(rx.held[0]!.req.headers["content-type"], "application/json");
  rx.setStatus(202);
  rx.answer();
  assert.equal(await p, 202);
});

test("bytes (a view into a larger buffer) arrive exactly and the caller's buffer stays usable; OTLP >= 300 rejects", async (t) => {
  const rx = await holdingReceiver(t);
  const big = Buffer.alloc(200_000);
  for (let i = 0; i < big.length; i++) big[i] = i & 0xff;
  const view = big.subarray(100, 150_100);
  const p = postOtlp(rx.url, view, PROTOBUF, 5000);
  await until(() => rx.held.length === 1);
  assert.ok(rx.held[0]!.body.equals(view));
  assert.equal(rx.held[0]!.req.headers["content-type"], PROTOBUF);
  assert.equal(big.byteLength, 200_000); // not detached
  rx.setStatus(503);
  rx.answer();
  await assert.rejects(p, /answered 503/);
});

test("a network error comes back with its code; an abort cancels the request", async (t) => {
  const port = await freePort();
  const err = await postFromWorker({ url: `http://127.0.0.1:${port}/`, body: "x", headers: {} }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof HttpWorkerError);
  assert.equal(err.code, "ECONNREFUSED");

  const rx = await holdingReceiver(t);
  const ac = new AbortController();
  const p = postFromWorker({ url: rx.url, body: "y", headers: {}, signal: ac.signal });
  await until(() => rx.held.length === 1);
  const closed = once(rx.held[0]!.req.socket, "close");
  ac.abort();
  await assert.rejects(p, (e: Error) => e.name === "AbortError");
  await closed; // the worker really dropped the request
  assert.equal(httpWorker.outstanding, 0);
});

test("a worker that dies fails its outstanding requests; the next POST starts a new one", async (t) => {
  const rx = await holdingReceiver(t);
  const p = postFromWorker({ url: rx.url, body: "z", headers: {} });
  await until(() => rx.held.length === 1);
  const spawned = httpWorker.spawned;
  await httpWorker.terminate();
  await assert.rejects(p, /HTTP worker exited/);
  rx.held.splice(0);
  const q = postFromWorker({ url: rx.url, body: "w", headers: {} });
  await until(() => rx.held.length === 1);
  assert.equal(httpWorker.spawned, spawned + 1);
  rx.answer();
  assert.equal(await q, 200);
});

test("configuring the OTLP batcher starts the worker before any span (not mid-traffic)", async () => {
  await httpWorker.terminate();
  await until(() => !httpWorker.running);
  const b = new OtlpProtoBatcher("http://127.0.0.1:9/v1/traces", "wharf", () => undefined);
  assert.equal(httpWorker.running, true);
  await b.shutdown();
});

test("an OTLP request starts with a buffer the size of the largest one so far (+1/8): a part-filled one sent by the timer does not shrink it", async (t) => {
  const rx = await holdingReceiver(t);
  const b = new OtlpProtoBatcher(rx.url, "wharf", () => undefined);
  t.after(() => b.shutdown());
  const ids = Buffer.alloc(32, 1);
  const spans = (n: number) => {
    for (let i = 0; i < n; i++) b.delivered(ids, 0, "sub", "a/topic", 1, i + 1, 1_765_000_000_000 + i);
  };
  spans(3000);
  const large = b.forceFlush();
  await until(() => rx.held.length === 1);
  const full = rx.held[0]!.body.length;
  assert.equal(b.nextRequestBytes, full + (full >> 3));
  spans(10);
  const small = b.forceFlush();
  await until(() => rx.held.length === 2);
  assert.ok(rx.held[1]!.body.length < full / 100);
  assert.equal(b.nextRequestBytes, full + (full >> 3), "not the small request's size");
  rx.answer();
  await Promise.all([large, small]);
});

test("bytes are copied to the worker, never transferred: no ArrayBuffer of this thread is detached", async (t) => {
  const rx = await holdingReceiver(t);
  const own = Buffer.allocUnsafe(100_000).fill(7);
  const small = own.subarray(10, 20_010); // a small view of a larger buffer (sliced before cloning)
  const p = postFromWorker({ url: rx.url, body: own, headers: {} });
  const q = postFromWorker({ url: rx.url, body: small, headers: {} });
  assert.equal(own.buffer.byteLength, 100_000); // a transfer would have detached it (byteLength 0)
  await until(() => rx.held.length === 2);
  const lengths = rx.held.map((h) => h.body.length).sort((a, b) => a - b);
  assert.deepEqual(lengths, [20_000, 100_000]);
  assert.ok(rx.held.every((h) => h.body.every((x) => x === 7)));
  rx.answer();
  assert.equal(await p, 200);
  assert.equal(await q, 200);
});

test("a started worker makes its warm-up request before ready(); a server with a webhook opens its listeners after it", async (t) => {
  await httpWorker.terminate();
  await until(() => !httpWorker.running);
  const spawned = httpWorker.spawned;
  const warming = httpWorker.warm();
  assert.equal(httpWorker.warmedUp, false);
  await warming;
  assert.equal(httpWorker.warmedUp, true); // the loopback POST answered
  await httpWorker.terminate();
  await until(() => !httpWorker.running);

  // A server's start: by the time it resolves (its listeners open), a fresh worker has warmed up.
  const rx = await holdingReceiver(t);
  const config = validateConfig({
    listeners: [{ host: "127.0.0.1", port: 0 }],
    storage: { type: "memory" },
    sys: { interval: 0 },
    management: { enabled: false },
    webhooks: [{ name: "rx", url: rx.url, events: ["client.connected"] }],
  });
  const server = await startServer(config, { logger: recordingLogger() });
  t.after(() => server.close());
  assert.equal(httpWorker.spawned, spawned + 2);
  assert.equal(httpWorker.warmedUp, true);
  assert.equal(rx.held.length, 0); // the warm-up went to the worker's own server, not to the webhook's
});

test("with transfer the bytes are moved to the worker (the caller's ArrayBuffer detached), not copied, and arrive intact", async (t) => {
  const rx = await holdingReceiver(t);
  const own = Buffer.allocUnsafeSlow(300_000);
  for (let i = 0; i < own.length; i++) own[i] = (i * 7) & 0xff;
  const expected = Buffer.from(own.subarray(0, 250_000));
  const p = postFromWorker({ url: rx.url, body: own.subarray(0, 250_000), headers: {}, transfer: true });
  assert.equal(own.buffer.byteLength, 0); // detached: moved, not cloned
  await until(() => rx.held.length === 1);
  assert.ok(rx.held[0]!.body.equals(expected));
  rx.answer();
  assert.equal(await p, 200);
});
