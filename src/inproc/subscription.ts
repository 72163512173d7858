// An in-process subscription: a session of its own in the core (one filter), whose link hands Delivery objects to
// a handler or an async iterator through a bounded priority buffer, with acknowledgement, redelivery with backoff
// and dead-lettering (docs/embedding.md "Subscribing", "Acknowledgements").
import type { QoS } from "../codec/index.ts";
import { ConnState } from "../broker/conn-state.ts";
import type { BrokerCore } from "../broker/core.ts";
import { isExpired } from "../broker/message.ts";
import type { Delivery, Message } from "../broker/message.ts";
import type { QueueRouter } from "../broker/queue-bridge.ts";
import type { QueueSpec, Session, Subscription as CoreSubscription } from "../broker/session.ts";
import { parseSharedFilter, validateTopicFilter } from "../topics/index.ts";
import { InprocError, InprocErrorCode, invalid } from "./errors.ts";
import { AckDeadlines } from "./ack-deadlines.ts";
import { Received, Settle, sharedView, type Held, type Plain, type ReceivedOwner } from "./received.ts";
import type { HandOutLane, LaneMember } from "./lane.ts";
import { LocalClient } from "./local-client.ts";
import { PriorityBuffer } from "./priority-buffer.ts";
import { priorityOf } from "./priority.ts";
import { queueDeliveryOf, queueSpecOf } from "./queue.ts";
import type {
  AckMode,
  OverflowPolicy,
  ReceivedMessage,
  SubscribeOptions,
  Subscription,
  SubscriptionStats,
} from "./types.ts";

/** What a subscription needs from the in-process broker around it. */
export interface SubscriptionHost {
  /** Routes a message that failed for good to the dead-letter topic. */
  deadLetter(msg: Held, reason: string): void;
  /** Payload bytes buffered by every subscription (the broker-wide memory budget): a counter, not a callback. */
  readonly buffered: { bytes: number };
  /** Its session queue holds something now: a "block" subscription publish() may have to wait for (drained()). */
  mayWait(sub: LocalSubscription): void;
  /** The subscription ended (the host forgets it). */
  removed(sub: LocalSubscription): void;
  /** The origin (client id) of in-process publications, for No Local. */
  readonly originId: string;
  /** Durable queues: `$queue/` subscriptions join their groups and settle through it. */
  readonly queues: QueueRouter;
  /** The broker's hand-out lane (lane.ts) for handler subscriptions' plain QoS 0 messages. */
  readonly lane: HandOutLane<Held, LocalSubscription>;
}

const DEFAULT_BUFFER = 1024;
const DEFAULT_ACK_TIMEOUT = 30_000;
const DEFAULT_MAX_DELIVERIES = 5;
const DEFAULT_BACKOFF_INITIAL = 1000;
const DEFAULT_BACKOFF_MAX = 60_000;

