// Errors the broker core throws at its API boundary (options, runtime configuration calls). Protocol problems of a
// client never throw: they become reason codes on the wire.
import { WharfError } from "../util/index.ts";

export const BrokerErrorCode = {
  /** A BrokerOptions field or an argument of a configuration method (e.g. redirect()) is invalid. */
  InvalidOption: "BROKER_INVALID_OPTION",
} as const;
export type BrokerErrorCodeValue = (typeof BrokerErrorCode)[keyof typeof BrokerErrorCode];

export class BrokerError extends WharfError<BrokerErrorCodeValue> {
  override readonly name = "BrokerError";
}
