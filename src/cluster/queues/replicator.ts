// The owner side of a slot's replication. Every write of the slot's engine is an op in the slot's log (index 1, 2,
// 3 … per epoch); each replica is sent a snapshot first, then the ops after it: the ops of one turn of the event
// loop go as one frame (group commit), and up to WINDOW frames are in flight per replica (pipelined: a commit waits
// about one round trip to the replica, not one and a half as with one frame at a time). The link is ordered, so
// the replica applies them in order; an acknowledgement covers every op up to the index it names. A replica that
// acknowledged its snapshot joins the slot's in-sync set in etcd: only in-sync nodes may take the slot over.
//
// `replication: sync` — commit() (what the broker waits on before the PUBACK) resolves only once every current
// replica acknowledged every op written so far, there is at least one replica, and a replica that left the set
// has been removed from the in-sync set in etcd (so a node that misses later writes can never be chosen to take
// over). No replica within `timeoutMs`: the commit fails, the publisher is not acknowledged.
// `replication: async` — commit() waits for the local write only; the replicas follow (the loss window on an
// owner crash is what they had not acknowledged: `lag` ops).
import type { Clock, Logger, TimerHandle } from "../../util/index.ts";
import { ClusterQueueError, ClusterQueueErrorCode } from "./errors.ts";
import type { ReplicaLink, ReplicationAck, ReplicationFrame } from "./frames.ts";
import type { StoreOp } from "./ops.ts";
import type { SlotMemoryStore } from "./slot-store.ts";

export const ReplicationMode = { Sync: "sync", Async: "async" } as const;
export type ReplicationModeValue = (typeof ReplicationMode)[keyof typeof ReplicationMode];

export interface ReplicaTarget {
  node: string;
  /** `node@incarnation`: what the in-sync set records. */
  member: string;
}

export interface SlotReplicatorOptions {
  slot: number;
  epoch: number;
  /** This node's `node@incarnation`. */
  self: string;
  store: SlotMemoryStore;
  link: ReplicaLink;
  mode: ReplicationModeValue;
  /** How long a sync commit waits for its replicas (default 10 s). */
  timeoutMs?: number;
  /** Ops already in the store when this owner started (a promoted replica's index). */
  startIndex?: number;
  clock: Clock;
  logger: Logger;
  /** Records the in-sync set in etcd if the slot is still ours at this epoch. */
  setInSync: (members: string[]) => Promise<boolean>;
  /** A replica knows a later epoch: this node is a former owner. */
  onFenced: (epoch: number) => void;
}

/** Frames in flight per replica. */
const WINDOW = 8;

interface Replica {
  readonly target: ReplicaTarget;
  /** Highest op index the replica acknowledged (-1: no snapshot yet). */
  acked: number;
  /** Highest op index sent in this generation (frames after `acked` are in flight). */
  sent: number;
  /** Frames in flight in this generation. */
  inFlight: number;
  /** Bumped when the frames in flight are given up (a failure, a resync): their answers only raise `acked`. */
  gen: number;
  snapshot: boolean;
  retry: TimerHandle | undefined;
  failures: number;
}

interface Waiter {
  index: number;
  promise: Promise<void>;
  resolve: () => void;
  reject: (e: Error) => void;
  timer: TimerHandle;
}

export class SlotReplicator {
  readonly slot: number;
  readonly epoch: number;
  readonly mode: ReplicationModeValue;
  /** Ops written (the log's last index). */
  index: number;
  readonly #o: SlotReplicatorOptions;
  readonly #replicas = new Map<string, Replica>();
  /** Ops after #base (what some replica may still need). */
  #log: StoreOp[] = [];
  #base: number;
  #waiters: Waiter[] = [];
  /** The in-sync set as last written (members), and the write in progress. */
  #isr: string[];
  #isrWrite: Promise<void> = Promise.resolve();
  /** A member left the set and its removal from etcd is not confirmed: sync commits wait for it. */
  #removalPending = 0;
  #closed = false;
  #scheduled = false;

  constructor(o: SlotReplicatorOptions) {
    this.#o = o;
    this.slot = o.slot;
    this.epoch = o.epoch;
    this.mode = o.mode;
    this.index = o.startIndex ?? 0;
    this.#base = this.index;
    this.#isr = [o.self];
  }

  /** An accepted write of the slot's engine (synchronous, in write order). */
  record(op: StoreOp): void {
    if (this.#closed) return;
    this.index++;
    if (this.#replicas.size === 0) {
      // Nobody to send it to: a replica added later starts from a snapshot, so the log keeps nothing (it would
      // otherwise grow without bound on a node left alone).
      this.#log = [];
      this.#base = this.index;
      return;
    }
    this.#log.push(op);
    this.#schedule();
  }

