// Prometheus series of the cluster (registered on the management metrics registry by the composition root, since
// the admin layer does not know the cluster layer). No node ids as labels beyond the cluster's own members.
import { Counter, Gauge, type Registry } from "../admin/prom.ts";
import type { ClusterNode, ClusterRoutingStats } from "../cluster/index.ts";

export function registerClusterMetrics(registry: Registry, node: ClusterNode): void {
  const registers = [registry];
  new Gauge({
    name: "wharf_cluster_nodes",
    help: "Members of the cluster as this node sees them (itself included)",
    registers,
    collect() {
      this.set(node.membership.nodes().length);
    },
  });
  new Gauge({
    name: "wharf_cluster_member",
    help: "1 while this node's etcd lease is live (it is a member), 0 after losing it",
    registers,
    collect() {
      this.set(node.membership.isMember ? 1 : 0);
    },
  });
  new Gauge({
    name: "wharf_cluster_leader",
    help: "1 while this node is the cluster leader",
    registers,
    collect() {
      this.set(node.leader.isLeader ? 1 : 0);
    },
  });
  new Gauge({
    name: "wharf_cluster_peer_connected",
    help: "1 while the link to the peer is up",
    labelNames: ["peer"],
    registers,
    collect() {
      this.reset();
      for (const [peer, s] of Object.entries(node.transport.stats().peers)) this.set({ peer }, s.connected ? 1 : 0);
    },
  });
  new Gauge({
    name: "wharf_cluster_peer_queued_bytes",
    help: "Bytes held for the peer (queued and unsent): inter-node backpressure",
    labelNames: ["peer"],
    registers,
    collect() {
      this.reset();
      for (const [peer, s] of Object.entries(node.transport.stats().peers)) this.set({ peer }, s.queuedBytes);
    },
  });
  const routing = (name: string, help: string, key: keyof ClusterRoutingStats): void => {
    let last = 0;
    new Counter({
      name,
      help,
      registers,
      collect() {
        const now = node.router?.stats[key] ?? 0;
        this.inc(Math.max(0, now - last));
        last = Math.max(last, now);
      },
    });
  };
  routing("wharf_cluster_forwarded_total", "Messages forwarded to other nodes (one per node per message)", "forwarded");
  routing("wharf_cluster_received_total", "Messages received from other nodes", "received");
  routing(
    "wharf_cluster_forward_dropped_total",
    "QoS 0 forwards dropped: the link to the node was over its high-water mark",
    "forwardDropped",
  );
  routing(
    "wharf_cluster_forward_refused_total",
    "QoS 1/2 forwards refused: the link to the node was at its queue limit",
    "forwardRefused",
  );
  routing(
    "wharf_cluster_shared_missed_total",
    "Messages forwarded here for a shared group that had no member any more",
    "sharedMissed",
  );
  routing(
    "wharf_cluster_forward_resent_total",
    "QoS 1/2 forwards sent again after a link to a node came back",
    "resent",
  );
  routing(
    "wharf_cluster_forward_duplicates_total",
    "QoS 1/2 forwards received twice (a retransmission) and dropped",
    "duplicatesDropped",
  );
  new Gauge({
    name: "wharf_cluster_forward_unacked",
    help: "QoS 1/2 forwards to other nodes not acknowledged yet",
    registers,
    collect() {
      this.set(node.router?.stats.unacked ?? 0);
    },
  });
  new Gauge({
    name: "wharf_cluster_clients_owned",
    help: "Client ids this node owns in etcd (their sessions live here)",
    registers,
    collect() {
      this.set(node.sessions?.stats().owned ?? 0);
    },
  });
  let lastIn = 0;
  let lastOut = 0;
  new Counter({
    name: "wharf_cluster_takeovers_total",
    help: "Sessions moved between nodes: direction in (taken over from another node) or out (handed over)",
    labelNames: ["direction"],
    registers,
    collect() {
      const st = node.sessions?.stats();
      if (st === undefined) return;
      this.inc({ direction: "in" }, Math.max(0, st.takeoversIn - lastIn));
      this.inc({ direction: "out" }, Math.max(0, st.takeoversOut - lastOut));
      lastIn = Math.max(lastIn, st.takeoversIn);
      lastOut = Math.max(lastOut, st.takeoversOut);
    },
  });
}
