// The in-process API over one broker core: publish (single, batch, transactional) and subscribe without a socket.
// In-process publishers and subscribers are ClientContexts of the core (local-client.ts), so MQTT clients and
// in-process code share topics, retained messages, shared subscriptions and storage both ways.
import { ReasonCode } from "../codec/index.ts";
import type { Properties } from "../codec/index.ts";
import type { Broker } from "../broker/broker.ts";
import { brokerInternals } from "../broker/internal.ts";
import type { BrokerRuntime } from "../broker/runtime.ts";
import { ConnState } from "../broker/conn-state.ts";
import { copyMessage, forwardedProperties } from "../broker/message.ts";
import type { Message } from "../broker/message.ts";
import type { PublishTrace } from "../broker/tracing.ts";
import { QUEUE_PREFIX, QueueError } from "../queues/index.ts";
import { validateTopicName } from "../topics/index.ts";
import { DeadLetters } from "./dead-letters.ts";
import { InprocError, InprocErrorCode, invalid, rejection } from "./errors.ts";
import { LOCAL_ID_PREFIX, LocalClient } from "./local-client.ts";
import { checkPriority, DEFAULT_PRIORITY, priorityOf, withPriorityProperties } from "./priority.ts";
import { isQueueTopic } from "./queue.ts";
import { LocalMessage, type Held } from "./received.ts";
import { LocalSubscription, type SubscriptionHost } from "./subscription.ts";
import { Transaction, type TransactionOptions } from "./transaction.ts";
import { addListener } from "./listener.ts";
import { HandOutLane } from "./lane.ts";
import type {
  BatchEntry,
  Listener,
  ListenOptions,
  PublishOptions,
  PublishResult,
  ReceivedMessage,
  SubscribeOptions,
  Subscription,
} from "./types.ts";

export interface LocalBrokerOptions {
  /**
   * Budget in bytes for queued message payloads across the broker (in-process subscription buffers plus session
   * queues); 0 = none. Above it in-process publishes are refused with INPROC_MEMORY_LIMIT.
   */
  memoryLimit?: number;
  /** Default transaction timeout in milliseconds (default 30 000). */
  transactionTimeout?: number;
}

/** In-process counters (metrics()). */
export interface InprocMetrics {
  published: number;
  publishRefused: number;
  memoryRefused: number;
  /** MQTT PUBLISHes refused by the memory budget (5.0: 0x97; 3.x QoS 1/2: disconnected; QoS 0: dropped). */
  mqttMemoryRefused: number;
  /** Storage commits that failed under in-process publishes (their publish() rejected with INPROC_STORAGE). */
  storageFailures: number;
  subscriptions: number;
  buffered: number;
  bufferedBytes: number;
  delivered: number;
  dropped: number;
  expired: number;
  redelivered: number;
  deadLettered: number;
  transactionsCommitted: number;
  transactionsRolledBack: number;
  transactionsTimedOut: number;
}

export interface MemoryUsage {
  /** Payload bytes queued: in-process buffers plus session queues (the latter refreshed at most every 100 ms). */
  used: number;
  /** 0 = no limit. */
  limit: number;
}

/** How often the session queues' byte total is recomputed (it costs one pass over all sessions). */
const SESSION_BYTES_REFRESH_MS = 100;

/** The publishing context: one per LocalBroker, for persistence's per-client commit ordering. */
class Publisher extends LocalClient {
  readonly #waiting = new Set<(err: InprocError) => void>();

  /** Resolvers of commits being waited for, in order (persistence calls back in order per client). */
  readonly #pending: (() => void)[] = [];
  #syncDone = false;
  /** One bound callback for every afterCommit() call: no closure per publish. */
  readonly #onCommitted = (): void => {
    // (Nothing pending is the common case: answered without shift()'s builtin call.)
    if (this.#pending.length === 0) this.#syncDone = true;
    else this.#pending.shift()!();
  };

