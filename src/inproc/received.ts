// What an in-process subscriber receives (ReceivedMessage): one delivery of a message to a subscription, with its
// settlement state (ack, nack, reject, and the session's QoS 1/2 flow behind them), and the shared read-only view
// that every automatically acknowledged subscription a QoS 0 message reaches gets (docs/embedding.md
// "Subscribing", "Acknowledgements").
import type { Properties, QoS } from "../codec/index.ts";
import type { Delivery } from "../broker/message.ts";
import type { TimerHandle } from "../util/index.ts";
import { InprocError, InprocErrorCode } from "./errors.ts";
import { priorityOf } from "./priority.ts";
import type { AckMode, ReceivedMessage } from "./types.ts";

/** The subscription a Received belongs to: where its settlement goes (subscription.ts). */
export interface ReceivedOwner {
  readonly ackMode: AckMode;
  /** Done with it: the QoS 1/2 flow completes (a queue delivery is acknowledged to its group). */
  acked(r: Received): void;
  /** Failed delivery: redeliver after `retryAfter` (or the backoff), or dead-letter past maxDeliveries. */
  retry(r: Received, retryAfter: number | undefined, why: string): void;
  /** Goes to the dead-letter topic with `reason`. */
  kill(r: Received, reason: string | undefined): void;
  /** Ends the QoS 1/2 flow of `r` in the session. */
  complete(r: Received): void;
}

/** Returned: handed back to a queue's group (nack): the queue redelivers it. */
export const Settle = { Pending: 0, Acked: 1, Retrying: 2, Dead: 3, Dropped: 4, Returned: 5 } as const;
export type SettleValue = (typeof Settle)[keyof typeof Settle];

/** One delivery of a message to an in-process subscription (a redelivery is a new Received, same packet id). */
export class Received implements ReceivedMessage {
  #state: SettleValue = Settle.Pending;
  /** A redelivery's backoff timer (ack timeouts share one timer: ack-deadlines.ts). */
  timer: TimerHandle | undefined = undefined;
  /** Manual ack: when the ack timeout expires (broker clock). */
  deadline = 0;
  /**
   * One object handed to every automatically acknowledged subscription a QoS 0 delivery reaches (sharedView()):
   * it carries no settlement state, since such a delivery has nothing to settle (no packet id, no ack timeout).
   */
  #shared = false;
  /** Payload bytes, counted in the buffer's byte total while buffered. */
  readonly size: number;

  constructor(
    readonly sub: ReceivedOwner,
    readonly delivery: Delivery,
    /** The session's packet id while a QoS 1/2 delivery is in flight. */
    readonly packetId: number | undefined,
    readonly priority: number,
    readonly deliveryCount: number,
    /** `$queue/` deliveries: the queue's `message-id`. */
    readonly queueId?: string,
  ) {
    this.size = delivery.msg.payload.length;
  }

  // Read through to the shared message rather than copied: one delivery object per message per subscriber is the
  // hot path's main allocation, so it stays small.
  get topic(): string {
    return this.delivery.msg.topic;
  }

  get payload(): Buffer {
    return this.delivery.msg.payload;
  }

  get retain(): boolean {
    return this.delivery.retain;
  }

  get properties(): Properties | undefined {
    return this.delivery.msg.properties;
  }

  get expiresAt(): number | undefined {
    return this.delivery.msg.expiresAt;
  }

  get qos(): QoS {
    return this.delivery.qos;
  }

  get settled(): boolean {
    return this.#state !== Settle.Pending;
  }

  /** A stateless view for automatically acknowledged QoS 0 deliveries, shared by the subscriptions it reaches. */
  static shared(sub: ReceivedOwner, d: Delivery): Received {
    const r = new Received(sub, d, undefined, priorityOf(d.msg.properties), 1);
    r.#shared = true;
    return r;
  }

  text(): string {
    return this.payload.toString("utf8");
  }

  ack(): void {
    this.#manual("ack");
    this.sub.acked(this);
  }

  nack(opts: { retryAfter?: number } = {}): void {
    this.#manual("nack");
    this.sub.retry(this, opts.retryAfter, "nack");
  }

  reject(reason?: string): void {
    this.#manual("reject");
    this.sub.kill(this, reason);
  }

  #manual(what: string): void {
    if (this.sub.ackMode !== "manual") {
      throw new InprocError(InprocErrorCode.AckState, `${what}(): this subscription acknowledges automatically`);
    }
    if (this.#state !== Settle.Pending) {
      throw new InprocError(InprocErrorCode.AckState, `${what}(): the message was already settled`);
    }
  }

  /** Marks the outcome; `Acked`/`Dead`/`Dropped` also complete the session's QoS 1/2 flow. */
  /** A shared view (Received.shared): nothing to settle. */
  get isShared(): boolean {
    return this.#shared;
  }

  settle(state: SettleValue): void {
    if (this.#shared || this.#state !== Settle.Pending) return;
    this.#state = state;
    this.timer?.cancel();
    this.timer = undefined;
    if (state !== Settle.Retrying) this.sub.complete(this);
  }
}

/**
 * The last shared view made (Received.shared) and the delivery it wraps. The router hands one Delivery object to
 * every plain QoS 0 target of a message, one after the other, so this one-entry memo gives one view per message
 * instead of one per subscription. It keeps the last such message alive until the next one.
 */
let lastShared: Delivery | undefined;
let lastView: Received | undefined;

export function sharedView(sub: ReceivedOwner, d: Delivery): Received {
  if (d === lastShared) return lastView!;
  lastShared = d;
  return (lastView = Received.shared(sub, d));
}
