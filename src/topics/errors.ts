import { WharfError } from "../util/errors.ts";

/** Stable machine-readable codes of topic errors. */
export const TopicErrorCode = {
  TopicNameInvalid: "TOPIC_NAME_INVALID",
  TopicFilterInvalid: "TOPIC_FILTER_INVALID",
} as const;
export type TopicErrorCodeValue = (typeof TopicErrorCode)[keyof typeof TopicErrorCode];

/**
 * MQTT 5.0 reason codes of the two errors [MQTT-2.4]. They equal `ReasonCode.TopicNameInvalid` and
 * `ReasonCode.TopicFilterInvalid` of src/codec/reason-codes.ts; they are repeated here because topics and codec
 * are sibling layers and must not depend on each other.
 */
export const TopicReasonCode = {
  TopicFilterInvalid: 0x8f,
  TopicNameInvalid: 0x90,
} as const;

/**
 * Thrown by the validate* functions and by `SubscriptionIndex.add` for a malformed filter. `reasonCode` is what a
 * 5.0 server sends (PUBACK/PUBREC/DISCONNECT for names, SUBACK for filters); `specRef` the normative statement
 * broken, e.g. "[MQTT-4.7.1-2]".
 */
export class TopicError extends WharfError<TopicErrorCodeValue> {
  override readonly name = "TopicError";
  declare readonly reasonCode: number;
  readonly specRef: string | undefined;

  constructor(code: TopicErrorCodeValue, message: string, specRef?: string) {
    super(code, specRef ? `${message} ${specRef}` : message, {
      reasonCode:
        code === TopicErrorCode.TopicNameInvalid
          ? TopicReasonCode.TopicNameInvalid
          : TopicReasonCode.TopicFilterInvalid,
    });
    this.specRef = specRef;
  }

  static invalidName(message: string, specRef?: string): TopicError {
    return new TopicError(TopicErrorCode.TopicNameInvalid, message, specRef);
  }

  static invalidFilter(message: string, specRef?: string): TopicError {
    return new TopicError(TopicErrorCode.TopicFilterInvalid, message, specRef);
  }
}
