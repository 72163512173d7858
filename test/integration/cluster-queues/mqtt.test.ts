// Durable queues over MQTT on a cluster: one real etcd, three `wharf start` processes, MQTT.js clients (5.0 and
// 3.1.1) on different nodes. `$queue/` publishes on any node reach the queue's slot owner and are acknowledged after
// replication (`replication: sync`, the default); consumers on any node receive through proxy routing and settle with
// `$ack` / `$nack` / `$reject` (5.0) or a PUBACK (3.1.1); a `kill -9` of a slot owner loses no acknowledged message.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import type { IPublishPacket } from "mqtt";
import { slotOf } from "../../../src/cluster/queues/index.ts";
import { mqttjs } from "../../helpers/clients.ts";
import { startEtcd } from "../../helpers/etcd.ts";
import { CLUSTER_TOKEN, eventually, slotsSettled, startClusterNode } from "../../helpers/wharf-cluster.ts";
import type { ClusterNodeProcess } from "../../helpers/wharf-cluster.ts";

const SLOTS = 16;

interface Got {
  queue: string;
  id: string;
  count: number;
  payload: string;
  group?: string;
}

function userProps(p: IPublishPacket): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(p.properties?.userProperties ?? {})) out[k] = Array.isArray(v) ? v[0]! : v;
  return out;
}

/** A 5.0 consumer that records deliveries (queue, message-id, delivery-count, payload). */
async function consumer(t: TestContext, node: ClusterNodeProcess, clientId: string, version: 4 | 5 = 5) {
  const c = await mqttjs(t, node.url, { protocolVersion: version, clientId });
  const got: Got[] = [];
  c.client.on("message", (topic, payload, packet) => {
    const up = userProps(packet);
    got.push({
      queue: topic.slice("$queue/".length),
      id: up["message-id"] ?? "",
      count: Number(up["delivery-count"] ?? 0),
      payload: payload.toString(),
    });
  });
  return { c, got };
}

/** A queue name whose slot `owner` owns (as `view` shows). */
async function queueOwnedBy(node: ClusterNodeProcess, owner: string, prefix: string): Promise<string> {
  const v = await node.queues();
  const slots = new Set(v.slots.filter((s) => s.owner === owner).map((s) => s.slot));
  assert.ok(slots.size > 0, `${owner} owns no slot`);
  for (let i = 0; ; i++) if (slots.has(slotOf(`${prefix}${i}`, SLOTS))) return `${prefix}${i}`;
}

