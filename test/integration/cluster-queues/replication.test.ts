// Replication and failover of queue slots between in-process nodes on a real etcd (own instance, free loopback
// ports), over an in-memory replica link: sync publishes are acknowledged only once the replica has them, and
// when an owner dies its in-sync replica takes the slot over with every acknowledged message.
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import type { ClusterQueueNode } from "../../../src/cluster/queues/index.ts";
import type { ConsumerLink, QueueDelivery } from "../../../src/queues/index.ts";
import { allInSync, etcdClusters, queuePerSlot } from "../../helpers/cluster-queues.ts";
import { waitFor } from "../../helpers/etcd.ts";

const SLOTS = 8;

function owning(nodes: ClusterQueueNode[], queue: string): ClusterQueueNode | undefined {
  return nodes.find((n) => n.engineOf(queue) !== undefined);
}

function collector(id: string): { link: ConsumerLink; got: QueueDelivery[] } {
  const got: QueueDelivery[] = [];
  return { link: { id, send: (d) => got.push(d) }, got };
}

describe("cluster queues: replication and failover", () => {
  const cluster = etcdClusters();

  it("sync: a publish is acknowledged only after its replica applied it", async () => {
    const c = cluster({ slots: SLOTS, prefix: "/r1/" });
    const a = await c.add("a");
    const b = await c.add("b");
    await waitFor(() => allInSync([a, b], SLOTS), "every slot owned and replicated");
    const names = queuePerSlot(SLOTS, "jobs-");
    const q = names.find((n) => a.engineOf(n) !== undefined)!;
    const slot = a.slotOf(q);
    c.net.hold("b");
    let done = false;
    const p = a.publish(q, { payload: Buffer.from("m1") }).then((r) => {
      done = true;
      return r;
    });
    await waitFor(() => (c.net.held.get("b")?.length ?? 0) > 0, "the frame waiting at b");
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(done, false, "not acknowledged while the replica has not applied it");
    assert.equal(b.copies.copyOf(slot)?.store.messages ?? 0, 0);
    c.net.release("b");
    const r = await p;
    assert.equal(r.ok, true);
    const copy = b.copies.copyOf(slot)!;
    const held = copy.store.load().find((x) => x.name === q)!;
    assert.deepEqual(
      [...held.messages].map((m) => m.record?.payload.toString()),
      ["m1"],
    );
  });

  it("failover: the in-sync replica takes over a dead owner's slots with every acknowledged message, larger epochs", async () => {
    const c = cluster({ slots: SLOTS, prefix: "/r2/" });
    const nodes = [await c.add("a"), await c.add("b"), await c.add("c")];
    await waitFor(() => allInSync(nodes, SLOTS), "every slot owned and replicated");
    const names = queuePerSlot(SLOTS, "jobs-");
    // 20 messages per queue, each acknowledged (resolved) before the next; then 5 of each consumed and acked.
    const published = new Map<string, string[]>();
    for (const q of names) {
      const owner = owning(nodes, q)!;
      for (let i = 0; i < 20; i++) {
        const r = await owner.publish(q, { payload: Buffer.from(`${q}#${i}`) });
        assert.equal(r.ok, true);
        published.set(q, [...(published.get(q) ?? []), `${q}#${i}`]);
      }
    }
    const consumedBefore = new Set<string>();
    for (const q of names) {
      const engine = owning(nodes, q)!.engineOf(q)!;
      const { link, got } = collector("early");
      const consumer = engine.join(q, "workers", link, { prefetch: 5 }); // 5 delivered; acks deliver more: not taken
      for (const d of got.splice(0)) {
        assert.equal(engine.ack(q, "workers", d.messageId).ok, true);
        consumedBefore.add(d.payload.toString());
      }
      engine.leave(consumer);
      await engine.commit(); // the acks replicated too
    }
    assert.equal(consumedBefore.size, 5 * names.length);
    const victim = nodes[0]!;
    const epochs = new Map<number, number>();
    for (const [s, e] of victim.ownership.owned()) epochs.set(s, e);
    assert.ok(epochs.size > 0, "the victim owned slots");
    const t0 = Date.now();
    c.crash(victim);
    const survivors = nodes.slice(1);
    await waitFor(
      () => [...epochs.keys()].every((s) => survivors.some((n) => n.status()[s]?.replicas !== undefined)),
      "slots taken over",
    );
    const failoverMs = Date.now() - t0;
    for (const [s, e] of epochs) {
      const n = survivors.find((x) => x.ownership.owned().has(s))!;
      assert.ok(n.ownership.owned().get(s)! > e, `slot ${s}: later epoch`);
    }
    // Everything acknowledged and not consumed is there, once; nothing consumed comes back.
    for (const q of names) {
      const engine = owning(survivors, q)!.engineOf(q)!;
      const { link, got } = collector("late");
      engine.join(q, "workers", link, { prefetch: 100 });
      const want = published
        .get(q)!
        .filter((p) => !consumedBefore.has(p))
        .sort();
      assert.deepEqual(got.map((d) => d.payload.toString()).sort(), want, `queue ${q}`);
    }
    assert.equal(
      survivors.reduce((k, n) => k + n.ownership.orphansClaimed, 0),
      0,
    );
    process.stdout.write(
      `failover (lease TTL 3 s, in-process, in-memory link): ${failoverMs} ms for ${epochs.size} slots\n`,
    );
  });
});
