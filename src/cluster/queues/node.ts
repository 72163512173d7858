// One node's part of the clustered queues: the slots it owns (each a queue engine over a fenced, replicated store),
// the copies it keeps for other owners, and the glue between etcd ownership and replication.
//
// On acquiring a slot the node builds the slot's engine from its replica copy (the in-sync copy etcd let it claim
// with; empty for a slot never owned), so the engine recovers every message acknowledged before the failover, with
// its groups, delivery counts and retry schedules. On losing it (lease lapsed, handed over, fenced by a replica)
// the engine is closed and its state kept as a copy.
import type { Etcd3 } from "etcd3";
import { QueueEngine } from "../../queues/index.ts";
import type {
  ConsumerLink,
  EnqueueInput,
  JoinOptions,
  PublishOutcome,
  QueueConfigEntry,
  QueueDelivery,
} from "../../queues/index.ts";
import { silentLogger, systemClock } from "../../util/index.ts";
import type { Clock, Logger } from "../../util/index.ts";
import { ClusterQueueError, ClusterQueueErrorCode } from "./errors.ts";
import { FencedQueueStore } from "./fenced-store.ts";
import type { QueueLink, QueueReply, QueueRequest, ReplicaLink, ReplicationAck, ReplicationFrame } from "./frames.ts";
import { SlotOwnership } from "./ownership.ts";
import type { SharedLease, SlotOwner } from "./ownership.ts";
import { ReplicaHost } from "./replica-host.ts";
import { QueueRouting } from "./routing.ts";
import type { ClusterConsumer } from "./routing.ts";
import { ReplicationMode, SlotReplicator } from "./replicator.ts";
import type { ReplicaTarget, ReplicationModeValue } from "./replicator.ts";
import type { SlotJournal } from "./journal.ts";
import { SlotMemoryStore } from "./slot-store.ts";
import { slotOf } from "./slots.ts";

export interface ClusterQueueNodeOptions {
  etcd: Etcd3;
  nodeId: string;
  /** How frames reach other nodes' handleFrame() and handleRequest(). */
  link: ReplicaLink & QueueLink;
  /** Slots of the queue name space (default 64; every node must use the same). */
  slots?: number;
  /** Replicas per slot besides the owner (default 1). */
  replicas?: number;
  /** Default `sync`: the publisher is acknowledged once the replicas have the message. */
  replication?: ReplicationModeValue;
  /** Sync commits fail after this long without their replicas (default 10 s). */
  replicationTimeoutMs?: number;
  /** etcd lease TTL in seconds (default 3). */
  leaseTtl?: number;
  /** The node's lease from the cluster core's membership (one lease per node); default: a lease of its own. */
  lease?: SharedLease;
  /**
   * Durable slot copies (journal.ts): restored at construction, written on every change, acknowledged (replicas)
   * and committed (owner) once durable. Without it the copies live in memory only.
   */
  journal?: SlotJournal;
  prefix?: string;
  orphanGraceMs?: number;
  /** The `queues:` config entries (every node should have the same). */
  queues?: readonly QueueConfigEntry[];
  maxQueues?: number;
  clock?: Clock;
  logger?: Logger;
}

interface OwnedSlot {
  epoch: number;
  engine: QueueEngine;
  replicator: SlotReplicator;
  store: FencedQueueStore;
  local: SlotMemoryStore;
}

export interface SlotStatus {
  slot: number;
  owner: string | undefined;
  epoch: number | undefined;
  /** Present on the owner: its replicas with acknowledged index and lag (ops). */
  replicas?: { node: string; acked: number; lag: number; inSync: boolean }[];
  queues?: number;
  messages?: number;
  /** On the owner: writes accepted and refused at this epoch, first and last accepted (clock ms). */
  writes?: { accepted: number; refused: number; first: number; last: number };
}

export class ClusterQueueNode {
  readonly nodeId: string;
  readonly ownership: SlotOwnership;
  readonly copies: ReplicaHost;
  readonly mode: ReplicationModeValue;
  readonly routing: QueueRouting;
  readonly #o: ClusterQueueNodeOptions;
  readonly #owned = new Map<number, OwnedSlot>();
  readonly #clock: Clock;
  readonly #logger: Logger;
  /** Slots acquired and lost since start (admin, tests). */
  acquired = 0;
  lost = 0;
  /** Every ownership this node ended: slot, epoch, accepted and refused writes, first and last write time. */
  readonly history: { slot: number; epoch: number; writes: number; refused: number; first: number; last: number }[] =
    [];