test("durable queues over MQTT across three Wharf processes", { timeout: 300_000 }, async (t) => {
  const etcd = await startEtcd(t);
  const cfg = { endpoint: etcd.endpoint, clusterYaml: [`  queues: { slots: ${SLOTS} }`] };
  const nodes = await Promise.all(["n1", "n2", "n3"].map((id) => startClusterNode(t, id, cfg)));
  const [n1, n2, n3] = nodes as [ClusterNodeProcess, ClusterNodeProcess, ClusterNodeProcess];
  for (const n of nodes) {
    await eventually(() => slotsSettled(n, ["n1", "n2", "n3"], nodes), `${n.id} to see every slot settled`);
  }
  // Every node owns some slots (rendezvous ranking over three nodes; 16 slots).
  const owners = new Set((await n1.queues()).slots.map((s) => s.owner));
  assert.equal(owners.size, 3);

  await t.test("5.0: publish on one node, consume on another, $ack settles at the owner", async (t) => {
    const queues = [await queueOwnedBy(n1, "n3", "a-"), await queueOwnedBy(n1, "n1", "b-")];
    const { c: sub, got } = await consumer(t, n2, "c5");
    for (const q of queues) {
      await sub.client.subscribeAsync(`$queue/${q}`, {
        qos: 1,
        properties: { userProperties: { "consumer-group": "g" } },
      });
    }
    const pub = await mqttjs(t, n1.url, { protocolVersion: 5, clientId: "p5" });
    const N = 20;
    // MQTT.js rejects a PUBACK >= 0x80: each resolved publish was acknowledged (after replication).
    for (let i = 0; i < N; i++) await pub.client.publishAsync(`$queue/${queues[i % 2]}`, `m${i}`, { qos: 1 });
    await eventually(async () => got.length >= N, `${N} deliveries (have ${got.length})`);
    assert.deepEqual(got.map((g) => g.payload).sort(), Array.from({ length: N }, (_, i) => `m${i}`).sort());
    assert.ok(got.every((g) => g.count === 1));
    for (const g of got) {
      await sub.client.publishAsync(`$queue/${g.queue}/$ack`, "", {
        qos: 1,
        properties: { userProperties: { "message-id": g.id } },
      });
    }
    // Settled at the owner: nothing is redelivered, and the owners hold no message any more.
    await eventually(async () => {
      const all = await Promise.all(nodes.map((n) => n.queues()));
      return all.every((x) => x.slots.every((s) => (s.messages ?? 0) === 0));
    }, "every acknowledged message removed at its owner");
    assert.equal(got.length, N);
  });

  await t.test(
    "5.0: $nack redelivers with delivery-count 2; $reject dead-letters; a stranger cannot settle",
    async (t) => {
      const q = await queueOwnedBy(n1, "n1", "c-");
      const { c: sub, got } = await consumer(t, n3, "c5b");
      await sub.client.subscribeAsync(`$queue/${q}`, { qos: 1 });
      const { c: dlqSub, got: dead } = await consumer(t, n2, "c5dlq");
      await dlqSub.client.subscribeAsync(`$queue/dlq/${q}`, { qos: 1 });
      const pub = await mqttjs(t, n2.url, { protocolVersion: 5, clientId: "p5b" });
      await pub.client.publishAsync(`$queue/${q}`, "x", { qos: 1 });
      await eventually(async () => got.length === 1, "first delivery");
      // Settling someone else's delivery is refused: only a consumer of the queue settles.
      await assert.rejects(
        pub.client.publishAsync(`$queue/${q}/$ack`, "", {
          qos: 1,
          properties: { userProperties: { "message-id": got[0]!.id } },
        }),
        (err: { code?: number }) => err.code === 0x87,
      );
      await sub.client.publishAsync(`$queue/${q}/$nack`, "", {
        qos: 1,
        properties: { userProperties: { "message-id": got[0]!.id } },
      });
      await eventually(async () => got.length === 2, "redelivery after $nack");
      assert.equal(got[1]!.id, got[0]!.id);
      assert.equal(got[1]!.count, 2);
      await sub.client.publishAsync(`$queue/${q}/$reject`, "", {
        qos: 1,
        properties: { userProperties: { "message-id": got[1]!.id, reason: "bad" } },
      });
      await eventually(async () => dead.length === 1, "the rejected message in the DLQ");
      assert.equal(dead[0]!.payload, "x");
    },
  );

  await t.test("3.1.1: publish and consume on different nodes; the PUBACK of a delivery settles it", async (t) => {
    const q = await queueOwnedBy(n1, "n2", "d-");
    const { c: sub, got } = await consumer(t, n1, "c4", 4);
    await sub.client.subscribeAsync(`$queue/${q}`, { qos: 1 });
    const pub = await mqttjs(t, n3.url, { protocolVersion: 4, clientId: "p4" });
    for (let i = 0; i < 10; i++) await pub.client.publishAsync(`$queue/${q}`, `v${i}`, { qos: 1 });
    await eventually(async () => got.length >= 10, "10 deliveries");
    // MQTT.js acknowledges each delivery (PUBACK): settled at the owner n2.
    await eventually(async () => {
      const s = (await n2.queues()).slots.find((x) => x.slot === slotOf(q, SLOTS));
      return s?.messages === 0;
    }, "PUBACKs settling every message at the owner");
    assert.equal(got.length, 10);
  });

  await t.test("/metrics: slots owned add up to every slot; each owner reports its replicas' lag", async () => {
    let total = 0;
    for (const n of nodes) {
      const r = await fetch(`${n.mgmt}/metrics`, { headers: { authorization: `Bearer ${CLUSTER_TOKEN}` } });
      assert.equal(r.status, 200);
      const text = await r.text();
      const owned = Number(/^wharf_cluster_queue_slots_owned (\d+)$/m.exec(text)?.[1]);
      assert.ok(owned > 0, `${n.id} owns slots`);
      total += owned;
      assert.match(text, /^wharf_cluster_queue_replica_lag_ops\{replica="n\d"\} \d+$/m);
      assert.match(text, /^wharf_cluster_queue_messages \d+$/m);
    }
    assert.equal(total, SLOTS);
  });

  await t.test("kill -9 of a slot owner: every acknowledged publish is consumed", async (t) => {
    const q = await queueOwnedBy(n1, "n3", "e-");
    const pub = await mqttjs(t, n1.url, { protocolVersion: 5, clientId: "p5e" });
    const N = 50;
    await Promise.all(Array.from({ length: N }, (_, i) => pub.client.publishAsync(`$queue/${q}`, `k${i}`, { qos: 1 })));
    const killedAt = Date.now();
    await n3.proc.kill("SIGKILL");
    // A 3.1.1 consumer: each delivery's PUBACK settles it, so the prefetch window keeps moving.
    const { c: sub, got } = await consumer(t, n2, "c4e", 4);
    await sub.client.subscribeAsync(`$queue/${q}`, { qos: 1 });
    await eventually(async () => new Set(got.map((g) => g.payload)).size >= N, `${N} deliveries after the kill`);
    const failover = Date.now() - killedAt;
    t.diagnostic(`kill -9 of the owner: ${N} acknowledged, all consumed ${failover} ms after the kill`);
    assert.deepEqual(
      [...new Set(got.map((g) => g.payload))].sort(),
      Array.from({ length: N }, (_, i) => `k${i}`).sort(),
    );
  });
});