export class LocalSubscription extends LocalClient implements Subscription, LaneMember<Held>, ReceivedOwner {
  readonly filter: string;
  readonly ackMode: AckMode;
  /** ackMode "manual" (read per hand-out). */
  readonly #manual: boolean;
  readonly #qos: QoS;
  readonly #overflow: OverflowPolicy;
  readonly #capacity: number;
  readonly #ackTimeout: number;
  readonly #maxDeliveries: number;
  readonly #backoffInitial: number;
  readonly #backoffMax: number;
  readonly #handler: SubscribeOptions["handler"];
  readonly #concurrency: number;
  readonly #onError: SubscribeOptions["onError"];
  readonly #host: SubscriptionHost;
  /** The host's byte total (host.buffered), read and written per message. */
  readonly #total: { bytes: number };
  readonly #buffer = new PriorityBuffer<Held>();
  /** Received handed out and not yet settled (manual ack, or a handler still running). */
  readonly #outstanding = new Set<Received>();
  #bufferedBytes = 0;
  #running = 0;
  #pumpScheduled = false;
  /** Inside #pump(): a handler finishing synchronously must not start a nested pump (the loop goes on). */
  #pumping = false;
  /** Iterator consumers waiting for the next message. */
  #waiters: ((r: IteratorResult<ReceivedMessage>) => void)[] = [];
  #error: InprocError | undefined = undefined;
  #resolveClosed!: (e: InprocError | undefined) => void;
  readonly closed: Promise<InprocError | undefined>;
  /**
   * What drained() hands out until the session queue is empty again: one promise for every publish() that waits
   * meanwhile (a publisher ahead of its "block" subscribers asks on every publish), not one each.
   */
  #drainedPromise: Promise<void> | undefined = undefined;
  #drainedResolve: (() => void) | undefined = undefined;
  // Counters (stats()): fields of their own, since two of them change on every message.
  #received = 0;
  #delivered = 0;
  readonly #stats = { dropped: 0, expired: 0, redelivered: 0, deadLettered: 0 };
  readonly #abort: (() => void) | undefined;
  /** No Local: the origin whose messages this subscription skips (the in-process publisher). */
  readonly #skipOrigin: string | undefined;
  readonly #signal: AbortSignal | undefined;
  /** A `$queue/` subscription: its consumer group (queue.ts). */
  readonly #queue: QueueSpec | undefined;
  /**
   * Takes plain QoS 0 deliveries straight from the session (offer()): automatic acknowledgement, not a queue, no
   * No Local (what writePublish() would do for them is then a push into the buffer).
   */
  readonly #direct: boolean;
  /** A handler subscription with the direct intake: its plain QoS 0 messages may wait in the host's lane. */
  readonly #lane: HandOutLane<Held, LocalSubscription> | undefined;
  /** Messages of this subscription in the lane (counted in the buffer's size and bytes). */
  #laned = 0;
  /** The priority of every message it has in the lane. */
  #lanePriority = 0;
  /**
   * offer()'s first check, kept current as the state it sums up changes (#refresh()): the buffer's capacity while
   * the lane may take this subscription's next plain QoS 0 message (it uses the lane, its buffer is empty, its
   * handler is not busy, it is open, no backpressure episode runs), else 0. So a delivery in the common case
   * checks one number instead of six fields and two objects.
   */
  #laneCap = 0;
  /** The backpressure tracker's byte mark (pressure.quietBytes), copied on offer()'s checked path; 0 until then. */
  #quietBytes = 0;
  /** Manual ack: the ack timeouts of what is handed out (created on first use). */
  #deadlines: AckDeadlines<Received> | undefined = undefined;