  /**
   * Resolves once everything routed so far is committed; undefined when nothing waits for a commit (no storage, or
   * nothing was written), which is the common case and costs no promise.
   */
  committed(): Promise<void> | undefined {
    const p = this.broker.persistence;
    if (p === undefined) return undefined;
    this.#syncDone = false;
    if (this.#pending.length === 0) {
      p.afterCommit(this, this.#onCommitted);
      if (this.#syncDone) return undefined;
      // Not called back synchronously: the callback will shift a resolver pushed now.
      return this.#wait();
    }
    const promise = this.#wait();
    p.afterCommit(this, this.#onCommitted);
    return promise;
  }

  #wait(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#waiting.add(reject);
      this.#pending.push(() => {
        this.#waiting.delete(reject);
        resolve();
      });
    });
  }

  protected override ended(error: InprocError | undefined): void {
    const err = error ?? new InprocError(InprocErrorCode.Closed, "the broker is closed");
    for (const fail of this.#waiting) fail(err);
    this.#waiting.clear();
    this.#pending.length = 0;
  }

  close(): void {
    this.closeByClient();
  }
}

export class LocalBroker {
  readonly deadLetters: DeadLetters;
  readonly #core: BrokerRuntime;
  readonly #subs = new Set<LocalSubscription>();
  readonly #listeners = new Set<Listener>();
  /**
   * The "block" subscriptions whose session queue may hold something (queued(); dropped once drained() finds it
   * empty): the ones publish() may wait for. Usually empty, so a publish checks none of them.
   */
  readonly #mayWait = new Set<LocalSubscription>();
  readonly #memoryLimit: number;
  readonly #txTimeout: number;
  #publisher: Publisher;
  #nextId = 0;
  /** Payload bytes in in-process subscription buffers (each subscription adds and subtracts its own). */
  readonly #buffered = { bytes: 0 };
  #sessionBytes = 0;
  #sessionBytesAt = Number.NEGATIVE_INFINITY;
  #lastUsed = 0;
  /** The last topic message() validated that is not a `$queue/` topic (neither is checked again for it). */
  #lastTopic: string | undefined = undefined;
  #closed = false;
  readonly #m = {
    published: 0,
    publishRefused: 0,
    memoryRefused: 0,
    mqttMemoryRefused: 0,
    storageFailures: 0,
    transactionsCommitted: 0,
    transactionsRolledBack: 0,
    transactionsTimedOut: 0,
  };
  readonly #host: SubscriptionHost;

  constructor(broker: Broker, opts: LocalBrokerOptions = {}) {
    // The in-process face needs the core itself (sessions, routing, persistence), as a transport does.
    const core = brokerInternals(broker);
    this.#core = core;
    this.#host = {
      deadLetter: (r: Held, reason: string) => this.deadLetters.add(r, reason),
      buffered: this.#buffered,
      removed: (sub: LocalSubscription) => {
        this.#subs.delete(sub);
        this.#mayWait.delete(sub);
      },
      mayWait: (sub: LocalSubscription) => void this.#mayWait.add(sub),
      originId: `${LOCAL_ID_PREFIX}publisher`,
      queues: core.queues,
      lane: new HandOutLane<Held, LocalSubscription>(),
    };
    this.#memoryLimit = opts.memoryLimit ?? 0;
    if (!Number.isSafeInteger(this.#memoryLimit) || this.#memoryLimit < 0) {
      throw invalid(`memoryLimit must be an integer >= 0 (bytes), got ${this.#memoryLimit}`);
    }
    this.#txTimeout = opts.transactionTimeout ?? 30_000;
    this.#publisher = new Publisher(core, this.#host.originId);
    // MQTT publishers are held to the same budget (0x97 Quota exceeded for 5.0; see BrokerCore.admission).
    if (this.#memoryLimit > 0) core.admission = (bytes) => this.#fits(bytes, "mqtt");
    this.deadLetters = new DeadLetters(core);
  }

  /** The client id in-process publications carry as their origin (No Local). */
  get originId(): string {
    return this.#publisher.clientId;
  }

  /**
   * Routes one message to every matching subscriber, MQTT and in-process. Resolves when it is routed and, with
   * persistent storage, committed (for the persistent sessions it was queued for and a retained message); also
   * after "block" subscribers have room again. Rejects with InprocError (invalid argument, memory limit, a QoS 1/2
   * message every matching subscriber refused) or TopicError (invalid topic name).
   */
  publish(
    topic: string,
    payload: Buffer | Uint8Array | string,
    opts: PublishOptions = NO_OPTIONS,
  ): Promise<PublishResult> {
    if (topic !== this.#lastTopic && isQueueTopic(topic)) return this.#publishQueue(topic, payload, opts);
    let msg: Message;
    try {
      this.#open();
      msg = this.message(topic, payload, opts);
      this.#admit(msg.payload.length);
    } catch (err) {
      return rejection(err);
    }
    // Tracing (docs/operations.md "Tracing"): one field read when off; the tracer decides per message.
    const tracer = this.#core.tracer;
    const trace =
      tracer?.publishLocal === undefined ? undefined : tracer.publishLocal(this.#publisher.clientId, topic, msg);
    if (trace !== undefined) msg = copyMessage(msg, { properties: trace.properties, trace: trace.ref });
    const r = this.#core.publishMessage(msg);
    this.#m.published++;
    trace?.routed(r.matched, r.refused);
    if (msg.qos > 0 && r.matched > 0 && r.refused === r.matched) {
      this.#m.publishRefused++;
      trace?.acked(ReasonCode.QuotaExceeded);
      return Promise.reject(
        new InprocError(InprocErrorCode.QueueFull, `${topic}: every matching subscriber's queue is full`),
      );
    }
    const settled = this.#settled(r);
    if (trace === undefined) return settled;
    return settled.then(
      (res) => {
        trace.acked(ReasonCode.Success);
        return res;
      },
      (err: unknown) => {
        trace.acked(ReasonCode.UnspecifiedError);
        throw err;
      },
    );
  }

  /** Routes every entry in order and waits for one storage commit for all of them. Validated before any is routed. */
  publishBatch(entries: readonly BatchEntry[]): Promise<PublishResult> {
    let msgs: Message[];
    try {
      this.#open();
      msgs = entries.map((e) => this.message(e.topic, e.payload, e));
      this.#admit(msgs.reduce((n, m) => n + m.payload.length, 0));
    } catch (err) {
      return rejection(err);
    }
    return this.routeAll(msgs, "batch");
  }

  /** A transaction: its messages are routed at commit, all in one turn and one storage commit, or never. */
  transaction(opts: TransactionOptions = {}): Transaction {
    this.#open();
    return new Transaction(this, this.#core.clock, { timeout: opts.timeout ?? this.#txTimeout });
  }

  subscribe(filter: string, opts: SubscribeOptions = {}): Subscription {
    this.#open();
    const id = opts.durable === undefined ? `${LOCAL_ID_PREFIX}${this.#nextId++}` : durableId(opts.durable);
    const sub = new LocalSubscription(this.#core, id, filter, opts, this.#host);
    if (sub.state !== ConnState.Closed) {
      this.#subs.add(sub);
    }
    return sub;
  }

  /**
   * A synchronous listener: `fn` is called with every matching message while it is routed (before publish()
   * returns; an MQTT client's message while its PUBLISH is handled), with no buffer, order by priority, TTL check
   * at hand-out, acknowledgement or retry. What `fn` throws goes to `onError` (or the log), never to the publisher.
   */
  listen(filter: string, fn: (msg: ReceivedMessage) => void, opts: ListenOptions = {}): Listener {
    this.#open();
    const key = `${LOCAL_ID_PREFIX}listen:${this.#nextId++}`;
    const l = addListener(this.#core.localRouter, key, filter, fn, opts, this.#core.logger, (x) =>
      this.#listeners.delete(x),
    );
    this.#listeners.add(l);
    return l;
  }

  /** Ends the durable session `name` (its queued messages are discarded); false if there is none. */
  removeDurable(name: string): boolean {
    this.#open();
    const id = durableId(name);
    const s = this.#core.sessions.get(id);
    if (s === undefined) return false;
    for (const sub of this.#subs) if (sub.clientId === id) void sub.unsubscribe();
    this.#core.sessions.end(s, "clean-start"); // discarded on request, as a clean start would
    return true;
  }

  // ---- used by Transaction ------------------------------------------------------------------------------------

  /**
   * Builds (and validates) the core message of one publication. A `$queue/` topic only from publish() (`queue`):
   * batches and transactions route in one turn, and a queue may refuse a message (its limits) after the others
   * were routed, which would break their all-or-nothing promise.
   */
  message(topic: string, payload: Buffer | Uint8Array | string, opts: PublishOptions, queue = false): Message {
    // A program mostly publishes one topic after another: the last valid one is not scanned again.
    if (topic !== this.#lastTopic) {
      validateTopicName(topic);
      if (!isQueueTopic(topic)) this.#lastTopic = topic;
      else if (!queue) {
        throw invalid(`${topic}: a $queue/ topic is published with publish(), not in a batch or a transaction`);
      }
    }
    const origin = this.#publisher.clientId;
    // publish(topic, payload) without options, the common call: no option to read or check.
    if (opts === NO_OPTIONS) {
      return new LocalMessage(topic, toBuffer(payload), 0, false, undefined, undefined, origin, DEFAULT_PRIORITY);
    }
    const qos = opts.qos ?? 0;
    if (qos !== 0 && qos !== 1 && qos !== 2) throw invalid(`qos must be 0, 1 or 2, got ${String(qos)}`);
    // What createMessage() does: only the properties a server forwards are kept, and a Message Expiry Interval
    // (passed in properties by untyped code) becomes a deadline; the clock is read only for an expiry.
    const given: Properties | undefined = opts.properties;
    const interval = given?.messageExpiryInterval;
    const now = opts.ttl !== undefined || interval !== undefined ? this.#core.clock.now() : 0;
    let expiresAt = interval === undefined ? undefined : now + interval * 1000;
    let properties = given === undefined ? undefined : forwardedProperties(given);
    let priority: number | undefined;
    if (opts.priority !== undefined) {
      priority = checkPriority(opts.priority);
      properties = withPriorityProperties(properties, priority);
    }
    if (opts.partitionKey !== undefined) {
      if (!queue) throw invalid(`partitionKey: only for $queue/ topics (topic ${topic})`);
      if (typeof opts.partitionKey !== "string") throw invalid("partitionKey must be a string");
      const ups = (properties?.userProperties ?? []).filter(([k]) => k !== "partition-key");
      ups.push(["partition-key", opts.partitionKey]);
      properties = { ...properties, userProperties: ups };
    }
    const buf = toBuffer(payload);
    if (opts.ttl !== undefined) {
      if (!Number.isSafeInteger(opts.ttl) || opts.ttl <= 0)
        throw invalid(`ttl must be a positive integer (ms), got ${opts.ttl}`);
      expiresAt = now + opts.ttl;
    }
    const retain = opts.retain ?? false;
    return new LocalMessage(topic, buf, qos, retain, properties, expiresAt, origin, priority ?? priorityOf(properties));
  }

  /**
   * Routes `msgs` in order in this turn, then waits for their commit. Tracing: each message is sampled like a
   * publish() (a `publish` span marked with the batch kind and size), all settled at the one commit.
   */
  routeAll(msgs: readonly Message[], kind: "batch" | "transaction"): Promise<PublishResult> {
    const total = { matched: 0, refused: 0 };
    const tracer = this.#core.tracer;
    let traces: PublishTrace[] | undefined;
    for (let msg of msgs) {
      const trace =
        tracer?.publishLocal === undefined
          ? undefined
          : tracer.publishLocal(this.#publisher.clientId, msg.topic, msg, { kind, size: msgs.length });
      if (trace !== undefined) {
        msg = copyMessage(msg, { properties: trace.properties, trace: trace.ref });
        (traces ??= []).push(trace);
      }
      const r = this.#core.publishMessage(msg);
      trace?.routed(r.matched, r.refused);
      total.matched += r.matched;
      total.refused += r.refused;
    }
    this.#m.published += msgs.length;
    const settled = this.#settled(total);
    if (traces === undefined) return settled;
    const end = (rc: number) => {
      for (const t of traces) t.acked(rc);
    };
    return settled.then(
      (res) => {
        end(ReasonCode.Success);
        return res;
      },
      (err: unknown) => {
        end(ReasonCode.UnspecifiedError);
        throw err;
      },
    );
  }

  /** Refuses `bytes` more when the memory budget is used up. */
  admit(bytes: number): void {
    this.#admit(bytes);
  }

  transactionEnded(outcome: "committed" | "rolledBack" | "timedOut"): void {
    if (outcome === "committed") this.#m.transactionsCommitted++;
    else if (outcome === "rolledBack") this.#m.transactionsRolledBack++;
    else this.#m.transactionsTimedOut++;
  }

  // ---- observability ------------------------------------------------------------------------------------------

  memory(): MemoryUsage {
    return { used: this.#buffered.bytes + this.#sessionQueueBytes(true), limit: this.#memoryLimit };
  }

  metrics(): InprocMetrics {
    const m = {
      ...this.#m,
      subscriptions: this.#subs.size,
      buffered: 0,
      bufferedBytes: this.#buffered.bytes,
      delivered: 0,
      dropped: 0,
      expired: 0,
      redelivered: 0,
      deadLettered: this.deadLetters.stats().total,
    };
    for (const sub of this.#subs) {
      const s = sub.stats();
      m.buffered += s.buffered;
      m.delivered += s.delivered;
      m.dropped += s.dropped;
      m.expired += s.expired;
      m.redelivered += s.redelivered;
    }
    return m;
  }

  /** Ends every subscription and the publisher; publishes from now on reject with INPROC_CLOSED. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#core.admission !== undefined) this.#core.admission = undefined;
    for (const sub of [...this.#subs]) void sub.unsubscribe();
    for (const l of [...this.#listeners]) l.unsubscribe();
    this.#publisher.close();
  }

  // ---- internals ----------------------------------------------------------------------------------------------

  /**
   * Appends to a durable queue (docs/queues.md) exactly as an MQTT PUBLISH to `$queue/<name>` does, and resolves
   * once the append is committed (with `durability: sync`, after the fsync). A refusal (the queue's limits) rejects
   * with the QueueError an MQTT 5.0 publisher gets as its PUBACK reason.
   */
  #publishQueue(topic: string, payload: Buffer | Uint8Array | string, opts: PublishOptions): Promise<PublishResult> {
    let msg: Message;
    try {
      this.#open();
      if (/\/\$(ack|nack|reject)$/.test(topic)) {
        throw invalid(`${topic}: settle queue messages with ack(), nack() or reject() on the received message`);
      }
      if (opts.retain === true) throw invalid(`${topic}: a queue message cannot be retained`);
      msg = this.message(topic, payload, opts, true);
      this.#admit(msg.payload.length);
    } catch (err) {
      return rejection(err);
    }
    const r = this.#core.queues.append(topic.slice(QUEUE_PREFIX.length), msg.payload, msg.properties, msg.expiresAt);
    if (!r.ok) {
      this.#m.publishRefused++;
      return Promise.reject(new QueueError(r.code, r.reason));
    }
    this.#m.published++;
    const result: PublishResult = { matched: 1, refused: 0, messageId: r.messageId };
    const commit = this.#publisher.committed();
    return commit === undefined ? Promise.resolve(result) : commit.then(() => result);
  }

  #open(): void {
    if (this.#closed) throw new InprocError(InprocErrorCode.Closed, "the broker is closed");
    if (this.#publisher.state === ConnState.Closed) {
      // A failed storage commit ended the previous publishing context (its waiters were rejected): start afresh.
      this.#m.storageFailures++;
      this.#publisher = new Publisher(this.#core, this.#publisher.clientId);
    }
  }

  #admit(bytes: number): void {
    if (this.#memoryLimit === 0 || this.#fits(bytes, "inproc")) return;
    throw new InprocError(
      InprocErrorCode.MemoryLimit,
      `memory limit: ${this.#lastUsed} bytes queued + ${bytes} would exceed the budget of ${this.#memoryLimit} bytes`,
    );
  }

  /** Whether `bytes` more fit in the memory budget; counts a refusal by who asked. */
  #fits(bytes: number, who: "inproc" | "mqtt"): boolean {
    const used = this.#buffered.bytes + this.#sessionQueueBytes(false);
    this.#lastUsed = used;
    if (used + bytes <= this.#memoryLimit) return true;
    if (who === "inproc") this.#m.memoryRefused++;
    else this.#m.mqttMemoryRefused++;
    return false;
  }

  /** Payload bytes in session queues (every session, MQTT and in-process), cached for SESSION_BYTES_REFRESH_MS. */
  #sessionQueueBytes(fresh: boolean): number {
    const now = this.#core.clock.now();
    if (fresh || now - this.#sessionBytesAt >= SESSION_BYTES_REFRESH_MS) {
      let bytes = 0;
      for (const s of this.#core.sessions.values()) bytes += s.queue.bytes;
      this.#sessionBytes = bytes;
      this.#sessionBytesAt = now;
    }
    return this.#sessionBytes;
  }

  #settled(r: PublishResult): Promise<PublishResult> {
    let waits: Promise<void>[] | undefined;
    const mayWait = this.#mayWait;
    if (mayWait.size > 0) {
      for (const sub of mayWait) {
        const w = sub.drained();
        if (w === undefined) mayWait.delete(sub);
        else (waits ??= []).push(w);
      }
    }
    const commit = this.#publisher.committed();
    if (commit !== undefined) (waits ??= []).push(commit);
    if (waits === undefined) return resolvedResult(r);
    return (waits.length === 1 ? waits[0]! : Promise.all(waits)).then(() => r);
  }
}

/** publish() without options: one shared object rather than one per call. */
const NO_OPTIONS: PublishOptions = Object.freeze({});

/** Settled promises of the common results (frozen, shared): a publish that waits for nothing allocates none. */
const RESOLVED: Promise<PublishResult>[] = [];
const RESOLVED_MAX_MATCHED = 64;

function resolvedResult(r: PublishResult): Promise<PublishResult> {
  if (r.refused !== 0 || r.matched >= RESOLVED_MAX_MATCHED) return Promise.resolve(r);
  return (RESOLVED[r.matched] ??= Promise.resolve(Object.freeze({ matched: r.matched, refused: 0 })));
}

function durableId(name: string): string {
  if (typeof name !== "string" || name.length === 0) throw invalid("durable: a non-empty name");
  return `${LOCAL_ID_PREFIX}durable:${name}`;
}

function toBuffer(payload: Buffer | Uint8Array | string): Buffer {
  if (typeof payload === "string") return Buffer.from(payload);
  if (Buffer.isBuffer(payload)) return payload;
  if (payload instanceof Uint8Array) return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  throw invalid("payload must be a Buffer, a Uint8Array or a string");
}
