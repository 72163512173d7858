// UTF-8 string rules of MQTT [MQTT-1.5.4-1] (well-formed, no surrogates) and [MQTT-1.5.4-2] (no U+0000).
import { MAX_STRING_BYTES } from "../util/limits.ts";

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
  return n <= 21845 || Buffer.byteLength(s, "utf8") <= MAX_STRING_BYTES;
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

// Short ASCII strings repeat constantly in MQTT traffic (topic names, user property names,
// content types, client ids on reconnect). Creating a JS string from bytes is a call into C++
// plus an allocation, so recently seen ones are kept in a small direct-mapped table keyed by a
// hash of their bytes and verified byte for byte before reuse. Strings are immutable: sharing
// them between decoders is safe. Memory is bounded by INTERN_SLOTS * INTERN_MAX_LENGTH chars.
const INTERN_SLOTS = 1024;
const INTERN_MAX_LENGTH = 64;
const internTable: (string | undefined)[] = new Array<string | undefined>(INTERN_SLOTS).fill(undefined);

/**
 * The string for ASCII bytes buf[start, end), whose rolling hash (h = h * 31 + byte, int32) the
 * caller computed while validating them.
 */
export function internAscii(buf: Buffer, start: number, end: number, hash: number): string {
  const len = end - start;
  if (len > INTERN_MAX_LENGTH) return asciiSlice(buf, start, end);
  const slot = (hash ^ (hash >>> 10) ^ len) & (INTERN_SLOTS - 1);
  const cached = internTable[slot];
  if (cached?.length === len) {
    let i = 0;
    while (i < len && cached.charCodeAt(i) === buf[start + i]) i++;
    if (i === len) return cached;
  }
  const s = asciiSlice(buf, start, end);
  internTable[slot] = s;
  return s;
}

/** Decodes bytes already known to be valid UTF-8. */
export function utf8Slice(buf: Buffer, start: number, end: number): string {
  return (buf as unknown as BufferInternals).utf8Slice(start, end);
}

/** Writes `s` as UTF-8 at `offset`; returns bytes written. The caller sized the buffer exactly. */
export function utf8Write(buf: Buffer, s: string, offset: number): number {
  return (buf as unknown as BufferInternals).utf8Write(s, offset);
}

/**
 * A string (a topic name, a client id) from bytes a trusted peer already validated (an inter-node frame): ASCII ones
 * interned like the reader's topicName(), so a forwarded message's topic is the same string object as a local
 * publish's and the route cache finds it without hashing a fresh string.
 */
export function trustedString(buf: Buffer, start: number, end: number): string {
  let or = 0;
  let h = 0;
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    or |= c;
    h = (Math.imul(h, 31) + c) | 0;
  }
  return or < 0x80 ? internAscii(buf, start, end, h) : utf8Slice(buf, start, end);
}