  constructor(broker: BrokerCore, clientId: string, filter: string, opts: SubscribeOptions, host: SubscriptionHost) {
    super(broker, clientId);
    const shared = parseSharedFilter(filter);
    validateTopicFilter(shared?.filter ?? filter);
    this.filter = filter;
    this.#queue = queueSpecOf(filter, opts);
    this.ackMode = opts.ack ?? "auto";
    if (this.ackMode !== "auto" && this.ackMode !== "manual") throw invalid(`ack must be "auto" or "manual"`);
    this.#manual = this.ackMode === "manual";
    const qos = opts.qos ?? 0;
    if (qos !== 0 && qos !== 1 && qos !== 2) throw invalid(`qos must be 0, 1 or 2, got ${String(qos)}`);
    // A queue delivery is settled by ack/nack/reject, never by the QoS 2 flow: always QoS 1 (at least once).
    this.#qos = this.#queue !== undefined ? 1 : this.ackMode === "manual" && qos === 0 ? 1 : qos;
    this.#overflow = opts.overflow ?? "block";
    if (!["block", "drop-oldest", "drop-newest", "error"].includes(this.#overflow)) {
      throw invalid(`overflow must be "block", "drop-oldest", "drop-newest" or "error"`);
    }
    this.#capacity = positiveInt(opts.bufferSize ?? DEFAULT_BUFFER, "bufferSize");
    this.#ackTimeout = positiveInt(opts.ackTimeout ?? DEFAULT_ACK_TIMEOUT, "ackTimeout");
    this.#maxDeliveries = positiveInt(opts.maxDeliveries ?? DEFAULT_MAX_DELIVERIES, "maxDeliveries");
    this.#backoffInitial = nonNegativeInt(
      opts.retryBackoff?.initial ?? DEFAULT_BACKOFF_INITIAL,
      "retryBackoff.initial",
    );
    this.#backoffMax = nonNegativeInt(opts.retryBackoff?.max ?? DEFAULT_BACKOFF_MAX, "retryBackoff.max");
    this.#handler = opts.handler;
    this.#concurrency = positiveInt(opts.concurrency ?? 1, "concurrency");
    this.#onError = opts.onError;
    this.#host = host;
    this.#total = host.buffered;
    // The core's No Local compares a message's origin with the subscriber's client id; in-process publications
    // come from the publisher's id, not this subscription's, so the check is made here (5.0 [MQTT-3.8.3-3]).
    this.#skipOrigin = opts.noLocal === true ? host.originId : undefined;
    this.#direct = this.ackMode === "auto" && this.#queue === undefined && this.#skipOrigin === undefined;
    this.#lane = this.#direct && opts.handler !== undefined ? host.lane : undefined;
    // The session may hold this many QoS 1/2 deliveries unacknowledged: what the buffer holds plus what is out.
    this.inflightLimit = Math.min(
      65_535,
      this.#capacity + (this.#handler === undefined ? this.#capacity : this.#concurrency),
    );
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    this.#signal = opts.signal;
    if (opts.signal?.aborted === true)
      throw new InprocError(InprocErrorCode.Closed, "subscribe(): the signal is already aborted");
    const sub: CoreSubscription = {
      filter,
      qos: this.#qos,
      noLocal: false,
      retainAsPublished: false,
      retainHandling: 0,
      identifier: undefined,
      shared,
      queue: this.#queue,
    };
    if (shared !== undefined && opts.noLocal === true)
      throw invalid("noLocal cannot be used on a shared subscription [MQTT-3.8.3-4]");
    const durable = opts.durable !== undefined;
    const opened = this.open(durable);
    const attach = ({ session, present }: { session: Session; present: boolean }): void => {
      if (this.state === ConnState.Closed) return;
      if (present) {
        // A durable session resumed: one filter per subscription, so a changed filter replaces the old one.
        for (const f of [...session.subscriptions.keys()]) if (f !== filter) broker.unsubscribe(session, f);
      }
      if (this.#direct) session.sink = this;
      // Retained messages only for a subscription that is new (5.0 Retain Handling 1 for a resumed one).
      if (!broker.subscribe(session, sub)) broker.deliverRetained(session, sub);
      if (present) session.resume(); // unacknowledged ones again, then what queued meanwhile [MQTT-4.4.0-1]
      if (session.queue.length > 0) this.queued();
    };
    if (opened instanceof Promise) void opened.then(attach);
    else attach(opened);
    if (opts.signal !== undefined) {
      this.#abort = () => void this.unsubscribe();
      opts.signal.addEventListener("abort", this.#abort, { once: true });
    }
  }

  // ---- SessionLink ---------------------------------------------------------------------------------------------

  /** SessionLink: something waits in the session queue now; a "block" subscription may hold publish() back. */
  queued(): void {
    if (this.#overflow === "block") this.#host.mayWait(this);
  }

  override get canWrite(): boolean {
    return (
      this.state !== ConnState.Closed &&
      (this.#overflow !== "block" || this.#buffer.length + this.#laned < this.#capacity)
    );
  }

  /**
   * The session's direct intake (DirectSink) of a plain QoS 0 delivery: buffered as writePublish() would, when the
   * buffer has room and the backpressure marks would not be reached; otherwise false, and the delivery takes the
   * session's ordinary path (overflow policy, queueing, backpressure).
   */
  offer(msg: Message): boolean {
    const r = sharedView(msg); // the same view writePublish() takes if this declines
    const n = r.size;
    const bytes = this.#bufferedBytes + n;
    // Lane mode (#laneCap): room in the buffer's bound, and below the byte mark with the lane's priority, is all
    // that #offerChecked() would find out.
    if (this.#laned < this.#laneCap && bytes < this.#quietBytes && r.priority === this.#lanePriority) {
      this.#laned++;
      this.#received++;
      this.#bufferedBytes = bytes;
      this.#total.bytes += n;
      this.#lane!.add(r, this);
      return true;
    }
    return this.#offerChecked(r, n);
  }

  /** offer() outside lane mode, or at the first message of a burst, or near a limit: every check. */
  #offerChecked(r: Plain, n: number): boolean {
    const buffered = this.#buffer.length;
    const pressure = this.pressure;
    this.#quietBytes = pressure.quietBytes;
    if (
      buffered + this.#laned >= this.#capacity ||
      this.state === ConnState.Closed ||
      !pressure.quietAt(this.#bufferedBytes + n)
    )
      return false;
    this.#received++;
    this.#bufferedBytes += n;
    this.#total.bytes += n;
    const lane = this.#lane;
    if (lane !== undefined && buffered === 0 && this.#running < this.#concurrency) {
      if (this.#laned === 0) this.#lanePriority = r.priority;
      if (r.priority === this.#lanePriority) {
        this.#laned++;
        this.#refresh();
        lane.add(r, this);
        return true;
      }
      lane.moveOut(this); // another priority: the buffer orders them
    }
    this.#buffer.push(r, r.priority);
    this.#laneCap = 0;
    this.#schedulePump();
    return true;
  }

  /** Recomputes #laneCap from what it sums up; called wherever one of them may have changed. */
  #refresh(): void {
    this.#laneCap =
      this.#lane !== undefined &&
      this.#buffer.length === 0 &&
      this.#running < this.#concurrency &&
      this.state !== ConnState.Closed &&
      this.madePressure?.congested !== true
        ? this.#capacity
        : 0;
  }

  /** OutboundSide: a backpressure episode began or ended (lane mode ends while one runs). */
  congestionChanged(): void {
    this.#refresh();
  }

  // ---- LaneMember --------------------------------------------------------------------------------------------

  /** Hands out a message from the lane: what the pump does for a shared view, without the buffer. */
  laneTake(r: Held): void {
    this.#laned--;
    // Lane mode: open and the handler not busy (what #laneTakeChecked() checks first).
    if (this.#laneCap === 0) {
      this.#laneTakeChecked(r);
      return;
    }
    const n = r.size;
    this.#bufferedBytes -= n;
    this.#total.bytes -= n;
    this.#handOutShared(r);
    if (this.#laned === 0 && !this.#isClosed()) this.#afterTake();
  }

  #laneTakeChecked(r: Held): void {
    if (this.state === ConnState.Closed) {
      this.#unbuffered(r); // (ended() moves the rest out of the lane and drops them)
      return;
    }
    if (this.#running >= this.#concurrency) {
      // The handler became busy (it returned a promise): this and the rest wait in the buffer, in order.
      this.#buffer.push(r, r.priority);
      this.#laneCap = 0;
      this.#schedulePump();
      this.#lane!.moveOut(this);
      return;
    }
    this.#unbuffered(r);
    this.#handOutShared(r);
    if (this.#laned === 0 && !this.#isClosed()) this.#afterTake();
  }

  /** Calls the handler with a lane message, unless it expired meanwhile. */
  #handOutShared(r: Held): void {
    const msg = r.msg;
    if (msg.expiresAt !== undefined && isExpired(msg, this.broker.clock.now())) {
      this.#stats.expired++;
      this.broker.counters.expired++; // expired messages are never delivered, and counted [MQTT-3.3.2-5]
    } else {
      this.#delivered++;
      this.#callShared(r);
    }
  }

  /** A lane message goes to the buffer instead (lane.moveOut), oldest first; its bytes are counted already. */
  laneMoved(r: Held): void {
    this.#laned--;
    this.#buffer.push(r, r.priority);
    this.#laneCap = 0;
    this.#schedulePump();
  }

  override writePublish(d: Delivery, packetId: number | undefined, _dup: boolean): boolean {
    if (this.state === ConnState.Closed) return true;
    if (this.#skipOrigin !== undefined && d.msg.origin === this.#skipOrigin) {
      this.#settleUnseen(d, packetId);
      return true;
    }
    if (this.#laned > 0) this.#lane!.moveOut(this); // the buffer's rules apply to what is pending
    this.#received++;
    const r =
      this.#queue !== undefined
        ? this.#queueReceived(d, packetId)
        : packetId === undefined && this.ackMode === "auto" && !d.retain
          ? sharedView(d.msg)
          : new Received(this, d, packetId, priorityOf(d.msg.properties), 1);
    if (this.#buffer.length >= this.#capacity && !this.#makeRoom(r)) return true;
    this.#push(r);
    return true;
  }

  #queueReceived(d: Delivery, packetId: number | undefined): Received {
    const { messageId, deliveryCount } = queueDeliveryOf(d);
    if (deliveryCount > 1) this.#stats.redelivered++;
    return new Received(this, d, packetId, priorityOf(d.msg.properties), deliveryCount, messageId);
  }

  /** Completes a delivery this subscription does not take (No Local). */
  #settleUnseen(d: Delivery, packetId: number | undefined): void {
    if (packetId !== undefined) new Received(this, d, packetId, 0, 1).settle(Settle.Dropped);
  }

  /** Applies the overflow policy to a full buffer; false when `incoming` was discarded. */
  #makeRoom(incoming: Held): boolean {
    switch (this.#overflow) {
      case "drop-newest":
        this.#stats.dropped++;
        incoming.settle(Settle.Dropped);
        return false;
      case "drop-oldest": {
        const old = this.#buffer.shiftLowest()!;
        this.#unbuffered(old);
        this.#stats.dropped++;
        old.settle(Settle.Dropped);
        return true;
      }
      case "error":
        this.#stats.dropped++;
        incoming.settle(Settle.Dropped);
        this.end(
          new InprocError(
            InprocErrorCode.Overflow,
            `subscription ${this.filter}: buffer of ${this.#capacity} overflowed`,
          ),
        );
        return false;
      default:
        return true; // "block": only a resend can get here (canWrite was false); keep it
    }
  }

  #push(r: Held): void {
    if (this.#laned > 0) this.#lane!.moveOut(this); // the older ones first
    this.#buffer.push(r, r.priority);
    this.#laneCap = 0;
    const n = r.size;
    this.#bufferedBytes += n;
    this.#total.bytes += n;
    this.#schedulePump();
  }

  #unbuffered(r: Held): void {
    const n = r.size;
    this.#bufferedBytes -= n;
    this.#total.bytes -= n;
  }

  // ---- hand-out ------------------------------------------------------------------------------------------------

  #schedulePump(): void {
    // An iterator nobody waits on takes from the buffer in next(): a pump would find no one to hand to, and only
    // release blocked publishers (#afterTake) if some wait.
    if (
      this.#pumpScheduled ||
      (this.#handler === undefined && this.#waiters.length === 0 && this.#drainedResolve === undefined)
    )
      return;
    this.#pumpScheduled = true;
    queueMicrotask(this.#pumpTask);
  }

  /** The scheduled pump: one function for the subscription's lifetime, not a closure per schedule. */
  readonly #pumpTask = (): void => {
    this.#pumpScheduled = false;
    this.#pump();
  };

  /** The next buffered message that has not expired, or undefined. */
  #take(): Held | undefined {
    for (;;) {
      const r = this.#buffer.shift();
      if (r === undefined) return undefined;
      this.#unbuffered(r);
      // A queue does not expire a message in flight under its consumer (docs/queues.md "Limits").
      const msg = r.msg;
      if (msg.expiresAt !== undefined && this.#queue === undefined && isExpired(msg, this.broker.clock.now())) {
        this.#stats.expired++;
        this.broker.counters.expired++; // expired messages are never delivered, and counted [MQTT-3.3.2-5]
        r.settle(Settle.Dropped);
        continue;
      }
      this.#delivered++;
      return r;
    }
  }

  /** A method, not a field test: handlers run inside the loop and may end the subscription. */
  #isClosed(): boolean {
    return this.state === ConnState.Closed;
  }