  /** Ops kept for replicas that have not acknowledged them yet. */
  get backlog(): number {
    return this.#log.length;
  }

  /** The replicas this slot should have now (from the ownership view); new ones start with a snapshot. */
  setTargets(targets: readonly ReplicaTarget[]): void {
    if (this.#closed) return;
    const want = new Map(targets.map((t) => [t.member, t]));
    for (const [member, r] of this.#replicas) {
      if (want.has(member)) continue;
      r.retry?.cancel();
      this.#replicas.delete(member);
      if (this.#isr.includes(member)) void this.#removeFromIsr();
    }
    for (const [member, target] of want) {
      if (this.#replicas.has(member)) continue;
      this.#replicas.set(member, {
        target,
        acked: -1,
        sent: -1,
        inFlight: 0,
        gen: 0,
        snapshot: true,
        retry: undefined,
        failures: 0,
      });
    }
    this.#schedule();
    this.#check();
  }

  /** Resolves when the writes so far are replicated as the mode requires (the fenced store's commit waits on it). */
  replicated(): Promise<void> {
    if (this.#closed) return Promise.reject(this.#fencedError());
    if (this.mode === ReplicationMode.Async) return Promise.resolve();
    const index = this.index;
    if (this.#satisfied(index)) return Promise.resolve();
    // Every commit of one turn waits for the same index (the writes of the turn come first): one waiter, one timer.
    const last = this.#waiters[this.#waiters.length - 1];
    if (last?.index === index) return last.promise;
    const ms = this.#o.timeoutMs ?? 10_000;
    const waiter = { index } as Waiter;
    waiter.promise = new Promise<void>((resolve, reject) => {
      waiter.resolve = resolve;
      waiter.reject = reject;
    });
    waiter.timer = this.#o.clock.setTimeout(() => {
      this.#waiters = this.#waiters.filter((w) => w !== waiter);
      waiter.reject(
        new ClusterQueueError(
          ClusterQueueErrorCode.NotReplicated,
          `slot ${this.slot}: no replica acknowledged op ${index} within ${ms} ms (replicas: ${
            [...this.#replicas.keys()].join(", ") || "none"
          })`,
        ),
      );
    }, ms);
    this.#waiters.push(waiter);
    return waiter.promise;
  }

  /** Stops replicating (the slot was lost): waiting commits fail, the publisher is not acknowledged. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const r of this.#replicas.values()) r.retry?.cancel();
    const err = this.#fencedError();
    for (const w of this.#waiters) {
      w.timer.cancel();
      w.reject(err);
    }
    this.#waiters = [];
  }

  /** Per replica: acknowledged index and lag in ops (admin, metrics). */
  status(): { node: string; member: string; acked: number; lag: number; inSync: boolean }[] {
    return [...this.#replicas.values()].map((r) => ({
      node: r.target.node,
      member: r.target.member,
      acked: r.acked,
      lag: r.acked < 0 ? this.index : this.index - r.acked,
      inSync: this.#isr.includes(r.target.member),
    }));
  }

  // ---- internals ----------------------------------------------------------------------------------------------

