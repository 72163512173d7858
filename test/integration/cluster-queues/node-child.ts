// One clustered-queue node as its own process (the process tests: kill -9, SIGSTOP; bench/cluster-queues): the
// cluster core (membership in etcd, inter-node transport on a free port registered there) with the clustered queues
// on it, driven by JSON lines on stdin, reporting JSON lines on stdout.
// argv: <etcd endpoint> <node id> <cluster name> <slots> [sync|async]
//   {"cmd":"publish","id":1,"queue":"q","body":"x"} → {"ev":"acked","id":1} | {"ev":"failed","id":1,"err":"…"}
//   {"cmd":"consume","queue":"q"}                    → {"ev":"got","body":"x"} per delivery (acked right after)
//   {"cmd":"status"}                                 → {"ev":"status","slots":[…],"history":[…]}
//   {"cmd":"bench","n":N,"concurrency":C,"size":B,"queues":[…]} → {"ev":"bench","n":N,"ms":…} (bench/cluster-queues)
import { createInterface } from "node:readline";
import { ClusterNode } from "../../../src/cluster/index.ts";
import { startClusterQueues } from "../../../src/cluster/queues/index.ts";
import type { ClusterConsumer } from "../../../src/cluster/queues/index.ts";
import { silentLogger, systemClock } from "../../../src/util/index.ts";

const [endpoint, nodeId, name, slots, mode] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string | undefined,
];
const out = (o: unknown): void => void process.stdout.write(JSON.stringify(o) + "\n");
const noTls = { enabled: false, caFile: "", certFile: "", keyFile: "" };
const cluster = await ClusterNode.start(
  {
    nodeId,
    name,
    leaseTtl: 3,
    etcd: { endpoints: [endpoint], timeoutMs: 5000, tls: noTls },
    listen: { host: "127.0.0.1", port: 0 },
    advertiseHost: "",
    tls: noTls,
    retainedSweepInterval: 0,
  },
  { clock: systemClock, logger: silentLogger },
);
const { node } = await startClusterQueues(cluster, {
  slots: Number(slots),
  leaseTtl: 3,
  replication: mode === "async" ? "async" : "sync",
  clock: systemClock,
});
out({ ev: "started", node: nodeId, pid: process.pid });

const consumers: ClusterConsumer[] = [];
createInterface({ input: process.stdin }).on("line", (line) => {
  const m = JSON.parse(line) as {
    cmd: string;
    id?: number;
    queue?: string;
    body?: string;
    n?: number;
    concurrency?: number;
    size?: number;
    queues?: string[];
  };
  if (m.cmd === "publish") {
    node.publishAnywhere(m.queue!, { payload: Buffer.from(m.body!) }, 20_000).then(
      (r) => out(r.ok ? { ev: "acked", id: m.id } : { ev: "failed", id: m.id, err: r.reason }),
      (err: unknown) => out({ ev: "failed", id: m.id, err: String(err) }),
    );
  } else if (m.cmd === "consume") {
    const c: ClusterConsumer = node.consume(
      m.queue!,
      "workers",
      {
        id: `${nodeId}-${m.queue}`,
        send: (d) => {
          out({ ev: "got", body: d.payload.toString() });
          void c.settle("ack", d.messageId).catch(() => undefined);
        },
      },
      { prefetch: 32 },
    );
    consumers.push(c);
  } else if (m.cmd === "bench") {
    // Publishes n messages of `size` bytes over `queues` (most owned by other nodes), `concurrency` at a time.
    const payload = Buffer.alloc(m.size ?? 100, 0x61);
    const qs = m.queues!;
    let next = 0;
    let failed = 0;
    const t0 = performance.now();
    const worker = async (): Promise<void> => {
      while (next < m.n!) {
        const i = next++;
        const r = await node.publishAnywhere(qs[i % qs.length]!, { payload }).catch(() => undefined);
        if (r?.ok !== true) failed++;
      }
    };
    void Promise.all(Array.from({ length: m.concurrency ?? 64 }, worker)).then(() =>
      out({ ev: "bench", n: m.n, failed, ms: performance.now() - t0 }),
    );
  } else if (m.cmd === "status") {
    out({ ev: "status", slots: node.status(), history: node.history, owned: [...node.ownership.owned()] });
  }
});
