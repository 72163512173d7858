// The TCP listener's two ways of holding a connection (src/transport/tcp): libuv's TCP handle directly (raw.ts, the
// default: no net.Socket per connection, issue #10's connection storm) and net.Socket (the fallback, and TLS). The
// same behaviour is asserted of both against a real client socket, through a recording acceptor in place of the
// broker: input in order, writes in order, backpressure and drain, pause/resume, the peer's FIN and reset, end()
// and destroy(), and the remote address.
import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import type { ConnectionAcceptor, ConnectionHandler, TransportConnection } from "../../../src/broker/index.ts";
import { listenTcp } from "../../../src/transport/tcp/index.ts";
import { rawTcpAvailable } from "../../../src/transport/tcp/raw.ts";
import { waitUntil } from "../../helpers/clients.ts";

interface Accepted {
  conn: TransportConnection;
  input: Buffer[];
  drains: number;
  closes: (Error | undefined)[];
}

/** A ConnectionAcceptor that records what the transport reports. */
function recorder(): { acceptor: ConnectionAcceptor; accepted: Accepted[] } {
  const accepted: Accepted[] = [];
  const acceptor: ConnectionAcceptor = {
    accept(conn): ConnectionHandler {
      const a: Accepted = { conn, input: [], drains: 0, closes: [] };
      accepted.push(a);
      return {
        onData: (chunk) => a.input.push(Buffer.from(chunk)),
        onDrain: () => a.drains++,
        onClose: (err) => a.closes.push(err),
      };
    },
  };
  return { acceptor, accepted };
}

async function setup(
  t: import("node:test").TestContext,
  nodeSockets: boolean,
  writeHighWaterMark?: number,
): Promise<{ client: net.Socket; a: Accepted; received: () => Buffer; ended: () => boolean }> {
  const { acceptor, accepted } = recorder();
  const listener = await listenTcp(acceptor, { host: "127.0.0.1", port: 0, nodeSockets, writeHighWaterMark });
  t.after(() => listener.close());
  const client = net.connect({ port: listener.port, host: "127.0.0.1", allowHalfOpen: true });
  t.after(() => client.destroy());
  const chunks: Buffer[] = [];
  let ended = false;
  client.on("data", (d: Buffer) => chunks.push(d));
  client.on("end", () => (ended = true));
  client.on("error", () => {});
  await new Promise<void>((r) => client.once("connect", () => r()));
  await waitUntil(() => accepted.length === 1, 5000, "the accepted connection");
  const a = accepted[0]!;
  t.after(() => a.conn.destroy());
  return { client, a, received: () => Buffer.concat(chunks), ended: () => ended };
}

const modes = [
  { name: "raw handle", nodeSockets: false },
  { name: "net.Socket", nodeSockets: true },
] as const;

test("the default TCP listener holds its connections on raw handles, not net.Socket", async (t) => {
  assert.ok(rawTcpAvailable(), "this Node exposes the stream handle API node:net is written on");
  const { a, client } = await setup(t, false);
  assert.equal(a.conn.constructor.name, "RawTcpConnection");
  assert.equal(a.conn.remoteAddress, `127.0.0.1:${client.localPort}`);
  const { a: b } = await setup(t, true);
  assert.equal(b.conn.constructor.name, "TcpConnection");
});

