// The cluster router against fake peers (no sockets): what it sends when attached to links already up, forwarding
// by interest only, and backpressure from a full link (the publisher held until the link drains, then after the
// stall limit QoS 0 dropped until it drains). Fake clock for the stall limit.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Broker } from "../../../src/broker/index.ts";
import type { Producer, RoutingParts } from "../../../src/broker/index.ts";
import { createMessage } from "../../../src/broker/message.ts";
import { ClusterRouter, RoutingFrame } from "../../../src/cluster/index.ts";
import type { RoutingPeers } from "../../../src/cluster/index.ts";
import { FakeClock, silentLogger } from "../../../src/util/index.ts";

interface Sent {
  node: string;
  type: number;
  body: Buffer;
}

function setup(connected: string[]) {
  const clock = new FakeClock();
  let parts: RoutingParts | undefined;
  let router: ClusterRouter | undefined;
  const broker = new Broker(
    { sysInterval: 0 },
    {
      clock,
      routing: (p) => {
        parts = p;
        return (router = new ClusterRouter(p, clock, silentLogger));
      },
    },
  );
  const sent: Sent[] = [];
  const handlers = new Map<number, (from: string, body: Buffer, src: Producer) => void>();
  const drains: ((node: string) => void)[] = [];
  const ups: ((node: string) => void)[] = [];
  const state = { writable: true };
  const peers: RoutingPeers = {
    self: "me",
    send: (node, type, body) => {
      sent.push({ node, type, body: Buffer.isBuffer(body) ? body : Buffer.concat(body) });
      return true;
    },
    writable: () => state.writable,
    connected: (node) => connected.includes(node),
    peers: () => ["p1", "p2"],
    handle: (type, fn) => {
      handlers.set(type, fn);
      return () => handlers.delete(type);
    },
    onUp: (fn) => {
      ups.push(fn);
      return () => {};
    },
    onDrain: (fn) => {
      drains.push(fn);
      return () => {};
    },
    onLeave: () => () => {},
  };
  const noSource: Producer = { hold() {}, release() {} };
  const interest = (node: string, f: string[]): void =>
    handlers.get(RoutingFrame.InterestSync)!(node, Buffer.from(JSON.stringify({ f, s: [] })), noSource);
  return { clock, broker, parts: parts!, router: router!, peers, sent, state, interest, drains, ups, handlers };
}

const msg = (topic: string, qos: 0 | 1 = 0) =>
  createMessage({ topic, payload: Buffer.from("x"), qos, retain: false }, 0);

test("attached after its links came up, the router exchanges interest snapshots with those peers", async () => {
  const s = setup(["p1"]);
  s.router.attach(s.peers);
  assert.deepEqual(
    s.sent.map((x) => [x.node, x.type]),
    [
      ["p1", RoutingFrame.InterestSync],
      ["p1", RoutingFrame.SyncRequest],
    ],
  );
  await s.broker.close();
});

test("a publish is forwarded once to each node with a matching filter, never to the others", async () => {
  const s = setup([]);
  s.router.attach(s.peers);
  s.interest("p1", ["a/+", "a/#"]);
  s.interest("p2", ["b/#"]);
  const r = s.router.route(msg("a/x"));
  await Promise.resolve(); // QoS 0 forwards go out as one ForwardBatch per node when the synchronous run ends
  assert.deepEqual(
    s.sent.filter((x) => x.type === RoutingFrame.ForwardBatch).map((x) => x.node),
    ["p1"],
  );
  assert.equal(r.matched, 1);
  s.router.route(msg("c/x"));
  await Promise.resolve();
  assert.equal(s.sent.filter((x) => x.type === RoutingFrame.ForwardBatch).length, 1);
  assert.equal(s.router.stats.forwarded, 1);
  await s.broker.close();
});

