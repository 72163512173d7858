// Errors of the in-process API (docs/embedding.md). Typed classes with a stable `code` and, where MQTT has one, the
// reason code an MQTT 5.0 client would get in the same situation.
import { ReasonCode } from "../codec/index.ts";

export const InprocErrorCode = {
  /** The broker (or this subscription / transaction) is closed. */
  Closed: "INPROC_CLOSED",
  /** A QoS 1/2 message reached subscribers and every one of them refused it: their queues are full (0x97). */
  QueueFull: "INPROC_QUEUE_FULL",
  /** The broker-wide memory budget for queued message bytes is used up (0x97 Quota exceeded). */
  MemoryLimit: "INPROC_MEMORY_LIMIT",
  /** A subscription with overflow "error" received more than its buffer holds; the subscription ended. */
  Overflow: "INPROC_OVERFLOW",
  /** An argument is invalid (QoS, priority, TTL, options); the message says which. */
  InvalidArgument: "INPROC_INVALID_ARGUMENT",
  /** The transaction was already committed or rolled back (or timed out). */
  TransactionClosed: "INPROC_TRANSACTION_CLOSED",
  /** The transaction was neither committed nor rolled back within its timeout and was rolled back. */
  TransactionTimeout: "INPROC_TRANSACTION_TIMEOUT",
  /** A message was acknowledged twice, or acknowledged on a subscription that does not take acknowledgements. */
  AckState: "INPROC_ACK_STATE",
  /** Storage did not commit the message's effects (the broker logged why). */
  Storage: "INPROC_STORAGE",
} as const;
export type InprocErrorCodeValue = (typeof InprocErrorCode)[keyof typeof InprocErrorCode];

const REASON: Record<InprocErrorCodeValue, number> = {
  [InprocErrorCode.Closed]: ReasonCode.ServerShuttingDown,
  [InprocErrorCode.QueueFull]: ReasonCode.QuotaExceeded,
  [InprocErrorCode.MemoryLimit]: ReasonCode.QuotaExceeded,
  [InprocErrorCode.Overflow]: ReasonCode.QuotaExceeded,
  [InprocErrorCode.InvalidArgument]: ReasonCode.ImplementationSpecificError,
  [InprocErrorCode.TransactionClosed]: ReasonCode.ImplementationSpecificError,
  [InprocErrorCode.TransactionTimeout]: ReasonCode.ImplementationSpecificError,
  [InprocErrorCode.AckState]: ReasonCode.ImplementationSpecificError,
  [InprocErrorCode.Storage]: ReasonCode.UnspecifiedError,
};

export class InprocError extends Error {
  override readonly name = "InprocError";
  readonly code: InprocErrorCodeValue;
  /** The MQTT 5.0 reason code of the equivalent refusal. */
  readonly reasonCode: number;

  constructor(code: InprocErrorCodeValue, message: string) {
    super(message);
    this.code = code;
    this.reasonCode = REASON[code];
  }
}

export function invalid(message: string): InprocError {
  return new InprocError(InprocErrorCode.InvalidArgument, message);
}

/** A rejected promise of what a synchronous check threw (always an Error). */
export function rejection<T>(err: unknown): Promise<T> {
  return Promise.reject(err instanceof Error ? err : new Error(String(err)));
}
