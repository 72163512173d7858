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
    leaderTasks: node.tasks.stats(),
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
    sessions: sessionsView(node),
  };
}

/** Client-id ownership and takeovers; the takeover round trips as percentiles (ms). */
function sessionsView(node: ClusterNode): Record<string, unknown> | undefined {
  const st = node.sessions?.stats();
  if (st === undefined) return undefined;
  const ms = [...st.takeoverMs].sort((a, b) => a - b);
  const pct = (p: number): number | undefined => ms[Math.min(ms.length - 1, Math.ceil((p / 100) * ms.length) - 1)];
  const { takeoverMs: _, ...counts } = st;
  return { ...counts, takeoverMs: { count: ms.length, p50: pct(50), p99: pct(99), max: ms.at(-1) } };
}

export function clusterRoutes(router: Router, node: ClusterNode): void {
  router.add("GET", "/api/v1/cluster", () => ({ json: clusterView(node) }), {
    summary:
      "Cluster membership, inter-node links, routing counters, each node's subscription interest, session takeovers",
  });
}
