// Leader election in etcd, for work that must run once cluster-wide (leader tasks). The leader is the node whose id
// is the value of `leader` under the cluster prefix; the key is created only if absent (create revision 0) and is
// attached to the node's membership lease, so it disappears with the node (clean leave: at once; crash or
// partition: when the lease expires). Every node watches the key and campaigns again when it is deleted.
//
// A node that loses its lease stops being leader at once ("deposed"), before etcd has even expired the key, so
// two nodes never both believe they lead for longer than the etcd3 client's keepalive timeout (one TTL).
import type { Etcd3, Watcher } from "etcd3";
import type { Clock, Logger } from "../util/index.ts";
import type { ClusterKeys } from "./keys.ts";
import { Listeners } from "./listeners.ts";
import { bounded } from "./membership.ts";
import type { Membership } from "./membership.ts";

export interface LeaderEvents {
  /** This node became the leader. */
  elected: void;
  /** This node is no longer the leader (lease lost, or it left). */
  deposed: void;
}

export class LeaderElection {
  readonly #events: Listeners<LeaderEvents>;
  #leader: string | undefined;
  #leading = false;
  #watcher: Watcher | undefined;
  #closed = false;
  #detach: (() => void)[] = [];

  constructor(
    private readonly etcd: Etcd3,
    private readonly keys: ClusterKeys,
    private readonly membership: Membership,
    private readonly logger: Logger,
    private readonly clock: Clock,
  ) {
    this.#events = new Listeners((err) => logger.error({ err }, "leader listener failed"));
  }

  get key(): string {
    return `${this.keys.root}leader`;
  }

  /** The current leader's node id, as far as this node knows. */
  get leader(): string | undefined {
    return this.#leader;
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  on<K extends keyof LeaderEvents>(kind: K, fn: (e: LeaderEvents[K]) => void): () => void {
    return this.#events.on(kind, fn);
  }

  async start(): Promise<void> {
    this.#detach.push(
      this.membership.on("lease-lost", () => this.#set(undefined)),
      this.membership.on("rejoined", () => void this.#campaign()),
    );
    const watcher = await this.etcd.watch().key(this.key).create();
    this.#watcher = watcher;
    watcher.on("put", (kv) => this.#set(kv.value.toString()));
    watcher.on("delete", () => {
      this.#set(undefined);
      void this.#campaign();
    });
    await this.#campaign();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const fn of this.#detach) fn();
    await bounded(this.#watcher?.cancel(), 2000, this.clock);
    // The key goes with the lease when the membership leaves; say so to local listeners now.
    this.#set(undefined);
    this.#events.clear();
  }

  async #campaign(): Promise<void> {
    const leaseId = this.membership.leaseId;
    if (this.#closed || leaseId === "") return;
    const self = this.membership.self.id;
    try {
      const r = await this.etcd
        .if(this.key, "Create", "==", 0)
        .then(this.etcd.put(this.key).value(self).lease(leaseId))
        .else(this.etcd.get(this.key))
        .commit();
      if (r.succeeded) this.#set(self);
      else {
        const kv = r.responses[0]?.response_range?.kvs[0];
        this.#set(kv === undefined ? undefined : kv.value.toString());
      }
    } catch (err) {
      this.logger.warn({ err }, "leader campaign failed (retried when the key changes or the lease is regained)");
    }
  }

  #set(leader: string | undefined): void {
    if (this.#closed && leader !== undefined) return;
    const was = this.#leading;
    this.#leader = leader;
    const is = leader === this.membership.self.id && this.membership.isMember && !this.#closed;
    this.#leading = is;
    if (is && !was) {
      this.logger.info("this node is the cluster leader");
      this.#events.emit("elected", undefined);
    } else if (was && !is) {
      this.logger.info({ leader }, "this node is no longer the cluster leader");
      this.#events.emit("deposed", undefined);
    }
  }
}
