// The queue engine (docs/queues.md): durable `$queue/<name>` queues with consumer groups, settlement, retries with
// backoff, dead letters, partitions and streams, over a QueueStore. Pure: no sockets, no broker; the broker adapts
// connections into ConsumerLinks and PUBLISHes into publish()/ack()/nack()/reject() calls. Every timer goes
// through the injectable clock (one armed timer for the whole engine, at the earliest deadline). Its public shapes
// are in engine-api.ts, its startup in recovery.ts.
import { MAX_UINT16, silentLogger, systemClock } from "../util/index.ts";
import type { Clock, Logger, TimerHandle } from "../util/index.ts";
import { BodyCache } from "./bodies.ts";
import { DeadlineHeap } from "./deadline-heap.ts";
import { QueueType, dlqNameOf, resolveQueueSettings, DLQ_PREFIX } from "./config.ts";
import type { QueueConfigEntry, QueueSettings } from "./config.ts";
import {
  DEFAULT_BODY_CACHE,
  DEFAULT_GROUP,
  EPHEMERAL_GROUP_PREFIX,
  Published,
  SETTLED,
  isValidQueueName,
  parseMessageId,
} from "./engine-api.ts";
import type {
  DeadLetterNotice,
  EnqueueInput,
  JoinOptions,
  PublishOutcome,
  QueueEngineOptions,
  SettleOutcome,
} from "./engine-api.ts";
import { QueueError, QueueErrorCode, refusal } from "./errors.ts";
import type { Refusal } from "./errors.ts";
import type { Consumer } from "./consumer.ts";
import type { Group } from "./group.ts";
import { Queue } from "./queue.ts";
import type { QueueEnv } from "./queue.ts";
import { recoverQueues } from "./recovery.ts";
import { MemoryQueueStore } from "./store.ts";
import type { MemberRecord, QueueRecord, QueueStore } from "./store.ts";
import { DlqReason, messageIdOf } from "./types.ts";
import type { ConsumerLink, QueueInfo, QueueMessage, StreamStart } from "./types.ts";

export class QueueEngine {
  static readonly DEFAULT_GROUP = DEFAULT_GROUP;
  readonly store: QueueStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly #queues = new Map<string, Queue>();
  readonly #config: readonly QueueConfigEntry[];
  readonly #maxQueues: number;
  readonly #env: QueueEnv;
  readonly #onDeadLetter: ((notice: DeadLetterNotice) => void) | undefined;
  readonly #cache: BodyCache;
  #timer: TimerHandle | undefined;
  /** Queues by the deadline of their next tick (delivery timeouts, retries, expiry, retention). */
  readonly #due = new DeadlineHeap<Queue>();
  #timerAt = Number.POSITIVE_INFINITY;
  #closed = false;
  #dlqFullWarned = new Set<string>();
  /** Persistent sessions' queue subscriptions (JSON of [client id, filter] → record). */
  readonly #members = new Map<string, MemberRecord>();

