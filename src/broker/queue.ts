// Bounded per-session queue of deliveries waiting to be sent: while the session is offline, while its inflight
// window is full, or while the client's socket is applying backpressure.
//
// Overflow policy (docs/broker.md "Queues and overflow"): the queue holds at most `maxMessages` deliveries and
// `maxBytes` payload bytes (0 = no byte bound).
//  - QoS 0 may be dropped: when full, the oldest queued QoS 0 delivery makes room (or, if none is queued, the new
//    QoS 0 delivery itself is dropped). Every drop is counted (stats.droppedQos0).
//  - QoS 1/2 is never dropped silently: queued QoS 0 deliveries are evicted first; if the queue holds only QoS 1/2,
//    the new delivery is refused and the caller counts it (stats.queueRejected) and logs at warn. A 5.0 publisher
//    whose message reached no subscriber because of this gets PUBACK/PUBREC 0x97 Quota exceeded.
//  - Except while the delivery's publisher is being held by this (online, not slow) subscriber's backpressure
//    (src/broker/backpressure.ts): then it is queued over the limit (`force`), at most one message per held
//    publisher, because that publisher handles no further packet until the subscriber drains.
//
// Priority (docs/broker.md "Priority"): the backlog is handed out highest priority first (the 5.0 user property
// `priority`, 0..9, default 4), FIFO within a level; QoS 0 evictions take the lowest level's oldest first.
import { Fifo } from "../util/index.ts";
import type { Delivery } from "./message.ts";
import { priorityOf } from "./priority.ts";
import type { Counters } from "./stats.ts";

const isQos0 = (d: Delivery): boolean => d.qos === 0;

export const EnqueueResult = {
  /** Queued; nothing dropped. */
  Queued: 0,
  /** Queued after evicting one or more older QoS 0 deliveries (see `evicted`). */
  QueuedEvicted: 1,
  /** The new QoS 0 delivery was dropped: the queue is full of QoS 1/2. */
  DroppedQos0: 2,
  /** The new QoS 1/2 delivery was refused: the queue is full of QoS 1/2. */
  Rejected: 3,
} as const;
export type EnqueueResultValue = (typeof EnqueueResult)[keyof typeof EnqueueResult];

export interface QueueLimits {
  maxMessages: number;
  /** Payload bytes; 0 = unlimited. */
  maxBytes: number;
  /** Shared by every queue of a broker: payload bytes queued in all of them (mqtt.maxQueuedBytesTotal). */
  budget?: { used: number; readonly max: number } | undefined;
}

/**
 * push() with the overflow policy's accounting: QoS 0 drops go to `droppedQos0`, a refused QoS 1/2 delivery to
 * `queueRejected`. Returns false when the delivery was refused (the caller logs it).
 */
export function pushCounted(queue: SessionQueue, d: Delivery, counters: Counters, force = false): boolean {
  switch (queue.push(d, force)) {
    case EnqueueResult.Queued:
      return true;
    case EnqueueResult.QueuedEvicted:
      counters.droppedQos0 += queue.evicted;
      return true;
    case EnqueueResult.DroppedQos0:
      counters.droppedQos0++;
      return true;
    default:
      counters.queueRejected++;
      return false;
  }
}

/**
 * The queue: one FIFO per priority level (priority.ts), created on first use, handed out highest level first and in
 * arrival order within a level. Messages without a priority are all at the default level, so a session that never
 * sees one has a single FIFO and its order is the arrival order, as without priorities.
 */
export class SessionQueue {
  readonly #levels: (Fifo<Delivery> | undefined)[] = [];
  /** Highest level that may be non-empty (an upper bound: levels above it are empty). */
  #top = -1;
  #length = 0;
  #bytes = 0;
  #qos0 = 0;
  /** Number of QoS 0 deliveries evicted by the last push (for the caller's stats). */
  evicted = 0;
  /** The deliveries evicted by the last push, until takeEvicted() (allocated only when something is evicted). */
  #evictedItems: Delivery[] | undefined = undefined;

  constructor(readonly limits: QueueLimits) {}

