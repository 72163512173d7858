// Cluster membership in etcd. Each node holds one lease (TTL `leaseTtl` seconds, renewed by the etcd3 client every
// third of it) and registers `nodes/<nodeId>` -> NodeInfo under it, created only if absent (a transaction comparing
// the key's create revision with 0), so two live processes can never share a node id. Every node watches the
// `nodes/` prefix: a registration is a join, a deletion a leave. A node that stops cleanly revokes its lease (the key
// goes at once); one that crashes or is cut off from etcd stops renewing, and etcd deletes its key when the lease
// expires, i.e. at most `leaseTtl` seconds after its last renewal (plus etcd's expiry check, every 500 ms).
//
// The lease is also what other modules attach their own keys to (queue partition ownership, client-id ownership):
// `lease` and `leaseId`. When it is lost (etcd unreachable for a whole TTL) this node is no longer a member:
// "lease-lost" fires (everything attached to the lease is gone in etcd by then), and the membership keeps trying to
// register again under a new lease ("rejoined" when it has).
import { randomBytes } from "node:crypto";
import { EtcdLeaseInvalidError } from "etcd3";
import type { Etcd3, IKeyValue, Lease, Watcher } from "etcd3";
import type { Clock, Logger, TimerHandle } from "../util/index.ts";
import { ClusterError, ClusterErrorCode } from "./errors.ts";
import { onLeaseRenewed } from "./lease-renewals.ts";
import type { ClusterKeys } from "./keys.ts";
import { Listeners } from "./listeners.ts";

/** What a node registers about itself. */
export interface NodeInfo {
  readonly id: string;
  /** Inter-node transport address (the transport's real bound port). */
  readonly host: string;
  readonly port: number;
  /** Random per process start: a node id seen again with another incarnation restarted (its state is new). */
  readonly incarnation: string;
  /** Epoch ms when this incarnation registered. */
  readonly startedAt: number;
}

export interface MembershipEvents {
  /** Another node registered (or was already registered when this one started). */
  join: NodeInfo;
  /** Another node's registration went away: clean stop, or its lease expired. */
  leave: NodeInfo;
  /** This node's lease is gone: it is not a member until "rejoined". */
  "lease-lost": Error;
  /** Registered again under a new lease (leaseId) after "lease-lost". */
  rejoined: string;
}

export interface MembershipOptions {
  readonly etcd: Etcd3;
  readonly keys: ClusterKeys;
  readonly nodeId: string;
  /** Random per process start (the transport's hello carries the same); one is made when not given. */
  readonly incarnation?: string;
  readonly host: string;
  readonly port: number;
  /** Seconds. */
  readonly leaseTtl: number;
  readonly clock: Clock;
  readonly logger: Logger;
}

/** The default wait between attempts to register again after losing the lease. */
const REJOIN_RETRY_MS = 500;

export class Membership {
  readonly self: NodeInfo;
  readonly #o: MembershipOptions;
  readonly #nodes = new Map<string, NodeInfo>();
  readonly #events: Listeners<MembershipEvents>;
  #lease: Lease | undefined;
  #leaseId = "";
  #watcher: Watcher | undefined;
  #member = false;
  #closed = false;
  #rejoinTimer: TimerHandle | undefined;
  /** Cancels the fence timer of a lease (leave()). */
  readonly #fences = new Map<Lease, () => void>();

  private constructor(o: MembershipOptions) {
    this.#o = o;
    this.#events = new Listeners((err, kind) => o.logger.error({ err, event: kind }, "membership listener failed"));
    this.self = {
      id: o.nodeId,
      host: o.host,
      port: o.port,
      incarnation: o.incarnation ?? randomBytes(8).toString("hex"),
      startedAt: o.clock.now(),
    };
  }

  /**
   * Registers this node and starts watching the others. Rejects with CLUSTER_NODE_ID_TAKEN when another node holds
   * the id for longer than one lease TTL (a crashed predecessor's registration expires within it), and with
   * CLUSTER_ETCD_UNAVAILABLE when etcd cannot be reached.
   */
  static async join(o: MembershipOptions): Promise<Membership> {
    const m = new Membership(o);
    try {
      await m.#register(o.clock.now() + o.leaseTtl * 1000 + 1000);
      await m.#watch();
    } catch (err) {
      await m.leave();
      throw err;
    }
    return m;
  }

  /** The lease this node's registration is attached to; undefined between a loss and the rejoin. */
  get lease(): Lease | undefined {
    return this.#member ? this.#lease : undefined;
  }

  /** The lease id (decimal string) while a member, "" otherwise. */
  get leaseId(): string {
    return this.#member ? this.#leaseId : "";
  }

  /** True while this node's registration is live in etcd (as far as it knows). */
  get isMember(): boolean {
    return this.#member;
  }

