// Errors the broker core throws at its API boundary (options, runtime configuration calls). Protocol problems of a
// client never throw: they become reason codes on the wire.

export const BrokerErrorCode = {
  /** A BrokerOptions field or an argument of a configuration method (e.g. redirect()) is invalid. */
  InvalidOption: "BROKER_INVALID_OPTION",
} as const;
export type BrokerErrorCodeValue = (typeof BrokerErrorCode)[keyof typeof BrokerErrorCode];

export class BrokerError extends Error {
  override readonly name = "BrokerError";
  readonly code: BrokerErrorCodeValue;

  constructor(code: BrokerErrorCodeValue, message: string) {
    super(message);
    this.code = code;
  }
}
