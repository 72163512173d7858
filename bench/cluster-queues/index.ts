// Clustered queue publish throughput through the node API (docs/cluster-queues.md): three node processes
// (test/integration/cluster-queues/node-child.ts: the cluster core with the clustered queues) on a real etcd, each
// publishing `n` messages of 100 B with 64 in flight to queues spread over every slot (so about two thirds are
// proxied to another node's slot), `replication: sync` then `async`. Publishes only, no MQTT: the end-to-end MQTT
// scenario is bench/cluster-queues/mqtt.ts (`npm run bench:cluster-queues`). Prints msg/s per mode with the load.
//   node --import tsx bench/cluster-queues/index.ts [n per node, default 20000]
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { loadavg } from "node:os";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { slotOf } from "../../src/cluster/queues/index.ts";
import type { SlotStatus } from "../../src/cluster/queues/index.ts";
import { startEtcd, waitFor } from "../../test/helpers/etcd.ts";

const SLOTS = 8;
const CHILD = fileURLToPath(new URL("../../test/integration/cluster-queues/node-child.ts", import.meta.url));
const N = Number(process.argv[2] ?? 20_000);

interface Ev {
  ev: string;
  ms?: number;
  failed?: number;
  slots?: SlotStatus[];
}

function child(args: string[]): { proc: ChildProcess; next: (ev: string) => Promise<Ev>; send: (o: unknown) => void } {
  const proc = spawn(process.execPath, ["--import", "tsx", CHILD, ...args], { stdio: ["pipe", "pipe", "inherit"] });
  const waiting = new Map<string, ((e: Ev) => void)[]>();
  createInterface({ input: proc.stdout }).on("line", (line) => {
    const e = JSON.parse(line) as Ev;
    waiting.get(e.ev)?.shift()?.(e);
  });
  return {
    proc,
    next: (ev) => new Promise((r) => waiting.set(ev, [...(waiting.get(ev) ?? []), r])),
    send: (o) => void proc.stdin.write(JSON.stringify(o) + "\n"),
  };
}

async function run(mode: string): Promise<void> {
  const etcd = await startEtcd();
  const cs = ["a", "b", "c"].map((id) => child([etcd.endpoint, id, "bench", String(SLOTS), mode]));
  try {
    await Promise.all(cs.map((c) => c.next("started")));
    const ready = async (): Promise<boolean> => {
      const st = await Promise.all(
        cs.map((c) => {
          const p = c.next("status");
          c.send({ cmd: "status" });
          return p;
        }),
      );
      for (let s = 0; s < SLOTS; s++) {
        const o = st.map((x) => x.slots![s]).find((x) => x?.replicas !== undefined);
        if (o?.replicas === undefined || o.replicas.length === 0 || !o.replicas.every((r) => r.inSync)) return false;
      }
      return true;
    };
    await waitFor(ready, "slots owned and replicated", 60_000);
    const names = new Map<number, string>();
    for (let i = 0; names.size < SLOTS; i++)
      if (!names.has(slotOf(`b-${i}`, SLOTS))) names.set(slotOf(`b-${i}`, SLOTS), `b-${i}`);
    const queues = [...names.values()];
    const t0 = Date.now();
    const results = await Promise.all(
      cs.map((c) => {
        const p = c.next("bench");
        c.send({ cmd: "bench", n: N, concurrency: 64, size: 100, queues });
        return p;
      }),
    );
    const wall = Date.now() - t0;
    const failed = results.reduce((k, r) => k + (r.failed ?? 0), 0);
    const load = loadavg()
      .map((x) => x.toFixed(1))
      .join(" ");
    process.stdout.write(
      `replication ${mode}: ${3 * N} publishes (100 B, 64 in flight per node, 3 nodes) in ${wall} ms = ` +
        `${Math.round((3 * N * 1000) / wall)} msg/s acknowledged, ${failed} failed; load average ${load}\n`,
    );
  } finally {
    for (const c of cs) c.proc.kill("SIGKILL");
    await etcd.close();
  }
}

await run("sync");
await run("async");
process.exit(0);
