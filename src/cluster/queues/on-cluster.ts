// The clustered queues on a node of the cluster core (docs/cluster-queues.md): a ClusterQueueNode on the core's etcd
// client and keys (`/wharf/<cluster.name>/queues/`), its slots' keys on the membership's lease (one lease per node),
// its replication and proxy frames over the core's inter-node transport (one connection per peer).
import type { ClusterNode } from "../node.ts";
import { ClusterQueueNode } from "./node.ts";
import type { ClusterQueueNodeOptions } from "./node.ts";
import { TransportQueueLink } from "./transport-link.ts";

export type ClusterQueuesOptions = Omit<ClusterQueueNodeOptions, "etcd" | "nodeId" | "link" | "prefix" | "lease">;

export interface StartedClusterQueues {
  readonly node: ClusterQueueNode;
  readonly link: TransportQueueLink;
  /** Gives the owned slots up (their in-sync replicas claim them at once) and closes the link. */
  stop(): Promise<void>;
}

export async function startClusterQueues(
  cluster: ClusterNode,
  o: ClusterQueuesOptions & Required<Pick<ClusterQueuesOptions, "clock">>,
): Promise<StartedClusterQueues> {
  const { membership } = cluster;
  const link = new TransportQueueLink(
    cluster.routingPeers(),
    {
      frame: (f) => node.handleFrame(f),
      request: (from, req) => node.handleRequest(from, req),
      deliver: (from, consumer, d) => node.handleDeliver(from, consumer, d),
    },
    { clock: o.clock, logger: o.logger },
  );
  const node: ClusterQueueNode = new ClusterQueueNode({
    ...o,
    etcd: cluster.etcd,
    nodeId: cluster.id,
    link,
    prefix: cluster.keys.prefix("queues"),
    lease: {
      current: () => {
        const lease = membership.lease;
        return lease === undefined ? undefined : { lease, id: membership.leaseId };
      },
      on: (kind, fn) => membership.on(kind === "lost" ? "lease-lost" : "rejoined", () => fn()),
    },
  });
  try {
    await node.start();
  } catch (err) {
    link.close();
    throw err;
  }
  return {
    node,
    link,
    async stop() {
      await node.stop();
      link.close();
    },
  };
}
