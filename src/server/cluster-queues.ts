// Durable queues on a clustered node (docs/cluster-queues.md): the broker's queue backend (built before the broker)
// and, once the node joined the cluster, the ClusterQueueNode behind it — on the cluster's etcd client and keys
// (`/wharf/<cluster.name>/queues/`) and over the cluster core's inter-node transport. Composed here because neither
// the broker nor the cluster core knows the other.
import type { Router } from "../admin/index.ts";
import type { ClusterNode } from "../cluster/index.ts";
import { join } from "node:path";
import { ClusterQueueBackend, SlotJournal, startClusterQueues } from "../cluster/queues/index.ts";
import type { ClusterQueueNode, SlotStatus, StartedClusterQueues } from "../cluster/queues/index.ts";
import { Gauge, type Registry } from "../admin/prom.ts";
import type { QueueConfigEntry } from "../queues/index.ts";
import { LmdbKv } from "../storage/lmdb-kv.ts";
import type { Storage } from "../storage/index.ts";
import type { Clock, Logger } from "../util/index.ts";
import type { ClusterConfig } from "./config/index.ts";

export class ServerClusterQueues {
  readonly backend: ClusterQueueBackend;
  #started: StartedClusterQueues | undefined;
  #journal: SlotJournal | undefined;

  constructor(
    private readonly config: ClusterConfig,
    private readonly queues: readonly QueueConfigEntry[],
    private readonly deps: {
      clock: Clock;
      logger: Logger;
      prefetchOf: (name: string) => number;
      /** The node's storage: with LMDB the slot copies are kept in `<dataDir>/cluster-queues` (journal.ts). */
      storage: Pick<Storage, "kind" | "path" | "durability">;
    },
  ) {
    this.backend = new ClusterQueueBackend({ prefetchOf: deps.prefetchOf, logger: deps.logger });
  }

  get node(): ClusterQueueNode | undefined {
    return this.#started?.node;
  }

  /** Starts the node's part of the clustered queues on `cluster` (joined) and routes `$queue/` through it. */
  async start(cluster: ClusterNode): Promise<void> {
    const q = this.config.queues;
    const st = this.deps.storage;
    // Same durability as the node's storage: `sync` fsyncs each group commit before a replica acknowledges.
    const journal =
      st.kind === "lmdb" && st.path !== undefined
        ? new SlotJournal(
            await LmdbKv.open({ path: join(st.path, "cluster-queues"), noSync: st.durability !== "sync" }),
          )
        : undefined;
    this.#journal = journal;
    this.#started = await startClusterQueues(cluster, {
      journal,
      leaseTtl: this.config.leaseTtl,
      slots: q.slots,
      replicas: q.replicas,
      replication: q.replication,
      replicationTimeoutMs: q.replicationTimeoutMs,
      orphanGraceMs: q.orphanGraceMs,
      queues: this.queues,
      clock: this.deps.clock,
      logger: this.deps.logger.child({ component: "cluster-queues" }),
    });
    this.backend.attach(this.#started.node);
  }

  /** Gives the owned slots up (their in-sync replicas take over at once) and stops answering. */
  async stop(): Promise<void> {
    this.backend.detach();
    const started = this.#started;
    this.#started = undefined;
    await started?.stop();
    await this.#journal?.close();
    this.#journal = undefined;
  }

  routes(router: Router): void {
    router.add("GET", "/api/v1/cluster/queues", () => ({ json: this.view() }), {
      summary: "Clustered queues: each slot's owner and epoch; on its owner the replicas' lag, queues and messages",
    });
  }

  /** Prometheus series: slots owned, messages held in them, each replica's lag (ops) over the owned slots. */
  metrics(registry: Registry): void {
    const registers = [registry];
    const owned = (): SlotStatus[] => (this.node?.status() ?? []).filter((s) => s.replicas !== undefined);
    new Gauge({
      name: "wharf_cluster_queue_slots_owned",
      help: "Slots of the clustered queues this node owns",
      registers,
      collect: function (this: Gauge) {
        this.set(owned().length);
      },
    });
    new Gauge({
      name: "wharf_cluster_queue_messages",
      help: "Messages held in the slots this node owns",
      registers,
      collect: function (this: Gauge) {
        this.set(owned().reduce((n, s) => n + (s.messages ?? 0), 0));
      },
    });
    new Gauge({
      name: "wharf_cluster_queue_replica_lag_ops",
      help: "Per replica: the most ops it has not acknowledged in any slot this node owns (0: in step)",
      labelNames: ["replica"],
      registers,
      collect: function (this: Gauge) {
        this.reset();
        const lag = new Map<string, number>();
        for (const s of owned()) for (const r of s.replicas!) lag.set(r.node, Math.max(lag.get(r.node) ?? 0, r.lag));
        for (const [replica, n] of lag) this.set({ replica }, n);
      },
    });
  }

  view(): Record<string, unknown> {
    const node = this.#started?.node;
    if (node === undefined) return { started: false };
    return {
      started: true,
      node: node.nodeId,
      replication: node.mode,
      acquired: node.acquired,
      lost: node.lost,
      slots: node.status(),
    };
  }
}
