// One clustered-queue node as its own process (the process tests: kill -9, SIGSTOP): a ClusterQueueNode on the
// test's etcd with a TCP link to its peers, driven by JSON lines on stdin, reporting JSON lines on stdout.
// argv: <etcd endpoint> <node id> <peers JSON {id: port}> <prefix> <slots>
//   {"cmd":"publish","id":1,"queue":"q","body":"x"} → {"ev":"acked","id":1} | {"ev":"failed","id":1,"err":"…"}
//   {"cmd":"consume","queue":"q"}                    → {"ev":"got","body":"x"} per delivery (acked right after)
//   {"cmd":"status"}                                 → {"ev":"status","slots":[…],"history":[…]}
import { createInterface } from "node:readline";
import { Etcd3 } from "etcd3";
import { ClusterQueueNode } from "../../../src/cluster/queues/index.ts";
import type { ClusterConsumer } from "../../../src/cluster/queues/index.ts";
import { TcpLink } from "../../helpers/tcp-link.ts";

const [endpoint, nodeId, peersJson, prefix, slots] = process.argv.slice(2) as [string, string, string, string, string];
const peers = JSON.parse(peersJson) as Record<string, number>;
const out = (o: unknown): void => void process.stdout.write(JSON.stringify(o) + "\n");
const link = new TcpLink(nodeId, peers);
const node = new ClusterQueueNode({ etcd: new Etcd3({ hosts: endpoint }), nodeId, link, slots: Number(slots), prefix });
link.handlers = { frame: (f) => node.handleFrame(f), request: (from, req) => node.handleRequest(from, req) };
await link.listen(peers[nodeId]!);
await node.start();
out({ ev: "started", node: nodeId, pid: process.pid });

const consumers: ClusterConsumer[] = [];
createInterface({ input: process.stdin }).on("line", (line) => {
  const m = JSON.parse(line) as { cmd: string; id?: number; queue?: string; body?: string };
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
  } else if (m.cmd === "status") {
    out({ ev: "status", slots: node.status(), history: node.history, owned: [...node.ownership.owned()] });
  }
});