  constructor(o: ClusterQueueNodeOptions) {
    this.#o = o;
    this.nodeId = o.nodeId;
    this.mode = o.replication ?? ReplicationMode.Sync;
    this.#clock = o.clock ?? systemClock;
    this.#logger = o.logger ?? silentLogger;
    this.copies = new ReplicaHost({
      knownEpoch: (slot) => this.ownership.ownerOf(slot)?.epoch ?? 0,
      journal: o.journal,
    });
    // Restarted with its data: the copies it held (owned slots included, as copies at their epoch) are what makes
    // it the in-sync member it was (with the same incarnation, from the journal).
    for (const c of o.journal?.found ?? []) this.copies.adopt(c.slot, c);
    this.ownership = new SlotOwnership({
      etcd: o.etcd,
      nodeId: o.nodeId,
      slots: o.slots ?? 64,
      replicas: o.replicas ?? 1,
      leaseTtl: o.leaseTtl ?? 3,
      lease: o.lease,
      incarnation: o.journal?.incarnation,
      prefix: o.prefix,
      orphanGraceMs: o.orphanGraceMs,
      clock: this.#clock,
      logger: this.#logger,
      replicaEpoch: (slot) => this.copies.epochOf(slot),
      onAcquire: (slot, epoch) => this.#acquire(slot, epoch),
      onLose: (slot, epoch) => this.#lose(slot, epoch),
      onChange: () => this.#retarget(),
    });
    const live = new Set<string>();
    this.routing = new QueueRouting({
      nodeId: o.nodeId,
      link: o.link,
      clock: this.#clock,
      logger: this.#logger,
      engineOf: (q) => this.engineOf(q),
      ownerOf: (q) => this.ownerOf(q),
      liveNodes: () => {
        live.clear();
        for (const n of this.ownership.nodes().keys()) live.add(n);
        return live;
      },
    });
  }

  start(): Promise<void> {
    return this.ownership.start();
  }

