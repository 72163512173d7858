// One consumer group of one queue: which messages it still has to settle, who has them, and who gets the next one.
//
// Lifecycle of a message in a group (the queue holds the body once for all groups):
//   ready ──deliver──▶ inflight ──ack──▶ settled (the queue deletes the body once every group settled it;
//     ▲                  │  │                       a stream keeps it until its retention)
//     │   backoff over   │  └─reject / retries or totalTimeout exhausted──▶ dead-letter queue (one commit)
//     └──── waiting ◀────┘ nack / delivery timeout / (consumer lost: straight back to ready, no backoff)
//
// Ordering: `none` — one ready list, any consumer with a free prefetch slot; `partition` — partition p is served
// by one consumer at a time (owners rebalanced on join/leave; a partition moves only once its messages in flight
// with the old owner are settled or given back) and a message waiting for a retry holds back its partition;
// `strict` — one partition, one message in flight for the whole group.
import { SeqMap } from "../util/index.ts";
import type { Clock } from "../util/index.ts";
import { DeadlineHeap } from "./deadline-heap.ts";
import { SeqList } from "./fifo.ts";
import { HeldSeqs, InflightOrder } from "./inflight-order.ts";
import type { QueueSettings } from "./config.ts";
import { Ordering } from "./config.ts";
import { PartitionState } from "./partition-state.ts";
import type { PendingRecord, QueueRecord, QueueStore } from "./store.ts";
import { Consumer, Pending } from "./consumer.ts";
import type { ConsumerGroup } from "./consumer.ts";
import { Delivered } from "./types.ts";
import type { ConsumerLink, GroupInfo, QueueCounters } from "./types.ts";

/** What a group needs from its queue. */
export interface GroupHost {
  readonly name: string;
  readonly settings: QueueSettings;
  readonly store: QueueStore;
  readonly clock: Clock;
  readonly counters: QueueCounters;
  /** The queue holds `seq` (index only: no body is read). */
  has(seq: number): boolean;
  partitionOf(seq: number): number;
  enqueuedAt(seq: number): number;
  /** The body (cached, else read from the store); undefined if the queue no longer has it. */
  body(seq: number): QueueRecord | undefined;
  /** The group settled `seq`: the queue deletes the body when every group did (classic). */
  settled(group: Group, seq: number): void;
  /** Retries exhausted / rejected / expired: move to the DLQ (or drop); false when the DLQ is full. */
  deadLetter(group: Group, seq: number, reason: string, deliveryCount: number): boolean;
  /** Ask the engine's scheduler for a tick at `at` (ms). */
  wake(at: number): void;
  /** A ready message expired on its way out. */
  isExpired(seq: number, now: number): boolean;
  nextSeq(): number;
  retryDelay(retry: number): number;
}

export class Group implements ConsumerGroup {
  readonly consumers: Consumer[] = [];
  /** Per partition (one list for ordering none), ascending seqs ready for delivery. */
  readonly ready: SeqList[];
  /** Every message delivered at least once and not settled. */
  readonly pending = new SeqMap<Pending>();
  /** In flight, in delivery order: deadlines are monotonic (one deliveryTimeout per queue), so the first is due first. */
  readonly #inflight = new InflightOrder<Pending>();
  /** Waiting for a retry, by seq. */
  readonly #waiting = new Map<number, Pending>();
  /**
   * The same entries by due time (a heap: a tick touches only what is due, however many wait). An entry is stale
   * when its Pending left #waiting or was rescheduled (its `at` changed); stale entries are dropped when they surface.
   */
  readonly #due = new DeadlineHeap<Pending>();
  /**
   * Seqs above the floor settled by this group (a SeqMap, not a Set: added and deleted once per message; see
   * inflight-order.ts for what a churned hash table costs).
   */
  readonly done = new SeqMap<true>();
  /** Seqs with a persisted done marker. */
  readonly #doneStored = new SeqMap<true>();
  /** Partition owners, and per partition: in flight count, holder, waiting count. */
  readonly #parts: PartitionState<Consumer>;
  #rr = 0;
  #pumping = false;

  constructor(
    readonly host: GroupHost,
    readonly name: string,
    /** Every seq <= floor is settled for this group. */
    public floor: number,
  ) {
    const p = host.settings.ordering === Ordering.None ? 1 : host.settings.partitions;
    this.ready = Array.from({ length: p }, () => new SeqList());
    this.#parts = new PartitionState<Consumer>(host.settings.partitions);
  }

  get inflightSize(): number {
    return this.#inflight.size;
  }

  get waitingSize(): number {
    return this.#waiting.size;
  }

