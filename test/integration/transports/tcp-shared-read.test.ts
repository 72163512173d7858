// Plain TCP sockets are read into one buffer shared by all of them (src/transport/tcp/user-read.ts, issue #10):
// each read's bytes are copied out before the next read of any socket overwrites the buffer, pause()/resume() still
// stop and restart reading (backpressure), and the end of the peer's stream still closes the socket.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import net from "node:net";
import { test } from "node:test";
import { readIntoSharedBuffer } from "../../../src/transport/tcp/user-read.ts";
import { startBroker } from "../../helpers/broker.ts";
import { mqttjs, waitUntil } from "../../helpers/clients.ts";

test("messages queued for an offline session keep their payloads while other sockets' reads reuse the shared read buffer", async (t) => {
  const b = await startBroker({ sysInterval: 0 });
  t.after(() => b.close());
  const sub = await mqttjs(t, b.url, { clientId: "shared-read-sub", clean: false });
  await sub.client.subscribeAsync("keep/#", { qos: 1 });
  await sub.client.endAsync();

  // Queued while the subscriber is away: the broker holds these payloads (zero-copy slices of what it read).
  const a = await mqttjs(t, b.url, { clientId: "shared-read-a" });
  const kept = Array.from({ length: 20 }, (_, i) => Buffer.concat([Buffer.from(`kept-${i}-`), randomBytes(40 + i)]));
  for (const payload of kept) await a.client.publishAsync(`keep/${kept.indexOf(payload)}`, payload, { qos: 1 });

  // Many reads of other sockets meanwhile, small and large, through the same buffer.
  const others = await Promise.all([1, 2, 3].map((n) => mqttjs(t, b.url, { clientId: `shared-read-o${n}` })));
  await Promise.all(
    others.map(async (o, n) => {
      for (let i = 0; i < 50; i++) await o.client.publishAsync(`other/${n}`, randomBytes(i % 2 === 0 ? 100 : 70_000));
    }),
  );

  const back = await mqttjs(t, b.url, { clientId: "shared-read-sub", clean: false });
  const got = await back.waitFor(kept.length);
  assert.deepEqual(
    got.map((m) => m.bytes.toString("hex")),
    kept.map((p) => p.toString("hex")),
  );
});

test("a socket read through the shared buffer: pause() stops the reads, resume() restarts them, the peer's end closes it", async (t) => {
  const reads: { socket: number; chunk: Buffer }[] = [];
  const accepted: net.Socket[] = [];
  let installed = true;
  const server = net.createServer((s) => {
    const n = accepted.push(s) - 1;
    installed &&= readIntoSharedBuffer(s, function (chunk) {
      reads.push({ socket: n, chunk });
    });
    s.on("data", () => assert.fail("'data' must not be emitted on the shared-buffer path"));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const clients = await Promise.all(
    [0, 1].map(
      () =>
        new Promise<net.Socket>((r) => {
          const c = net.connect(port, "127.0.0.1", () => r(c));
        }),
    ),
  );
  t.after(() => clients.forEach((c) => c.destroy()));
  await waitUntil(() => accepted.length === 2, 5000, "2 accepted sockets");
  assert.equal(installed, true, "this Node offers the user-buffer read (net.Socket's onread)");
  const bytesOf = (n: number): Buffer => Buffer.concat(reads.filter((r) => r.socket === n).map((r) => r.chunk));

  // Interleaved writes from both clients: each socket's bytes arrive intact and in order.
  const sent: Buffer[][] = [[], []];
  for (let i = 0; i < 20; i++) {
    for (const k of [0, 1]) {
      const chunk = randomBytes(i % 5 === 0 ? 30_000 : 50);
      sent[k]!.push(chunk);
      clients[k]!.write(chunk);
    }
    await new Promise((r) => setImmediate(r));
  }
  const total = (k: number): number => sent[k]!.reduce((n, c) => n + c.length, 0);
  await waitUntil(() => bytesOf(0).length === total(0) && bytesOf(1).length === total(1), 5000, "all bytes");
  assert.ok(bytesOf(0).equals(Buffer.concat(sent[0]!)));
  assert.ok(bytesOf(1).equals(Buffer.concat(sent[1]!)));

  // Paused: nothing is read (the bytes wait in the kernel); resumed: they arrive.
  const s0 = accepted[0]!;
  s0.pause();
  const before = reads.length;
  clients[0]!.write("while paused");
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(reads.length, before, "no read while paused");
  s0.resume();
  await waitUntil(() => bytesOf(0).toString("latin1").endsWith("while paused"), 5000, "the bytes sent while paused");

  // The peer closes its side: the socket ends and closes as with 'data' listeners.
  const closed = new Promise<void>((r) => s0.once("close", () => r()));
  clients[0]!.end();
  await closed;
});
