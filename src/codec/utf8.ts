// UTF-8 string rules of MQTT [MQTT-1.5.4-1] (well-formed, no surrogates) and [MQTT-1.5.4-2] (no U+0000).
import { isUtf8 } from "node:buffer";

/** Result of checking the bytes of an encoded MQTT string. */
export const Utf8Check = { Ok: 0, Ascii: 1, Malformed: 2, Null: 3 } as const;
export type Utf8CheckValue = (typeof Utf8Check)[keyof typeof Utf8Check];

/**
 * Checks buf[start, end) without allocating a string. Returns Ascii when every byte is 1..0x7f
 * (the caller may then use a cheaper decoder), Ok for valid non-ASCII UTF-8, Malformed for
 * ill-formed, overlong or surrogate encodings [MQTT-1.5.4-1], Null when U+0000 occurs
 * [MQTT-1.5.4-2]. A 0x00 byte can only encode U+0000 in valid UTF-8, so scanning bytes is enough.
 */
export function checkUtf8(buf: Buffer, start: number, end: number): Utf8CheckValue {
  let or = 0;
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    if (c === 0) return Utf8Check.Null;
    or |= c;
  }
  if (or < 0x80) return Utf8Check.Ascii;
  // isUtf8 (simdutf) rejects overlong forms, surrogates (ED A0..BF) and code points above U+10FFFF.
  return isUtf8(buf.subarray(start, end)) ? Utf8Check.Ok : Utf8Check.Malformed;
}

/**
 * True when `s` can be sent as an MQTT UTF-8 string: no lone surrogates (a JS string may hold
 * them; they cannot be encoded) and no U+0000, and at most 65,535 bytes once encoded.
 */
export function isValidUtf8MqttString(s: string): boolean {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 0) return false;
    if (c >= 0xd800 && c <= 0xdfff) {
      // A high surrogate must be followed by a low one; a low one must never come first.
      if (c >= 0xdc00 || i + 1 >= n) return false;
      const d = s.charCodeAt(i + 1);
      if (d < 0xdc00 || d > 0xdfff) return false;
      i++;
    }
  }
  return n <= 21845 || Buffer.byteLength(s, "utf8") <= 0xffff;
}

/** Node's Buffer prototype methods without argument normalisation (present since Node 0.x). */
interface BufferInternals {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
  utf8Write(s: string, offset: number, length?: number): number;
}

/** Decodes bytes already known to be ASCII (checkUtf8 returned Ascii). */
export function asciiSlice(buf: Buffer, start: number, end: number): string {
  return (buf as unknown as BufferInternals).latin1Slice(start, end);
}

/** Decodes bytes already known to be valid UTF-8. */
export function utf8Slice(buf: Buffer, start: number, end: number): string {
  return (buf as unknown as BufferInternals).utf8Slice(start, end);
}

/** Writes `s` as UTF-8 at `offset`; returns bytes written. The caller sized the buffer exactly. */
export function utf8Write(buf: Buffer, s: string, offset: number): number {
  return (buf as unknown as BufferInternals).utf8Write(s, offset);
}
