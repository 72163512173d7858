// Clustered queues with real processes: three node processes (node-child.ts: the cluster core with the clustered
// queues on it) on a real etcd, linked by the core's inter-node transport.
// Publishers and consumers on the surviving nodes; the owner of some slots is killed with SIGKILL, or paused with
// SIGSTOP past its lease and resumed. Afterwards every acknowledged publish has been consumed (none lost) and no
// slot had two writers (the write intervals of its epochs do not overlap). Prints the measured failover time.
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { slotOf } from "../../../src/cluster/queues/index.ts";
import type { SlotStatus } from "../../../src/cluster/queues/index.ts";
import { startEtcd, waitFor } from "../../helpers/etcd.ts";
import type { EtcdProcess } from "../../helpers/etcd.ts";
import { exitWithParent } from "../../helpers/spawn-wharf.ts";
import { nodeArgsFor } from "../../helpers/ts-child.ts";

const SLOTS = 8;
const CHILD = fileURLToPath(new URL("./node-child.ts", import.meta.url));

interface History {
  slot: number;
  epoch: number;
  writes: number;
  refused: number;
  first: number;
  last: number;
}
interface Status {
  slots: SlotStatus[];
  history: History[];
  owned: [number, number][];
}

/** Node processes still running are killed if this test process exits without its after hook (a crash). */
const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const p of running) p.kill("SIGKILL");
});

class Child {
  readonly proc: ChildProcess;
  started = false;
  readonly got: string[] = [];
  readonly #acks = new Map<number, (ok: boolean) => void>();
  #status: ((s: Status) => void)[] = [];

  constructor(
    readonly id: string,
    etcd: string,
    name: string,
  ) {
    this.proc = spawn(process.execPath, [...exitWithParent, ...nodeArgsFor(CHILD), etcd, id, name, String(SLOTS)], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    running.add(this.proc);
    this.proc.once("exit", () => running.delete(this.proc));
    createInterface({ input: this.proc.stdout! }).on("line", (line) => {
      const ev = JSON.parse(line) as { ev: string; id?: number; body?: string } & Status;
      if (ev.ev === "started") this.started = true;
      else if (ev.ev === "got") this.got.push(ev.body!);
      else if (ev.ev === "acked" || ev.ev === "failed") {
        this.#acks.get(ev.id!)?.(ev.ev === "acked");
        this.#acks.delete(ev.id!);
      } else if (ev.ev === "status") this.#status.shift()?.(ev);
    });
  }

  #send(o: unknown): void {
    this.proc.stdin!.write(JSON.stringify(o) + "\n");
  }

  publish(id: number, queue: string, body: string): Promise<boolean> {
    return new Promise((resolve) => {
      this.#acks.set(id, resolve);
      this.#send({ cmd: "publish", id, queue, body });
    });
  }

  consume(queue: string): void {
    this.#send({ cmd: "consume", queue });
  }

  status(): Promise<Status> {
    return new Promise((resolve) => {
      this.#status.push(resolve);
      this.#send({ cmd: "status" });
    });
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }
}

/** One queue name per slot. */
function queueNames(): string[] {
  const out = new Map<number, string>();
  for (let i = 0; out.size < SLOTS; i++)
    if (!out.has(slotOf(`work-${i}`, SLOTS))) out.set(slotOf(`work-${i}`, SLOTS), `work-${i}`);
  return [...out.values()];
}

async function statuses(children: Child[]): Promise<Map<Child, Status>> {
  const m = new Map<Child, Status>();
  for (const c of children) if (c.alive) m.set(c, await c.status());
  return m;
}

/** Every slot owned by one of `children`, its replicas in sync. */
async function ready(children: Child[]): Promise<boolean> {
  const st = await statuses(children);
  for (let s = 0; s < SLOTS; s++) {
    const mine = [...st.values()].map((x) => x.slots[s]).find((x) => x?.replicas !== undefined);
    if (mine?.replicas === undefined || mine.replicas.length === 0 || !mine.replicas.every((r) => r.inSync))
      return false;
  }
  return true;
}

