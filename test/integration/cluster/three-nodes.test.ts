// One real etcd and three `wharf start` processes (YAML config, cluster.enabled) on loopback; MQTT.js clients on
// different nodes. One fixture, several assertions: cross-node publish at QoS 0/1/2 routed by interest (a node
// without a matching subscription receives nothing), retained messages seen from every node, a $share group
// spanning nodes (each message to exactly one member cluster-wide), unsubscribe withdrawing the route, and a killed
// node leaving the membership within its lease TTL.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import { hashToken } from "../../../src/admin/index.ts";
import { mqttjs } from "../../helpers/clients.ts";
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
}

interface Node {
  id: string;
  proc: WharfProcess;
  url: string;
  mgmt: string;
  view(): Promise<NodeView>;
  stats(): Promise<{ retained: number }>;
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
    `  etcd: { endpoints: ["${endpoint}"] }`,
    "  listen: { host: 127.0.0.1, port: 0 }",
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
    url: `mqtt://127.0.0.1:${proc.port}`,
    mgmt: `http://127.0.0.1:${mgmt}`,
    view: () => get<NodeView>("/api/v1/cluster"),
    stats: () => get<{ retained: number }>("/api/v1/broker/stats"),
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

  await t.test("a killed node leaves the membership within its lease TTL", async () => {
    await n3.proc.kill("SIGKILL");
    await eventually(async () => (await n1.view()).nodes.length === 2, "n1 to see n3 leave", 20_000);
    assert.deepEqual(
      (await n2.view()).nodes.map((n) => n.id),
      ["n1", "n2"],
    );
  });
});