test(
  "durable slot copies: kill -9 of all three nodes, restart, every acknowledged message is consumed",
  {
    timeout: 300_000,
  },
  async (t) => {
    const etcd = await startEtcd(t);
    const cfg = { endpoint: etcd.endpoint, clusterYaml: [`  queues: { slots: ${SLOTS} }`] };
    const ids = ["n1", "n2", "n3"];
    const first = await Promise.all(ids.map((id) => startClusterNode(t, id, cfg, ["--storage", "lmdb"])));
    for (const n of first) await eventually(() => slotsSettled(n, ids, first), `${n.id} to see every slot settled`);
    // Queues owned by each node, published from n1 (sync: each PUBACK after the owner's and its replica's commit).
    const queues = await Promise.all(ids.map((id, i) => queueOwnedBy(first[0]!, id, `r${i}-`)));
    const pub = await mqttjs(t, first[0]!.url, { protocolVersion: 5, clientId: "pr" });
    const sent: string[] = [];
    for (let i = 0; i < 30; i++) {
      await pub.client.publishAsync(`$queue/${queues[i % 3]}`, `d${i}`, { qos: 1 });
      sent.push(`d${i}`);
    }
    pub.client.end(true);
    await Promise.all(first.map((n) => n.proc.kill("SIGKILL")));
    // Restarted on the same data directories: same slot-layer incarnations, the same copies at their epochs.
    const again = await Promise.all(
      first.map((n) => startClusterNode(t, n.id, { ...cfg, dataDir: n.dataDir }, ["--storage", "lmdb"])),
    );
    for (const n of again)
      await eventually(() => slotsSettled(n, ids, again), `${n.id} to see every slot settled again`);
    const { c: sub, got } = await consumer(t, again[1]!, "cr", 4);
    for (const q of queues) await sub.client.subscribeAsync(`$queue/${q}`, { qos: 1 });
    await eventually(
      async () => new Set(got.map((g) => g.payload)).size >= sent.length,
      "every message after the restart",
    );
    assert.deepEqual([...new Set(got.map((g) => g.payload))].sort(), [...sent].sort());
    // No slot was claimed empty (that would be logged as data loss).
    for (const n of again) assert.ok(!n.proc.logs.some((l) => String(l.msg).includes("claimed empty")), n.id);
  },
);
