// The one base class of every error Wharf throws on purpose. Callers branch on `code`, never on the message:
//  - `code` is stable, UPPER_SNAKE, and starts with the area that raises it: CODEC_ (wire format), TOPIC_
//    (topic names and filters), BROKER_, AUTH_ (authentication), STORAGE_, QUEUE_, CONFIG_, TLS_, UTIL_.
//    Codes are part of the API: renaming one is a breaking change (docs say which exist).
//  - `reasonCode` is the MQTT 5.0 reason code the error maps to on the wire, when it has one (a malformed packet is
//    0x81, an invalid topic filter 0x8F, a storage failure 0x80), so a handler can answer without a lookup table.
//  - `cause` (standard ErrorOptions) keeps the underlying error (an errno from the file system, a parse error).
// `instanceof WharfError` tells our errors from bugs (TypeError…) and from Node's own (`code` "EADDRINUSE"…).

export interface WharfErrorOptions {
  /** The MQTT 5.0 reason code this error maps to, if any. */
  reasonCode?: number | undefined;
  cause?: unknown;
}

export class WharfError<C extends string = string> extends Error {
  override readonly name: string = "WharfError";
  readonly code: C;
  readonly reasonCode: number | undefined;

  constructor(code: C, message: string, options: WharfErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.reasonCode = options.reasonCode;
  }
}

/** True for any error Wharf raised on purpose (it has a stable `code`). */
export function isWharfError(err: unknown): err is WharfError {
  return err instanceof WharfError;
}
