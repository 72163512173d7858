// GET /api/v1/cluster: this node's view of the cluster (members, links, routing counters, each node's interest).
// Added by the composition root because the admin layer does not know the cluster layer.
import type { Router } from "../admin/index.ts";
import type { ClusterNode } from "../cluster/index.ts";

export function clusterView(node: ClusterNode): Record<string, unknown> {
  const { membership, transport, router } = node;
  const links = transport.stats();
  return {
    node: node.id,
    member: membership.isMember,
    lease: membership.leaseId,
    leader: node.leader.leader,
    nodes: membership.nodes().map((n) => ({
      ...n,
      self: n.id === node.id,
      linked: n.id === node.id ? true : transport.connected(n.id),
      link: links.peers[n.id],
      interest: router?.interestOf(n.id),
    })),
    transport: {
      framesReceived: links.framesReceived,
      bytesReceived: links.bytesReceived,
      framesUnhandled: links.framesUnhandled,
      refusedConnections: links.refusedConnections,
    },
    routing: router?.stats,
  };
}

export function clusterRoutes(router: Router, node: ClusterNode): void {
  router.add("GET", "/api/v1/cluster", () => ({ json: clusterView(node) }), {
    summary: "Cluster membership, inter-node links, routing counters and each node's subscription interest",
  });
}
