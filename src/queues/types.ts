// Shapes shared by the queue engine's modules and its users (the broker, the management API).
import type { Properties } from "../codec/index.ts";
import type { DeadLetterInfo, QueueRecord } from "./store.ts";
export type { StreamStart } from "./store.ts";

/** One message as the engine holds it. */
export interface QueueMessage {
  readonly seq: number;
  readonly record: QueueRecord;
  readonly partition: number;
}

/** What a consumer is handed: the message and its delivery metadata (the wire user properties). */
export interface QueueDelivery {
  readonly queue: string;
  readonly group: string;
  readonly seq: number;
  /** `message-id` user property: the seq in decimal (unique per queue, never reused). */
  readonly messageId: string;
  /** `delivery-count`: 1 on the first delivery. */
  readonly deliveryCount: number;
  readonly partition: number;
  readonly payload: Buffer;
  readonly properties: Properties | undefined;
  readonly partitionKey: string | undefined;
  readonly dlq: DeadLetterInfo | undefined;
  readonly expiresAt: number | undefined;
}

/**
 * A delivery as the engine hands it out. `messageId` is built when read: a 3.1.1 consumer settles with its PUBACK
 * and never sees it, so most deliveries never need the string. Its fields are own properties except
 * `messageId` (a getter): copy it explicitly when the delivery crosses a structured clone (src/cluster/queues).
 */
export class Delivered implements QueueDelivery {
  constructor(
    readonly queue: string,
    readonly group: string,
    readonly seq: number,
    /** The message's append time (ms): the second half of its `message-id`. */
    readonly enqueuedAt: number,
    readonly deliveryCount: number,
    readonly partition: number,
    readonly payload: Buffer,
    readonly properties: Properties | undefined,
    readonly partitionKey: string | undefined,
    readonly dlq: DeadLetterInfo | undefined,
    readonly expiresAt: number | undefined,
  ) {}

  get messageId(): string {
    return messageIdFor(this.seq, this.enqueuedAt);
  }
}

/** The broker side of one consumer: how the engine hands it a message. */
export interface ConsumerLink {
  /** The client id (stats, logs). */
  readonly id: string;
  /** Sends one delivery (the link queues it if the connection cannot take it right now). */
  send(d: QueueDelivery): void;
}

/**
 * The `message-id` of a message: `<seq>-<append time in ms>`. The seq alone is not enough: a seq appended but never
 * committed before a crash is given again after the restart, and a consumer's `$ack` for the lost message, resent
 * by its client after reconnecting, would settle the new one. The append time tells them apart (it is stored with
 * the entry, so a committed message keeps its id across restarts).
 */
export function messageIdOf(m: QueueMessage): string {
  return messageIdFor(m.seq, m.record.enqueuedAt);
}

export function messageIdFor(seq: number, enqueuedAt: number): string {
  return `${seq}-${enqueuedAt}`;
}

/** Why a message went to the dead-letter queue (`dlq-reason`). */
export const DlqReason = {
  MaxRetries: "max-retries",
  TotalTimeout: "total-timeout",
  Rejected: "rejected",
  Expired: "expired",
} as const;

export interface QueueCounters {
  published: number;
  delivered: number;
  acked: number;
  nacked: number;
  rejected: number;
  /** Delivery timeouts (each also a retry or a DLQ move). */
  timedOut: number;
  deadLettered: number;
  expired: number;
  /** Messages dropped: expired with dropExpired, failed with the DLQ disabled, rejected in a DLQ. */
  dropped: number;
  /** Publishes refused (limits). */
  refused: number;
  /** DLQ moves that could not happen because the DLQ was full (the message stayed in its queue). */
  dlqFull: number;
}

export function newCounters(): QueueCounters {
  return {
    published: 0,
    delivered: 0,
    acked: 0,
    nacked: 0,
    rejected: 0,
    timedOut: 0,
    deadLettered: 0,
    expired: 0,
    dropped: 0,
    refused: 0,
    dlqFull: 0,
  };
}

export interface GroupInfo {
  name: string;
  consumers: { id: string; prefetch: number; inflight: number; partitions: number[] }[];
  /** Delivered and not settled. */
  inflight: number;
  /** Waiting for a retry (backoff) or parked (DLQ full). */
  retrying: number;
  /** Ready for delivery. */
  backlog: number;
  /** Committed offset: every seq <= floor is settled for the group. */
  floor: number;
}

export interface QueueInfo {
  name: string;
  type: string;
  ordering: string;
  partitions: number;
  /** Messages held. */
  depth: number;
  bytes: number;
  firstSeq: number;
  nextSeq: number;
  inflight: number;
  /** Depth of this queue's DLQ (0 when it has none or it is empty). */
  dlqDepth: number;
  dlq: string | undefined;
  groups: GroupInfo[];
  counters: QueueCounters;
}
