// Slot ownership in etcd (docs/cluster.md "Durable queues in the cluster"): each slot of the queue name space has at
// most one owner at a time, claimed with a compare-and-swap and held under the owner's etcd lease. The epoch (the
// fencing token every write carries) is the etcd revision of the claim: etcd revisions only grow, so a later owner
// always has a larger epoch than every earlier one, cluster-wide.
//
// Keys under `prefix` (default `/wharf/queues/`):
//   nodes/<node>   {incarnation}            under the node's lease: the live members
//   owner/<slot>   {node, incarnation}      under the owner's lease; epoch = the key's create revision
//   isr/<slot>     {epoch, members}         the in-sync set ("node@incarnation"): who holds every acknowledged write
//
// Who claims a free slot: when it has no in-sync set (never owned), the node that ranks first for it (rendezvous
// hashing over the live nodes); otherwise the first live in-sync member in ranking order whose replica state has
// the set's epoch (only they hold everything that was acknowledged). When no in-sync member is alive for
// `orphanGraceMs`, the first-ranked node claims it empty and logs the loss at error level: both copies are gone.
// An owner hands a slot over to the node that now ranks first once that node is in its in-sync set (`canRelease`).
//
// Fencing on the owner: `holds(slot, epoch)` is true only while the claim is ours and our lease is known alive
// (the last keepalive sent + TTL, measured from the send, so it ends before etcd expires the lease). A node paused
// past its lease (SIGSTOP) fails that check the moment it runs again, before it hears from etcd.
import { randomUUID } from "node:crypto";
import type { Etcd3, IKeyValue, Lease, Watcher } from "etcd3";
import { silentLogger, systemClock } from "../../util/index.ts";
import type { Clock, Logger, TimerHandle } from "../../util/index.ts";
import { onLeaseRenewed } from "../lease-renewals.ts";
import { rankNodes } from "./slots.ts";

export interface SlotOwner {
  node: string;
  incarnation: string;
  /** Fencing token: the etcd revision of the claim. */
  epoch: number;
}

export interface InSyncSet {
  epoch: number;
  /** `node@incarnation` of every node holding all acknowledged writes of the slot (the owner included). */
  members: string[];
  /** etcd mod revision of the record (claims compare on it). */
  modRevision: number;
}

/**
 * A lease held by the cluster core's membership (one lease per node): the slots' keys are attached to it instead of a
 * lease of their own. `lost` fires when it is gone (etcd unreachable for a TTL), `regained` once the membership
 * registered again under a new one.
 */
export interface SharedLease {
  /** The live lease and its id; undefined while it is lost. */
  current(): { lease: Lease; id: string } | undefined;
  on(kind: "lost" | "regained", fn: () => void): () => void;
}

export interface SlotOwnershipOptions {
  etcd: Etcd3;
  /** Attach to this lease (the membership's) rather than granting one; its TTL must be `leaseTtl`. */
  lease?: SharedLease;
  /**
   * `node@incarnation` names this node in the in-sync sets: random per process unless given (a node restarted with
   * its durable slot copies keeps its incarnation, so it is still the in-sync member it was).
   */
  incarnation?: string | undefined;
  nodeId: string;
  slots: number;
  /** Key prefix (default `/wharf/queues/`). */
  prefix?: string;
  /** Replicas per slot besides the owner (default 1). */
  replicas?: number;
  /** Lease TTL in seconds (default 3): a dead node's slots are free after at most this. */
  leaseTtl?: number;
  clock?: Clock;
  logger?: Logger;
  /** Epoch of this node's replica state of `slot` (undefined: none). Set by the replication layer. */
  replicaEpoch?: (slot: number) => number | undefined;
  /** May the owner hand `slot` to `to` now? Default: `to` is in the in-sync set at our epoch. */
  canRelease?: (slot: number, epoch: number, to: string) => boolean;
  /** How long a slot whose in-sync members are all gone waits before it is claimed empty (default 30 s). */
  orphanGraceMs?: number;
  /** How often ownership is re-evaluated besides on every etcd change (default: a third of the TTL). */
  reconcileMs?: number;
  onAcquire?: (slot: number, epoch: number) => void;
  onLose?: (slot: number, epoch: number) => void;
  /** Membership, owners or in-sync sets changed. */
  onChange?: () => void;
}

interface Parsed {
  node?: string;
  incarnation?: string;
  epoch?: number;
  members?: string[];
}

function parse(kv: IKeyValue): Parsed {
  try {
    return JSON.parse(kv.value.toString("utf8")) as Parsed;
  } catch {
    return {};
  }
}

