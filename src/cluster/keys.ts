// The cluster's key layout in etcd. Everything lives under `/wharf/<name>/` so several clusters can share one etcd;
// each concern has its own sub-prefix, so a watch on one never sees another's traffic.
//   nodes/<nodeId>      NodeInfo JSON, attached to the node's lease (membership.ts)
//   queues/...          queue partition ownership (src/cluster/queues, another module)
//   clients/<clientId>  the node serving that client's session, attached to its lease (sessions/ownership.ts)
//   leader              the leader's node id, attached to its lease (leader.ts)
export interface ClusterKeys {
  readonly root: string;
  readonly nodes: string;
  node(id: string): string;
  /** A sub-prefix for another concern (e.g. "queues"), ending with "/". */
  prefix(concern: string): string;
}

export function clusterKeys(name: string): ClusterKeys {
  const root = `/wharf/${name}/`;
  return {
    root,
    nodes: `${root}nodes/`,
    node: (id) => `${root}nodes/${id}`,
    prefix: (concern) => `${root}${concern}/`,
  };
}
