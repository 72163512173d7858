// Typed errors and refusal codes of the queue engine. Each carries a stable `code` and the MQTT 5.0 reason code a
// client gets for it (PUBACK/SUBACK), so the broker never invents its own mapping.
import { ReasonCode } from "../codec/reason-codes.ts";
import { WharfError } from "../util/errors.ts";

export const QueueErrorCode = {
  /** Not a usable queue name: empty level, wildcard, or a level starting with `$` (reserved for `$ack` …). */
  InvalidName: "QUEUE_INVALID_NAME",
  /** Payload larger than limits.maxMessageSize. */
  MessageTooLarge: "QUEUE_MESSAGE_TOO_LARGE",
  /** limits.maxDepth or limits.maxBytes reached. */
  QueueFull: "QUEUE_FULL",
  /** The engine's maxQueues reached: no new queue is created on publish. */
  TooManyQueues: "QUEUE_TOO_MANY_QUEUES",
  /** No such queue (management). */
  NotFound: "QUEUE_NOT_FOUND",
  /** The message id is not pending delivery in that group (already settled, purged, or never delivered). */
  UnknownMessage: "QUEUE_UNKNOWN_MESSAGE",
  /** The queue still has consumers (delete). */
  Busy: "QUEUE_BUSY",
  /** Bad stream start position (`stream-offset`). */
  InvalidStart: "QUEUE_INVALID_START",
} as const;
export type QueueErrorCodeValue = (typeof QueueErrorCode)[keyof typeof QueueErrorCode];

const REASON: Record<QueueErrorCodeValue, number> = {
  QUEUE_INVALID_NAME: ReasonCode.TopicNameInvalid,
  // 0x95 Packet too large is not a PUBACK/PUBREC reason code (5.0 §3.4.2.1: a client must treat it as a protocol
  // error — MQTT.js does), so the refusal is 0x97 with a reason string naming the limit.
  QUEUE_MESSAGE_TOO_LARGE: ReasonCode.QuotaExceeded,
  QUEUE_FULL: ReasonCode.QuotaExceeded,
  QUEUE_TOO_MANY_QUEUES: ReasonCode.QuotaExceeded,
  QUEUE_NOT_FOUND: ReasonCode.TopicNameInvalid,
  QUEUE_UNKNOWN_MESSAGE: ReasonCode.ImplementationSpecificError,
  QUEUE_BUSY: ReasonCode.ImplementationSpecificError,
  QUEUE_INVALID_START: ReasonCode.ImplementationSpecificError,
};

export class QueueError extends WharfError<QueueErrorCodeValue> {
  override readonly name = "QueueError";
  declare readonly reasonCode: number;

  constructor(code: QueueErrorCodeValue, message: string) {
    super(code, message, { reasonCode: REASON[code] });
  }
}

/** A refusal as a value (the publish and settle paths do not throw per message). */
export interface Refusal {
  ok: false;
  code: QueueErrorCodeValue;
  reasonCode: number;
  reason: string;
}

export function refusal(code: QueueErrorCodeValue, reason: string): Refusal {
  return { ok: false, code, reasonCode: REASON[code], reason };
}
