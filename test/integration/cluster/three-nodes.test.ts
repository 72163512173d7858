// One real etcd and three `wharf start` processes (YAML config, cluster.enabled) on loopback; MQTT.js clients on
// different nodes. One fixture, several assertions: cross-node publish at QoS 0/1/2 routed by interest (a node
// without a matching subscription receives nothing), retained messages seen from every node, a $share group
// spanning nodes (each message to exactly one member cluster-wide), unsubscribe withdrawing the route, session
// takeover across nodes (client-id ownership in etcd; queued QoS 1/2 and in-flight QoS 2 state move with the
// session, QoS 2 exactly once), and a killed node leaving the membership within its lease TTL.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import { hashToken } from "../../../src/admin/index.ts";
import { PacketType } from "../../../src/codec/index.ts";
import { mqttjs, sessionPresent } from "../../helpers/clients.ts";
import { RawClient } from "../../helpers/raw-client.ts";
import type { RecordingClient } from "../../helpers/clients.ts";
import { startEtcd, waitFor } from "../../helpers/etcd.ts";
import { spawnWharf, writeTempFile } from "../../helpers/spawn-wharf.ts";
import type { WharfProcess } from "../../helpers/spawn-wharf.ts";

const TOKEN = "cluster-test-token";
const IDS = ["n1", "n2", "n3"] as const;

interface NodeView {
  node: string;
  nodes: { id: string; linked: boolean; interest?: { f: string[]; s: string[] } }[];
  routing: { forwarded: number; received: number; forwardDropped: number; sharedMissed: number };
  sessions: { owned: number; takeoversIn: number; takeoversOut: number; refused: number };
  leader: string;
  member: boolean;
  leaderTasks: Record<string, { runs: number; starts: number; lastResult: number }>;
}

interface Node {
  id: string;
  proc: WharfProcess;
  port: number;
  url: string;
  mgmt: string;
  view(): Promise<NodeView>;
  stats(): Promise<{ retained: number; queued: number; inflight: number }>;
}

function yaml(id: string, endpoint: string): string {
  return [
    "log: { level: info, format: json }",
    "sys: { interval: 0 }",
    `management: { tokens: [{ name: test, hash: "${hashToken(TOKEN)}" }] }`,
    "cluster:",
    "  enabled: true",
    `  nodeId: ${id}`,
    "  name: e2e",
    "  leaseTtl: 2",
    "  retainedSweepInterval: 1",
    `  etcd: { endpoints: ["${endpoint}"] }`,
    "  listen: { host: 127.0.0.1, port: 0 }",
    // The queue slot layer runs on every clustered node, though nothing here uses a queue: each slot is claimed and
    // given an in-sync set in etcd, two transactions, so a node alone sent 132 with the default 64 slots. With 8, a
    // node's start to settled cost 0.44 s of CPU against 0.55 (medians of 4 alternating starts, 2026-12-07).
    "  queues: { slots: 8 }",
    "",
  ].join("\n");
}

