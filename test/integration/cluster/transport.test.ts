// The inter-node transport over real sockets: framing, per-tick batching, queueing until the link is up, handshake
// refusals, backpressure from a peer that stops reading, reconnection, mutual TLS.
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { PeerTransport, TransportFrame, encodeFrame } from "../../../src/cluster/index.ts";
import type { TransportOptions } from "../../../src/cluster/index.ts";
import { silentLogger, systemClock } from "../../../src/util/index.ts";
import { makePki } from "../../helpers/certs.ts";
import { waitFor } from "../../helpers/etcd.ts";

const T = 20;

async function node(
  t: { after(fn: () => unknown): void },
  nodeId: string,
  extra: Partial<TransportOptions> = {},
): Promise<PeerTransport> {
  const tr = await PeerTransport.listen({
    host: "127.0.0.1",
    port: 0,
    clusterName: "c",
    nodeId,
    incarnation: `${nodeId}-1`,
    clock: systemClock,
    logger: silentLogger,
    ...extra,
  });
  t.after(() => tr.close());
  return tr;
}

const addr = (tr: PeerTransport, incarnation = `${tr.nodeId}-1`): Parameters<PeerTransport["connect"]>[0] => ({
  id: tr.nodeId,
  host: "127.0.0.1",
  port: tr.port,
  incarnation,
});

test("frames flow both ways in order, a tick's frames go out in one batch, frames wait for the link", async (t) => {
  const a = await node(t, "a");
  const b = await node(t, "b");
  const atB: string[] = [];
  const atA: string[] = [];
  b.handle(T, (from, body) => atB.push(`${from}:${body.toString()}`));
  a.handle(T, (from, body) => atA.push(`${from}:${body.toString()}`));
  a.connect(addr(b));
  b.connect(addr(a));
  // Sent before the handshake completed: queued, then delivered.
  for (let i = 0; i < 1000; i++) assert.equal(a.send("b", T, Buffer.from(String(i))), true);
  assert.equal(b.send("a", T, [Buffer.from("x"), Buffer.from("y")]), true);
  await waitFor(() => atB.length === 1000 && atA.length === 1, "frames delivered");
  assert.deepEqual(
    atB,
    Array.from({ length: 1000 }, (_, i) => `a:${i}`),
  );
  assert.deepEqual(atA, ["b:xy"]);
  assert.equal(a.stats().peers.b!.flushes, 1, "1000 frames sent in one tick: one write batch");
  // Once connected, each tick's frames are one batch too.
  for (let i = 0; i < 500; i++) a.send("b", T, Buffer.from("z"));
  await waitFor(() => atB.length === 1500, "second batch");
  assert.equal(a.stats().peers.b!.flushes, 2);
  assert.equal(b.stats().framesReceived, 1500);
  // To itself: handled locally, on a later tick.
  const self: string[] = [];
  a.handle(T + 1, (from, body) => self.push(`${from}:${body.toString()}`));
  a.send("a", T + 1, Buffer.from("me"));
  assert.deepEqual(self, []);
  await waitFor(() => self.length === 1, "self frame");
  assert.deepEqual(self, ["a:me"]);
  // Unknown peer: refused. Unhandled type: dropped and counted.
  assert.equal(a.send("nobody", T, Buffer.from("x")), false);
  a.send("b", 99, Buffer.from("x"));
  await waitFor(() => b.stats().framesUnhandled === 1, "unhandled frame counted");
  assert.throws(() => a.handle(TransportFrame.Hello, () => {}), RangeError);
});

test("handshake: another cluster, another node at the address, or garbage are refused", async (t) => {
  const b = await node(t, "b");
  const other = await node(t, "x", { clusterName: "other" });
  const got: string[] = [];
  b.handle(T, (from) => got.push(from));
  other.connect(addr(b)); // cluster "other"
  const a = await node(t, "a");
  a.connect({ ...addr(b), id: "not-b" }); // b's address, but meant for another node
  const raw = net.connect(b.port, "127.0.0.1");
  raw.on("error", () => {});
  raw.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  await waitFor(() => b.stats().refusedConnections >= 3, "three refusals");
  other.send("b", T, Buffer.from("x"));
  a.send("not-b", T, Buffer.from("x"));
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(got, []);
  assert.equal(a.connected("not-b"), false);
});

