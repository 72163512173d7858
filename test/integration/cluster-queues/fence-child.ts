// Child process for the SIGSTOP test: owns slots through etcd and writes to each owned slot's fenced store every
// 10 ms, printing one JSON line per attempt ({slot, epoch, ok, t}). argv: <etcd endpoint> <node id> <slots>.
// `t` is read before the attempt: a stamp at or after the resume means the fence was asked after it. Read after the
// attempt, a process stopped between an approved write and its stamp printed a pre-pause approval with a stamp 17 ms
// after the resume (CI, stop 22: one write, one slot; the slots after it in that loop were refused).
import { Etcd3 } from "etcd3";
import { MemoryQueueStore } from "../../../src/queues/index.ts";
import { FencedQueueStore, SlotOwnership } from "../../../src/cluster/queues/index.ts";

const [endpoint, nodeId, slots] = process.argv.slice(2) as [string, string, string];
const etcd = new Etcd3({ hosts: endpoint });
const stores = new Map<number, FencedQueueStore>();
const own = new SlotOwnership({
  etcd,
  nodeId,
  slots: Number(slots),
  leaseTtl: 3,
  onAcquire: (slot, epoch) => {
    stores.set(slot, new FencedQueueStore({ slot, epoch, fence: own, inner: new MemoryQueueStore() }));
    process.stdout.write(JSON.stringify({ ev: "acquired", slot, epoch }) + "\n");
  },
});
await own.start();
setInterval(() => {
  for (const [slot, store] of stores) {
    const t = Date.now();
    let ok = true;
    try {
      store.append("q", { payload: Buffer.from("x"), enqueuedAt: Date.now() });
    } catch {
      ok = false;
    }
    process.stdout.write(JSON.stringify({ ev: "write", slot, epoch: store.epoch, ok, t }) + "\n");
  }
}, 10);
