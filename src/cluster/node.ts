// One node of a cluster: its etcd client, its membership and the inter-node transport, wired so that the transport
// has a link to every registered node (a join dials it, a leave drops it). The composition root (src/server) starts
// it when `cluster.enabled` and closes it on shutdown. Other cluster modules (routing, queues) use `membership` and
// `transport` from here.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Etcd3 } from "etcd3";
import type { Clock, Logger } from "../util/index.ts";
import { connectEtcd } from "./etcd.ts";
import type { EtcdOptions } from "./etcd.ts";
import { clusterKeys } from "./keys.ts";
import type { ClusterKeys } from "./keys.ts";
import { LeaderElection } from "./leader.ts";
import { LeaderTasks } from "./leader-tasks.ts";
import { Membership } from "./membership.ts";
import type { ClusterRouter, RoutingPeers } from "./routing/index.ts";
import { ClientOwnership } from "./sessions/index.ts";
import type { ClusterSessionRegistry } from "./sessions/index.ts";
import { PeerTransport } from "./transport/index.ts";
import type { LinkLimits, TransportTls } from "./transport/index.ts";

/** The `cluster` config section, as the cluster layer needs it (src/server/config/cluster.ts validates it). */
export interface ClusterNodeOptions {
  readonly nodeId: string;
  readonly name: string;
  readonly leaseTtl: number;
  readonly etcd: EtcdOptions;
  readonly listen: { readonly host: string; readonly port: number };
  readonly advertiseHost: string;
  readonly tls: EtcdOptions["tls"];
  /** Seconds between runs of the leader task `retained-cleanup`; 0 = never. */
  readonly retainedSweepInterval: number;
}

export interface ClusterNodeDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  /** Per-peer link limits (tests); defaults in transport/peer-link.ts. */
  readonly linkLimits?: Partial<LinkLimits>;
}

export class ClusterNode {
  #router: ClusterRouter | undefined;
  #sessions: ClusterSessionRegistry | undefined;
  private constructor(
    readonly etcd: Etcd3,
    readonly keys: ClusterKeys,
    readonly membership: Membership,
    readonly transport: PeerTransport,
    /** Leader election: `leader.isLeader`, "elected"/"deposed" events. */
    readonly leader: LeaderElection,
    /** Work that runs on the leader only (leader-tasks.ts). */
    readonly tasks: LeaderTasks,
    private readonly retainedSweepMs: number,
    private readonly logger: Logger,
  ) {}

  get id(): string {
    return this.membership.self.id;
  }

  /**
   * Starts the inter-node listener, then joins the cluster (registering the listener's real address) and links to
   * every member. Rejects (ClusterError, or the listen error) when etcd is unreachable, the node id is taken or the
   * address cannot be bound; nothing is left running then.
   */
  static async start(o: ClusterNodeOptions, deps: ClusterNodeDeps): Promise<ClusterNode> {
    const logger = deps.logger.child({ component: "cluster", node: o.nodeId });
    const incarnation = randomBytes(8).toString("hex");
    const transport = await PeerTransport.listen({
      host: o.listen.host,
      port: o.listen.port,
      clusterName: o.name,
      nodeId: o.nodeId,
      incarnation,
      tls: o.tls.enabled ? readTls(o.tls) : undefined,
      limits: deps.linkLimits,
      clock: deps.clock,
      logger,
    });
    const etcd = connectEtcd(o.etcd);
    const keys = clusterKeys(o.name);
    let membership: Membership | undefined;
    try {
      membership = await Membership.join({
        etcd,
        keys,
        nodeId: o.nodeId,
        incarnation,
        host: o.advertiseHost === "" ? o.listen.host : o.advertiseHost,
        port: transport.port,
        leaseTtl: o.leaseTtl,
        clock: deps.clock,
        logger,
      });
      const m = membership;
      m.on("join", (n) => transport.connect(n));
      m.on("leave", (n) => transport.disconnect(n.id));
      for (const n of membership.peers()) transport.connect(n);
      const leader = new LeaderElection(etcd, keys, membership, logger, deps.clock);
      await leader.start();
      logger.info(
        { nodes: membership.nodes().map((n) => n.id), lease: membership.leaseId, port: transport.port },
        "joined the cluster",
      );
      const tasks = new LeaderTasks(leader, deps.clock, logger);
      return new ClusterNode(etcd, keys, membership, transport, leader, tasks, o.retainedSweepInterval * 1000, logger);
    } catch (err) {
      await membership?.leave();
      etcd.close();
      await transport.close();
      throw err;
    }
  }

  /** The cluster router of this node's broker (attachRouter), for stats and the admin API. */
  get router(): ClusterRouter | undefined {
    return this.#router;
  }

  /** Starts routing across the cluster through `router` (the broker's, BrokerDeps.routing). */
  attachRouter(router: ClusterRouter): void {
    this.#router = router;
    router.attach(this.routingPeers());
    this.tasks.add("retained-cleanup", this.retainedSweepMs, () => router.sweepRetained());
  }

  /** The cluster session registry of this node's broker (attachSessions), for stats and the admin API. */
  get sessions(): ClusterSessionRegistry | undefined {
    return this.#sessions;
  }

  /** Starts deciding client-id ownership in etcd and moving sessions across nodes (BrokerDeps.sessions). */
  attachSessions(registry: ClusterSessionRegistry): void {
    this.#sessions = registry;
    const { membership, transport } = this;
    registry.attach({
      self: this.id,
      leaseId: () => membership.leaseId,
      isMember: (node) => membership.get(node) !== undefined,
      send: (node, type, body) => transport.send(node, type, body),
      handle: (type, fn) => transport.handle(type, fn),
      onLeaseLost: (fn) => membership.on("lease-lost", () => fn()),
      onRejoined: (fn) => membership.on("rejoined", () => fn()),
      ownership: new ClientOwnership(this.etcd, this.keys.prefix("clients")),
    });
  }

  /** The node as the cluster router sees it: membership for the peer list, the transport for frames. */
  routingPeers(): RoutingPeers {
    const { membership, transport } = this;
    return {
      self: this.id,
      send: (node, type, body) => transport.send(node, type, body),
      writable: (node) => transport.writable(node),
      connected: (node) => transport.connected(node),
      peers: () => membership.peers().map((n) => n.id),
      handle: (type, fn) => transport.handle(type, fn),
      onUp: (fn) => transport.on("up", fn),
      onDrain: (fn) => transport.on("drain", fn),
      onLeave: (fn) => membership.on("leave", (n) => fn(n.id)),
    };
  }

  /** Leaves the cluster (the registration goes at once) and closes the etcd client. Idempotent. */
  async close(): Promise<void> {
    this.tasks.close();
    this.#router?.detach();
    this.#sessions?.stop();
    await this.leader.close();
    await this.membership.leave();
    await this.transport.close();
    this.etcd.close();
    this.logger.info("left the cluster");
  }
}

function readTls(files: ClusterNodeOptions["tls"]): TransportTls {
  return { cert: readFileSync(files.certFile), key: readFileSync(files.keyFile), ca: readFileSync(files.caFile) };
}
