// The HTTP bridge's per-request shortcuts must not change what a request means: requestTarget against WHATWG URL,
// and the publisher pool's idle timer (armed once per idle period, not per request) against its 30 s rule.
import assert from "node:assert/strict";
import { test } from "node:test";
import { PublisherPool, POOL_IDLE_MS } from "../../../src/transport/bridge/pool.ts";
import type { LoopbackClient } from "../../../src/transport/bridge/loopback-client.ts";
import { requestTarget } from "../../../src/transport/http/target.ts";
import type { ConnectionAcceptor, ConnectionHandler, TransportConnection } from "../../../src/broker/index.ts";
import { encode, PacketType, ReasonCode } from "../../../src/codec/index.ts";
import { FakeClock } from "../../../src/util/index.ts";

test("requestTarget gives URL's pathname, search and query parameters for every kind of request target", () => {
  const targets = [
    "/topics/a/b",
    "/topics/a/b?qos=1&retain=true",
    "/topics/a/b?",
    "/topics/a%2Fb/c%20d?userProperty=x%3Dy&userProperty=z=1",
    "/topics/sensors/temp.c?qos=0",
    "/topics/a/../b",
    "/topics/a/./b",
    "/topics/%2e%2e/x",
    "/topics/a/%2E/b",
    "/topics/a\\b",
    "/topics/a#frag?x=1",
    "/topics/a?x=1#frag",
    "/topics/é/ü?q=ß",
    '/topics/a"b<c>d`e{f}?q="<>',
    "/topics/+/#",
    "/topics/a?x=%zz&y=+1",
    "/",
    "/topics/",
  ];
  for (const t of targets) {
    const u = new URL(t, "http://bridge");
    const r = requestTarget(t);
    let decodedU: string;
    let decodedR: string;
    try {
      decodedU = decodeURIComponent(u.pathname);
    } catch {
      decodedU = "<invalid>";
    }
    try {
      decodedR = decodeURIComponent(r.pathname);
    } catch {
      decodedR = "<invalid>";
    }
    assert.equal(decodedR, decodedU, `decoded path of ${t}`);
    assert.equal(r.search === "", u.search === "", `query present in ${t}`);
    assert.deepEqual([...r.searchParams], [...u.searchParams], `query parameters of ${t}`);
  }
});

/** Lets queued microtasks (LoopbackClient hands bytes and closes to the broker on one) run. */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A broker that accepts every CONNECT and counts connections and closes. */
function fakeBroker(): ConnectionAcceptor & { opened: number; closed: number } {
  const b = {
    opened: 0,
    closed: 0,
    accept(conn: TransportConnection): ConnectionHandler {
      b.opened++;
      return {
        onData(chunk: Buffer) {
          // Each packet arrives as one chunk (LoopbackClient sends one encoded packet per call).
          if (chunk[0]! >> 4 === PacketType.CONNECT) {
            conn.write([
              encode({ type: PacketType.CONNACK, sessionPresent: false, reasonCode: ReasonCode.Success }, 5),
            ]);
          }
        },
        onDrain() {},
        onClose() {
          b.closed++;
        },
      };
    },
  };
  return b;
}

test("publisher pool: an entry is closed after 30 s without a request, used ones stay, one timer per idle period", async () => {
  const clock = new FakeClock();
  let armed = 0;
  const counting = {
    now: () => clock.now(),
    setTimeout: (fn: () => void, ms: number) => (armed++, clock.setTimeout(fn, ms)),
    setInterval: (fn: () => void, ms: number) => clock.setInterval(fn, ms),
  };
  const broker = fakeBroker();
  const pool = new PublisherPool(broker, "http", counting);
  const use = (): Promise<LoopbackClient> => pool.with({ key: "" }, "127.0.0.1:1", async (c) => c);
  const first = await use();
  assert.equal(broker.opened, 1);
  assert.equal(clock.pending, 1, "idle timer armed on release");
  // A request every 10 s for a minute: the same connection, and no timer per request.
  for (let i = 0; i < 6; i++) {
    clock.advance(10_000);
    assert.equal(await use(), first);
    assert.ok(clock.pending <= 1, `at most one idle timer (${clock.pending})`);
  }
  // Armed when first idle, re-armed at 30 s and 50 s for the rest of the period: not once per request (7).
  assert.equal(armed, 3);
  assert.equal(broker.opened, 1);
  assert.equal(broker.closed, 0);
  clock.advance(POOL_IDLE_MS - 1);
  await settle();
  assert.equal(broker.closed, 0, "not idle for 30 s yet");
  clock.advance(1);
  await settle();
  assert.equal(broker.closed, 1, "closed after 30 s idle");
  assert.equal(clock.pending, 0);
  const second = await use();
  assert.notEqual(second, first, "a new connection after the idle close");
  assert.equal(broker.opened, 2);
  pool.close();
});

test("publisher pool: an entry busy when its idle timer fires is not closed, and is timed again once released", async () => {
  const clock = new FakeClock();
  const broker = fakeBroker();
  const pool = new PublisherPool(broker, "http", clock);
  await pool.with({ key: "k" }, "r", async () => undefined);
  let release!: () => void;
  const busy = pool.with({ key: "k" }, "r", () => new Promise<void>((r) => (release = r)));
  await new Promise((r) => setImmediate(r));
  clock.advance(POOL_IDLE_MS + 5_000);
  await settle();
  assert.equal(broker.closed, 0, "in use: stays open");
  release();
  await busy;
  clock.advance(POOL_IDLE_MS - 1);
  await settle();
  assert.equal(broker.closed, 0);
  clock.advance(1);
  await settle();
  assert.equal(broker.closed, 1);
  pool.close();
});