for (const mode of modes) {
  test(`${mode.name}: input and writes arrive in order; remote address; kind`, async (t) => {
    const { client, a, received } = await setup(t, mode.nodeSockets);
    assert.equal(a.conn.remoteAddress, `127.0.0.1:${client.localPort}`);
    assert.equal(a.conn.kind, "tcp");
    client.write("abc");
    client.write("def");
    await waitUntil(() => Buffer.concat(a.input).toString() === "abcdef", 5000, "the client's bytes");
    // One chunk, several small ones (joined into one copy), several large ones (a writev).
    const small = Array.from({ length: 10 }, (_, i) => Buffer.from(`s${i};`));
    const large = [Buffer.alloc(3000, "x"), Buffer.alloc(3000, "y")];
    assert.equal(a.conn.write([Buffer.from("one;")]), true);
    assert.equal(a.conn.write(small), true);
    assert.equal(a.conn.write(large), true);
    const want = Buffer.concat([Buffer.from("one;"), ...small, ...large]);
    await waitUntil(() => received().length === want.length, 5000, "the server's bytes");
    assert.deepEqual(received(), want);
  });

  test(`${mode.name}: write() reports backpressure above the mark, bytes stay buffered, drain follows`, async (t) => {
    const { client, a, received } = await setup(t, mode.nodeSockets, 256 * 1024);
    client.pause(); // the client reads nothing: the kernel buffers fill
    const chunk = Buffer.alloc(64 * 1024, "z");
    let written = 0;
    let ok = true;
    for (let i = 0; i < 1000 && ok; i++) {
      ok = a.conn.write([chunk]);
      written += chunk.length;
    }
    assert.equal(ok, false, "backpressure reported before 64 MB");
    assert.ok((a.conn.bufferedBytes ?? 0) >= 256 * 1024, `buffered ${a.conn.bufferedBytes}`);
    client.resume();
    await waitUntil(() => a.drains > 0, 10_000, "onDrain");
    assert.equal(a.conn.bufferedBytes, 0);
    await waitUntil(() => received().length === written, 10_000, "every byte");
    assert.ok(received().every((b) => b === 0x7a));
  });

  test(`${mode.name}: pause() stops input until resume()`, async (t) => {
    const { client, a } = await setup(t, mode.nodeSockets);
    a.conn.pause();
    client.write("held");
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(a.input.length, 0);
    a.conn.resume();
    await waitUntil(() => Buffer.concat(a.input).toString() === "held", 5000, "the held bytes");
  });

  test(`${mode.name}: the peer's FIN closes the connection (no half-open); onClose once, without error`, async (t) => {
    const { client, a, ended } = await setup(t, mode.nodeSockets);
    a.conn.write([Buffer.from("bye")]);
    client.end();
    await waitUntil(() => a.closes.length === 1, 5000, "onClose");
    assert.equal(a.closes[0], undefined);
    await waitUntil(ended, 5000, "the server's FIN");
    assert.equal(a.conn.write([Buffer.from("late")]), true, "a write after close is ignored");
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(a.closes.length, 1);
  });

  test(`${mode.name}: a reset by the peer closes with the read error`, async (t) => {
    const { client, a } = await setup(t, mode.nodeSockets);
    client.resetAndDestroy();
    await waitUntil(() => a.closes.length === 1, 5000, "onClose");
    const err: NodeJS.ErrnoException | undefined = a.closes[0];
    assert.equal(err?.code, "ECONNRESET");
    assert.equal(err.message, "read ECONNRESET");
  });

  test(`${mode.name}: end() sends what was written, then FIN; closes when the peer closes its side`, async (t) => {
    const { client, a, received, ended } = await setup(t, mode.nodeSockets);
    a.conn.write([Buffer.from("last words")]);
    a.conn.end();
    assert.equal(a.conn.write([Buffer.from("after end")]), true, "ignored");
    await waitUntil(ended, 5000, "the server's FIN");
    assert.equal(received().toString(), "last words");
    client.write("still open"); // half-closed: the server may still read
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(a.closes.length, 0, "open until the peer closes its side");
    client.end();
    await waitUntil(() => a.closes.length === 1, 5000, "onClose");
    assert.equal(a.closes[0], undefined);
  });

  test(`${mode.name}: destroy() closes at once; closeAfterGoodbye() closes after the bytes are out`, async (t) => {
    const first = await setup(t, mode.nodeSockets);
    first.a.conn.destroy();
    await waitUntil(first.ended, 5000, "the client sees the close");
    await waitUntil(() => first.a.closes.length === 1, 5000, "onClose");
    const second = await setup(t, mode.nodeSockets);
    second.a.conn.write([Buffer.from("goodbye")]);
    second.a.conn.closeAfterGoodbye!();
    await waitUntil(second.ended, 5000, "the server's FIN");
    assert.equal(second.received().toString(), "goodbye");
    await waitUntil(() => second.a.closes.length === 1, 5000, "onClose without the client closing");
  });
}