  #pump(): void {
    if (this.state === ConnState.Closed || this.#pumping) return;
    if (this.#handler !== undefined) {
      this.#pumping = true;
      try {
        while (this.#running < this.#concurrency && !this.#isClosed()) {
          const r = this.#take();
          if (r === undefined) break;
          if (!r.isShared) {
            this.#run(r);
            continue;
          }
          this.#callShared(r);
        }
      } finally {
        this.#pumping = false;
      }
    } else {
      while (this.#waiters.length > 0) {
        const r = this.#take();
        if (r === undefined) break;
        this.#handOut(r);
        this.#waiters.shift()!({ value: r, done: false });
      }
    }
    this.#afterTake();
  }

  /** Room in the buffer again: pull what waits in the session queue, and release blocked publishers. */
  #afterTake(): void {
    this.#refresh(); // the buffer may be empty now
    const s = this.session;
    if (s !== undefined && s.queue.length > 0 && this.canWrite) s.drain();
    else this.eased();
    if (this.#drainedResolve !== undefined && (s === undefined || s.queue.length === 0)) this.#releaseDrained();
  }

  /** Starts tracking `r` as out of the buffer: manual ack gets its timeout; iterator auto-ack settles now. */
  #handOut(r: Held): void {
    if (this.#manual && !r.isShared) {
      this.#outstanding.add(r);
      if (this.#queue !== undefined) return; // the queue's deliveryTimeout applies, not ackTimeout
      (this.#deadlines ??= new AckDeadlines<Received>(this.broker.clock, this.#ackTimeout, (x) =>
        this.retry(x, undefined, "ack timeout"),
      )).add(r);
    } else if (this.#handler === undefined) {
      this.acked(r);
    }
  }

  /**
   * Calls the handler with a shared view (automatic acknowledgement, QoS 0): nothing to hand out or settle, so a
   * handler that returns at once costs one call; one that fails or returns a promise is tracked as by #run().
   */
  #callShared(r: Held): void {
    let result: void | Promise<void>;
    try {
      result = this.#handler!(r);
    } catch (err) {
      this.#running++;
      this.#handlerDone(r, err, true);
      return;
    }
    if (result !== undefined) {
      this.#running++;
      this.#refresh();
      this.#awaitHandler(r, result);
    }
  }

  #run(r: Received): void {
    this.#running++;
    this.#refresh();
    this.#handOut(r);
    let result: void | Promise<void>;
    try {
      result = this.#handler!(r);
    } catch (err) {
      this.#handlerDone(r, err, true);
      return;
    }
    this.#awaitHandler(r, result);
  }

  /** After the handler returned `result` for `r` (#running counts it): settles now, or when its promise does. */
  #awaitHandler(r: Held, result: void | Promise<void>): void {
    if (result instanceof Promise) {
      result.then(
        () => this.#handlerDone(r, undefined, false),
        (err: unknown) => this.#handlerDone(r, err, true),
      );
    } else {
      this.#handlerDone(r, undefined, false);
    }
  }

  #handlerDone(r: Held, err: unknown, failed: boolean): void {
    this.#running--;
    this.#refresh();
    if (this.ackMode === "auto" && !r.settled) {
      if (failed) this.retry(r, undefined, `handler error: ${err instanceof Error ? err.message : String(err)}`);
      else this.acked(r);
    } else if (failed) {
      this.#reportError(err);
    }
    if (this.state !== ConnState.Closed) this.#pump();
  }

  #reportError(err: unknown): void {
    if (this.#onError !== undefined) this.#onError(err);
    else this.logger.warn({ err, filter: this.filter }, "in-process subscription handler failed");
  }

  // ---- settlement ----------------------------------------------------------------------------------------------

  /** Done with it: the QoS 1/2 flow completes (a queue delivery is acknowledged to its group). */
  acked(r: Held): void {
    if (r.settled) return;
    r.settle(Settle.Acked);
    if (this.#queue !== undefined && !r.isShared) this.#queueSettle(r, "ack", undefined);
  }

  /** Failed delivery: redeliver after `retryAfter` (or the backoff), or dead-letter past maxDeliveries. */
  retry(r: Held, retryAfter: number | undefined, why: string): void {
    if (r.settled) return;
    // (A queue's delivery is never a shared view: queue subscriptions take no direct intake.)
    if (this.#queue !== undefined && !r.isShared) {
      // The queue's retry: backoff (or retryAfter), delivery count, maxRetries and its DLQ (docs/queues.md).
      r.settle(Settle.Returned);
      this.#queueSettle(r, "nack", retryAfter);
      return;
    }
    if (!r.isShared) this.#outstanding.delete(r);
    if (r.deliveryCount >= this.#maxDeliveries) {
      this.kill(r, `${why}; delivered ${r.deliveryCount} times (maxDeliveries ${this.#maxDeliveries})`);
      return;
    }
    r.settle(Settle.Retrying);
    this.#deadlines?.settled();
    const delay =
      retryAfter ?? Math.min(this.#backoffMax, this.#backoffInitial * 2 ** Math.min(30, r.deliveryCount - 1));
    const next = new Received(this, r.delivery, r.packetId, r.priority, r.deliveryCount + 1);
    next.timer = this.broker.clock.setTimeout(() => {
      next.timer = undefined;
      if (this.state === ConnState.Closed) return;
      this.#stats.redelivered++;
      this.#push(next);
    }, delay);
    this.#outstanding.add(next); // so that unsubscribe() cancels the timer
  }

  /** Goes to the dead-letter topic with `reason` (a queue's: its DLQ, `dlq-reason` "rejected: <reason>"). */
  kill(r: Held, reason: string | undefined): void {
    if (r.settled) return;
    this.#stats.deadLettered++;
    if (this.#queue !== undefined && !r.isShared) {
      r.settle(Settle.Dead);
      this.#queueSettle(r, "reject", reason);
      return;
    }
    this.#host.deadLetter(r, reason ?? "rejected");
    r.settle(Settle.Dead);
  }

  /**
   * $ack / $nack / $reject of a queue delivery. Refused when the queue took the message back meanwhile (this
   * subscription ended, or the delivery timed out and went to another consumer): manual settlement throws
   * INPROC_ACK_STATE with the queue's reason, automatic settlement reports it (onError / the log).
   */
  #queueSettle(r: Received, action: "ack" | "nack" | "reject", arg: number | string | undefined): void {
    const s = this.session;
    const out =
      s === undefined || this.state === ConnState.Closed
        ? undefined
        : this.#host.queues.settleOwn(s, this.filter, action, r.queueId!, arg);
    if (out?.ok === true) return;
    const err = new InprocError(
      InprocErrorCode.AckState,
      `${action}(): ${out?.reason ?? `the subscription ended; message ${r.queueId} went back to its group`}`,
    );
    if (this.ackMode === "manual") throw err;
    this.#reportError(err);
  }

  /** Ends the QoS 1/2 flow of `r` in the session (the core's PUBACK / PUBREC+PUBCOMP paths). */
  complete(r: Received): void {
    this.#outstanding.delete(r);
    this.#deadlines?.settled();
    const s = this.session;
    if (r.packetId === undefined || s === undefined || this.state === ConnState.Closed) return;
    if (r.delivery.qos === 1) s.onPuback(r.packetId);
    else if (s.onPubrec(r.packetId, 0) === 1) s.onPubcomp(r.packetId);
    if (this.#buffer.length < this.#capacity) this.#afterTake();
  }

  // ---- consumer API --------------------------------------------------------------------------------------------

  /** Resolves once nothing waits for this subscription in its session queue ("block" publishers wait on it). */
  drained(): Promise<void> | undefined {
    const s = this.session;
    if (this.#overflow !== "block" || s === undefined || s.queue.length === 0 || this.state === ConnState.Closed) {
      return undefined;
    }
    return (this.#drainedPromise ??= new Promise((resolve) => (this.#drainedResolve = resolve)));
  }

  #releaseDrained(): void {
    const resolve = this.#drainedResolve;
    this.#drainedPromise = undefined;
    this.#drainedResolve = undefined;
    resolve?.();
  }

  [Symbol.asyncIterator](): AsyncIterator<ReceivedMessage> {
    if (this.#handler !== undefined) throw invalid("a subscription with a handler cannot also be iterated");
    return {
      next: () => {
        const r = this.state === ConnState.Closed ? undefined : this.#take();
        if (r !== undefined) {
          this.#handOut(r);
          this.#afterTake();
          return Promise.resolve({ value: r, done: false });
        }
        if (this.state === ConnState.Closed) {
          return this.#error === undefined
            ? Promise.resolve({ value: undefined, done: true })
            : Promise.reject(this.#error);
        }
        return new Promise((resolve) => this.#waiters.push(resolve));
      },
      return: async () => {
        await this.unsubscribe();
        return { value: undefined, done: true };
      },
    };
  }

  unsubscribe(): Promise<void> {
    this.end(undefined);
    return this.closed.then(() => undefined);
  }

  protected override bufferedPayloadBytes(): number {
    return this.#bufferedBytes;
  }

  stats(): SubscriptionStats {
    return {
      received: this.#received,
      delivered: this.#delivered,
      ...this.#stats,
      buffered: this.#buffer.length + this.#laned,
      bufferedBytes: this.#bufferedBytes,
    };
  }

  protected override ended(error: InprocError | undefined): void {
    this.#laneCap = 0;
    this.#error = error;
    if (this.#laned > 0) this.#lane!.moveOut(this);
    this.#lane?.forget(this);
    for (const r of this.#buffer.drain()) this.#unbuffered(r);
    for (const r of this.#outstanding) {
      r.timer?.cancel();
      r.timer = undefined;
    }
    this.#outstanding.clear();
    this.#deadlines?.clear();
    if (this.#abort !== undefined) this.#signal?.removeEventListener("abort", this.#abort);
    for (const w of this.#waiters) w({ value: undefined, done: true });
    this.#waiters = [];
    this.#releaseDrained();
    if (error !== undefined) this.#reportError(error);
    this.#host.removed(this);
    this.#resolveClosed(error);
  }
}

function positiveInt(n: number, name: string): number {
  if (!Number.isSafeInteger(n) || n < 1) throw invalid(`${name} must be a positive integer, got ${n}`);
  return n;
}

function nonNegativeInt(n: number, name: string): number {
  if (!Number.isSafeInteger(n) || n < 0) throw invalid(`${name} must be an integer >= 0, got ${n}`);
  return n;
}

export type { Session };
