// One queue: its messages (held once, whatever the number of groups), its groups, limits, TTL and retention.
import type { Clock, Logger } from "../util/index.ts";
import { backoffDelay } from "./backoff.ts";
import type { QueueSettings } from "./config.ts";
import { QueueType } from "./config.ts";
import { Group } from "./group.ts";
import type { GroupHost } from "./group.ts";
import { partitionFor } from "./partition.ts";
import type { QueueRecord, QueueStore } from "./store.ts";
import { newCounters } from "./types.ts";
import type { QueueMessage } from "./types.ts";

/** What a queue needs from the engine. */
export interface QueueEnv {
  readonly store: QueueStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly random: () => number;
  wake(at: number): void;
  /** Moves `msg` of `from` to the DLQ of `from` (false: DLQ full). Also drops when the DLQ is disabled. */
  deadLetter(from: Queue, group: Group | undefined, msg: QueueMessage, reason: string, deliveryCount: number): boolean;
}

export class Queue implements GroupHost {
  readonly messages = new Map<number, QueueMessage>();
  readonly groups = new Map<string, Group>();
  readonly counters = newCounters();
  bytes = 0;
  #nextSeq = 1;
  #spread = 0;

  constructor(
    readonly name: string,
    readonly settings: QueueSettings,
    readonly env: QueueEnv,
  ) {}

  get store(): QueueStore {
    return this.env.store;
  }

  get clock(): Clock {
    return this.env.clock;
  }

  nextSeq(): number {
    return this.#nextSeq;
  }

  /** Seq of the oldest message held (nextSeq when empty). */
  firstSeq(): number {
    const first = this.messages.keys().next();
    return first.done === true ? this.#nextSeq : first.value;
  }

  wake(at: number): void {
    this.env.wake(at);
  }

  retryDelay(retry: number): number {
    return backoffDelay(this.settings.retry, retry, this.env.random);
  }

  isExpired(msg: QueueMessage, now: number): boolean {
    const at = msg.record.expiresAt;
    return at !== undefined && now >= at;
  }

  /** Would a message of `size` bytes fit the limits? The reason when it would not. */
  refusal(size: number): { code: "QUEUE_MESSAGE_TOO_LARGE" | "QUEUE_FULL"; reason: string } | undefined {
    const l = this.settings.limits;
    if (l.maxMessageSize > 0 && size > l.maxMessageSize) {
      return { code: "QUEUE_MESSAGE_TOO_LARGE", reason: `message of ${size} bytes exceeds ${l.maxMessageSize}` };
    }
    if (l.maxDepth > 0 && this.messages.size >= l.maxDepth) {
      return { code: "QUEUE_FULL", reason: `queue ${this.name} holds maxDepth ${l.maxDepth} messages` };
    }
    if (l.maxBytes > 0 && this.bytes + size > l.maxBytes) {
      return { code: "QUEUE_FULL", reason: `queue ${this.name} would exceed maxBytes ${l.maxBytes}` };
    }
    return undefined;
  }

  /** Appends (limits already checked) and offers the message to every group. */
  append(record: QueueRecord): QueueMessage {
    const seq = this.store.append(this.name, record);
    const msg = this.#hold(seq, record);
    for (const g of this.groups.values()) {
      g.offer(msg);
      g.pump();
    }
    if (record.expiresAt !== undefined) this.env.wake(record.expiresAt);
    if (this.settings.type === QueueType.Stream) this.trim(this.clock.now());
    return msg;
  }

  /** A message loaded from storage (recovery). */
  restore(seq: number, record: QueueRecord): QueueMessage {
    return this.#hold(seq, record);
  }

  setNextSeq(next: number): void {
    this.#nextSeq = Math.max(this.#nextSeq, next);
  }

  #hold(seq: number, record: QueueRecord): QueueMessage {
    const msg: QueueMessage = {
      seq,
      record,
      partition: partitionFor(record.partitionKey, this.settings.partitions, this.#spread++),
    };
    this.messages.set(seq, msg);
    this.bytes += record.payload.length;
    if (seq >= this.#nextSeq) this.#nextSeq = seq + 1;
    return msg;
  }

  /** GroupHost: `group` settled `seq`; a classic queue deletes the body once every group has. */
  settled(_group: Group, seq: number): void {
    if (this.settings.type === QueueType.Stream) return;
    for (const g of this.groups.values()) if (!g.isSettled(seq)) return;
    this.remove(seq);
  }

  deadLetter(group: Group, msg: QueueMessage, reason: string, deliveryCount: number): boolean {
    return this.env.deadLetter(this, group, msg, reason, deliveryCount);
  }

  /** Deletes a message for every group (settled everywhere, purge, retention, redrive). */
  remove(seq: number): boolean {
    const msg = this.messages.get(seq);
    if (msg === undefined) return false;
    this.messages.delete(seq);
    this.bytes -= msg.record.payload.length;
    this.store.remove(this.name, seq);
    for (const g of this.groups.values()) g.discard(seq);
    for (const g of this.groups.values()) g.advance();
    return true;
  }

  /** Creates a group starting after `floor` (its committed offset) and offers it every later message. */
  addGroup(name: string, floor: number): Group {
    const g = new Group(this, name, floor);
    this.groups.set(name, g);
    g.persistFloor();
    for (const msg of this.messages.values()) if (msg.seq > floor) g.offer(msg);
    return g;
  }

  /**
   * Removes group `name` (an ephemeral group whose last consumer left) with its stored state; a classic queue then
   * deletes the messages every remaining group has settled.
   */
  dropGroup(name: string): void {
    if (!this.groups.delete(name)) return;
    this.store.deleteGroup(this.name, name);
    if (this.settings.type !== QueueType.Classic || this.groups.size === 0) return;
    for (const seq of [...this.messages.keys()]) {
      if ([...this.groups.values()].every((g) => g.isSettled(seq))) this.remove(seq);
    }
  }

  /** A group loaded from storage (the engine restores its pending and done state). */
  addGroupRestored(name: string, floor: number): Group {
    const g = new Group(this, name, floor);
    this.groups.set(name, g);
    return g;
  }

  /** TTL and stream retention due at `now`: expired messages go to the DLQ (or are dropped), old stream data goes. */
  sweep(now: number): void {
    for (const msg of this.messages.values()) {
      const at = msg.record.expiresAt;
      if (at === undefined || at > now) break;
      if (this.groups.size === 0) {
        if (this.env.deadLetter(this, undefined, msg, "expired", 0)) this.remove(msg.seq);
        continue;
      }
      for (const g of this.groups.values()) if (!g.isSettled(msg.seq)) g.expire(msg);
    }
    if (this.settings.type === QueueType.Stream) this.trim(now);
  }

  /** Stream retention: the oldest messages go while over maxCount, maxBytes or maxAge. */
  trim(now: number): void {
    const r = this.settings.retention;
    for (const msg of this.messages.values()) {
      const over =
        (r.maxCount > 0 && this.messages.size > r.maxCount) ||
        (r.maxBytes > 0 && this.bytes > r.maxBytes) ||
        (r.maxAge > 0 && now - msg.record.enqueuedAt >= r.maxAge);
      if (!over) {
        if (r.maxAge > 0) this.env.wake(msg.record.enqueuedAt + r.maxAge);
        return;
      }
      this.remove(msg.seq);
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
    for (const msg of this.messages.values()) {
      if (msg.record.expiresAt !== undefined && msg.record.expiresAt < next) next = msg.record.expiresAt;
      break;
    }
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
