// A minimal SASLprep (RFC 4013): the profile SCRAM applies to user names and passwords (RFC 5802 section 2.2) so that
// the client and the server hash the same bytes. Implemented: the mapping step (B.1 "commonly mapped to nothing" and
// C.1.2 non-ASCII spaces), NFKC normalization and the prohibited-output check (C.2-C.9). Not implemented: the
// bidirectional-text rule (RFC 3454 section 6) and the unassigned-code-point check; both only reject more strings,
// so a string accepted here whose client applies full SASLprep hashes identically.

// RFC 3454 table B.1.
const MAPPED_TO_NOTHING = /[\u00AD\u034F\u1806\u180B-\u180D\u200B-\u200D\u2060\uFE00-\uFE0F\uFEFF]/gu;
// RFC 3454 table C.1.2 (U+200B is in B.1 too and already removed).
const NON_ASCII_SPACE = /[\u00A0\u1680\u2000-\u200A\u202F\u205F\u3000]/gu;
// C.2.1 / C.2.2 controls (\p{Cc} plus the listed format characters), C.3 private use, C.4 non-characters,
// C.5 lone surrogates, C.6 inappropriate for plain text, C.7 ideographic description, C.8 change display properties,
// C.9 tagging characters.
const PROHIBITED =
  /[\p{Cc}\p{Co}\p{Cs}\p{Noncharacter_Code_Point}\u06DD\u070F\u180E\u2028\u2029\u2061-\u2063\u206A-\u206F\uFFF9-\uFFFD\u{1D173}-\u{1D17A}\u2FF0-\u2FFB\u0340\u0341\u200E\u200F\u202A-\u202E\u{E0001}\u{E0020}-\u{E007F}]/u;

/** SASLprep of `input` as a "stored string" query, or undefined when the result is empty or prohibited. */
export function saslPrep(input: string): string | undefined {
  // A lone surrogate would be mangled by normalize(): check it on the raw input.
  if (/\p{Cs}/u.test(input)) return undefined;
  const mapped = input.replace(MAPPED_TO_NOTHING, "").replace(NON_ASCII_SPACE, " ").normalize("NFKC");
  if (mapped.length === 0 || PROHIBITED.test(mapped)) return undefined;
  return mapped;
}