  get backlog(): number {
    let n = 0;
    for (const r of this.ready) n += r.length;
    return n;
  }

  #list(partition: number): SeqList {
    return this.ready.length === 1 ? this.ready[0]! : this.ready[partition]!;
  }

  isSettled(seq: number): boolean {
    return seq <= this.floor || this.done.has(seq);
  }

  // ---- messages in --------------------------------------------------------------------------------------

  /** A new message for this group (append, or recovery of one the group has not settled). */
  offer(seq: number, partition: number): void {
    this.#list(partition).insert(seq);
  }

  /** Recovery: a message delivered before the restart; it is ready again with its delivery count kept. */
  restorePending(seq: number, partition: number, rec: PendingRecord): void {
    const p = new Pending(seq, partition, rec.count);
    this.pending.set(seq, p);
    const now = this.host.clock.now();
    if (rec.visibleAt > now) this.#wait(p, rec.visibleAt);
    else this.#list(partition).insert(seq);
  }

  /** Recovery: a done marker above the floor. */
  restoreDone(seq: number): void {
    this.done.set(seq, true);
    this.#doneStored.set(seq, true);
  }

  /** `c`'s deliveries in flight as a set of seqs (Consumer.inflight). */
  heldSeqs(c: Consumer): ReadonlySet<number> {
    return new HeldSeqs(
      c,
      this.#inflight,
      (seq) => this.pending.get(seq),
      () => c.held,
    );
  }

  // ---- consumers ------------------------------------------------------------------------------------------

  join(link: ConsumerLink, prefetch: number): Consumer {
    const existing = this.consumers.find((c) => c.link === link || c.id === link.id);
    if (existing !== undefined && existing.link === link) {
      existing.prefetch = prefetch;
      this.pump();
      return existing;
    }
    if (existing !== undefined) this.leave(existing); // same client id, new connection
    const c = new Consumer(link, this, prefetch);
    this.consumers.push(c);
    this.#parts.rebalance(this.consumers);
    this.pump();
    return c;
  }

  /** The consumer left (unsubscribed, disconnected): what it holds goes to the others at once, in order. */
  leave(c: Consumer): void {
    const i = this.consumers.indexOf(c);
    if (i < 0) return;
    this.consumers.splice(i, 1);
    this.#inflight.forEach((p) => {
      if (p.consumer !== c) return;
      this.#inflight.delete(p);
      this.#parts.released(p.partition, c);
      p.consumer = undefined;
      this.#list(p.partition).insert(p.seq); // no backoff: the consumer did not fail the message, its connection went away
    });
    c.held = 0;
    this.#parts.rebalance(this.consumers);
    this.pump();
  }

  // ---- delivery -------------------------------------------------------------------------------------------

  /** Hands ready messages to consumers with free prefetch slots. Re-entrant calls (from a link) are ignored. */
  pump(): void {
    if (this.#pumping || this.consumers.length === 0) return;
    this.#pumping = true;
    try {
      if (this.host.settings.ordering === Ordering.None) this.#pumpAny();
      else this.#pumpPartitions();
    } finally {
      this.#pumping = false;
    }
  }

  #pumpAny(): void {
    const list = this.ready[0]!;
    const consumers = this.consumers;
    let idle = 0; // consecutive consumers without a free slot
    while (list.length > 0 && idle < consumers.length) {
      const c = consumers[this.#rr++ % consumers.length]!;
      if (c.free <= 0) {
        idle++;
        continue;
      }
      idle = 0;
      const seq = list.shift()!;
      this.#deliver(c, seq);
    }
  }

  #pumpPartitions(): void {
    const strict = this.host.settings.ordering === Ordering.Strict;
    for (let part = 0; part < this.ready.length; part++) {
      const list = this.ready[part]!;
      for (let c = this.#parts.server(part, strict); c !== undefined && c.free > 0 && list.length > 0;) {
        this.#deliver(c, list.shift()!);
        c = this.#parts.server(part, strict);
      }
    }
  }

  #deliver(c: Consumer, seq: number): void {
    const host = this.host;
    if (!host.has(seq)) {
      this.#drop(seq); // deleted meanwhile (purge, retention)
      return;
    }
    const now = host.clock.now();
    let p = this.pending.get(seq);
    if (host.isExpired(seq, now)) {
      this.#deadOrDrop(seq, p, "expired");
      return;
    }
    const r = host.body(seq); // cached when recent, else one read from the store
    if (r === undefined) {
      this.#drop(seq); // unreadable (logged by the queue): settled rather than retried forever
      return;
    }
    if (p === undefined) {
      p = new Pending(seq, host.partitionOf(seq), 0);
      this.pending.set(seq, p);
    }
    p.count++;
    p.consumer = c;
    p.at = now + host.settings.deliveryTimeout;
    this.#inflight.add(p);
    c.held++;
    this.#parts.delivered(p.partition, c);
    host.store.putPending(host.name, this.name, seq, { count: p.count, visibleAt: 0 });
    host.counters.delivered++;
    if (this.#inflight.size === 1) host.wake(p.at);
    c.link.send(
      new Delivered(
        host.name,
        this.name,
        seq,
        r.enqueuedAt,
        p.count,
        p.partition,
        r.payload,
        r.properties,
        r.partitionKey,
        r.dlq,
        r.expiresAt,
      ),
    );
  }

  // ---- settlement -----------------------------------------------------------------------------------------

  /** Pending entry of `seq`, if the group has delivered it and not settled it. */
  pendingOf(seq: number): Pending | undefined {
    return this.pending.get(seq);
  }

  ack(seq: number): boolean {
    const p = this.pending.get(seq);
    if (p === undefined) return false;
    this.#forget(p);
    this.host.store.deletePending(this.host.name, this.name, seq);
    this.host.counters.acked++;
    this.settle(seq);
    this.pump();
    return true;
  }

  /** nack (or delivery timeout): retry after `delay` ms (backoff unless the consumer asked), or dead-letter. */
  nack(seq: number, retryAfter: number | undefined, timedOut = false): boolean {
    const p = this.pending.get(seq);
    if (p === undefined) return false;
    const host = this.host;
    if (timedOut) host.counters.timedOut++;
    else host.counters.nacked++;
    if (!host.has(seq)) {
      this.#forget(p);
      this.#drop(seq);
      return true;
    }
    const now = host.clock.now();
    const retry = host.settings.retry;
    let reason: string | undefined;
    if (p.count > retry.maxRetries && host.settings.dlq.enabled) reason = "max-retries";
    else if (retry.totalTimeout > 0 && now - host.enqueuedAt(seq) >= retry.totalTimeout) reason = "total-timeout";
    if (reason !== undefined) {
      this.#deadOrDrop(seq, p, reason);
      this.pump();
      return true;
    }
    this.#forget(p);
    const delay = retryAfter ?? host.retryDelay(p.count);
    this.#wait(p, now + delay);
    host.store.putPending(host.name, this.name, seq, { count: p.count, visibleAt: now + delay });
    this.pump();
    return true;
  }

  reject(seq: number, reason: string | undefined): boolean {
    const p = this.pending.get(seq);
    if (p === undefined) return false;
    this.host.counters.rejected++;
    if (!this.host.has(seq)) {
      this.#forget(p);
      this.#drop(seq);
    } else {
      this.#deadOrDrop(seq, p, reason === undefined || reason === "" ? "rejected" : `rejected: ${reason}`);
    }
    this.pump();
    return true;
  }

  /** Moves to the DLQ; when the DLQ is full the message stays (parked, retried after maxBackoff). */
  #deadOrDrop(seq: number, p: Pending | undefined, reason: string): void {
    const host = this.host;
    const count = p?.count ?? 0;
    const partition = p?.partition ?? host.partitionOf(seq);
    if (p !== undefined) this.#forget(p);
    if (host.deadLetter(this, seq, reason, count)) {
      if (p !== undefined) host.store.deletePending(host.name, this.name, seq);
      this.#list(partition).remove(seq);
      this.settle(seq);
      return;
    }
    // DLQ full: nothing moves, nothing is lost; the move is tried again later and the condition is counted.
    const parked = p ?? new Pending(seq, partition, count);
    this.pending.set(seq, parked);
    parked.parked = reason;
    this.#list(partition).remove(seq);
    this.#wait(parked, host.clock.now() + Math.max(1000, host.settings.retry.maxBackoff));
  }

  /** Leaves in-flight / waiting state (not the pending map). */
  #forget(p: Pending): void {
    const c = p.consumer;
    if (c !== undefined) {
      c.held--;
      this.#inflight.delete(p);
      this.#parts.released(p.partition, c);
      p.consumer = undefined;
    }
    if (this.#waiting.delete(p.seq)) this.#parts.waitEnded(p.partition);
    this.pending.delete(p.seq);
  }

  #wait(p: Pending, at: number): void {
    p.at = at;
    this.pending.set(p.seq, p);
    this.#waiting.set(p.seq, p);
    this.#parts.waitStarted(p.partition);
    this.#due.push(at, p);
    this.host.wake(at);
  }

  /** The waiting entry due first, with stale heap entries dropped on the way. */
  #firstDue(): Pending | undefined {
    for (;;) {
      const p = this.#due.peek();
      if (p === undefined) return undefined;
      if (this.#waiting.get(p.seq) === p && p.at === this.#due.peekAt()) return p;
      this.#due.pop();
    }
  }

  /** A seq that no longer exists (purged, retention) leaves the group's state. */
  #drop(seq: number): void {
    const p = this.pending.get(seq);
    if (p !== undefined) {
      this.#forget(p);
      this.host.store.deletePending(this.host.name, this.name, seq);
    }
    this.settle(seq);
  }

  /**
   * Marks `seq` settled for the group: the queue deletes the body once every group settled it (classic), the floor
   * (the committed offset) moves over settled seqs, and a done marker is stored only while the body is still kept
   * for someone else — so a classic queue with one group writes nothing here beyond the body's removal.
   */
  settle(seq: number): void {
    const host = this.host;
    if (seq <= this.floor || this.done.has(seq)) return;
    this.done.set(seq, true);
    host.settled(this, seq);
    this.#advance();
    if (seq > this.floor && host.has(seq) && !this.#doneStored.has(seq)) {
      this.#doneStored.set(seq, true);
      host.store.putDone(host.name, this.name, seq);
    }
  }

  /** Moves the floor over settled seqs and seqs that no longer exist; persists it when anything needs it. */
  #advance(): void {
    const host = this.host;
    const next = host.nextSeq();
    const start = this.floor;
    let write = false;
    for (;;) {
      const s = this.floor + 1;
      if (s >= next) break;
      if (!this.done.delete(s) && (host.has(s) || this.pending.has(s))) break;
      this.floor = s;
      if (this.#doneStored.delete(s)) {
        host.store.deleteDone(host.name, this.name, s);
        write = true;
      }
      if (host.has(s)) write = true;
    }
    if (this.floor !== start && (write || host.settings.type === "stream")) this.persistFloor();
  }

  persistFloor(): void {
    this.host.store.putGroup(this.host.name, this.name, { floor: this.floor, createdAt: 0 });
  }

  // ---- time -----------------------------------------------------------------------------------------------

  /** Delivery timeouts and retries due at `now`; returns the next deadline of this group (or Infinity). */
  tick(now: number): number {
    for (const p of this.#inflight.values()) {
      if (p.at > now) break;
      this.nack(p.seq, undefined, true);
    }
    for (let p = this.#firstDue(); p !== undefined && p.at <= now; p = this.#firstDue()) {
      this.#due.pop();
      this.#waiting.delete(p.seq);
      this.#parts.waitEnded(p.partition);
      if (!this.host.has(p.seq)) {
        this.pending.delete(p.seq);
        this.#drop(p.seq);
      } else if (p.parked !== undefined) {
        const reason = p.parked;
        p.parked = undefined;
        this.#deadOrDrop(p.seq, p, reason);
      } else {
        this.#list(p.partition).insert(p.seq);
      }
    }
    this.pump();
    let next = Number.POSITIVE_INFINITY;
    const first = this.#inflight.first();
    if (first !== undefined) next = first.at;
    const due = this.#firstDue();
    if (due !== undefined && due.at < next) next = due.at;
    return next;
  }

  /** TTL sweep: an expired message not in flight leaves the group (DLQ `expired`, or dropped). */
  expire(seq: number): void {
    const p = this.pending.get(seq);
    if (p?.consumer !== undefined) return; // in flight: its consumer may still settle it
    if (p?.parked !== undefined) return; // already waiting for room in the DLQ
    this.#deadOrDrop(seq, p, "expired");
    this.pump();
  }

  /** Removes `seq` from every structure (purge, retention, redrive out of a DLQ), persisting the removal. */
  discard(seq: number, partition: number): void {
    const p = this.pending.get(seq);
    if (p !== undefined) {
      this.#forget(p);
      this.host.store.deletePending(this.host.name, this.name, seq);
    }
    this.#list(partition).remove(seq);
    if (this.#doneStored.delete(seq)) this.host.store.deleteDone(this.host.name, this.name, seq);
    this.done.delete(seq);
  }

  /** After messages were removed from the queue: the floor moves over them. */
  advance(): void {
    this.#advance();
  }

  info(): GroupInfo {
    return {
      name: this.name,
      consumers: this.consumers.map((c) => ({
        id: c.id,
        prefetch: c.prefetch,
        inflight: c.held,
        partitions: this.host.settings.ordering === Ordering.None ? [] : [...c.partitions],
      })),
      inflight: this.#inflight.size,
      retrying: this.#waiting.size,
      backlog: this.backlog,
      floor: this.floor,
    };
  }
}