  get length(): number {
    return this.#length;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** The next delivery to send: the oldest of the highest non-empty level. */
  peek(): Delivery | undefined {
    return this.#front()?.peek();
  }

  shift(): Delivery | undefined {
    const d = this.#front()?.shift();
    if (d === undefined) return undefined;
    this.#length--;
    this.#account(d, -1);
    return d;
  }

  #front(): Fifo<Delivery> | undefined {
    while (this.#top >= 0) {
      const f = this.#levels[this.#top];
      if (f !== undefined && f.length > 0) return f;
      this.#top--;
    }
    return undefined;
  }

  #append(d: Delivery): void {
    const level = priorityOf(d.msg.properties);
    (this.#levels[level] ??= new Fifo<Delivery>()).push(d);
    if (level > this.#top) this.#top = level;
    this.#length++;
    this.#account(d, 1);
  }

  /** `force`: queue it whatever the limits (a held publisher's last message; see the header). */
  push(d: Delivery, force = false): EnqueueResultValue {
    this.evicted = 0;
    this.#evictedItems = undefined;
    if (force) {
      this.#append(d);
      return EnqueueResult.Queued;
    }
    const size = d.msg.payload.length;
    const { maxMessages, maxBytes } = this.limits;
    if (maxBytes > 0 && size > maxBytes) return d.qos === 0 ? EnqueueResult.DroppedQos0 : EnqueueResult.Rejected;
    const budget = this.limits.budget;
    while (
      this.#length >= maxMessages ||
      (maxBytes > 0 && this.#bytes + size > maxBytes) ||
      (budget !== undefined && budget.used + size > budget.max)
    ) {
      if (this.#qos0 === 0) return d.qos === 0 ? EnqueueResult.DroppedQos0 : EnqueueResult.Rejected;
      (this.#evictedItems ??= []).push(this.#evictOldestQos0());
      this.evicted++;
    }
    this.#append(d);
    return this.evicted > 0 ? EnqueueResult.QueuedEvicted : EnqueueResult.Queued;
  }

  /**
   * Removes the deliveries matching `pred` and returns them in sending order (highest level first); the others
   * keep their order. Used when a shared subscription group takes back the messages of a member that left
   * (src/broker/shared.ts).
   */
  removeWhere(pred: (d: Delivery) => boolean): Delivery[] {
    const removed: Delivery[] = [];
    for (let p = this.#top; p >= 0; p--) {
      const f = this.#levels[p];
      if (f === undefined || f.length === 0) continue;
      for (const d of f.removeWhere(pred)) {
        removed.push(d);
        this.#length--;
        this.#account(d, -1);
      }
    }
    return removed;
  }

  /** Removes every delivery (session discarded). */
  clear(): void {
    if (this.limits.budget !== undefined) this.limits.budget.used -= this.#bytes;
    for (const f of this.#levels) f?.clear();
    this.#top = -1;
    this.#length = 0;
    this.#bytes = 0;
    this.#qos0 = 0;
  }

  /** Snapshot in sending order: highest level first, FIFO within a level (for tests, persistence, admin views). */
  toArray(): Delivery[] {
    const out: Delivery[] = [];
    for (let p = this.#top; p >= 0; p--) {
      const f = this.#levels[p];
      if (f !== undefined) for (const d of f.toArray()) out.push(d);
    }
    return out;
  }

  #account(d: Delivery, sign: 1 | -1): void {
    this.#bytes += sign * d.msg.payload.length;
    if (this.limits.budget !== undefined) this.limits.budget.used += sign * d.msg.payload.length;
    if (d.qos === 0) this.#qos0 += sign;
  }

  /**
   * Evicts the oldest QoS 0 delivery of the lowest level holding one (the least urgent goes first; the caller
   * checked there is one) and returns it.
   */
  #evictOldestQos0(): Delivery {
    for (let p = 0; p <= this.#top; p++) {
      const d = this.#levels[p]?.removeFirst(isQos0);
      if (d !== undefined) {
        this.#length--;
        this.#account(d, -1);
        return d;
      }
    }
    throw new Error("SessionQueue: no QoS 0 delivery to evict"); // unreachable: #qos0 > 0
  }

  /** The deliveries the last push evicted (then forgotten), in eviction order. */
  takeEvicted(): Delivery[] {
    const items = this.#evictedItems ?? [];
    this.#evictedItems = undefined;
    return items;
  }
}
