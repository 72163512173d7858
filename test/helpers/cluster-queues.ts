// In-process clustered queue nodes on a real etcd, connected by an in-memory replica link (frames are encoded
// and decoded as for the peer transport, and delivered asynchronously, in order per destination).
import { after, before } from "node:test";
import { startEtcd, type EtcdProcess } from "./etcd.ts";
import { Etcd3 } from "etcd3";
import {
  ClusterQueueNode,
  decodeAck,
  decodeDelivery,
  decodeReplication,
  decodeReply,
  decodeRequest,
  encodeDelivery,
  encodeReplication,
  encodeReply,
  encodeRequest,
  slotOf,
} from "../../src/cluster/queues/index.ts";
import type { QueueDelivery } from "../../src/queues/index.ts";
import type {
  ClusterQueueNodeOptions,
  QueueLink,
  QueueReply,
  QueueRequest,
  ReplicaLink,
  ReplicationAck,
  ReplicationFrame,
} from "../../src/cluster/queues/index.ts";

interface Held {
  run: () => void;
}

/** The wire between test nodes: can hold a node's inbound frames (a slow replica) or cut it off (a crash). */
export class MemoryNet {
  readonly nodes = new Map<string, ClusterQueueNode>();
  readonly cut = new Set<string>();
  readonly held = new Map<string, Held[]>();
  readonly holding = new Set<string>();
  frames = 0;

  linkFrom(from: string): ReplicaLink & QueueLink {
    return {
      send: (node: string, frame: ReplicationFrame): Promise<ReplicationAck> =>
        this.#deliver(from, node, encodeReplication(frame), (target, bytes) =>
          target.handleFrame(decodeReplication(bytes)).then((ack) => decodeAck(encodeReply(ack))),
        ),
      request: (node: string, req: QueueRequest): Promise<QueueReply> =>
        this.#deliver(from, node, encodeRequest(req), async (target, bytes) =>
          decodeReply(encodeReply(await target.handleRequest(from, decodeRequest(bytes)))),
        ),
      // One way, like the transport's: refused when the wire to the node is cut.
      deliver: (node: string, consumer: string, d: QueueDelivery, onRefused: () => void): void => {
        this.#deliver(from, node, encodeDelivery(d), (target, bytes) => {
          target.handleDeliver(from, consumer, decodeDelivery(bytes));
          return Promise.resolve();
        }).catch(onRefused);
      },
    };
  }

  #deliver<T>(
    from: string,
    node: string,
    bytes: Buffer,
    handle: (target: ClusterQueueNode, bytes: Buffer) => Promise<T>,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const run = (): void => {
        const target = this.nodes.get(node);
        if (target === undefined || this.cut.has(node) || this.cut.has(from)) {
          reject(new Error(`no route to ${node}`));
          return;
        }
        this.frames++;
        handle(target, bytes).then(resolve, reject);
      };
      if (this.holding.has(node)) {
        const list = this.held.get(node) ?? [];
        list.push({ run });
        this.held.set(node, list);
      } else setImmediate(run);
    });
  }

  hold(node: string): void {
    this.holding.add(node);
  }

  release(node: string): void {
    this.holding.delete(node);
    const list = this.held.get(node) ?? [];
    this.held.delete(node);
    for (const h of list) setImmediate(h.run);
  }
}

export interface TestCluster {
  net: MemoryNet;
  nodes: ClusterQueueNode[];
  add(id: string, extra?: Partial<ClusterQueueNodeOptions>): Promise<ClusterQueueNode>;
  /** As if the process died: it stops (no keepalives: its lease runs out), the wire to it is cut. */
  crash(node: ClusterQueueNode): void;
  close(): Promise<void>;
}

/**
 * For a describe block: one etcd started before its tests and, after them, every cluster made through the returned
 * function closed, then the etcd.
 */
export function etcdClusters(): (base: Partial<ClusterQueueNodeOptions>) => TestCluster {
  let etcd: EtcdProcess | undefined;
  const clusters: TestCluster[] = [];
  before(async () => {
    etcd = await startEtcd();
  });
  after(async () => {
    for (const c of clusters) await c.close();
    await etcd?.close();
  });
  return (base) => {
    if (etcd === undefined) throw new Error("etcdClusters(): the etcd starts in the describe block's before hook");
    const c = testCluster(etcd.endpoint, base);
    clusters.push(c);
    return c;
  };
}

export function testCluster(endpoint: string, base: Partial<ClusterQueueNodeOptions>): TestCluster {
  const net = new MemoryNet();
  const clients = new Map<ClusterQueueNode, Etcd3>();
  const nodes: ClusterQueueNode[] = [];
  return {
    net,
    nodes,
    async add(id, extra = {}) {
      const etcd = new Etcd3({ hosts: endpoint });
      const n = new ClusterQueueNode({ etcd, nodeId: id, link: net.linkFrom(id), leaseTtl: 3, ...base, ...extra });
      clients.set(n, etcd);
      net.nodes.set(id, n);
      nodes.push(n);
      await n.start();
      return n;
    },
    crash(node) {
      net.cut.add(node.nodeId);
      node.halt();
    },
    async close() {
      for (const n of nodes) await n.stop().catch(() => undefined);
      for (const c of clients.values()) c.close();
    },
  };
}

/** Every one of `slots` slots is owned by one of `nodes` and all its replicas are in sync. */
export function allInSync(nodes: readonly ClusterQueueNode[], slots: number): boolean {
  for (let s = 0; s < slots; s++) {
    const st = nodes.map((n) => n.status()[s]).find((x) => x?.replicas !== undefined);
    if (st?.replicas === undefined || st.replicas.length === 0 || !st.replicas.every((r) => r.inSync)) return false;
  }
  return true;
}

/** One queue name per slot, `<prefix><i>`: element s lives in slot s. */
export function queuePerSlot(slots: number, prefix: string): string[] {
  const out: string[] = [];
  let found = 0;
  for (let i = 0; found < slots; i++) {
    const s = slotOf(`${prefix}${i}`, slots);
    if (out[s] === undefined) {
      out[s] = `${prefix}${i}`;
      found++;
    }
  }
  return out;
}