test("backpressure: a peer that stops reading makes the link unwritable, and drain follows when it reads again", async (t) => {
  // A fake peer that completes the handshake and then stops reading its socket.
  let peerSocket: net.Socket | undefined;
  const server = net.createServer((s) => {
    peerSocket = s;
    s.once("data", () => {
      s.write(encodeFrame(TransportFrame.HelloAck, Buffer.alloc(0)));
      s.pause();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => {
    peerSocket?.destroy();
    server.close();
  });
  const a = await node(t, "a", {
    limits: { highWaterBytes: 256 * 1024, lowWaterBytes: 64 * 1024, maxQueuedBytes: 8 * 1024 * 1024 },
  });
  a.connect({ id: "slow", host: "127.0.0.1", port: (server.address() as net.AddressInfo).port, incarnation: "1" });
  await waitFor(() => a.connected("slow"), "link up");
  const drains: string[] = [];
  a.on("drain", (id) => drains.push(id));
  const chunk = Buffer.alloc(64 * 1024, 1);
  let sent = 0;
  // Keep sending a tick at a time until the link says stop; the kernel buffers fill first.
  while (a.writable("slow")) {
    assert.equal(a.send("slow", T, chunk), true);
    sent++;
    await new Promise((r) => setImmediate(r));
    if (sent > 2000) assert.fail("the link never became unwritable");
  }
  assert.ok(a.stats().peers.slow!.queuedBytes >= 256 * 1024);
  // Past maxQueuedBytes sends are refused, not buffered without bound.
  let refused = false;
  for (let i = 0; i < 200 && !refused; i++) refused = !a.send("slow", T, chunk);
  assert.ok(refused, "send refused past maxQueuedBytes");
  assert.ok(a.stats().peers.slow!.queuedBytes <= 8 * 1024 * 1024);
  assert.equal(drains.length, 0);
  peerSocket!.resume(); // reads (and discards) everything
  await waitFor(() => drains.includes("slow"), "drain event");
  assert.equal(a.writable("slow"), true);
});

test("a peer that restarts on the same address gets the frames queued meanwhile", async (t) => {
  const a = await node(t, "a");
  const b1 = await node(t, "b");
  const port = b1.port;
  const got1: string[] = [];
  b1.handle(T, (_f, body) => got1.push(body.toString()));
  a.connect(addr(b1));
  a.send("b", T, Buffer.from("one"));
  await waitFor(() => got1.length === 1, "first frame");
  await b1.close();
  await waitFor(() => !a.connected("b"), "link down");
  a.send("b", T, Buffer.from("two"));
  a.send("b", T, Buffer.from("three"));
  const b2 = await node(t, "b", { port });
  const got2: string[] = [];
  b2.handle(T, (_f, body) => got2.push(body.toString()));
  await waitFor(() => got2.length === 2, "queued frames after the reconnect");
  assert.deepEqual(got2, ["two", "three"]);
});

test("mutual TLS between nodes: frames flow; a peer without a certificate from the cluster CA is refused", async (t) => {
  const pki = makePki(t);
  const other = makePki(t, "Other CA");
  const creds = (p: typeof pki, name: string): { cert: Buffer; key: Buffer; ca: Buffer } => {
    const f = p.issue(name);
    return { cert: p.read(f.cert), key: p.read(f.key), ca: p.read(p.ca) };
  };
  const a = await node(t, "a", { tls: creds(pki, "a") });
  const b = await node(t, "b", { tls: creds(pki, "b") });
  const got: string[] = [];
  b.handle(T, (from, body) => got.push(`${from}:${body.toString()}`));
  a.connect(addr(b));
  a.send("b", T, Buffer.from("secret"));
  await waitFor(() => got.length === 1, "frame over TLS");
  assert.deepEqual(got, ["a:secret"]);
  // A node whose certificate another CA signed: the TLS handshake fails, nothing arrives.
  const m = await node(t, "m", { tls: creds(other, "m") });
  m.connect(addr(b));
  m.send("b", T, Buffer.from("evil"));
  // Plain TCP to the TLS port: no handshake, nothing arrives either.
  const plain = await node(t, "p");
  plain.connect(addr(b));
  plain.send("b", T, Buffer.from("evil"));
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(m.connected("b"), false);
  assert.equal(plain.connected("b"), false);
  assert.deepEqual(got, ["a:secret"]);
});
