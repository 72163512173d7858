// Parsers of the two SCRAM client messages (RFC 5802 section 7). They return a tagged result instead of throwing:
// every malformed input becomes an authentication failure, never an exception in the broker.
import { decodeBase64Strict } from "./scram-credential.ts";

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

const fail = (reason: string): { ok: false; reason: string } => ({ ok: false, reason });

/** Upper bound of either client message; real ones are ~100 bytes. Bounds the work spent on garbage. */
export const SCRAM_MAX_MESSAGE_BYTES = 4096;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Message bytes as text: valid UTF-8, no NUL (RFC 5802 value-char excludes it), bounded size. */
export function decodeMessage(data: Buffer): Parsed<string> {
  if (data.length === 0) return fail("empty SCRAM message");
  if (data.length > SCRAM_MAX_MESSAGE_BYTES) return fail("SCRAM message too long");
  let text: string;
  try {
    text = utf8.decode(data);
  } catch {
    return fail("SCRAM message is not valid UTF-8");
  }
  if (text.includes("\0")) return fail("SCRAM message contains NUL");
  return { ok: true, value: text };
}

// printable = %x21-2B / %x2D-7E: visible ASCII except ','.
const NONCE = /^[\x21-\x2B\x2D-\x7E]+$/;
export const SCRAM_MAX_NONCE_CHARS = 512;

export function isValidNonce(s: string): boolean {
  return s.length <= SCRAM_MAX_NONCE_CHARS && NONCE.test(s);
}

// saslname = 1*(value-safe-char / "=2C" / "=3D"): a bare '=' (or ',') is not allowed.
const SASLNAME = /^(?:[^=,]|=2C|=3D)+$/u;

/** Decodes a saslname ("=2C" -> ",", "=3D" -> "="), or undefined when it is not one. */
export function decodeSaslName(s: string): string | undefined {
  if (!SASLNAME.test(s)) return undefined;
  return s.replace(/=2C|=3D/g, (esc) => (esc === "=2C" ? "," : "="));
}

// attr-val = ALPHA "=" value: extensions the server does not know are ignored.
const ATTR_VAL = /^[A-Za-z]=/;

export interface ClientFirst {
  /** gs2-header exactly as sent, e.g. "n,,": client-final's channel binding must echo it. */
  gs2Header: string;
  /** Decoded authcid, before SASLprep. */
  username: string;
  /** Decoded authzid, if any. */
  authzid: string | undefined;
  clientNonce: string;
  /** client-first-message-bare: the first part of AuthMessage. */
  bare: string;
}

/** client-first-message = gs2-header client-first-message-bare. */
export function parseClientFirst(msg: string): Parsed<ClientFirst> {
  const c1 = msg.indexOf(",");
  const c2 = c1 < 0 ? -1 : msg.indexOf(",", c1 + 1);
  if (c2 < 0) return fail("client-first-message: missing gs2 header");
  const flag = msg.slice(0, c1);
  const authzidField = msg.slice(c1 + 1, c2);
  // gs2-cbind-flag: "p=" asks for channel binding, which this server does not offer (no SCRAM-SHA-256-PLUS);
  // "y" means the client could bind but thinks we cannot (true), "n" that it cannot.
  if (flag.startsWith("p=")) return fail("channel binding is not supported (use SCRAM-SHA-256 with gs2 flag 'n')");
  if (flag !== "n" && flag !== "y") return fail("client-first-message: bad gs2 channel binding flag");
  let authzid: string | undefined;
  if (authzidField !== "") {
    authzid = authzidField.startsWith("a=") ? decodeSaslName(authzidField.slice(2)) : undefined;
    if (authzid === undefined) return fail("client-first-message: bad authzid");
  }
  const bare = msg.slice(c2 + 1);
  const attrs = bare.split(",");
  // reserved-mext "m=": a mandatory extension we cannot know, the server MUST fail (RFC 5802 section 5.1).
  if (attrs[0]?.startsWith("m=")) return fail("client-first-message: unsupported mandatory extension");
  const [userAttr, nonceAttr, ...extensions] = attrs;
  if (!userAttr?.startsWith("n=")) return fail("client-first-message: missing user name");
  const username = decodeSaslName(userAttr.slice(2));
  if (username === undefined) return fail("client-first-message: bad user name encoding");
  if (!nonceAttr?.startsWith("r=")) return fail("client-first-message: missing nonce");
  const clientNonce = nonceAttr.slice(2);
  if (!isValidNonce(clientNonce)) return fail("client-first-message: bad nonce");
  if (!extensions.every((e) => ATTR_VAL.test(e))) return fail("client-first-message: bad extension");
  return { ok: true, value: { gs2Header: msg.slice(0, c2 + 1), username, authzid, clientNonce, bare } };
}

export interface ClientFinal {
  /** Decoded "c=" value: gs2 header plus channel binding data. */
  channelBinding: Buffer;
  nonce: string;
  proof: Buffer;
  /** client-final-message-without-proof: the last part of AuthMessage. */
  withoutProof: string;
}

/** client-final-message = "c=" cbind "," "r=" nonce ["," extensions] "," "p=" proof. */
export function parseClientFinal(msg: string): Parsed<ClientFinal> {
  const p = msg.lastIndexOf(",p=");
  if (p < 0) return fail("client-final-message: missing proof");
  const withoutProof = msg.slice(0, p);
  const proof = decodeBase64Strict(msg.slice(p + 3));
  if (!proof) return fail("client-final-message: proof is not base64");
  const [cAttr, rAttr, ...extensions] = withoutProof.split(",");
  if (!cAttr?.startsWith("c=")) return fail("client-final-message: missing channel binding");
  const channelBinding = decodeBase64Strict(cAttr.slice(2));
  if (!channelBinding) return fail("client-final-message: channel binding is not base64");
  if (!rAttr?.startsWith("r=")) return fail("client-final-message: missing nonce");
  if (!extensions.every((e) => ATTR_VAL.test(e))) return fail("client-final-message: bad extension");
  return { ok: true, value: { channelBinding, nonce: rAttr.slice(2), proof, withoutProof } };
}
