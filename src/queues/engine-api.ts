// The queue engine's public shapes (engine.ts): options, inputs, outcomes, names and message ids.
import type { Clock, Logger } from "../util/index.ts";
import type { Properties } from "../codec/index.ts";
import type { QueueConfigEntry } from "./config.ts";
import type { Refusal } from "./errors.ts";
import type { QueueStore } from "./store.ts";
import { messageIdFor } from "./types.ts";
import type { StreamStart } from "./types.ts";

export interface QueueEngineOptions {
  /** Where queues persist (default: in memory, nothing survives a restart). */
  store?: QueueStore;
  clock?: Clock;
  logger?: Logger;
  /** The `queues:` config entries (names and patterns over the defaults). */
  config?: readonly QueueConfigEntry[];
  /** Uniform in [0, 1): backoff jitter (tests fix it). */
  random?: () => number;
  /** Queues that publishing may create (0 = unlimited). Default 10 000: queue names come from clients. */
  maxQueues?: number;
  /**
   * Heap budget for message bodies held in memory (bytes, payload + ~240 bytes of object overhead each). Bodies
   * live in the store; the engine keeps each from its append until the store has written it, then only while
   * within this budget (oldest evicted first; an evicted body is read back on delivery). Default 16 MiB. Stores
   * without `read` keep every body regardless.
   */
  bodyCacheBytes?: number;
  /** Called for each message moved to a dead-letter queue, right after the move (the broker emits an event). */
  onDeadLetter?: ((notice: DeadLetterNotice) => void) | undefined;
}

/** One message moved to a dead-letter queue (not called for drops, nor when the DLQ was full). */
export interface DeadLetterNotice {
  /** The queue the message left (a `$queue/` name without the prefix). */
  readonly queue: string;
  /** The dead-letter queue it went to (e.g. `dlq/jobs`). */
  readonly dlq: string;
  /** `max-retries`, `total-timeout`, `expired`, `rejected` or `rejected: <consumer's reason>` (the `dlq-reason`). */
  readonly reason: string;
  /** Deliveries it had (0: expired before any delivery). */
  readonly deliveryCount: number;
  /** The consumer group whose failure moved it ("" for an expiry with no group). */
  readonly group: string;
  /** Its `message-id` in the queue it left (`original-message-id` on the dead letter). */
  readonly messageId: string;
  readonly payloadBytes: number;
}

export interface EnqueueInput {
  payload: Buffer;
  properties?: Properties | undefined;
  partitionKey?: string | undefined;
  /** Publisher's Message Expiry (absolute, clock ms). */
  expiresAt?: number | undefined;
}

export type PublishOutcome = { ok: true; seq: number; messageId: string } | Refusal;
export type SettleOutcome = { ok: true } | Refusal;

/**
 * A successful publish. `messageId` is built when read: the broker acknowledges without it (one string and two
 * number conversions fewer per message).
 */
export class Published {
  readonly ok = true as const;
  constructor(
    readonly seq: number,
    readonly enqueuedAt: number,
  ) {}

  get messageId(): string {
    return messageIdFor(this.seq, this.enqueuedAt);
  }
}

/** The outcome of every successful settlement (shared: nobody changes it). */
export const SETTLED: SettleOutcome = Object.freeze({ ok: true as const });

export interface JoinOptions {
  /** Unsettled deliveries at once (default: the queue's `prefetch`). */
  prefetch?: number | undefined;
  /** Stream groups: where a new group starts. */
  start?: StreamStart | undefined;
}

export const DEFAULT_GROUP = "default";
/**
 * A consumer group named with this prefix lives only while it has consumers: dropped (with its offset and pending
 * state) when the last one leaves, and at startup. What the HTTP bridge's SSE readers of a stream use to resume
 * after a Last-Event-ID without leaving a group behind per connection.
 */
export const EPHEMERAL_GROUP_PREFIX = "$ephemeral/";
export const DEFAULT_BODY_CACHE = 16 * 1024 * 1024;

/** A queue name: non-empty levels, no wildcards, no level starting with `$` (reserved: `$ack`, `$nack`, …). */
export function isValidQueueName(name: string): boolean {
  if (name.length === 0 || name.length > 4096) return false;
  for (const level of name.split("/")) {
    if (level.length === 0 || level.startsWith("$") || level.includes("+") || level.includes("#")) return false;
    if (level.includes("\u0000")) return false;
  }
  return true;
}

/**
 * `<seq>` or `<seq>-<append ms>`, each 1–15 decimal digits (what /^(\d{1,15})(?:-(\d{1,15}))?$/ accepts), as numbers;
 * undefined for anything else. By hand: it runs once per settlement, and a RegExp match allocates its result.
 */
export function parseMessageId(s: string): [seq: number, at: number | undefined] | undefined {
  let seq = 0;
  let at = 0;
  let digits = 0;
  let dash = -1;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 45 /* - */ && dash < 0 && digits > 0) {
      dash = i;
      digits = 0;
      continue;
    }
    if (c < 48 || c > 57 || ++digits > 15) return undefined;
    if (dash < 0) seq = seq * 10 + (c - 48);
    else at = at * 10 + (c - 48);
  }
  if (digits === 0) return undefined;
  return [seq, dash < 0 ? undefined : at];
}
