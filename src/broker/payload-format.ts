// 5.0 Payload Format Indicator validation (§3.3.2.3.2, §3.1.3.2.3): a payload declared as UTF-8 Encoded Character
// Data (indicator 1) must be well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates). node:buffer's isUtf8
// is native (simdutf), so checking costs a fraction of what copying the payload does.
import { isUtf8 } from "node:buffer";
import type { Properties } from "../codec/index.ts";

/** True when `properties` declare the payload UTF-8 (Payload Format Indicator 1) and it is not. */
export function payloadFormatInvalid(payload: Buffer, properties: Properties | undefined): boolean {
  return properties?.payloadFormatIndicator === 1 && !isUtf8(payload);
}
