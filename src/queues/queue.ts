// One queue: the compact index of its messages (message-index.ts; bodies stay in the store, recent ones cached in
// bodies.ts), its groups, limits, TTL and retention.
import type { Clock, Logger } from "../util/index.ts";
import { backoffDelay } from "./backoff.ts";
import { QueueBodies } from "./bodies.ts";
import type { BodyCache } from "./bodies.ts";
import type { QueueSettings } from "./config.ts";
import { QueueType } from "./config.ts";
import { Group } from "./group.ts";
import type { GroupHost } from "./group.ts";
import { MessageIndex } from "./message-index.ts";
import { hashKey, partitionOfHash } from "./partition.ts";
import type { LoadedMessage, QueueRecord, QueueStore } from "./store.ts";
import { newCounters } from "./types.ts";
import type { QueueMessage } from "./types.ts";

/** What a queue needs from the engine. */
export interface QueueEnv {
  readonly store: QueueStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly random: () => number;
  readonly cache: BodyCache;
  /** Asks for a tick of `queue` at `at` (ms, clock time). */
  wake(at: number, queue: Queue): void;
  /** Moves `seq` of `from` to the DLQ of `from` (false: DLQ full). Also drops when the DLQ is disabled. */
  deadLetter(from: Queue, group: Group | undefined, seq: number, reason: string, deliveryCount: number): boolean;
}

export class Queue implements GroupHost {
  readonly index = new MessageIndex();
  readonly bodies: QueueBodies;
  readonly groups = new Map<string, Group>();
  /** The same groups as an array: the per-message loops (append, settle, remove) make no Map iterator each. */
  #groupList: Group[] = [];
  readonly counters = newCounters();
  bytes = 0;
  /**
   * Bodies of a store that cannot read them back (no `read`): kept in memory for as long as the message, as
   * before bodies were paged (a wrapper store written against the older QueueStore interface).
   */
  readonly #kept = new Map<number, QueueRecord>();
  #nextSeq = 1;
  #spread = 0;
  #unreadable = 0;
  /** The engine's earliest pending tick for this queue (Infinity: none); the engine keeps it. */
  scheduledAt = Number.POSITIVE_INFINITY;

  constructor(
    readonly name: string,
    readonly settings: QueueSettings,
    readonly env: QueueEnv,
  ) {
    this.bodies = new QueueBodies(env.cache);
  }

  get store(): QueueStore {
    return this.env.store;
  }

  get clock(): Clock {
    return this.env.clock;
  }

  /** Messages held. */
  get depth(): number {
    return this.index.count;
  }

  nextSeq(): number {
    return this.#nextSeq;
  }

  /** Seq of the oldest message held (nextSeq when empty). */
  firstSeq(): number {
    return this.index.first() ?? this.#nextSeq;
  }

  has(seq: number): boolean {
    return this.index.has(seq);
  }

  partitionOf(seq: number): number {
    return this.index.partitionOf(seq);
  }

  enqueuedAt(seq: number): number {
    return this.index.enqueuedAt(seq);
  }

  /** `<seq>-<append ms>` (types.ts messageIdOf). */
  messageId(seq: number): string {
    return `${seq}-${this.index.enqueuedAt(seq)}`;
  }

  isExpired(seq: number, now: number): boolean {
    const at = this.index.expiresAt(seq);
    return at !== undefined && now >= at;
  }

  /** The body of `seq`: cached, else read from the store; undefined when the queue does not hold it. */
  body(seq: number): QueueRecord | undefined {
    const cached = this.bodies.get(seq) ?? this.#kept.get(seq);
    if (cached !== undefined) return cached;
    if (!this.index.has(seq)) return undefined;
    const r = this.store.read?.(this.name, seq);
    if (r === undefined && this.#unreadable++ === 0) {
      this.env.logger.error({ queue: this.name, seq }, "queue message body missing from storage");
    }
    return r;
  }

  /** The message at `seq` with its body, or undefined. */
  message(seq: number): QueueMessage | undefined {
    const record = this.body(seq);
    return record === undefined ? undefined : { seq, partition: this.index.partitionOf(seq), record };
  }

  wake(at: number): void {
    this.env.wake(at, this);
  }

  retryDelay(retry: number): number {
    return backoffDelay(this.settings.retry, retry, this.env.random);
  }

  /** Would a message of `size` bytes fit the limits? The reason when it would not. */
  refusal(size: number): { code: "QUEUE_MESSAGE_TOO_LARGE" | "QUEUE_FULL"; reason: string } | undefined {
    const l = this.settings.limits;
    if (l.maxMessageSize > 0 && size > l.maxMessageSize) {
      return { code: "QUEUE_MESSAGE_TOO_LARGE", reason: `message of ${size} bytes exceeds ${l.maxMessageSize}` };
    }
    if (l.maxDepth > 0 && this.index.count >= l.maxDepth) {
      return { code: "QUEUE_FULL", reason: `queue ${this.name} holds maxDepth ${l.maxDepth} messages` };
    }
    if (l.maxBytes > 0 && this.bytes + size > l.maxBytes) {
      return { code: "QUEUE_FULL", reason: `queue ${this.name} would exceed maxBytes ${l.maxBytes}` };
    }
    return undefined;
  }