/** Publishes through `via` (16 in flight per node) until `stop()`, recording what was acknowledged and when. */
function load(via: Child[], names: string[]) {
  const acked = new Map<string, { queue: string; sentAt: number; ackedAt: number }>();
  let failed = 0;
  let running = true;
  let n = 0;
  const loops = via.flatMap((c) =>
    Array.from({ length: 16 }, async () => {
      while (running) {
        const id = ++n;
        const queue = names[id % names.length]!;
        const body = `${c.id}-${id}`;
        const sentAt = Date.now();
        if (await c.publish(id, queue, body)) acked.set(body, { queue, sentAt, ackedAt: Date.now() });
        else failed++;
      }
    }),
  );
  return {
    acked,
    failed: () => failed,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** Per slot: the write intervals of its epochs, across every node, must not overlap. */
function twoWriters(all: Status[]): string[] {
  const bySlot = new Map<number, History[]>();
  for (const st of all) {
    const cur: History[] = st.slots
      .filter((s) => s.writes !== undefined && s.epoch !== undefined)
      .map((s) => ({
        slot: s.slot,
        epoch: s.epoch!,
        refused: s.writes!.refused,
        writes: s.writes!.accepted,
        first: s.writes!.first,
        last: s.writes!.last,
      }));
    for (const h of [...st.history, ...cur]) {
      if (h.writes === 0) continue;
      bySlot.set(h.slot, [...(bySlot.get(h.slot) ?? []), h]);
    }
  }
  const bad: string[] = [];
  for (const [slot, hs] of bySlot) {
    hs.sort((a, b) => a.epoch - b.epoch);
    for (let i = 1; i < hs.length; i++) {
      if (hs[i]!.first < hs[i - 1]!.last)
        bad.push(
          `slot ${slot}: epoch ${hs[i - 1]!.epoch} wrote until ${hs[i - 1]!.last}, epoch ${hs[i]!.epoch} from ${hs[i]!.first}`,
        );
    }
  }
  return bad;
}

describe("cluster queues: real processes (kill -9, SIGSTOP)", () => {
  let etcd: EtcdProcess;
  const children: Child[] = [];

  before(async () => {
    etcd = await startEtcd();
  });

  after(async () => {
    for (const c of children) {
      c.proc.kill("SIGCONT");
      c.proc.kill("SIGKILL");
    }
    await etcd.close();
  });

  /** Three node processes of cluster `name` (each its own keys in the shared etcd), linked by the core's transport. */
  async function cluster(name: string): Promise<Child[]> {
    const cs = ["a", "b", "c"].map((id) => new Child(id, etcd.endpoint, name));
    children.push(...cs);
    await waitFor(() => cs.every((c) => c.started), "three node processes started", 60_000);
    await waitFor(() => ready(cs), "every slot owned and replicated", 60_000);
    return cs;
  }

  it("kill -9 of a slot owner under load: every acknowledged publish is consumed after the failover", async () => {
    const cs = await cluster("k9");
    const names = queueNames();
    const st = await statuses(cs);
    const victim = cs.find((c) => st.get(c)!.owned.length > 0)!;
    const survivors = cs.filter((c) => c !== victim);
    const victimSlots = new Set(st.get(victim)!.owned.map(([s]) => s));
    const victimQueues = names.filter((q) => victimSlots.has(slotOf(q, SLOTS)));
    for (const q of names) for (const c of survivors) c.consume(q);
    const l = load(survivors, names);
    await waitFor(() => l.acked.size >= 300, "load running", 60_000);
    const killedAt = Date.now();
    victim.proc.kill("SIGKILL");
    const atKill = l.acked.size;
    await waitFor(
      () =>
        [...l.acked.values()].some((a) => a.sentAt > killedAt && victimQueues.includes(a.queue)) &&
        l.acked.size >= atKill + 300,
      "publishes to the victim's queues acknowledged again",
      60_000,
    );
    await l.stop();
    const got = () => new Set(survivors.flatMap((c) => c.got));
    await waitFor(() => [...l.acked.keys()].every((b) => got().has(b)), "every acknowledged publish consumed", 60_000);
    const firstAfter = Math.min(
      ...[...l.acked.values()]
        .filter((a) => a.sentAt > killedAt && victimQueues.includes(a.queue))
        .map((a) => a.ackedAt),
    );
    const consumed = survivors.flatMap((c) => c.got);
    const lost = [...l.acked.keys()].filter((b) => !got().has(b));
    assert.deepEqual(lost, []);
    assert.deepEqual(twoWriters([...(await statuses(survivors)).values()]), []);
    process.stdout.write(
      `kill -9 of the owner of ${victimSlots.size}/${SLOTS} slots under load (3 processes, lease TTL 3 s, sync): ` +
        `acknowledged ${l.acked.size}, consumed ${got().size} (+${consumed.length - got().size} redelivered), lost ${lost.length}, ` +
        `not acknowledged ${l.failed()}; first acknowledged publish to a taken-over queue ${firstAfter - killedAt} ms after the kill\n`,
    );
  });

  it("SIGSTOP of a slot owner past its lease: after SIGCONT it writes nothing, nothing acknowledged is lost, no slot had two writers", async () => {
    const cs = await cluster("stop");
    const names = queueNames();
    const st = await statuses(cs);
    const victim = cs.find((c) => st.get(c)!.owned.length > 0)!;
    const survivors = cs.filter((c) => c !== victim);
    // The paused node's ownerships (slot, epoch) before the pause: it may own a slot again later, at a new epoch.
    const victimOwned = st.get(victim)!.owned;
    const victimSlots = victimOwned.map(([s]) => s);
    for (const q of names) for (const c of survivors) c.consume(q);
    const l = load(survivors, names);
    await waitFor(() => l.acked.size >= 300, "load running", 60_000);
    victim.proc.kill("SIGSTOP");
    await waitFor(
      async () => {
        const now = await statuses(survivors);
        return victimSlots.every((s) => [...now.values()].some((x) => x.owned.some(([o]) => o === s)));
      },
      "the survivors own the paused node's slots",
      60_000,
    );
    const resumedAt = Date.now();
    victim.proc.kill("SIGCONT");
    const atResume = l.acked.size;
    await waitFor(() => l.acked.size >= atResume + 300, "load continues after the resume", 60_000);
    await l.stop();
    const got = () => new Set(survivors.flatMap((c) => c.got));
    await waitFor(() => [...l.acked.keys()].every((b) => got().has(b)), "every acknowledged publish consumed", 60_000);
    const all = await statuses(cs);
    const v = all.get(victim)!;
    // The paused node's old ownerships ended with no write after the resume.
    const old = v.history.filter((h) => victimOwned.some(([s, e]) => s === h.slot && e === h.epoch));
    assert.equal(old.length, victimOwned.length, "the paused node gave its slots up");
    for (const h of old)
      assert.ok(
        h.writes === 0 || h.last < resumedAt,
        `slot ${h.slot}, epoch ${h.epoch}: no write after the resume (last write at ${h.last}, resumed at ${resumedAt})`,
      );
    assert.deepEqual(twoWriters([...all.values()]), []);
    const lost = [...l.acked.keys()].filter((b) => !got().has(b));
    assert.deepEqual(lost, []);
    process.stdout.write(
      `SIGSTOP past the lease of the owner of ${victimSlots.length}/${SLOTS} slots: acknowledged ${l.acked.size}, lost 0, ` +
        `writes refused by its fence after SIGCONT ${old.reduce((k, h) => k + h.refused, 0)}, two writers: none\n`,
    );
  });
});