  #fencedError(): ClusterQueueError {
    return new ClusterQueueError(ClusterQueueErrorCode.Fenced, `slot ${this.slot}: epoch ${this.epoch} ended`);
  }

  /**
   * Sync: at least one replica, every replica acknowledged `index` and is recorded in the in-sync set, and no
   * departed replica is still recorded there — so whoever etcd lets take the slot over holds `index`.
   */
  #satisfied(index: number): boolean {
    if (this.#replicas.size === 0 || this.#removalPending > 0) return false;
    for (const r of this.#replicas.values()) if (r.acked < index || !this.#isr.includes(r.target.member)) return false;
    return true;
  }

  /** Records a departed replica's removal; sync commits wait until etcd has it (retried until it does). */
  async #removeFromIsr(): Promise<void> {
    this.#removalPending++;
    try {
      for (let attempt = 0; !this.#closed; attempt++) {
        try {
          await this.#writeIsr();
          return;
        } catch {
          await new Promise<void>((r) => this.#o.clock.setTimeout(r, Math.min(1000, 50 * 2 ** attempt)));
        }
      }
    } finally {
      this.#removalPending--;
      this.#check();
    }
  }

  #check(): void {
    if (this.#waiters.length === 0) return;
    const keep: Waiter[] = [];
    for (const w of this.#waiters) {
      if (this.#satisfied(w.index)) {
        w.timer.cancel();
        w.resolve();
      } else keep.push(w);
    }
    this.#waiters = keep;
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      for (const r of this.#replicas.values()) this.#pump(r);
    });
  }

  #pump(r: Replica): void {
    if (this.#closed || r.retry !== undefined || this.#replicas.get(r.target.member) !== r) return;
    if (r.snapshot || r.acked < this.#base) {
      // A snapshot goes alone: after whatever is in flight, and nothing follows it until it is acknowledged.
      if (r.inFlight > 0) return;
      r.snapshot = true;
      const frame: ReplicationFrame = {
        kind: "snapshot",
        slot: this.slot,
        epoch: this.epoch,
        index: this.index,
        queues: this.#o.store.load(),
      };
      this.#send(r, frame, this.index);
      return;
    }
    while (r.inFlight < WINDOW && r.sent < this.index) {
      const from = r.sent + 1;
      const frame: ReplicationFrame = {
        kind: "ops",
        slot: this.slot,
        epoch: this.epoch,
        from,
        ops: this.#log.slice(from - this.#base - 1),
      };
      this.#send(r, frame, this.index);
    }
  }

  #send(r: Replica, frame: ReplicationFrame, upTo: number): void {
    r.inFlight++;
    r.sent = upTo;
    const gen = r.gen;
    this.#o.link.send(r.target.node, frame).then(
      (ack) => this.#acked(r, gen, frame, ack),
      (err: unknown) => this.#failed(r, gen, err),
    );
  }

  /** Gives up the frames in flight: what follows starts again from what the replica acknowledged. */
  #restart(r: Replica): void {
    r.gen++;
    r.inFlight = 0;
    r.sent = r.acked;
  }

  #acked(r: Replica, gen: number, frame: ReplicationFrame, ack: ReplicationAck): void {
    if (gen === r.gen) r.inFlight--;
    if (this.#closed) return;
    if (!ack.ok) {
      if (ack.reason === "fenced") {
        this.#o.logger.warn(
          { slot: this.slot, epoch: this.epoch, newer: ack.epoch },
          "cluster queues: fenced by a replica",
        );
        this.#o.onFenced(ack.epoch);
        return;
      }
      if (gen !== r.gen) return; // an answer to a frame already given up
      r.snapshot = true;
      this.#restart(r);
      this.#pump(r);
      return;
    }
    r.failures = 0;
    // An acknowledged index is the replica's state at this epoch whenever it was sent: it only ever grows.
    r.acked = Math.max(r.acked, ack.index);
    if (gen !== r.gen) {
      this.#check();
      return;
    }
    const first = r.snapshot && frame.kind === "snapshot";
    if (first) r.snapshot = false;
    if (first && !this.#isr.includes(r.target.member)) {
      this.#writeIsr().then(
        () => this.#check(),
        () => {
          r.snapshot = true; // not recorded: start over (a new snapshot, another attempt to record it)
          this.#restart(r);
          this.#pump(r);
        },
      );
    }
    this.#trim();
    this.#check();
    this.#pump(r);
  }

  #failed(r: Replica, gen: number, err: unknown): void {
    if (gen !== r.gen) return; // given up already
    this.#restart(r);
    if (this.#closed || this.#replicas.get(r.target.member) !== r) return;
    r.failures++;
    if (r.failures === 1) {
      this.#o.logger.warn({ err, slot: this.slot, replica: r.target.node }, "cluster queues: replication frame failed");
    }
    // Resend from what it acknowledged (the replica skips ops it already has), after a short backoff.
    r.retry = this.#o.clock.setTimeout(
      () => {
        r.retry = undefined;
        this.#pump(r);
      },
      Math.min(1000, 50 * 2 ** Math.min(r.failures, 5)),
    );
  }

  /** Drops log entries every replica has (a replica without a snapshot will get one: it needs none of them). */
  #trim(): void {
    let min = this.index;
    for (const r of this.#replicas.values()) if (!r.snapshot && r.acked < min) min = r.acked;
    if (min > this.#base) {
      this.#log = this.#log.slice(min - this.#base);
      this.#base = min;
    }
  }

  /** Writes the in-sync set: this node and every replica that acknowledged its snapshot (one write at a time). */
  #writeIsr(): Promise<void> {
    const next = this.#isrWrite.then(async () => {
      if (this.#closed) return;
      const members = [this.#o.self];
      for (const r of this.#replicas.values()) if (!r.snapshot && r.acked >= 0) members.push(r.target.member);
      try {
        if (await this.#o.setInSync(members)) this.#isr = members;
      } catch (err) {
        this.#o.logger.warn({ err, slot: this.slot }, "cluster queues: in-sync set not recorded");
        throw err;
      }
    });
    this.#isrWrite = next.catch(() => undefined);
    return next;
  }
}