test("a full link holds the publisher until it drains; past the stall limit QoS 0 to it is dropped", async () => {
  const s = setup([]);
  s.router.attach(s.peers);
  s.interest("p1", ["t"]);
  let holds = 0;
  const publisher: Producer = {
    hold: () => {
      holds++;
    },
    release: () => {
      holds--;
    },
  };
  s.state.writable = false;
  s.parts.overload.producer = publisher;
  s.router.route(msg("t"));
  s.router.route(msg("t"));
  assert.equal(holds, 1, "held once, however many messages");
  assert.equal(s.router.stats.forwarded, 2, "what it had sent is still queued, not dropped");
  s.state.writable = true;
  for (const fn of s.drains) fn("p1");
  assert.equal(holds, 0, "released on drain");
  // Full again, and it stays full past the stall limit: released, then QoS 0 dropped, QoS 1 still queued.
  s.state.writable = false;
  s.router.route(msg("t"));
  assert.equal(holds, 1);
  s.clock.advance(1000);
  assert.equal(holds, 0, "released after the stall limit");
  s.router.route(msg("t"));
  assert.equal(holds, 0, "a stalled link holds nobody");
  assert.equal(s.router.stats.forwardDropped, 1);
  s.router.route(msg("t", 1));
  assert.equal(s.router.stats.forwarded, 4);
  s.parts.overload.producer = undefined;
  await s.broker.close();
});

test("QoS 1/2 forwards are numbered and kept until acknowledged, and sent again when the link comes back", async () => {
  const s = setup([]);
  s.router.attach(s.peers);
  s.interest("p1", ["t"]);
  s.router.route(msg("t", 1));
  s.router.route(msg("t", 0));
  await Promise.resolve(); // the QoS 0 batch of this run
  assert.deepEqual(
    s.sent.filter((x) => x.node === "p1").map((x) => x.type),
    [RoutingFrame.ForwardReliable, RoutingFrame.ForwardBatch],
    "QoS 0 stays unnumbered",
  );
  assert.equal(s.router.stats.unacked, 1);
  const numbered = s.sent.find((x) => x.type === RoutingFrame.ForwardReliable)!.body;
  s.sent.length = 0;
  for (const fn of s.ups) fn("p1"); // the link broke and came back
  const again = s.sent.filter((x) => x.type === RoutingFrame.ForwardReliable);
  assert.equal(again.length, 1);
  assert.deepEqual(again[0]!.body, numbered, "the same number, the same message");
  const ack = Buffer.alloc(12);
  ack.writeUInt32BE(numbered.readUInt32BE(0), 0);
  ack.writeDoubleBE(numbered.readDoubleBE(4), 4);
  s.handlers.get(RoutingFrame.ForwardAck)!("p1", ack, { hold() {}, release() {} });
  assert.equal(s.router.stats.unacked, 0);
  assert.equal(s.router.stats.resent, 1);
  await s.broker.close();
});

test("a change of a peer's interest changes where the next publish of a topic goes (no stale route)", async () => {
  const s = setup([]);
  s.router.attach(s.peers);
  s.interest("p1", ["t/#"]);
  const forwards = async (): Promise<string[]> => {
    s.sent.length = 0;
    s.router.route(msg("t/x"));
    await Promise.resolve();
    return s.sent.filter((x) => x.type === RoutingFrame.ForwardBatch).map((x) => x.node);
  };
  assert.deepEqual(await forwards(), ["p1"]);
  assert.deepEqual(await forwards(), ["p1"], "the same topic again: the same node");
  const delta = (node: string, op: "+f" | "-f", v: string): void =>
    s.handlers.get(RoutingFrame.InterestDelta)!(node, Buffer.from(JSON.stringify({ op, v })), {
      hold() {},
      release() {},
    });
  delta("p2", "+f", "t/x");
  assert.deepEqual((await forwards()).sort(), ["p1", "p2"]);
  delta("p1", "-f", "t/#");
  assert.deepEqual(await forwards(), ["p2"]);
  await s.broker.close();
});
