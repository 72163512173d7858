// In-process consumers and producers of durable queues (`$queue/<name>`, docs/queues.md): an in-process
// subscription to a queue joins the queue's consumer group through the same bridge as an MQTT SUBSCRIBE
// (src/broker/queue-bridge.ts), so groups mix MQTT and in-process consumers; ack()/nack()/reject() are the queue's
// $ack/$nack/$reject (retry, backoff, delivery timeout and dead letters are the queue's, not the subscription's).
import type { Delivery } from "../broker/message.ts";
import { isQueueTopic, parseQueueSpec } from "../broker/queue-bridge.ts";
import type { QueueSpec } from "../broker/session.ts";
import type { StreamStart } from "../queues/index.ts";
import { invalid } from "./errors.ts";
import type { StreamFrom, SubscribeOptions } from "./types.ts";

export { isQueueTopic };

/** Options of the in-process retry machinery, which a queue subscription takes from the queue's config instead. */
const NOT_FOR_QUEUES = ["ackTimeout", "maxDeliveries", "retryBackoff", "noLocal", "durable"] as const;
/** Options that only a queue subscription takes. */
const QUEUE_ONLY = ["group", "prefetch", "from"] as const;

/**
 * The consumer spec of an in-process subscription to `filter`, or undefined when `filter` is not a queue. Throws
 * INPROC_INVALID_ARGUMENT for a bad queue name or option, and for an option that would be ignored.
 */
export function queueSpecOf(filter: string, opts: SubscribeOptions): QueueSpec | undefined {
  if (!isQueueTopic(filter)) {
    for (const k of QUEUE_ONLY) {
      if (opts[k] !== undefined) throw invalid(`${k}: only for a $queue/ subscription (filter ${filter})`);
    }
    return undefined;
  }
  for (const k of NOT_FOR_QUEUES) {
    if (opts[k] !== undefined) {
      throw invalid(`${k}: not for a $queue/ subscription (retries, timeouts and progress are the queue's config)`);
    }
  }
  if (opts.overflow !== undefined && opts.overflow !== "block") {
    throw invalid(`overflow: a $queue/ subscription is bounded by its prefetch ("block" only)`);
  }
  const parsed = parseQueueSpec(filter, undefined);
  if (typeof parsed === "string") throw invalid(parsed);
  const group = opts.group;
  if (group !== undefined && (typeof group !== "string" || group.length === 0 || group.length > 256)) {
    throw invalid("group must be 1..256 characters");
  }
  const prefetch = opts.prefetch;
  if (prefetch !== undefined && !(Number.isSafeInteger(prefetch) && prefetch >= 1 && prefetch <= 65_535)) {
    throw invalid(`prefetch must be an integer 1..65535, got ${prefetch}`);
  }
  return {
    name: parsed.name,
    group: group ?? parsed.group,
    prefetch,
    start: opts.from === undefined ? undefined : streamStart(opts.from),
  };
}

/** Where a new stream group starts reading (the wire's `stream-offset`). */
function streamStart(from: StreamFrom): StreamStart {
  if (from === "earliest" || from === "latest") return { kind: from };
  if (typeof from === "object" && from !== null) {
    if ("offset" in from && Number.isSafeInteger(from.offset) && from.offset >= 0) {
      return { kind: "offset", offset: from.offset };
    }
    if ("time" in from) {
      const at = from.time instanceof Date ? from.time.getTime() : from.time;
      if (Number.isSafeInteger(at) && at >= 0) return { kind: "timestamp", at };
    }
  }
  throw invalid(
    `from must be "earliest", "latest", { offset: n >= 0 } or { time: Date | ms }, got ${JSON.stringify(from)}`,
  );
}

/** The queue's delivery metadata: `message-id` and the delivery count (the bridge's user properties). */
export function queueDeliveryOf(d: Delivery): { messageId: string; deliveryCount: number } {
  let messageId = "";
  let deliveryCount = 1;
  let dlqCount: number | undefined;
  for (const [k, v] of d.msg.properties?.userProperties ?? []) {
    if (k === "message-id") messageId = v;
    else if (k === "delivery-count") deliveryCount = Number(v) || 1;
    else if (k === "dlq-delivery-count") dlqCount = Number(v) || 1;
  }
  // A dead letter's `delivery-count` is its final count in the original queue; this consumer's is the DLQ's own.
  return { messageId, deliveryCount: dlqCount ?? deliveryCount };
}