  constructor(options: QueueEngineOptions = {}) {
    this.store = options.store ?? new MemoryQueueStore();
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.#config = options.config ?? [];
    this.#maxQueues = options.maxQueues ?? 10_000;
    this.#onDeadLetter = options.onDeadLetter;
    const store = this.store;
    this.#cache = new BodyCache(options.bodyCacheBytes ?? DEFAULT_BODY_CACHE, () =>
      store.written === undefined ? store.commit() : store.written(),
    );
    this.#env = {
      store: this.store,
      clock: this.clock,
      logger: this.logger,
      random: options.random ?? Math.random,
      cache: this.#cache,
      wake: (at, q) => this.#schedule(q, at),
      deadLetter: (from, group, seq, reason, count) => this.#deadLetter(from, group, seq, reason, count),
    };
    recoverQueues({
      store: this.store,
      clock: this.clock,
      logger: this.logger,
      members: this.#members,
      queues: this.#queues,
      create: (name) => this.#create(name),
      schedule: (q, at) => this.#schedule(q, at),
    });
  }

  /** Settings a queue of that name has (or would have). */
  settingsOf(name: string): QueueSettings {
    return this.#queues.get(name)?.settings ?? resolveQueueSettings(this.#config, name);
  }

  // ---- producing ------------------------------------------------------------------------------------------

  /**
   * Appends one message to `name` (creating the queue on first use). Synchronous: the append is in the store's
   * current batch; the caller acknowledges after the store's commit. Limits refuse with a reason, never silently.
   */
  publish(name: string, input: EnqueueInput): PublishOutcome {
    let q = this.#queues.get(name); // a queue held has a valid name: checked once, when it was created
    if (q === undefined) {
      if (!isValidQueueName(name))
        return refusal(QueueErrorCode.InvalidName, `invalid queue name ${JSON.stringify(name)}`);
      if (this.#maxQueues > 0 && this.#queues.size >= this.#maxQueues) {
        return refusal(QueueErrorCode.TooManyQueues, `the broker holds its maximum of ${this.#maxQueues} queues`);
      }
      q = this.#create(name);
    }
    const size = input.payload.length;
    const refused = q.refusal(size);
    if (refused !== undefined) {
      q.counters.refused++;
      return refusal(refused.code, refused.reason);
    }
    const now = this.clock.now();
    const ttl = q.settings.limits.messageTtl;
    let expiresAt = input.expiresAt;
    if (ttl > 0 && (expiresAt === undefined || now + ttl < expiresAt)) expiresAt = now + ttl;
    const record: QueueRecord = {
      // A copy: the payload may be a slice of a socket read buffer, which a queued message must not pin.
      payload: Buffer.from(input.payload),
      properties: input.properties,
      partitionKey: input.partitionKey,
      enqueuedAt: now,
      expiresAt,
    };
    const seq = q.append(record);
    q.counters.published++;
    return new Published(seq, now);
  }

  // ---- consuming ------------------------------------------------------------------------------------------

  /**
   * Joins `link` to `group` of queue `name` (created if needed; a new group sees every message the queue still
   * holds — a stream group starts where `start` says). Throws QueueError for a bad name or start.
   */
  join(name: string, group: string | undefined, link: ConsumerLink, opts: JoinOptions = {}): Consumer {
    if (!isValidQueueName(name))
      throw new QueueError(QueueErrorCode.InvalidName, `invalid queue name ${JSON.stringify(name)}`);
    const q = this.#queues.get(name) ?? this.#create(name);
    const gname = group === undefined || group === "" ? DEFAULT_GROUP : group;
    const g = q.groups.get(gname) ?? q.addGroup(gname, this.#startFloor(q, opts.start));
    const prefetch = Math.max(1, Math.min(MAX_UINT16, opts.prefetch ?? q.settings.prefetch));
    return g.join(link, prefetch);
  }

  /** The consumer left or its connection ended: its unsettled deliveries go to the group's others at once. */
  leave(consumer: Consumer): void {
    const g = consumer.group;
    g.leave(consumer);
    if (g.name.startsWith(EPHEMERAL_GROUP_PREFIX) && g.consumers.length === 0) {
      this.#queues.get(g.host.name)?.dropGroup(g.name);
    }
  }

  ack(name: string, group: string | undefined, messageId: string | number): SettleOutcome {
    if (typeof messageId === "number") {
      // The broker's PUBACK of a delivery (its seq, nothing to parse or allocate); a refusal takes #find below.
      const g = this.#queues.get(name)?.groups.get(group === undefined || group === "" ? DEFAULT_GROUP : group);
      if (g?.ack(messageId) === true) return SETTLED;
    }
    const r = this.#find(name, group, messageId);
    if (!r.ok) return r;
    r.group.ack(r.seq);
    return SETTLED;
  }

  /** Retry after `retryAfter` ms (the consumer's `retry-after`) or the queue's backoff; past the limits: DLQ. */
  nack(name: string, group: string | undefined, messageId: string | number, retryAfter?: number): SettleOutcome {
    const r = this.#find(name, group, messageId);
    if (!r.ok) return r;
    const after = retryAfter !== undefined && Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined;
    r.group.nack(r.seq, after);
    return SETTLED;
  }

  /** Straight to the DLQ (`dlq-reason` = `rejected` or `rejected: <reason>`). */
  reject(name: string, group: string | undefined, messageId: string | number, reason?: string): SettleOutcome {
    const r = this.#find(name, group, messageId);
    if (!r.ok) return r;
    r.group.reject(r.seq, reason);
    return SETTLED;
  }

  #find(
    name: string,
    group: string | undefined,
    messageId: string | number,
  ): { ok: true; group: Group; seq: number } | Refusal {
    // `<seq>-<append ms>` as delivered; the bare seq is accepted too (tools, tests: an operator's own risk).
    const m = typeof messageId === "number" ? undefined : parseMessageId(messageId);
    const seq = typeof messageId === "number" ? messageId : m !== undefined ? m[0] : NaN;
    const q = this.#queues.get(name);
    const g = q?.groups.get(group === undefined || group === "" ? DEFAULT_GROUP : group);
    const at = m?.[1];
    if (at !== undefined && q?.enqueuedAt(seq) !== at) {
      return refusal(QueueErrorCode.UnknownMessage, `message ${String(messageId)} is not in ${name} (any more)`);
    }
    if (g === undefined || !Number.isSafeInteger(seq) || g.pendingOf(seq) === undefined) {
      return refusal(
        QueueErrorCode.UnknownMessage,
        `message ${String(messageId)} is not awaiting settlement in ${name} (group ${group ?? DEFAULT_GROUP})`,
      );
    }
    return { ok: true, group: g, seq };
  }

  // ---- persistent memberships -----------------------------------------------------------------------------

  /** Records a persistent session's queue subscription (what it rejoins with after a restart). */
  rememberMember(clientId: string, filter: string, record: MemberRecord): void {
    const key = JSON.stringify([clientId, filter]);
    const prev = this.#members.get(key);
    if (prev !== undefined && JSON.stringify(prev) === JSON.stringify(record)) return;
    this.#members.set(key, { ...record });
    this.store.putMember(clientId, filter, record);
  }

  /** Forgets it (unsubscribed, session ended); true when something was stored. */
  forgetMember(clientId: string, filter: string): boolean {
    if (!this.#members.delete(JSON.stringify([clientId, filter]))) return false;
    this.store.deleteMember(clientId, filter);
    return true;
  }

  memberOf(clientId: string, filter: string): MemberRecord | undefined {
    const r = this.#members.get(JSON.stringify([clientId, filter]));
    return r === undefined ? undefined : { ...r };
  }

  // ---- management -----------------------------------------------------------------------------------------

  list(): QueueInfo[] {
    return [...this.#queues.values()].map((q) => this.#info(q));
  }

  info(name: string): QueueInfo | undefined {
    const q = this.#queues.get(name);
    return q === undefined ? undefined : this.#info(q);
  }

  /** Up to `limit` messages from the oldest (inspection), with their bodies (read from the store if need be). */
  peek(name: string, limit = 10): QueueMessage[] {
    const q = this.#need(name);
    const out: QueueMessage[] = [];
    for (const seq of q.index.seqs()) {
      if (out.length >= limit) break;
      const m = q.message(seq);
      if (m !== undefined) out.push(m);
    }
    return out;
  }

  /** Deletes every message of the queue (also those in flight: their later settlement is refused). */
  purge(name: string): number {
    const q = this.#need(name);
    let n = 0;
    for (const seq of q.index.seqs()) if (q.remove(seq)) n++;
    this.logger.info({ queue: name, purged: n }, "queue purged");
    return n;
  }

  /** Deletes the queue with its groups; refused while it has consumers. */
  delete(name: string): void {
    const q = this.#need(name);
    if (q.consumerCount > 0)
      throw new QueueError(QueueErrorCode.Busy, `queue ${name} has ${q.consumerCount} consumers`);
    this.store.drop(name);
    this.#queues.delete(name);
    this.logger.info({ queue: name }, "queue deleted");
  }

  /**
   * Moves dead letters back to their original queue, oldest first, each in one step (append there + removal from
   * the DLQ). `name` is a DLQ, or a queue whose DLQ is meant. Stops at `limit` or when a target queue is full.
   */
  redrive(name: string, limit = Number.POSITIVE_INFINITY): number {
    let dlq = this.#queues.get(name);
    if (dlq !== undefined && !name.startsWith(DLQ_PREFIX) && !hasDeadLetters(dlq)) {
      dlq = this.#queues.get(dlqNameOf(name, dlq.settings));
    }
    if (dlq === undefined) throw new QueueError(QueueErrorCode.NotFound, `no dead-letter queue for ${name}`);
    let moved = 0;
    for (const seq of dlq.index.seqs()) {
      if (moved >= limit) break;
      if (!dlq.index.isDeadLetter(seq)) continue;
      const msg = dlq.message(seq);
      const info = msg?.record.dlq;
      if (msg === undefined || info === undefined) continue;
      const target = this.#queues.get(info.originalQueue) ?? this.#create(info.originalQueue);
      if (target.refusal(msg.record.payload.length) !== undefined) break;
      const now = this.clock.now();
      const ttl = target.settings.limits.messageTtl;
      target.append({
        payload: msg.record.payload,
        properties: msg.record.properties,
        partitionKey: msg.record.partitionKey,
        enqueuedAt: now,
        expiresAt: ttl > 0 ? now + ttl : undefined,
      });
      target.counters.published++;
      dlq.remove(msg.seq);
      moved++;
    }
    this.logger.info({ queue: dlq.name, moved }, "dead letters redriven");
    return moved;
  }

  /** Message bodies held in memory (bodies.ts): heap bytes counted against the budget. */
  get bodyCache(): { bytes: number; budget: number } {
    return { bytes: this.#cache.bytes, budget: this.#cache.budget };
  }

  /** Resolves when everything so far is at the store's durability point. */
  commit(): Promise<void> {
    return this.store.commit();
  }

  /** Stops the timer (consumers are left as they are; the broker closes connections first). */
  close(): void {
    this.#closed = true;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  // ---- internals ------------------------------------------------------------------------------------------

  #need(name: string): Queue {
    const q = this.#queues.get(name);
    if (q === undefined) throw new QueueError(QueueErrorCode.NotFound, `no queue ${JSON.stringify(name)}`);
    return q;
  }

  #create(name: string): Queue {
    const q = new Queue(name, resolveQueueSettings(this.#config, name), this.#env);
    this.#queues.set(name, q);
    return q;
  }

  #startFloor(q: Queue, start: StreamStart | undefined): number {
    const first = q.firstSeq() - 1;
    if (q.settings.type !== QueueType.Stream || start === undefined) return first;
    switch (start.kind) {
      case "earliest":
        return first;
      case "latest":
        return q.nextSeq() - 1;
      case "offset":
        return Math.min(Math.max(first, start.offset - 1), q.nextSeq() - 1);
      case "timestamp":
        for (const seq of q.index.seqs()) if (q.enqueuedAt(seq) >= start.at) return seq - 1;
        return q.nextSeq() - 1;
    }
  }

  #deadLetter(from: Queue, group: Group | undefined, seq: number, reason: string, count: number): boolean {
    const s = from.settings;
    if (reason === DlqReason.Expired) from.counters.expired++;
    if (!s.dlq.enabled || (reason === DlqReason.Expired && s.limits.dropExpired)) {
      from.counters.dropped++;
      this.logger.debug({ queue: from.name, group: group?.name, seq, reason }, "queue message dropped");
      return true;
    }
    const msg = from.message(seq);
    if (msg === undefined) return true; // its body is gone (logged by the queue): nothing left to move
    const dlqName = dlqNameOf(from.name, s);
    const dlq = this.#queues.get(dlqName) ?? this.#create(dlqName);
    const full = dlq.refusal(from.index.sizeOf(seq));
    if (full !== undefined) {
      from.counters.dlqFull++;
      if (!this.#dlqFullWarned.has(dlqName)) {
        this.#dlqFullWarned.add(dlqName);
        this.logger.warn(
          { queue: from.name, dlq: dlqName, reason: full.reason },
          "dead-letter queue full: failed messages stay in their queue until it has room",
        );
      }
      return false;
    }
    this.#dlqFullWarned.delete(dlqName);
    const orig = msg.record;
    dlq.append({
      payload: orig.payload,
      properties: orig.properties,
      partitionKey: orig.partitionKey,
      enqueuedAt: this.clock.now(),
      expiresAt: undefined,
      dlq: {
        reason,
        originalQueue: orig.dlq?.originalQueue ?? from.name,
        originalId: messageIdOf(msg),
        group: group?.name ?? "",
        deliveryCount: count,
      },
    });
    dlq.counters.published++;
    from.counters.deadLettered++;
    this.#onDeadLetter?.({
      queue: from.name,
      dlq: dlqName,
      reason,
      deliveryCount: count,
      group: group?.name ?? "",
      messageId: messageIdOf(msg),
      payloadBytes: orig.payload.length,
    });
    return true;
  }

  /**
   * A tick of `q` at `at`: one heap entry per queue and deadline (a later deadline than one already scheduled needs
   * none: that tick reschedules), one armed timer for the engine at the heap's earliest deadline.
   */
  #schedule(q: Queue, at: number): void {
    if (this.#closed || at >= q.scheduledAt) return;
    q.scheduledAt = at;
    this.#due.push(at, q);
    this.#arm(at);
  }

  #arm(at: number): void {
    if (this.#closed || at >= this.#timerAt) return;
    this.#timer?.cancel();
    this.#timerAt = at;
    this.#timer = this.clock.setTimeout(() => this.#tick(), Math.max(0, at - this.clock.now()));
  }

  /** Ticks the queues whose deadlines are due (no scan over the others), then rearms for the next one. */
  #tick(): void {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = this.clock.now();
    const due = new Set<Queue>();
    while (this.#due.peekAt() <= now) due.add(this.#due.pop()!);
    for (const q of due) {
      if (this.#queues.get(q.name) !== q) continue; // deleted meanwhile
      q.scheduledAt = Number.POSITIVE_INFINITY;
      const n = q.tick(now);
      if (n !== Number.POSITIVE_INFINITY) this.#schedule(q, Math.max(n, now + 1));
    }
    this.#arm(this.#due.peekAt());
  }

  #info(q: Queue): QueueInfo {
    const dlqName = q.settings.dlq.enabled ? dlqNameOf(q.name, q.settings) : undefined;
    return {
      name: q.name,
      type: q.settings.type,
      ordering: q.settings.ordering,
      partitions: q.settings.partitions,
      depth: q.depth,
      bytes: q.bytes,
      firstSeq: q.firstSeq(),
      nextSeq: q.nextSeq(),
      inflight: q.inflight,
      dlqDepth: dlqName === undefined ? 0 : (this.#queues.get(dlqName)?.depth ?? 0),
      dlq: dlqName,
      groups: [...q.groups.values()].map((g) => g.info()),
      counters: { ...q.counters },
    };
  }
}

/** Does the queue hold dead letters (is it a DLQ, whatever its name)? */
function hasDeadLetters(q: Queue): boolean {
  for (const seq of q.index.seqs()) if (q.index.isDeadLetter(seq)) return true;
  return false;
}