async function startNode(t: TestContext, id: string, endpoint: string): Promise<Node> {
  const file = writeTempFile(t, `${id}.yaml`, yaml(id, endpoint));
  const proc = await spawnWharf(t, { args: ["--config", file], timeoutMs: 60_000 });
  const listening = await proc.waitForLog((l) => l.msg === "listening");
  const mgmt = (listening.management as { port: number }).port;
  const get = async <T>(path: string): Promise<T> => {
    const r = await fetch(`http://127.0.0.1:${mgmt}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(r.status, 200, `${id} ${path}: ${r.status}`);
    return (await r.json()) as T;
  };
  return {
    id,
    proc,
    port: proc.port,
    url: `mqtt://127.0.0.1:${proc.port}`,
    mgmt: `http://127.0.0.1:${mgmt}`,
    view: () => get<NodeView>("/api/v1/cluster"),
    stats: () => get<{ retained: number; queued: number; inflight: number }>("/api/v1/broker/stats"),
  };
}

/** Polls `check` (async) until it returns true. */
async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  let ok = false;
  const deadline = Date.now() + timeoutMs;
  while (!(ok = await check()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.ok(ok, `timed out waiting for ${what}`);
}

/** `from` knows that `node` has a subscription `filter` (ordinary, or a `$share/...` group). */
async function knows(from: Node, node: string, filter: string, present = true): Promise<void> {
  await eventually(
    async () => {
      const v = await from.view();
      const i = v.nodes.find((n) => n.id === node)?.interest;
      const has = i !== undefined && (i.f.includes(filter) || i.s.includes(filter));
      return has === present;
    },
    `${from.id} to see ${node} ${present ? "subscribe to" : "drop"} ${filter}`,
  );
}

const subscribe = (c: RecordingClient, filter: string, qos: 0 | 1 | 2): Promise<unknown> =>
  c.client.subscribeAsync(filter, { qos });

test("three Wharf processes on one etcd behave as one broker", { timeout: 240_000 }, async (t) => {
  const etcd = await startEtcd(t);
  const nodes = await Promise.all(IDS.map((id) => startNode(t, id, etcd.endpoint)));
  const [n1, n2, n3] = nodes as [Node, Node, Node];
  for (const n of nodes) {
    await eventually(async () => {
      const v = await n.view();
      return v.nodes.length === 3 && v.nodes.every((x) => x.linked);
    }, `${n.id} linked to both others`);
  }

  await t.test("cross-node publish at QoS 0, 1 and 2, routed by interest only", async (t) => {
    const sub5 = await mqttjs(t, n2.url, { protocolVersion: 5, clientId: "sub5" });
    const sub4 = await mqttjs(t, n3.url, { protocolVersion: 4, clientId: "sub4" });
    await subscribe(sub5, "x/+/t", 2);
    await subscribe(sub4, "x/#", 1);
    await knows(n1, "n2", "x/+/t");
    await knows(n1, "n3", "x/#");
    const pub = await mqttjs(t, n1.url, { protocolVersion: 5, clientId: "pub" });
    for (const qos of [0, 1, 2] as const) await pub.client.publishAsync(`x/${qos}/t`, `q${qos}`, { qos });
    await sub5.waitFor(3, 20_000);
    await sub4.waitFor(3, 20_000);
    await new Promise((r) => setTimeout(r, 300)); // nothing more may arrive
    assert.deepEqual(sub5.messages.map((m) => [m.topic, m.payload, m.qos]).sort(), [
      ["x/0/t", "q0", 0],
      ["x/1/t", "q1", 1],
      ["x/2/t", "q2", 2],
    ]);
    assert.deepEqual(sub4.messages.map((m) => [m.topic, m.payload, m.qos]).sort(), [
      ["x/0/t", "q0", 0],
      ["x/1/t", "q1", 1],
      ["x/2/t", "q2", 1],
    ]);
    // A topic only n2 wants: n3 receives no frame for it (routing by interest, never broadcast).
    await subscribe(sub5, "only2/#", 1);
    await knows(n1, "n2", "only2/#");
    const before3 = (await n3.view()).routing.received;
    const before2 = (await n2.view()).routing.received;
    for (let i = 0; i < 20; i++) await pub.client.publishAsync(`only2/${i}`, "p", { qos: 1 });
    await sub5.waitFor(23, 20_000);
    assert.equal((await n2.view()).routing.received, before2 + 20);
    assert.equal((await n3.view()).routing.received, before3);
    // Unsubscribing withdraws the route.
    await sub4.client.unsubscribeAsync("x/#");
    await knows(n1, "n3", "x/#", false);
    await pub.client.publishAsync("x/9/t", "after", { qos: 1 });
    await sub5.waitFor(24, 20_000);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(sub4.messages.length, 3);
  });

  await t.test("retained messages are cluster-wide", async (t) => {
    const pub = await mqttjs(t, n2.url, { clientId: "rpub" });
    await pub.client.publishAsync("r/a", "retained-a", { qos: 1, retain: true });
    for (const n of [n1, n3]) {
      await eventually(async () => (await n.stats()).retained >= 1, `${n.id} to hold the retained message`);
    }
    for (const n of nodes) {
      const c = await mqttjs(t, n.url, { clientId: `r-${n.id}` });
      await subscribe(c, "r/#", 1);
      const [m] = await c.waitFor(1, 20_000);
      assert.deepEqual([m!.topic, m!.payload, m!.retain], ["r/a", "retained-a", true], n.id);
    }
    // Cleared from one node: gone everywhere.
    await pub.client.publishAsync("r/a", "", { qos: 1, retain: true });
    for (const n of nodes) await eventually(async () => (await n.stats()).retained === 0, `${n.id} to drop it`);
  });

  await t.test("expired retained messages are removed on every node by the leader alone (leader task)", async (t) => {
    const pub = await mqttjs(t, n2.url, { clientId: "xpub", protocolVersion: 5 });
    const props = { properties: { messageExpiryInterval: 1 } };
    await pub.client.publishAsync("xr/a", "soon gone", { qos: 1, retain: true, ...props });
    for (const n of nodes) {
      await eventually(async () => (await n.stats()).retained === 1, `${n.id} to hold it`);
    }
    // Nobody subscribes (which would drop it lazily): the leader's sweep removes it and replicates the deletion.
    for (const n of nodes) {
      await eventually(async () => (await n.stats()).retained === 0, `${n.id} to lose it after its expiry`);
    }
    const views = await Promise.all(nodes.map((n) => n.view()));
    const leader = views[0]!.leader;
    const task = (v: (typeof views)[number]) => v.leaderTasks["retained-cleanup"]!;
    // Leadership can move when a loaded machine stalls a node past its lease: then every node that led may have run
    // it. The invariant: a node that never led never ran it, and someone did. With one term, that is the leader alone.
    for (const v of views) {
      if (task(v).starts === 0) assert.equal(task(v).runs, 0, `${v.node} never led and never ran it`);
    }
    assert.ok(
      views.some((v) => task(v).runs > 0),
      "some leader ran the sweep",
    );
    if (views.reduce((n, v) => n + task(v).starts, 0) === 1) {
      for (const v of views) {
        if (v.node === leader) assert.ok(task(v).runs > 0, `the leader ${leader} ran the sweep`);
        else assert.equal(task(v).runs, 0, `${v.node} is not the leader and never ran it`);
      }
    }
  });

  await t.test("a $share group spanning nodes gets each message exactly once", async (t) => {
    const members = [
      await mqttjs(t, n2.url, { protocolVersion: 5, clientId: "m2" }),
      await mqttjs(t, n3.url, { protocolVersion: 5, clientId: "m3a" }),
      await mqttjs(t, n3.url, { protocolVersion: 5, clientId: "m3b" }),
    ];
    for (const m of members) await subscribe(m, "$share/g/jobs/#", 1);
    await knows(n1, "n2", "$share/g/jobs/#");
    await knows(n1, "n3", "$share/g/jobs/#");
    const pub = await mqttjs(t, n1.url, { protocolVersion: 5, clientId: "spub" });
    const N = 60;
    for (let i = 0; i < N; i++) await pub.client.publishAsync(`jobs/${i}`, String(i), { qos: 1 });
    await waitFor(() => members.reduce((n, m) => n + m.messages.length, 0) >= N, "every job delivered", 30_000);
    await new Promise((r) => setTimeout(r, 300));
    const got = members.flatMap((m) => m.messages.map((x) => x.payload));
    assert.equal(got.length, N, "no duplicates");
    assert.deepEqual(
      [...new Set(got)].map(Number).sort((a, b) => a - b),
      Array.from({ length: N }, (_, i) => i),
    );
    assert.ok(members[0]!.messages.length > 0, "the member on n2 got some");
    assert.ok(members[1]!.messages.length + members[2]!.messages.length > 0, "the members on n3 got some");
  });

  await t.test("metrics, /readyz and the admin API show the cluster", async () => {
    const metric = (text: string, name: string): number => {
      const line = text.split("\n").find((l) => l.startsWith(`${name} `));
      assert.ok(line !== undefined, `${name} in /metrics`);
      return Number(line.split(" ")[1]);
    };
    let leaders = 0;
    for (const n of nodes) {
      const text = await (await fetch(`${n.mgmt}/metrics`)).text();
      assert.equal(metric(text, "wharf_cluster_nodes"), 3, n.id);
      assert.equal(metric(text, "wharf_cluster_member"), 1, n.id);
      leaders += metric(text, "wharf_cluster_leader");
      const ready = (await (await fetch(`${n.mgmt}/readyz`)).json()) as { checks: { name: string; ok: boolean }[] };
      assert.deepEqual(
        ready.checks.find((c) => c.name === "cluster"),
        { name: "cluster", ok: true },
      );
    }
    assert.equal(leaders, 1, "exactly one leader");
    const text1 = await (await fetch(`${n1.mgmt}/metrics`)).text();
    assert.ok(metric(text1, "wharf_cluster_forwarded_total") >= 20);
    const v = (await n2.view()) as NodeView & { leader: string };
    assert.ok(IDS.includes(v.leader as (typeof IDS)[number]));
  });

  await t.test(
    "a session moves to the node its client reconnects to: queued QoS 1/2 all arrive, QoS 2 once",
    async (t) => {
      const session = { clientId: "mover", clean: false, protocolVersion: 5 as const };
      const props = { properties: { sessionExpiryInterval: 300 } };
      const first = await mqttjs(t, n1.url, { ...session, ...props });
      await subscribe(first, "tk/#", 2);
      await first.client.endAsync(); // offline; the session stays on n1
      await knows(n2, "n1", "tk/#");
      const pub = await mqttjs(t, n2.url, { clientId: "tk-pub" });
      const N = 10;
      for (let i = 0; i < N; i++) {
        await pub.client.publishAsync(`tk/1/${i}`, `q1-${i}`, { qos: 1 });
        await pub.client.publishAsync(`tk/2/${i}`, `q2-${i}`, { qos: 2 });
      }
      await eventually(async () => (await n1.stats()).queued === 2 * N, "n1 to queue them for the offline session");
      const before = { in: (await n3.view()).sessions.takeoversIn, out: (await n1.view()).sessions.takeoversOut };
      const moved = await mqttjs(t, n3.url, { ...session, ...props });
      assert.equal(sessionPresent(moved), true, "CONNACK session present: the state moved from n1");
      await moved.waitFor(2 * N, 20_000);
      assert.equal((await n3.view()).sessions.takeoversIn, before.in + 1);
      assert.equal((await n1.view()).sessions.takeoversOut, before.out + 1);
      assert.equal((await n1.stats()).queued, 0, "nothing left behind on n1");
      const moves = await (await fetch(`${n3.mgmt}/metrics`)).text();
      assert.match(moves, /^wharf_cluster_takeovers_total\{direction="in"\} [1-9]/m);
      // The subscription moved too: a new publish (from n1 now) reaches the client on n3.
      await knows(n1, "n3", "tk/#");
      await pub.client.publishAsync("tk/after", "after", { qos: 2 });
      await moved.waitFor(2 * N + 1, 20_000);
      await new Promise((r) => setTimeout(r, 300)); // no duplicate may follow
      const got = moved.messages.map((m) => `${m.payload}@${m.qos}`).sort();
      const want = ["after@2", ...Array.from({ length: N }, (_, i) => [`q1-${i}@1`, `q2-${i}@2`]).flat()].sort();
      assert.deepEqual(got, want, "every queued message once, at its QoS");

      // A connected client taken over from another node gets DISCONNECT 0x8E (5.0 [MQTT-3.1.4-3]).
      const kicked = new Promise<number | undefined>((resolve) =>
        moved.client.once("disconnect", (p) => resolve(p.reasonCode)),
      );
      const again = await mqttjs(t, n2.url, { ...session, ...props });
      assert.equal(await kicked, 0x8e);
      assert.equal(sessionPresent(again), true);
      await again.client.endAsync();
    },
  );

  await t.test(
    "in-flight QoS 2 state moves with the session: PUBREL resent, DUP PUBLISH with its id, no re-route",
    async (t) => {
      const watcher = await mqttjs(t, n2.url, { clientId: "q2-watch" });
      await subscribe(watcher, "q2in/#", 2);
      await knows(n1, "n2", "q2in/#");
      const fields = { clientId: "q2raw", clean: false, properties: { sessionExpiryInterval: 300 } };
      const a = await RawClient.connect({ host: "127.0.0.1", port: n1.port }, fields);
      t.after(() => a.socket.destroy());
      a.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: "q2out", qos: 2 }] });
      await a.next(PacketType.SUBACK, 10_000);
      // Inbound: PUBLISH QoS 2 id 7, PUBREC, no PUBREL yet.
      const inbound = {
        type: PacketType.PUBLISH,
        topic: "q2in/x",
        payload: Buffer.from("in"),
        qos: 2,
        packetId: 7,
      } as const;
      a.send({ ...inbound, dup: false, retain: false });
      await a.next(PacketType.PUBREC, 10_000);
      await watcher.waitFor(1, 20_000);
      // Outbound: two QoS 2 messages; the first is PUBRECed (PUBREL comes, no PUBCOMP), the second not answered.
      const pub = await mqttjs(t, n1.url, { clientId: "q2-pub" });
      await pub.client.publishAsync("q2out", "o1", { qos: 2 });
      await pub.client.publishAsync("q2out", "o2", { qos: 2 });
      const p1 = await a.next(PacketType.PUBLISH, 10_000);
      const p2 = await a.next(PacketType.PUBLISH, 10_000);
      a.send({ type: PacketType.PUBREC, packetId: p1.packetId! });
      await a.next(PacketType.PUBREL, 10_000);
      a.socket.destroy(); // connection lost mid-flow
      await eventually(async () => (await n1.stats()).inflight === 2, "n1 to see the connection gone");

      const b = await RawClient.connect({ host: "127.0.0.1", port: n3.port }, fields);
      t.after(() => b.socket.destroy());
      assert.equal(b.connack?.sessionPresent, true);
      // [MQTT-4.4.0-1]: PUBREL for the released one, the other PUBLISH again with DUP and its packet id.
      assert.equal((await b.next(PacketType.PUBREL, 10_000)).packetId, p1.packetId);
      const re = await b.next(PacketType.PUBLISH, 10_000);
      assert.deepEqual([re.packetId, re.dup, re.payload.toString()], [p2.packetId, true, "o2"]);
      b.send({ type: PacketType.PUBCOMP, packetId: p1.packetId! });
      b.send({ type: PacketType.PUBREC, packetId: p2.packetId! });
      await b.next(PacketType.PUBREL, 10_000);
      b.send({ type: PacketType.PUBCOMP, packetId: p2.packetId! });
      // The inbound id 7 is still unreleased on n3: a resent PUBLISH is not routed again [MQTT-4.3.3-2] (method A).
      b.send({ ...inbound, dup: true, retain: false });
      await b.next(PacketType.PUBREC, 10_000);
      b.send({ type: PacketType.PUBREL, packetId: 7 });
      const comp = await b.next(PacketType.PUBCOMP, 10_000);
      assert.equal(comp.reasonCode ?? 0, 0, "id 7 was known on n3 (not 0x92 Packet identifier not found)");
      await b.ping();
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(watcher.messages.length, 1, "the QoS 2 message was routed once");
    },
  );

  await t.test(
    "a node cut off past its lease stops serving; the client id goes to the node it reconnects to",
    async (t) => {
      const session = { clientId: "cut", clean: false, protocolVersion: 5 as const };
      const props = { properties: { sessionExpiryInterval: 300 } };
      const onN1 = await mqttjs(t, n1.url, { ...session, ...props });
      const closed = new Promise<void>((resolve) => onN1.client.once("close", () => resolve()));
      n1.proc.child.kill("SIGSTOP"); // frozen: renews nothing, answers nobody
      let resumed = false;
      t.after(() => {
        if (!resumed) n1.proc.child.kill("SIGCONT");
      });
      // n2 asks n1 (silent), then gets the id once n1's lease expired and its key went with it. Should that take
      // longer than n2's 5 s takeover limit (a loaded etcd expires leases late), n2 refuses with 0x88 and the client
      // retries, as clients do.
      let onN2: RecordingClient | undefined;
      for (let attempt = 0; onN2 === undefined; attempt++) {
        try {
          onN2 = await mqttjs(t, n2.url, { ...session, ...props, connectTimeout: 20_000 });
        } catch (err) {
          if ((err as { code?: number }).code !== 0x88 || attempt >= 5) throw err;
        }
      }
      assert.equal(onN2.client.connected, true);
      n1.proc.child.kill("SIGCONT");
      resumed = true;
      // n1 finds its lease gone (the fence, or etcd saying so) and drops the client it still had.
      await closed;
      await eventually(async () => (await n1.view()).member, "n1 to register again");
      await eventually(async () => (await n1.view()).sessions.owned === 0, "n1 to own nothing");
      assert.equal(onN2.client.connected, true, "the client on n2 is the one served");
      // The session n1 kept was dropped when it found the id owned by n2: a publish reaches the client once, on n2.
      await subscribe(onN2, "cut/#", 1);
      await knows(n3, "n2", "cut/#");
      const pub = await mqttjs(t, n3.url, { clientId: "cut-pub" });
      await pub.client.publishAsync("cut/x", "once", { qos: 1 });
      await onN2.waitFor(1, 20_000);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(onN2.messages.length, 1);
    },
  );

  await t.test("a killed node leaves the membership within its lease TTL", async () => {
    await n3.proc.kill("SIGKILL");
    await eventually(async () => (await n1.view()).nodes.length === 2, "n1 to see n3 leave", 20_000);
    assert.deepEqual(
      (await n2.view()).nodes.map((n) => n.id),
      ["n1", "n2"],
    );
  });
});