export class SlotOwnership {
  readonly nodeId: string;
  readonly incarnation: string;
  readonly slots: number;
  readonly replicas: number;
  readonly #etcd: Etcd3;
  readonly #prefix: string;
  readonly #ttl: number;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #opts: SlotOwnershipOptions;
  /** Live nodes → incarnation. */
  readonly #nodes = new Map<string, string>();
  readonly #owners = new Map<number, SlotOwner>();
  readonly #isr = new Map<number, InSyncSet>();
  /** Slots this node owns → epoch. */
  readonly #owned = new Map<number, number>();
  readonly #claiming = new Set<number>();
  readonly #orphanSince = new Map<number, number>();
  #lease: Lease | undefined;
  #leaseId = "";
  #validUntil = 0;
  #watcher: Watcher | undefined;
  #timer: TimerHandle | undefined;
  #scheduled = false;
  #stopped = false;
  readonly #unsubscribe: (() => void)[] = [];
  /** Slots claimed empty after their in-sync members were all lost (acknowledged data lost). */
  orphansClaimed = 0;

  constructor(opts: SlotOwnershipOptions) {
    this.#opts = opts;
    this.#etcd = opts.etcd;
    this.nodeId = opts.nodeId;
    this.incarnation = opts.incarnation ?? randomUUID().slice(0, 8);
    this.slots = opts.slots;
    this.replicas = opts.replicas ?? 1;
    this.#prefix = opts.prefix ?? "/wharf/queues/";
    this.#ttl = opts.leaseTtl ?? 3;
    this.#clock = opts.clock ?? systemClock;
    this.#logger = opts.logger ?? silentLogger;
  }

  /** `node@incarnation` of this process. */
  get member(): string {
    return `${this.nodeId}@${this.incarnation}`;
  }