  /** Every registered node, this one included (while a member). */
  nodes(): NodeInfo[] {
    const out = [...this.#nodes.values()];
    if (this.#member) out.push(this.self);
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** The other registered nodes. */
  peers(): NodeInfo[] {
    return [...this.#nodes.values()];
  }

  get(id: string): NodeInfo | undefined {
    return id === this.self.id ? this.self : this.#nodes.get(id);
  }

  on<K extends keyof MembershipEvents>(kind: K, fn: (e: MembershipEvents[K]) => void): () => void {
    return this.#events.on(kind, fn);
  }

  /** Leaves the cluster: the registration (and everything on the lease) is deleted now. Idempotent. */
  async leave(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#rejoinTimer?.cancel();
    for (const cancel of this.#fences.values()) cancel();
    this.#fences.clear();
    const lease = this.#lease;
    this.#member = false;
    this.#lease = undefined;
    // Bounded: with etcd unreachable a cancel or revoke would wait for it; the lease then expires on its own.
    const wait = this.#o.leaseTtl * 1000;
    await bounded(this.#watcher?.cancel(), wait, this.#o.clock);
    this.#watcher = undefined;
    if (lease !== undefined && !lease.revoked()) {
      const revoked = lease.revoke().then(
        () => true,
        (err: unknown) => {
          this.#o.logger.warn({ err }, "could not revoke the cluster lease: the node leaves when it expires");
          return true;
        },
      );
      if ((await bounded(revoked, wait, this.#o.clock)) !== true) lease.release();
    }
    this.#events.clear();
  }

  async #register(deadline: number): Promise<void> {
    const { etcd, keys, clock } = this.#o;
    const key = keys.node(this.self.id);
    const value = JSON.stringify(this.self);
    let leaseId = await this.#grant();
    for (;;) {
      let taken: boolean;
      try {
        // Create only if absent: compare the key's create revision with 0.
        const r = await etcd.if(key, "Create", "==", 0).then(etcd.put(key).value(value).lease(leaseId)).commit();
        if (r.succeeded) break;
        taken = true;
      } catch (err) {
        if (!(err instanceof EtcdLeaseInvalidError)) {
          throw new ClusterError(ClusterErrorCode.EtcdUnavailable, `cannot register in etcd: ${String(err)}`, {
            cause: err,
          });
        }
        // The lease expired while this node waited for its id: this process or etcd stalled for longer than the
        // TTL (reproduced with etcd stopped 2.5 s under a 2 s TTL; a landing batch at load 20 hit it). Not a reason
        // to fail the join: take a fresh lease and go on until the deadline.
        taken = false;
      }
      if (clock.now() >= deadline || this.#closed) {
        throw new ClusterError(
          ClusterErrorCode.NodeIdTaken,
          `node id ${JSON.stringify(this.self.id)} is registered by another live node (etcd key ${key})`,
        );
      }
      if (taken) await new Promise<void>((resolve) => clock.setTimeout(resolve, 250));
      else leaseId = await this.#grant();
    }
    this.#leaseId = leaseId;
    this.#member = true;
  }

  /** A new lease for this node's registration (the previous one, if any, is no longer renewed), fenced. */
  async #grant(): Promise<string> {
    const { etcd, leaseTtl, clock } = this.#o;
    const previous = this.#lease;
    if (previous !== undefined) {
      this.#fences.get(previous)?.();
      this.#fences.delete(previous);
      previous.release();
    }
    const lease = etcd.lease(leaseTtl);
    this.#lease = lease;
    lease.on("lost", (err) => this.#lost(lease, err));
    const asked = clock.now();
    try {
      const leaseId = await lease.grant();
      this.#fence(lease, asked);
      return leaseId;
    } catch (err) {
      throw new ClusterError(ClusterErrorCode.EtcdUnavailable, `cannot reach etcd: ${String(err)}`, { cause: err });
    }
  }

  async #watch(): Promise<void> {
    const { etcd, keys } = this.#o;
    const listing = await etcd.getAll().prefix(keys.nodes).exec();
    for (const kv of listing.kvs) this.#put(kv);
    const next = (BigInt(listing.header.revision) + 1n).toString();
    const watcher = await etcd.watch().prefix(keys.nodes).startRevision(next).create();
    this.#watcher = watcher;
    watcher.on("put", (kv) => this.#put(kv));
    watcher.on("delete", (kv) => this.#delete(kv));
    watcher.on("error", (err) => this.#o.logger.warn({ err }, "membership watch error (the etcd3 client retries)"));
  }

  #put(kv: IKeyValue): void {
    const info = parseNodeInfo(kv.value.toString());
    if (info === undefined) {
      this.#o.logger.warn({ key: kv.key.toString() }, "ignoring an unreadable node registration");
      return;
    }
    if (info.id === this.self.id) return;
    const known = this.#nodes.get(info.id);
    if (known !== undefined && known.incarnation === info.incarnation) return;
    if (known !== undefined) this.#leave(known); // restarted: the old incarnation is gone
    this.#nodes.set(info.id, info);
    this.#o.logger.info({ node: info.id, host: info.host, port: info.port }, "cluster node joined");
    this.#events.emit("join", info);
  }

  #delete(kv: IKeyValue): void {
    const id = kv.key.toString().slice(this.#o.keys.nodes.length);
    if (id === this.self.id) {
      // Our own registration went away (lease expired while we could not renew it): "lost" follows from the client.
      return;
    }
    const known = this.#nodes.get(id);
    if (known !== undefined) this.#leave(known);
  }

  #leave(info: NodeInfo): void {
    this.#nodes.delete(info.id);
    this.#o.logger.info({ node: info.id }, "cluster node left");
    this.#events.emit("leave", info);
  }

  /**
   * The lease fence. The etcd3 client reports a lost lease only 2 TTLs after its last renewal, but etcd deletes the
   * lease (and every key on it: client-id ownership, the leader key) one TTL after it received the last renewal: in
   * between, another node may own what this one still serves. So the node counts its lease as lost itself once a TTL
   * (less a sixth, for timer lateness) has passed since it *sent* the last renewal etcd answered, which is no later
   * than etcd's own expiry. Renewals go every TTL/3, so two may fail without tripping it.
   */
  #fence(lease: Lease, grantedFrom: number): void {
    const { clock, leaseTtl } = this.#o;
    const window = leaseTtl * 1000 - Math.ceil((leaseTtl * 1000) / 6);
    let timer: TimerHandle | undefined;
    const arm = (from: number): void => {
      timer?.cancel();
      timer = clock.setTimeout(
        () => {
          // A renewal answered while this process was busy is read in the poll phase, after the timers: check then.
          setImmediate(() => {
            if (lease !== this.#lease || this.#closed || lease.revoked()) return;
            if (clock.now() - validFrom < window) return;
            lease.release(); // stop renewing: a lease renewed after the fence could keep stale keys alive
            this.#lost(lease, new Error(`cluster lease not renewed for ${window} ms`));
          });
        },
        Math.max(0, from + window - clock.now()),
      );
    };
    let validFrom = grantedFrom;
    arm(validFrom);
    onLeaseRenewed(lease, clock, (sentAt) => {
      validFrom = sentAt;
      arm(validFrom);
    });
    lease.on("lost", () => {
      timer?.cancel();
      this.#fences.delete(lease);
    });
    this.#fences.set(lease, () => timer?.cancel());
  }

  #lost(lease: Lease, err: Error): void {
    // Not yet (or not again) a member: the registration in progress sees the expired lease and takes a new one.
    if (this.#closed || lease !== this.#lease || !this.#member) return;
    this.#member = false;
    this.#o.logger.error({ err }, "cluster lease lost: this node is not a member until it registers again");
    this.#events.emit("lease-lost", err);
    this.#scheduleRejoin();
  }

  #scheduleRejoin(): void {
    if (this.#closed) return;
    this.#rejoinTimer = this.#o.clock.setTimeout(() => {
      this.#rejoinTimer = undefined;
      const deadline = this.#o.clock.now() + this.#o.leaseTtl * 1000 + 1000;
      this.#register(deadline).then(
        () => {
          if (this.#closed) return;
          this.#o.logger.info({ lease: this.#leaseId }, "cluster lease regained: registered again");
          this.#events.emit("rejoined", this.#leaseId);
        },
        (err: unknown) => {
          this.#o.logger.warn({ err }, "cannot register again yet");
          this.#lease?.release();
          this.#scheduleRejoin();
        },
      );
    }, REJOIN_RETRY_MS);
  }
}

/** `p`'s value, or undefined after `ms` (a call to an unreachable etcd must not hold a shutdown). */
export async function bounded<T>(p: Promise<T> | undefined, ms: number, clock: Clock): Promise<T | undefined> {
  if (p === undefined) return undefined;
  let timer: TimerHandle | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = clock.setTimeout(() => resolve(undefined), ms)));
  try {
    return await Promise.race([p.catch(() => undefined), timeout]);
  } finally {
    timer?.cancel();
  }
}

/** A NodeInfo from its JSON, or undefined when it is not one. */
export function parseNodeInfo(text: string): NodeInfo | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.id !== "string" || typeof o.host !== "string" || typeof o.port !== "number") return undefined;
  if (typeof o.incarnation !== "string" || typeof o.startedAt !== "number") return undefined;
  return { id: o.id, host: o.host, port: o.port, incarnation: o.incarnation, startedAt: o.startedAt };
}
