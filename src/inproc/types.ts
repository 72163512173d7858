// Public types of the in-process API (docs/embedding.md).
import type { Properties, QoS, UserProperty } from "../codec/index.ts";
import type { InprocError } from "./errors.ts";

/** The 5.0 PUBLISH properties a message can carry (others are per connection or computed by the broker). */
export interface MessageProperties {
  payloadFormatIndicator?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  userProperties?: UserProperty[];
}

export interface PublishOptions {
  /** 0 (default), 1 or 2: the QoS subscribers get at most (min with their subscription's). */
  qos?: QoS;
  retain?: boolean;
  /** 0 (lowest) .. 9 (highest), default 4 (Priority.Normal): sent as the 5.0 user property `priority`. */
  priority?: number;
  /** Time to live in milliseconds (5.0 Message Expiry, rounded up to seconds on the wire); expired = never delivered. */
  ttl?: number;
  properties?: MessageProperties;
  /**
   * `$queue/` topics only: the partition key (the wire's user property `partition-key`): messages with one key go to
   * one partition, in order (docs/queues.md "Partitions and ordering").
   */
  partitionKey?: string;
}

/** One message of publishBatch() / a transaction. */
export interface BatchEntry extends PublishOptions {
  topic: string;
  payload: Buffer | Uint8Array | string;
}

/** What routing one message did. */
export interface PublishResult {
  /** Subscriptions (sessions, in-process or MQTT, and shared groups) the message matched. */
  matched: number;
  /** Of those, the ones that refused it (a full queue). */
  refused: number;
  /** `$queue/` topics: the message's `message-id` in the queue (matched is then 1). */
  messageId?: string;
}

/**
 * Where a new stream group starts reading (the wire's `stream-offset`): the oldest message kept, only messages
 * published from now on, the message with that offset (the seq of a `message-id`), or the first message appended at
 * or after that time.
 */
export type StreamFrom = "earliest" | "latest" | { offset: number } | { time: Date | number };

/**
 * What a subscription does when its buffer is full:
 *  - "block": deliveries wait in the subscription's session queue (bounded by mqtt.maxQueuedMessages) and
 *    in-process publishers' publish() waits until the subscriber has taken them;
 *  - "drop-oldest": the oldest buffered message of the lowest priority is discarded (counted);
 *  - "drop-newest": the arriving message is discarded (counted);
 *  - "error": the subscription ends with InprocError INPROC_OVERFLOW.
 */
export type OverflowPolicy = "block" | "drop-oldest" | "drop-newest" | "error";

/** "auto": acknowledged when the handler resolves (retried when it throws) or when the iterator yields it. */
export type AckMode = "auto" | "manual";

export interface SubscribeOptions {
  /** Granted QoS (default 0; at least 1 with ack "manual"). */
  qos?: QoS;
  /** Called for each message, one at a time (see `concurrency`); without it, iterate the subscription. */
  handler?: (msg: ReceivedMessage) => void | Promise<void>;
  /** Messages the handler may be running on at once (default 1: in order). */
  concurrency?: number;
  /** Buffered messages not yet handed to the handler / iterator (default 1024). */
  bufferSize?: number;
  overflow?: OverflowPolicy;
  /** Aborting ends the subscription, like unsubscribe(). */
  signal?: AbortSignal;
  ack?: AckMode;
  /** Manual ack: milliseconds before an unacknowledged message counts as failed and is redelivered (default 30 000). */
  ackTimeout?: number;
  /** Deliveries before a message that keeps failing goes to the dead-letter topic (default 5). */
  maxDeliveries?: number;
  /** Redelivery backoff: initial delay and cap in milliseconds (default 1000, 60 000; doubles each time). */
  retryBackoff?: { initial?: number; max?: number };
  /** 5.0 No Local: do not receive what this broker handle itself publishes. */
  noLocal?: boolean;
  /**
   * A durable subscription: its session outlives it (and, with LMDB storage, a restart). While no subscription of
   * that name is attached, QoS 1/2 messages queue in the session (bounded by mqtt.maxQueuedMessages/Bytes); the
   * next subscribe() with the same name gets them, and every message handed out and not acknowledged again.
   * unsubscribe() detaches; broker.removeDurable(name) ends the session.
   */
  durable?: string;
  /**
   * `$queue/` subscriptions: the consumer group to join (default "default"); each message goes to one consumer of
   * each group, MQTT and in-process consumers alike.
   */
  group?: string;
  /** `$queue/` subscriptions: unsettled deliveries at once (default: the queue's `prefetch`). */
  prefetch?: number;
  /** `$queue/` stream queues: where a new group starts (default "earliest"); an existing group resumes. */
  from?: StreamFrom;
  /** Called when the handler throws past the retry limit or the subscription ends on an error. */
  onError?: (err: unknown) => void;
}

export interface ReceivedMessage {
  readonly topic: string;
  readonly payload: Buffer;
  /** QoS of this delivery: min(publish QoS, granted QoS). */
  readonly qos: QoS;
  /** Set for a retained message sent because the subscription is new. */
  readonly retain: boolean;
  readonly properties: Properties | undefined;
  readonly priority: number;
  /** Absolute expiry (broker clock, ms) or undefined. */
  readonly expiresAt: number | undefined;
  /** 1 for the first delivery, +1 for each redelivery. */
  readonly deliveryCount: number;
  /** The payload as UTF-8 text. */
  text(): string;
  /** Manual ack: done with it. */
  ack(): void;
  /** Manual ack: failed, redeliver after `retryAfter` ms (default: the backoff); dead-lettered past maxDeliveries. */
  nack(opts?: { retryAfter?: number }): void;
  /** Manual ack: never redeliver; goes to the dead-letter topic with `reason`. */
  reject(reason?: string): void;
}

export interface SubscriptionStats {
  received: number;
  delivered: number;
  dropped: number;
  expired: number;
  redelivered: number;
  deadLettered: number;
  buffered: number;
  /** Payload bytes buffered. */
  bufferedBytes: number;
}

export interface Subscription extends AsyncIterable<ReceivedMessage> {
  readonly filter: string;
  /** Ends the subscription: buffered messages are discarded (a shared group redispatches its unacknowledged ones). */
  unsubscribe(): Promise<void>;
  /** Resolves when the subscription has ended: with the error that ended it, or undefined. */
  readonly closed: Promise<InprocError | undefined>;
  stats(): SubscriptionStats;
}

/** listen(): a synchronous listener (docs/embedding.md "Synchronous listeners"). */
export interface ListenOptions {
  /** Aborting removes the listener, like unsubscribe(). */
  signal?: AbortSignal;
  /** Called with what the callback throws (default: logged as a warning); routing goes on either way. */
  onError?: (err: unknown) => void;
}

export interface Listener {
  readonly filter: string;
  /** Removes the listener: it is not called for anything routed after this returns. */
  unsubscribe(): void;
}
