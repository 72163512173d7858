// SCRAM-SHA-256 credentials (RFC 5802 section 3, RFC 7677): what the server stores instead of a password, the
// primitives both sides compute, and the config formats. The server never needs the password or SaltedPassword:
// StoredKey verifies the client's proof, ServerKey signs the server's answer.
import { createHash, createHmac, pbkdf2, randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { AuthError, AuthErrorCode } from "./authenticator.ts";
import { saslPrep } from "./saslprep.ts";

const pbkdf2Async = promisify(pbkdf2);

export interface ScramCredential {
  /** SASLprep'ed user name the credential belongs to. */
  username: string;
  salt: Buffer;
  iterations: number;
  /** H(ClientKey), ClientKey = HMAC(SaltedPassword, "Client Key"). */
  storedKey: Buffer;
  /** HMAC(SaltedPassword, "Server Key"). */
  serverKey: Buffer;
}

/** RFC 7677 section 4: the iteration count SHOULD be at least 4096; we enforce it. */
export const SCRAM_MIN_ITERATIONS = 4096;
/** Upper bound so a typo cannot make every client spend minutes deriving keys. */
export const SCRAM_MAX_ITERATIONS = 10_000_000;
export const SCRAM_DEFAULT_SALT_BYTES = 16;
/** SHA-256 output length: StoredKey, ServerKey, ClientProof all have it. */
export const SCRAM_KEY_BYTES = 32;

export function sha256(data: Buffer): Buffer {
  return createHash("sha256").update(data).digest();
}

export function hmacSha256(key: Buffer, data: Buffer | string): Buffer {
  return createHmac("sha256", key).update(data).digest();
}

export function xorBuffers(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict base64 (RFC 4648, padded): Buffer.from() silently skips garbage, which must not pass as a valid proof. */
export function decodeBase64Strict(s: string): Buffer | undefined {
  return BASE64.test(s) ? Buffer.from(s, "base64") : undefined;
}

function checkIterations(iterations: number): void {
  if (!Number.isSafeInteger(iterations) || iterations < SCRAM_MIN_ITERATIONS || iterations > SCRAM_MAX_ITERATIONS) {
    throw new AuthError(
      AuthErrorCode.InvalidCredential,
      `SCRAM iteration count must be an integer in ${SCRAM_MIN_ITERATIONS}..${SCRAM_MAX_ITERATIONS}, got ${iterations}`,
    );
  }
}

function prepUsername(username: string): string {
  const prepped = saslPrep(username);
  if (prepped === undefined) {
    throw new AuthError(
      AuthErrorCode.InvalidCredential,
      `user name ${JSON.stringify(username)} is empty or prohibited`,
    );
  }
  return prepped;
}

/**
 * Derives a credential from a password: SaltedPassword = PBKDF2-HMAC-SHA-256(SASLprep(password), salt, iterations).
 * Asynchronous (libuv thread pool) so deriving many configured users at startup does not block the event loop.
 * Throws AuthError for a prohibited user name or password or an out-of-range iteration count.
 */
export async function scramCredentialFromPassword(
  username: string,
  password: string,
  opts: { salt?: Buffer; iterations?: number } = {},
): Promise<ScramCredential> {
  const iterations = opts.iterations ?? SCRAM_MIN_ITERATIONS;
  checkIterations(iterations);
  const user = prepUsername(username);
  const prepped = saslPrep(password);
  if (prepped === undefined) {
    throw new AuthError(
      AuthErrorCode.InvalidCredential,
      `password of ${user} is empty or contains prohibited characters`,
    );
  }
  const salt = opts.salt ?? randomBytes(SCRAM_DEFAULT_SALT_BYTES);
  if (salt.length === 0) throw new AuthError(AuthErrorCode.InvalidCredential, "SCRAM salt must not be empty");
  const salted = await pbkdf2Async(Buffer.from(prepped, "utf8"), salt, iterations, SCRAM_KEY_BYTES, "sha256");
  return {
    username: user,
    salt: Buffer.from(salt),
    iterations,
    storedKey: sha256(hmacSha256(salted, "Client Key")),
    serverKey: hmacSha256(salted, "Server Key"),
  };
}

const STORED_PREFIX = "SCRAM-SHA-256$";
const STORED_FORM = /^SCRAM-SHA-256\$([0-9]{1,10}):([^$:]+)\$([^$:]+):([^$:]+)$/;

/** The PostgreSQL verifier format: "SCRAM-SHA-256$<iterations>:<salt b64>$<StoredKey b64>:<ServerKey b64>". */
export function formatScramCredential(cred: ScramCredential): string {
  return (
    `${STORED_PREFIX}${cred.iterations}:${cred.salt.toString("base64")}` +
    `$${cred.storedKey.toString("base64")}:${cred.serverKey.toString("base64")}`
  );
}

/**
 * Turns a configured secret into a credential: either the stored form of `formatScramCredential` (so configs need
 * not hold plain passwords; PostgreSQL's `rolpassword` values work as is) or, for anything not starting with
 * "SCRAM-SHA-256$", a plain password derived with a fresh random salt. A value that starts with the prefix but is
 * malformed throws instead of silently becoming a password.
 */
export async function parseScramCredentialSpec(
  username: string,
  spec: string,
  opts: { iterations?: number } = {},
): Promise<ScramCredential> {
  if (!spec.startsWith(STORED_PREFIX)) return scramCredentialFromPassword(username, spec, opts);
  return parseStoredScramCredential(username, spec);
}

/**
 * Parses the stored form "SCRAM-SHA-256$<iterations>:<salt b64>$<StoredKey b64>:<ServerKey b64>" synchronously (no
 * key derivation is needed), e.g. to validate a configuration file. Throws AuthError when it is malformed.
 */
export function parseStoredScramCredential(username: string, spec: string): ScramCredential {
  const bad = (why: string): AuthError =>
    new AuthError(AuthErrorCode.InvalidCredential, `stored SCRAM-SHA-256 credential of ${username}: ${why}`);
  const m = STORED_FORM.exec(spec);
  if (!m) throw bad(`expected ${STORED_PREFIX}<iterations>:<salt>$<StoredKey>:<ServerKey>`);
  const iterations = Number(m[1]);
  checkIterations(iterations);
  const salt = decodeBase64Strict(m[2]!);
  const storedKey = decodeBase64Strict(m[3]!);
  const serverKey = decodeBase64Strict(m[4]!);
  if (!salt || salt.length === 0) throw bad("salt is not base64");
  if (storedKey?.length !== SCRAM_KEY_BYTES) throw bad(`StoredKey is not ${SCRAM_KEY_BYTES} bytes of base64`);
  if (serverKey?.length !== SCRAM_KEY_BYTES) throw bad(`ServerKey is not ${SCRAM_KEY_BYTES} bytes of base64`);
  return { username: prepUsername(username), salt, iterations, storedKey, serverKey };
}

/** A lookup function for ScramSha256Authenticator over a fixed set of credentials (keyed by SASLprep'ed name). */
export function scramCredentialLookup(
  creds: Iterable<ScramCredential>,
): (username: string) => ScramCredential | undefined {
  const byName = new Map<string, ScramCredential>();
  for (const c of creds) byName.set(c.username, c);
  return (username) => byName.get(username);
}
