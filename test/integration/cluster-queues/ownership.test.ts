// Slot ownership on a real etcd (Debian etcd, own instance per test on free loopback ports): one owner per slot,
// epochs from etcd revisions, rebalancing on join and leave, and fencing of a node paused past its lease.
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Etcd3 } from "etcd3";
import { SlotOwnership, rankNodes } from "../../../src/cluster/queues/index.ts";
import type { SlotOwnershipOptions } from "../../../src/cluster/queues/index.ts";
import { startEtcd, waitFor } from "../../helpers/etcd.ts";
import type { EtcdProcess } from "../../helpers/etcd.ts";
import { exitWithParent } from "../../helpers/spawn-wharf.ts";
import { nodeArgsFor } from "../../helpers/ts-child.ts";

const SLOTS = 16;

describe("cluster queues: slot ownership in etcd", () => {
  let etcd: EtcdProcess;
  const clients: Etcd3[] = [];
  const nodes: SlotOwnership[] = [];

  before(async () => {
    etcd = await startEtcd();
  });

  after(async () => {
    for (const n of nodes) await n.stop();
    for (const c of clients) c.close();
    await etcd.close();
  });

  /**
   * A node. With `everyoneInSync`, a stand-in for the replication layer: every live node counts as an in-sync
   * replica of every slot (the owner records them in etcd as they come), so handoffs and failovers take the
   * in-sync path; without it, a slot's in-sync set is its owner alone.
   */
  async function node(
    id: string,
    prefix: string,
    extra: Partial<SlotOwnershipOptions> = {},
    everyoneInSync = true,
  ): Promise<SlotOwnership> {
    const client = new Etcd3({ hosts: etcd.endpoint });
    clients.push(client);
    const written = new Map<number, string>();
    const sync = (): void => {
      const members = [...n.nodes()].map(([node, inc]) => `${node}@${inc}`).sort();
      for (const [slot, epoch] of n.owned()) {
        const want = `${epoch} ${members.join()}`;
        if (written.get(slot) === want) continue;
        written.set(slot, want);
        void n.setInSync(slot, epoch, members);
      }
    };
    const n: SlotOwnership = new SlotOwnership({
      etcd: client,
      nodeId: id,
      slots: SLOTS,
      prefix,
      leaseTtl: 3,
      ...(everyoneInSync ? { onChange: sync, onAcquire: sync, replicaEpoch: (s) => n.inSyncOf(s)?.epoch } : {}),
      ...extra,
    });
    nodes.push(n);
    await n.start();
    return n;
  }

  /** slot → owning node ids, from every node's own view of what it holds. */
  function holders(ns: SlotOwnership[]): Map<number, string[]> {
    const m = new Map<number, string[]>();
    for (const n of ns) {
      for (const [slot, epoch] of n.owned()) {
        if (n.holds(slot, epoch)) m.set(slot, [...(m.get(slot) ?? []), n.nodeId]);
      }
    }
    return m;
  }

  function settled(ns: SlotOwnership[]): boolean {
    const h = holders(ns);
    const ids = ns.map((n) => n.nodeId);
    for (let s = 0; s < SLOTS; s++) if (h.get(s)?.join() !== rankNodes(ids, s)[0]) return false;
    return true;
  }

  it("gives every slot exactly one owner, the first in its rendezvous ranking, with the claim's etcd revision as epoch", async () => {
    const p = "/t1/";
    const ns = [await node("a", p), await node("b", p), await node("c", p)];
    await waitFor(
      () => settled(ns) && ns.every((n) => n.nodes().size === 3),
      "every slot owned by its first-ranked node",
    );
    const kv = await clients[0]!.getAll().prefix(`${p}owner/`).exec();
    assert.equal(kv.kvs.length, SLOTS);
    for (const k of kv.kvs) {
      const slot = Number(k.key.toString().slice(`${p}owner/`.length));
      const v = JSON.parse(k.value.toString()) as { node: string };
      const n = ns.find((x) => x.nodeId === v.node)!;
      assert.equal(n.owned().get(slot), Number(k.create_revision), `slot ${slot}: epoch = the claim's revision`);
    }
    // Every node sees the same owners.
    for (let s = 0; s < SLOTS; s++) {
      const epochs = ns.map((n) => n.ownerOf(s)?.epoch);
      assert.ok(
        epochs.every((e) => e !== undefined && e === epochs[0]),
        `slot ${s}: views agree`,
      );
    }
  });

  it("moves a departed node's slots to its in-sync replicas, with larger epochs", async () => {
    const p = "/t2/";
    const ns = [await node("a", p), await node("b", p), await node("c", p)];
    await waitFor(() => settled(ns), "initial ownership");
    const before = new Map<number, number>();
    for (const n of ns) for (const [s, e] of n.owned()) before.set(s, e);
    const leaving = ns[2]!;
    const moved = [...leaving.owned().keys()];
    assert.ok(moved.length > 0, "node c owned some slots");
    await leaving.stop();
    const rest = ns.slice(0, 2);
    await waitFor(() => settled(rest), "c's slots re-owned by a and b");
    for (const s of moved) {
      const o = rest.find((n) => n.owned().has(s))!;
      assert.ok(o.owned().get(s)! > before.get(s)!, `slot ${s}: the new epoch is larger`);
    }
    assert.equal(
      rest.reduce((k, n) => k + n.orphansClaimed, 0),
      0,
      "taken over by in-sync replicas",
    );
  });

  it("keeps a slot with its owner while the first-ranked node is not in sync; claims it empty only after the grace when every in-sync copy is gone", async () => {
    const p = "/t2b/";
    const a = await node("a", p, { orphanGraceMs: 300 }, false);
    await waitFor(() => a.owned().size === SLOTS, "a owns every slot");
    const epochs = new Map(a.owned());
    const b = await node("b", p, { orphanGraceMs: 300 }, false);
    await waitFor(() => b.nodes().size === 2 && a.nodes().size === 2, "both see each other");
    // b ranks first for some slots, but holds none of their data: a keeps them (no handoff to an out-of-sync node).
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual([...a.owned()].sort(), [...epochs].sort());
    assert.equal(b.owned().size, 0);
    await a.stop();
    await waitFor(() => b.owned().size === SLOTS, "b claims every slot after the grace");
    for (const [s, e] of b.owned()) assert.ok(e > epochs.get(s)!, `slot ${s}: larger epoch`);
    assert.equal(b.orphansClaimed, SLOTS, "each counted (and logged) as claimed empty");
  });

  it("rebalances when a node joins: a slot is released before it is claimed, never held by two nodes at once", async () => {
    const p = "/t3/";
    const ns = [await node("a", p), await node("b", p)];
    await waitFor(() => settled(ns), "initial ownership of two nodes");
    const watched = [...ns];
    let overlap = "";
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        for (const [s, hs] of holders(watched)) {
          if (hs.length > 1) overlap ||= `slot ${s} held by ${hs.join(",")}`;
        }
        await new Promise((r) => setImmediate(r));
      }
    })();
    const c = await node("c", p);
    watched.push(c);
    const all = [...ns, c];
    await waitFor(() => settled(all), "slots of c moved to it");
    sampling = false;
    await sampler;
    assert.equal(overlap, "");
    assert.ok(c.owned().size > 0, "the new node owns slots");
  });

  it("fences a node paused past its lease (SIGSTOP): after SIGCONT it writes nothing with its old epochs", async () => {
    // The child and the other node use the default prefix (/wharf/queues/), which no other test here uses.
    const child = spawn(
      process.execPath,
      [
        ...exitWithParent,
        ...nodeArgsFor(fileURLToPath(new URL("./fence-child.ts", import.meta.url))),
        etcd.endpoint,
        "paused",
        "4",
      ],
      { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env } },
    );
    try {
      const acquired = new Map<number, number>();
      const writes: { slot: number; epoch: number; ok: boolean; t: number }[] = [];
      const rl = createInterface({ input: child.stdout });
      rl.on("line", (line) => {
        const ev = JSON.parse(line) as { ev: string; slot: number; epoch: number; ok: boolean; t: number };
        if (ev.ev === "acquired") acquired.set(ev.slot, ev.epoch);
        else writes.push(ev);
      });
      await waitFor(
        () => acquired.size === 4 && writes.some((w) => w.ok),
        "the child owns all 4 slots and writes",
        30_000,
      );
      const client = new Etcd3({ hosts: etcd.endpoint });
      clients.push(client);
      // The other node: in-sync replicas do not exist here, so it claims the paused node's slots after the grace.
      const other = new SlotOwnership({ etcd: client, nodeId: "other", slots: 4, leaseTtl: 3, orphanGraceMs: 200 });
      nodes.push(other);
      await other.start();
      const pausedAt = Date.now();
      // The epochs held when paused (`acquired` would take a later claim's, if the child claimed a slot again).
      const held = new Map(acquired);
      child.kill("SIGSTOP");
      await waitFor(
        () => other.owned().size === 4,
        "the other node owns every slot after the paused node's lease expired",
      );
      for (const [s, e] of other.owned()) assert.ok(e > held.get(s)!, `slot ${s}: the new epoch is larger`);
      const resumedAt = Date.now();
      const seen = writes.length;
      child.kill("SIGCONT");
      await waitFor(() => writes.length >= seen + 20, "the resumed child tried to write again");
      // Only attempts the child stamped after the resume: a line it had built before SIGSTOP took effect is printed
      // after SIGCONT with its earlier stamp (seen once: a write stamped at the very millisecond of the pause, 08:21).
      // The child stamps an attempt before making it (fence-child.ts says why), so a stamp >= resumedAt is an
      // attempt made after the resume.
      const after = writes.slice(seen).filter((w) => w.t >= resumedAt);
      const bad = after.filter((w) => w.ok && w.epoch === held.get(w.slot));
      assert.deepEqual(
        bad,
        [],
        `no write with an old epoch succeeded after the resume (paused at ${pausedAt}, resumed at ${resumedAt})`,
      );
      assert.ok(
        after.some((w) => !w.ok),
        "the resumed child's writes were refused",
      );
      assert.ok(
        writes.slice(0, seen).every((w) => !w.ok || w.t <= resumedAt),
        "writes before the resume",
      );
      assert.ok(pausedAt < resumedAt);
      // And the other node still owns every slot: no slot had two writers.
      assert.equal(other.owned().size, 4);
      for (const [s, e] of other.owned()) assert.ok(other.holds(s, e));
    } finally {
      child.kill("SIGKILL");
    }
  });
});