  async stop(): Promise<void> {
    await this.ownership.stop();
    for (const [slot, s] of [...this.#owned]) this.#lose(slot, s.epoch);
  }

  /** The receive side of the replica link: a frame from a slot's owner (acknowledged once durable). */
  handleFrame(frame: ReplicationFrame): Promise<ReplicationAck> {
    return this.copies.handleDurable(frame);
  }

  /** The receive side of the queue link: a proxied publish, join, leave or settlement, or a delivery. */
  handleRequest(from: string, req: QueueRequest): Promise<QueueReply> {
    return this.routing.handle(from, req);
  }

  /** The receive side of a delivery from a slot's owner to one of this node's consumers. */
  handleDeliver(from: string, consumer: string, d: QueueDelivery): void {
    this.routing.deliver(from, consumer, d);
  }

  /** Publishes to `queue` wherever its owner is (proxy routing); see QueueRouting.publish. */
  publishAnywhere(queue: string, input: EnqueueInput, timeoutMs?: number): Promise<PublishOutcome> {
    return this.routing.publish(queue, input, timeoutMs);
  }

  /** A consumer on this node of `queue`, wherever its owner is; it follows failovers. */
  consume(queue: string, group: string, link: ConsumerLink, opts?: JoinOptions): ClusterConsumer {
    return this.routing.consume(queue, group, link, opts);
  }

  slotOf(queue: string): number {
    return slotOf(queue, this.ownership.slots);
  }

  /** The owner of `queue`'s slot as etcd shows it. */
  ownerOf(queue: string): SlotOwner | undefined {
    return this.ownership.ownerOf(this.slotOf(queue));
  }

  /** The engine of `queue`'s slot when this node owns it (consumers join it; writes go through its fence). */
  engineOf(queue: string): QueueEngine | undefined {
    return this.#owned.get(this.slotOf(queue))?.engine;
  }

  /**
   * Appends to a queue whose slot this node owns and resolves once the message is acknowledged-safe: committed
   * locally and (sync) on the replicas. Throws CLUSTER_QUEUE_NO_OWNER when this node does not own the slot,
   * CLUSTER_QUEUE_FENCED when it lost it meanwhile, CLUSTER_QUEUE_NOT_REPLICATED when no replica answered.
   */
  async publish(queue: string, input: EnqueueInput): Promise<PublishOutcome> {
    const engine = this.engineOf(queue);
    if (engine === undefined) {
      const o = this.ownerOf(queue);
      throw new ClusterQueueError(
        ClusterQueueErrorCode.NoOwner,
        `queue ${queue} (slot ${this.slotOf(queue)}) is owned by ${o === undefined ? "no node right now" : o.node}`,
      );
    }
    const r = engine.publish(queue, input);
    if (r.ok) await engine.commit();
    return r;
  }

  /** Every slot: owner and epoch; on the owner its replicas' lag, queues and messages. */
  status(): SlotStatus[] {
    const out: SlotStatus[] = [];
    for (let slot = 0; slot < this.ownership.slots; slot++) {
      const o = this.ownership.ownerOf(slot);
      const st: SlotStatus = { slot, owner: o?.node, epoch: o?.epoch };
      const mine = this.#owned.get(slot);
      if (mine !== undefined) {
        st.replicas = mine.replicator.status().map(({ node, acked, lag, inSync }) => ({ node, acked, lag, inSync }));
        st.queues = mine.engine.list().length;
        st.messages = mine.local.messages;
        const w = mine.store;
        st.writes = { accepted: w.accepted, refused: w.refused, first: w.firstWriteAt, last: w.lastWriteAt };
      }
      out.push(st);
    }
    return out;
  }

  // ---- ownership events ---------------------------------------------------------------------------------------

  #targets(slot: number): ReplicaTarget[] {
    const out: ReplicaTarget[] = [];
    for (const node of this.ownership.replicaTargets(slot)) {
      const member = this.ownership.memberOf(node);
      if (member !== undefined) out.push({ node, member });
    }
    return out;
  }

  #acquire(slot: number, epoch: number): void {
    const copy = this.copies.take(slot);
    const local = copy?.store ?? new SlotMemoryStore();
    const journal = this.#o.journal;
    // The copy becomes this epoch's base: the ops of this ownership follow it (index 1, 2, … like the replicator's).
    journal?.reset(slot, epoch, 0, local);
    const replicator = new SlotReplicator({
      slot,
      epoch,
      self: this.ownership.member,
      store: local,
      link: this.#o.link,
      mode: this.mode,
      timeoutMs: this.#o.replicationTimeoutMs,
      clock: this.#clock,
      logger: this.#logger,
      setInSync: (members) => this.ownership.setInSync(slot, epoch, members),
      onFenced: () => this.#lose(slot, epoch),
    });
    const store = new FencedQueueStore({
      slot,
      epoch,
      fence: this.ownership,
      inner: local,
      onWrite: (op) => {
        replicator.record(op);
        journal?.append(slot, replicator.index, op, local);
      },
      // Sync: the replicas' acknowledgements; with a journal also this node's own durable write.
      replicated: () =>
        journal === undefined
          ? replicator.replicated()
          : Promise.all([journal.flushed(), replicator.replicated()]).then(() => undefined),
      now: () => this.#clock.now(),
    });
    const engine = new QueueEngine({
      store,
      clock: this.#clock,
      logger: this.#logger,
      config: this.#o.queues,
      maxQueues: this.#o.maxQueues,
    });
    this.#owned.set(slot, { epoch, engine, replicator, store, local });
    this.acquired++;
    replicator.setTargets(this.#targets(slot));
    this.routing.changed();
    this.#logger.info(
      { slot, epoch, node: this.nodeId, from: copy?.epoch, messages: local.messages },
      "cluster queues: slot engine started",
    );
  }

  #lose(slot: number, epoch: number): void {
    const s = this.#owned.get(slot);
    if (s === undefined || s.epoch !== epoch) return;
    this.#owned.delete(slot);
    this.lost++;
    const st = s.store;
    this.history.push({
      slot,
      epoch,
      writes: st.accepted,
      refused: st.refused,
      first: st.firstWriteAt,
      last: st.lastWriteAt,
    });
    s.replicator.close();
    s.engine.close();
    this.routing.engineClosed(s.engine);
    this.routing.changed();
    this.copies.adopt(slot, { epoch, index: s.replicator.index, store: s.local });
  }

  #retarget(): void {
    for (const [slot, s] of this.#owned) s.replicator.setTargets(this.#targets(slot));
    // A copy from an earlier epoch that the slot's current in-sync set does not list is of no use: a later owner
    // holds everything it has. Dropped (a node that is a replica again gets a fresh snapshot).
    for (const c of this.copies.list()) {
      const isr = this.ownership.inSyncOf(c.slot);
      if (isr !== undefined && c.epoch < isr.epoch && !isr.members.includes(this.ownership.member)) {
        this.copies.drop(c.slot);
      }
    }
    this.routing.changed();
  }

  /** As if the process died (tests): nothing more is sent or written; etcd expires this node after its TTL. */
  halt(): void {
    this.ownership.halt();
    for (const [slot, s] of [...this.#owned]) this.#lose(slot, s.epoch);
  }
}
