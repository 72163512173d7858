// What an in-process subscriber receives (ReceivedMessage): one delivery of a message to a subscription, with its
// settlement state (ack, nack, reject, and the session's QoS 1/2 flow behind them), and the shared read-only view
// that every automatically acknowledged subscription a QoS 0 message reaches gets (docs/embedding.md
// "Subscribing", "Acknowledgements").
import type { PreparedPublish, Properties, QoS } from "../codec/index.ts";
import type { Delivery, Message } from "../broker/message.ts";
import type { MessageTrace } from "../broker/tracing.ts";
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
  get msg(): Message {
    return this.delivery.msg;
  }

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
    if (this.sub.ackMode !== "manual") throw autoAck(what);
    if (this.#state !== Settle.Pending) {
      throw new InprocError(InprocErrorCode.AckState, `${what}(): the message was already settled`);
    }
  }

  /** Not a SharedView: settled through its subscription. */
  get isShared(): false {
    return false;
  }

  /** Marks the outcome; `Acked`/`Dead`/`Dropped` also complete the session's QoS 1/2 flow. */
  settle(state: SettleValue): void {
    if (this.#state !== Settle.Pending) return;
    this.#state = state;
    this.timer?.cancel();
    this.timer = undefined;
    if (state !== Settle.Retrying) this.sub.complete(this);
  }
}

/**
 * What the read-only views of a plain QoS 0 delivery (QoS 0, no RETAIN, no packet id) have in common: one object
 * for every automatically acknowledged subscription the message reaches (the router hands such a delivery to each
 * direct intake as the message alone: Session.offer()), with no settlement state, since such a delivery has nothing
 * to settle (no packet id, no ack timeout); a retry (the handler threw) makes a Received of the subscription's own.
 */
abstract class PlainView {
  /** The message it shows. */
  abstract get msg(): Message;

  get deliveryCount(): number {
    return 1;
  }

  get packetId(): undefined {
    return undefined;
  }

  get settled(): boolean {
    return false;
  }

  get isShared(): true {
    return true;
  }

  /** The delivery it stands for (a retry or a dead letter needs one; never on the hot path). */
  get delivery(): Delivery {
    return { msg: this.msg, qos: 0, retain: false, subscriptionIds: undefined };
  }

  text(): string {
    return this.msg.payload.toString("utf8");
  }

  ack(): void {
    throw autoAck("ack");
  }

  nack(): void {
    throw autoAck("nack");
  }

  reject(): void {
    throw autoAck("reject");
  }

  /** Nothing to settle. */
  settle(_state: SettleValue): void {}
}

/** The view of a message published by an MQTT client, a retry, or a QoS 1/2 in-process one (sharedView()). */
export class SharedView extends PlainView implements ReceivedMessage {
  /** Payload bytes, counted in the buffer's byte total while buffered. */
  readonly size: number;
  readonly priority: number;

  constructor(readonly msg: Message) {
    super();
    this.size = msg.payload.length;
    this.priority = priorityOf(msg.properties);
  }

  get topic(): string {
    return this.msg.topic;
  }

  get payload(): Buffer {
    return this.msg.payload;
  }

  get properties(): Properties | undefined {
    return this.msg.properties;
  }

  get expiresAt(): number | undefined {
    return this.msg.expiresAt;
  }

  get qos(): QoS {
    return 0;
  }

  get retain(): boolean {
    return false;
  }
}

/**
 * A message published in-process (LocalBroker.message()): the core's Message and, when it is QoS 0 without RETAIN,
 * its own shared view (what every direct intake it reaches hands out), so such a publication is one object, not a
 * message and a view. What a handler can see is read-only (accessors over private fields: assigning to `topic`
 * throws in strict code, as on any received message); the core's two mutable fields stay plain fields.
 */
export class LocalMessage extends PlainView implements Message, ReceivedMessage {
  readonly #topic: string;
  readonly #payload: Buffer;
  readonly #qos: QoS;
  readonly #retain: boolean;
  readonly #properties: Properties | undefined;
  readonly #expiresAt: number | undefined;
  readonly #priority: number;
  receivedAt: number | undefined = undefined;
  prepared: PreparedPublish | undefined = undefined;
  readonly trace: MessageTrace | undefined = undefined;
  readonly origin: string;
  /** Payload bytes, counted in the buffer's byte total while buffered. */
  readonly size: number;

  constructor(
    topic: string,
    payload: Buffer,
    qos: QoS,
    retain: boolean,
    properties: Properties | undefined,
    expiresAt: number | undefined,
    origin: string,
    priority: number,
  ) {
    super();
    this.#topic = topic;
    this.#payload = payload;
    this.#qos = qos;
    this.#retain = retain;
    this.#properties = properties;
    this.#expiresAt = expiresAt;
    this.#priority = priority;
    this.origin = origin;
    this.size = payload.length;
  }

  get msg(): Message {
    return this;
  }

  get topic(): string {
    return this.#topic;
  }

  get payload(): Buffer {
    return this.#payload;
  }

  /** The QoS it was published with (a view of it is handed out only when that is 0). */
  get qos(): QoS {
    return this.#qos;
  }

  get retain(): boolean {
    return this.#retain;
  }

  get properties(): Properties | undefined {
    return this.#properties;
  }

  get expiresAt(): number | undefined {
    return this.#expiresAt;
  }

  get priority(): number {
    return this.#priority;
  }
}

function autoAck(what: string): InprocError {
  return new InprocError(InprocErrorCode.AckState, `${what}(): this subscription acknowledges automatically`);
}

/** The view a plain QoS 0 delivery of a message is handed out as (sharedView()). */
export type Plain = SharedView | LocalMessage;

/** What a subscription holds in its buffer or the lane: its own delivery, or a message's shared view. */
export type Held = Received | Plain;

/**
 * The last shared view made and its message. The router offers a message to its direct targets one after the other,
 * so this one-entry memo gives one view per message instead of one per subscription. It keeps the last such message
 * alive until the next one.
 */
let lastMsg: Message | undefined;
let lastView: SharedView | undefined;

/** The shared view of a plain QoS 0 delivery of `msg`: an in-process QoS 0 publication without RETAIN is its own. */
export function sharedView(msg: Message): Plain {
  if (msg instanceof LocalMessage && msg.qos === 0 && !msg.retain) return msg;
  if (msg === lastMsg) return lastView!;
  lastMsg = msg;
  return (lastView = new SharedView(msg));
}