  /** Appends (limits already checked) and offers the message to every group; returns its seq. */
  append(record: QueueRecord): number {
    const seq = this.store.append(this.name, record);
    const key = record.partitionKey;
    const partition = this.#put(
      seq,
      key === undefined ? undefined : hashKey(key),
      record.payload.length,
      record.enqueuedAt,
      record.expiresAt,
      record.dlq !== undefined,
    );
    // Before any group sees it: a consumer with a free slot is handed it in this same call.
    if (this.store.read !== undefined) this.bodies.add(seq, record);
    else this.#kept.set(seq, record);
    const groups = this.#groupList;
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i]!;
      g.offer(seq, partition);
      g.pump();
    }
    if (record.expiresAt !== undefined) this.env.wake(record.expiresAt, this);
    if (this.settings.type === QueueType.Stream) this.trim(this.clock.now());
    return seq;
  }

  /** A message loaded from storage (recovery): indexed; its body stays in the store. */
  restore(m: LoadedMessage, record?: QueueRecord): void {
    this.#hold(m);
    if (record !== undefined && this.store.read === undefined) this.#kept.set(m.seq, record);
  }

  setNextSeq(next: number): void {
    this.#nextSeq = Math.max(this.#nextSeq, next);
  }

  #hold(m: LoadedMessage): number {
    return this.#put(m.seq, m.keyHash, m.size, m.enqueuedAt, m.expiresAt, m.deadLetter);
  }

  #put(
    seq: number,
    keyHash: number | undefined,
    size: number,
    enqueuedAt: number,
    expiresAt: number | undefined,
    deadLetter: boolean,
  ): number {
    const partition = partitionOfHash(keyHash, this.settings.partitions, this.#spread++);
    this.index.put(seq, partition, size, enqueuedAt, expiresAt, deadLetter);
    this.bytes += size;
    if (seq >= this.#nextSeq) this.#nextSeq = seq + 1;
    return partition;
  }

  /** GroupHost: `group` settled `seq`; a classic queue deletes the body once every group has. */
  settled(_group: Group, seq: number): void {
    if (this.settings.type === QueueType.Stream) return;
    const groups = this.#groupList;
    for (let i = 0; i < groups.length; i++) if (!groups[i]!.isSettled(seq)) return;
    this.remove(seq);
  }

  deadLetter(group: Group, seq: number, reason: string, deliveryCount: number): boolean {
    return this.env.deadLetter(this, group, seq, reason, deliveryCount);
  }

  /** Deletes a message for every group (settled everywhere, purge, retention, redrive). */
  remove(seq: number): boolean {
    const partition = this.index.partitionOf(seq);
    const size = this.index.delete(seq);
    if (size < 0) return false;
    this.bytes -= size;
    this.bodies.delete(seq);
    this.#kept.delete(seq);
    this.store.remove(this.name, seq);
    const groups = this.#groupList;
    for (let i = 0; i < groups.length; i++) groups[i]!.discard(seq, partition);
    for (let i = 0; i < groups.length; i++) groups[i]!.advance();
    return true;
  }

  /** Creates a group starting after `floor` (its committed offset) and offers it every later message. */
  addGroup(name: string, floor: number): Group {
    const g = new Group(this, name, floor);
    this.groups.set(name, g);
    this.#groupList = [...this.groups.values()];
    g.persistFloor();
    for (const seq of this.index.seqs()) if (seq > floor) g.offer(seq, this.index.partitionOf(seq));
    return g;
  }

  /**
   * Removes group `name` (an ephemeral group whose last consumer left) with its stored state; a classic queue then
   * deletes the messages every remaining group has settled.
   */
  dropGroup(name: string): void {
    if (!this.groups.delete(name)) return;
    this.#groupList = [...this.groups.values()];
    this.store.deleteGroup(this.name, name);
    if (this.settings.type !== QueueType.Classic || this.groups.size === 0) return;
    for (const seq of [...this.index.seqs()]) {
      if ([...this.groups.values()].every((g) => g.isSettled(seq))) this.remove(seq);
    }
  }

  /** A group loaded from storage (the engine restores its pending and done state). */
  addGroupRestored(name: string, floor: number): Group {
    const g = new Group(this, name, floor);
    this.groups.set(name, g);
    this.#groupList = [...this.groups.values()];
    return g;
  }

  /** TTL and stream retention due at `now`: expired messages go to the DLQ (or are dropped), old stream data goes. */
  sweep(now: number): void {
    for (const seq of this.index.seqs()) {
      const at = this.index.expiresAt(seq);
      if (at === undefined || at > now) break;
      if (this.groups.size === 0) {
        if (this.env.deadLetter(this, undefined, seq, "expired", 0)) this.remove(seq);
        continue;
      }
      for (const g of this.groups.values()) if (!g.isSettled(seq)) g.expire(seq);
    }
    if (this.settings.type === QueueType.Stream) this.trim(now);
  }

  /** Stream retention: the oldest messages go while over maxCount, maxBytes or maxAge. */
  trim(now: number): void {
    const r = this.settings.retention;
    for (const seq of this.index.seqs()) {
      const at = this.index.enqueuedAt(seq);
      const over =
        (r.maxCount > 0 && this.index.count > r.maxCount) ||
        (r.maxBytes > 0 && this.bytes > r.maxBytes) ||
        (r.maxAge > 0 && now - at >= r.maxAge);
      if (!over) {
        if (r.maxAge > 0) this.env.wake(at + r.maxAge, this);
        return;
      }
      this.remove(seq);
    }
  }

  /** Delivery timeouts, retries and sweeps due; returns the next deadline (Infinity if none). */
  tick(now: number): number {
    this.sweep(now);
    let next = Number.POSITIVE_INFINITY;
    for (const g of this.groups.values()) {
      const n = g.tick(now);
      if (n < next) next = n;
    }
    const first = this.index.first();
    const at = first === undefined ? undefined : this.index.expiresAt(first);
    if (at !== undefined && at < next) next = at;
    return next;
  }

  get consumerCount(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.consumers.length;
    return n;
  }

  get inflight(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.inflightSize;
    return n;
  }
}