  async start(): Promise<void> {
    const shared = this.#opts.lease;
    if (shared !== undefined) {
      this.#unsubscribe.push(
        shared.on("lost", () => this.#leaseLost(new Error("the membership's lease was lost"))),
        shared.on("regained", () => void this.#reregister()),
      );
    }
    await this.#register();
    const res = await this.#etcd.getAll().prefix(this.#prefix).exec();
    for (const kv of res.kvs) this.#apply(kv, false);
    const watcher = await this.#etcd
      .watch()
      .prefix(this.#prefix)
      .startRevision(String(Number(res.header.revision) + 1))
      .create();
    this.#watcher = watcher;
    watcher.on("put", (kv) => this.#apply(kv, false));
    watcher.on("delete", (kv) => this.#apply(kv, true));
    const every = this.#opts.reconcileMs ?? Math.max(100, (this.#ttl * 1000) / 3);
    this.#timer = this.#clock.setInterval(() => this.#schedule(), every);
    this.#schedule();
  }

  /** Leaves: owned slots are given up (their in-sync replicas take over), the lease is revoked. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#timer?.cancel();
    for (const off of this.#unsubscribe) off();
    const owned = [...this.#owned];
    for (const [slot, epoch] of owned) this.#lose(slot, epoch);
    await this.#watcher?.cancel().catch(() => undefined);
    if (this.#opts.lease === undefined) {
      await this.#lease?.revoke().catch(() => undefined);
      return;
    }
    // The lease is the membership's (it is revoked when the node leaves): give the slots up now, so that their
    // in-sync replicas claim them at once, and leave the slots' member list.
    await Promise.all(
      owned.map(([slot, epoch]) =>
        this.#etcd
          .if(this.#key("owner", slot), "Create", "==", epoch)
          .then(this.#etcd.delete().key(this.#key("owner", slot)))
          .commit()
          .catch(() => undefined),
      ),
    );
    await this.#etcd
      .delete()
      .key(this.#key("nodes", this.nodeId))
      .exec()
      .catch(() => undefined);
  }

  /**
   * Stops at once without telling etcd: keepalives end, the lease and with it this node's claims expire after the
   * TTL — what a crash looks like to the other nodes (tests use it; so does a shutdown while etcd is unreachable).
   */
  halt(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#timer?.cancel();
    for (const off of this.#unsubscribe) off();
    if (this.#opts.lease === undefined) this.#lease?.release();
    for (const [slot, epoch] of [...this.#owned]) this.#lose(slot, epoch);
    void this.#watcher?.cancel().catch(() => undefined);
  }

  // ---- the view -----------------------------------------------------------------------------------------------

  /** True while this node owns `slot` at `epoch` and its lease is known alive: the fencing check. */
  holds(slot: number, epoch: number): boolean {
    return this.#owned.get(slot) === epoch && this.#clock.now() < this.#validUntil;
  }

  /** Slots owned → epoch (whether or not the lease is alive right now). */
  owned(): ReadonlyMap<number, number> {
    return this.#owned;
  }

  ownerOf(slot: number): SlotOwner | undefined {
    return this.#owners.get(slot);
  }

  inSyncOf(slot: number): InSyncSet | undefined {
    return this.#isr.get(slot);
  }

  /** Live nodes → incarnation. */
  nodes(): ReadonlyMap<string, string> {
    return this.#nodes;
  }

  /** Nodes in preference order for `slot` (live only). */
  ranking(slot: number): string[] {
    return rankNodes(this.#nodes.keys(), slot);
  }

  /** The replicas `slot` should have when this node owns it: the next `replicas` live nodes in its ranking. */
  replicaTargets(slot: number): string[] {
    return this.ranking(slot)
      .filter((n) => n !== this.nodeId)
      .slice(0, this.replicas);
  }

  /** `node@incarnation` of a live node. */
  memberOf(node: string): string | undefined {
    const inc = this.#nodes.get(node);
    return inc === undefined ? undefined : `${node}@${inc}`;
  }

  /**
   * Records the in-sync set of an owned slot, only if we still own it at `epoch` (a transaction comparing the
   * owner key's create revision). False when we no longer own it.
   */
  async setInSync(slot: number, epoch: number, members: string[]): Promise<boolean> {
    const owner = this.#key("owner", slot);
    const r = await this.#etcd
      .if(owner, "Create", "==", epoch)
      .then(this.#etcd.put(this.#key("isr", slot)).value(JSON.stringify({ epoch, members })))
      .commit();
    return r.succeeded;
  }

  // ---- internals ----------------------------------------------------------------------------------------------

  #key(kind: string, slot: number | string): string {
    return `${this.#prefix}${kind}/${slot}`;
  }

  async #register(): Promise<void> {
    const shared = this.#opts.lease;
    let lease: Lease;
    if (shared === undefined) lease = this.#etcd.lease(this.#ttl, { autoKeepAlive: true });
    else {
      const cur = shared.current();
      if (cur === undefined) throw new Error("the membership's lease is lost");
      lease = cur.lease;
    }
    this.#lease = lease;
    const t0 = this.#clock.now();
    onLeaseRenewed(lease, this.#clock, (sentAt, ttl) => {
      if (ttl > 0 && this.#lease === lease) this.#validUntil = sentAt + this.#ttl * 1000;
    });
    if (shared === undefined) {
      lease.on("lost", (err) => {
        if (this.#lease !== lease || this.#stopped) return;
        this.#leaseLost(err);
        void this.#reregister();
      });
      this.#leaseId = await lease.grant();
    } else {
      // A keepalive now: the fence's validity is measured from a renewal this node saw (t0 is before it was sent).
      this.#leaseId = shared.current()!.id;
      await lease.keepaliveOnce();
    }
    this.#validUntil = t0 + this.#ttl * 1000;
    await this.#etcd
      .put(this.#key("nodes", this.nodeId))
      .value(JSON.stringify({ incarnation: this.incarnation }))
      .lease(this.#leaseId)
      .exec();
  }

  #leaseLost(err: Error): void {
    if (this.#stopped) return;
    this.#logger.warn({ err: err.message, node: this.nodeId }, "cluster queues: etcd lease lost, slots given up");
    this.#validUntil = 0;
    for (const [slot, epoch] of [...this.#owned]) this.#lose(slot, epoch);
  }

  async #reregister(): Promise<void> {
    for (let attempt = 0; !this.#stopped; attempt++) {
      try {
        await this.#register();
        this.#schedule();
        return;
      } catch (err) {
        this.#logger.warn({ err, attempt }, "cluster queues: re-registering with etcd failed");
        await new Promise<void>((r) => this.#clock.setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
      }
    }
  }

  #apply(kv: IKeyValue, deleted: boolean): void {
    const rest = kv.key.toString("utf8").slice(this.#prefix.length);
    const i = rest.indexOf("/");
    const kind = rest.slice(0, i);
    const id = rest.slice(i + 1);
    const v = deleted ? {} : parse(kv);
    if (kind === "nodes") {
      if (deleted) this.#nodes.delete(id);
      else this.#nodes.set(id, v.incarnation ?? "");
    } else if (kind === "owner") {
      const slot = Number(id);
      const epoch = Number(kv.create_revision);
      if (deleted) this.#owners.delete(slot);
      else this.#owners.set(slot, { node: v.node ?? "", incarnation: v.incarnation ?? "", epoch });
      const mine = this.#owned.get(slot);
      // Our claim is gone (lease expired, deleted) or a later one is there: we no longer own the slot. Events older
      // than our claim (the previous owner's deletion, delivered after our claim's response) change nothing.
      const at = deleted ? Number(kv.mod_revision) : epoch;
      if (mine !== undefined && at > mine) this.#lose(slot, mine);
    } else if (kind === "isr") {
      const slot = Number(id);
      if (deleted) this.#isr.delete(slot);
      else {
        this.#isr.set(slot, {
          epoch: v.epoch ?? Number(kv.mod_revision),
          members: v.members ?? [],
          modRevision: Number(kv.mod_revision),
        });
      }
    } else return;
    this.#opts.onChange?.();
    this.#schedule();
  }

  #lose(slot: number, epoch: number): void {
    if (this.#owned.get(slot) !== epoch) return;
    this.#owned.delete(slot);
    this.#logger.info({ slot, epoch, node: this.nodeId }, "cluster queues: slot lost");
    this.#opts.onLose?.(slot, epoch);
  }

  #schedule(): void {
    if (this.#scheduled || this.#stopped) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#reconcile();
    });
  }

  #reconcile(): void {
    if (this.#stopped || this.#clock.now() >= this.#validUntil || this.#watcher === undefined) return;
    const now = this.#clock.now();
    const grace = this.#opts.orphanGraceMs ?? 30_000;
    for (let slot = 0; slot < this.slots; slot++) {
      const owner = this.#owners.get(slot);
      const ranking = this.ranking(slot);
      if (owner !== undefined) {
        this.#orphanSince.delete(slot);
        const epoch = this.#owned.get(slot);
        const to = ranking[0];
        if (epoch !== undefined && owner.epoch === epoch && to !== undefined && to !== this.nodeId) {
          const ok = this.#opts.canRelease?.(slot, epoch, to) ?? this.#inSync(slot, epoch, to);
          if (ok) void this.#release(slot, epoch, to);
        }
        continue;
      }
      const isr = this.#isr.get(slot);
      if (isr === undefined) {
        if (ranking[0] === this.nodeId) void this.#claim(slot, undefined, false);
        continue;
      }
      const live = isr.members.filter((m) => {
        const at = m.lastIndexOf("@");
        return this.#nodes.get(m.slice(0, at)) === m.slice(at + 1);
      });
      if (live.length > 0) {
        this.#orphanSince.delete(slot);
        const order = new Map(ranking.map((n, k) => [n, k]));
        live.sort((a, b) => (order.get(a.split("@")[0]!) ?? 1e9) - (order.get(b.split("@")[0]!) ?? 1e9));
        if (live[0] === this.member && this.#opts.replicaEpoch?.(slot) === isr.epoch) {
          void this.#claim(slot, isr, false);
        }
        continue;
      }
      const since = this.#orphanSince.get(slot);
      if (since === undefined) this.#orphanSince.set(slot, now);
      else if (now - since >= grace && ranking[0] === this.nodeId) void this.#claim(slot, isr, true);
    }
  }

  #inSync(slot: number, epoch: number, node: string): boolean {
    const isr = this.#isr.get(slot);
    const m = this.memberOf(node);
    return isr !== undefined && isr.epoch === epoch && m !== undefined && isr.members.includes(m);
  }

  async #claim(slot: number, isr: InSyncSet | undefined, orphan: boolean): Promise<void> {
    if (this.#claiming.has(slot)) return;
    this.#claiming.add(slot);
    try {
      const ownerKey = this.#key("owner", slot);
      const isrKey = this.#key("isr", slot);
      const value = JSON.stringify({ node: this.nodeId, incarnation: this.incarnation });
      const r = await this.#etcd
        .if(ownerKey, "Create", "==", 0)
        .and(isrKey, "Mod", "==", isr?.modRevision ?? 0)
        .then(
          this.#etcd.put(ownerKey).value(value).lease(this.#leaseId),
          this.#etcd.put(isrKey).value(JSON.stringify({ members: [this.member] })),
        )
        .commit();
      if (!r.succeeded || this.#stopped) return;
      const epoch = Number(r.header.revision);
      if (orphan) {
        this.orphansClaimed++;
        this.#logger.error(
          { slot, epoch, lost: isr?.members },
          "cluster queues: every in-sync copy of the slot is gone; claimed empty (its acknowledged messages are lost)",
        );
      }
      this.#owned.set(slot, epoch);
      this.#logger.info({ slot, epoch, node: this.nodeId }, "cluster queues: slot acquired");
      this.#opts.onAcquire?.(slot, epoch);
    } catch (err) {
      this.#logger.warn({ err, slot }, "cluster queues: claim failed");
    } finally {
      this.#claiming.delete(slot);
    }
  }

  /** Hands the slot over: stop writing first (the local fence), then delete the claim if it is still ours. */
  async #release(slot: number, epoch: number, to: string): Promise<void> {
    this.#lose(slot, epoch);
    this.#logger.info({ slot, epoch, to }, "cluster queues: slot handed over");
    try {
      await this.#etcd
        .if(this.#key("owner", slot), "Create", "==", epoch)
        .then(this.#etcd.delete().key(this.#key("owner", slot)))
        .commit();
    } catch (err) {
      // The claim stays until our lease ends; the slot is free then.
      this.#logger.warn({ err, slot }, "cluster queues: release failed");
    }
  }
}
