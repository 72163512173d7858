// One node of a cluster: its etcd client and membership (and, wired in as they land, the inter-node transport and
// the cluster router). The composition root (src/server) starts it when `cluster.enabled` and closes it on shutdown.
import type { Etcd3 } from "etcd3";
import type { Clock, Logger } from "../util/index.ts";
import { connectEtcd } from "./etcd.ts";
import type { EtcdOptions } from "./etcd.ts";
import { clusterKeys } from "./keys.ts";
import type { ClusterKeys } from "./keys.ts";
import { Membership } from "./membership.ts";

/** The `cluster` config section, as the cluster layer needs it (src/server/config/cluster.ts validates it). */
export interface ClusterNodeOptions {
  readonly nodeId: string;
  readonly name: string;
  readonly leaseTtl: number;
  readonly etcd: EtcdOptions;
  readonly listen: { readonly host: string; readonly port: number };
  readonly advertiseHost: string;
  readonly tls: EtcdOptions["tls"];
}

export interface ClusterNodeDeps {
  readonly clock: Clock;
  readonly logger: Logger;
}

export class ClusterNode {
  private constructor(
    readonly etcd: Etcd3,
    readonly keys: ClusterKeys,
    readonly membership: Membership,
    private readonly logger: Logger,
  ) {}

  get id(): string {
    return this.membership.self.id;
  }

  /** Joins the cluster; rejects (ClusterError) when etcd is unreachable or the node id is taken. */
  static async start(o: ClusterNodeOptions, deps: ClusterNodeDeps): Promise<ClusterNode> {
    const logger = deps.logger.child({ component: "cluster", node: o.nodeId });
    const etcd = connectEtcd(o.etcd);
    const keys = clusterKeys(o.name);
    try {
      const membership = await Membership.join({
        etcd,
        keys,
        nodeId: o.nodeId,
        host: o.advertiseHost === "" ? o.listen.host : o.advertiseHost,
        port: o.listen.port,
        leaseTtl: o.leaseTtl,
        clock: deps.clock,
        logger,
      });
      logger.info({ nodes: membership.nodes().map((n) => n.id), lease: membership.leaseId }, "joined the cluster");
      return new ClusterNode(etcd, keys, membership, logger);
    } catch (err) {
      etcd.close();
      throw err;
    }
  }

  /** Leaves the cluster (the registration goes at once) and closes the etcd client. Idempotent. */
  async close(): Promise<void> {
    await this.membership.leave();
    this.etcd.close();
    this.logger.info("left the cluster");
  }
}
