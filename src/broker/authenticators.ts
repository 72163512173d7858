// The Authentication Methods a broker offers (5.0 enhanced authentication): custom EnhancedAuthenticators from
// BrokerDeps.authenticators plus SCRAM-SHA-256 when BrokerOptions.scram lists users. Every user entry is checked
// synchronously (stored credentials are parsed, passwords SASLprep'ed); only the PBKDF2 derivation of passwords
// runs asynchronously, and exchanges that start before it finished simply wait for it.
import type { Logger } from "../util/index.ts";
import {
  AuthError,
  AuthErrorCode,
  AuthenticatorRegistry,
  ScramSha256Authenticator,
  parseStoredScramCredential,
  saslPrep,
  scramCredentialFromPassword,
} from "./auth/index.ts";
import type { EnhancedAuthenticator, ScramCredential } from "./auth/index.ts";
import type { ScramUserOption } from "./options.ts";

const STORED_PREFIX = "SCRAM-SHA-256$";

export interface Authenticators {
  readonly registry: AuthenticatorRegistry;
  /** Settles when every configured password is derived (never rejects for entries validateScramUser accepts). */
  readonly ready: Promise<void>;
}

/**
 * Checks one SCRAM user entry without deriving anything: a usable user name, exactly one of password and
 * credential, a password SASLprep accepts, a well-formed stored credential. Returns the parsed stored credential, if
 * any. Throws AuthError (the server's config validation reports its message).
 */
export function validateScramUser(u: ScramUserOption): ScramCredential | undefined {
  const bad = (why: string): AuthError =>
    new AuthError(AuthErrorCode.InvalidCredential, `scram user ${JSON.stringify(u.username)}: ${why}`);
  if (typeof u.username !== "string" || saslPrep(u.username) === undefined) {
    throw bad("user name is empty or contains prohibited characters");
  }
  if ((u.password === undefined) === (u.credential === undefined))
    throw bad("give exactly one of password and credential");
  if (u.password !== undefined) {
    if (saslPrep(u.password) === undefined) throw bad("password is empty or contains prohibited characters");
    return undefined;
  }
  const credential = u.credential!;
  if (!credential.startsWith(STORED_PREFIX)) {
    throw bad(`credential must be in the stored form ${STORED_PREFIX}<iterations>:<salt>$<StoredKey>:<ServerKey>`);
  }
  return parseStoredScramCredential(u.username, credential);
}

/** Checks every entry and that no two name the same (SASLprep'ed) user. */
function validateScramUsers(users: readonly ScramUserOption[]): (ScramCredential | undefined)[] {
  const seen = new Set<string>();
  return users.map((u) => {
    const parsed = validateScramUser(u);
    const name = saslPrep(u.username)!;
    if (seen.has(name)) {
      throw new AuthError(AuthErrorCode.InvalidCredential, `scram user ${JSON.stringify(u.username)} is listed twice`);
    }
    seen.add(name);
    return parsed;
  });
}

/**
 * Builds the registry. Throws AuthError for a duplicate method or an invalid SCRAM user entry. Should a password
 * derivation still fail, it is logged at error and SCRAM exchanges fail with 0x83 Implementation specific error.
 */
export function buildAuthenticators(
  scram: readonly ScramUserOption[],
  custom: readonly EnhancedAuthenticator[],
  logger: Logger,
): Authenticators {
  const registry = new AuthenticatorRegistry();
  for (const a of custom) registry.register(a);
  if (scram.length === 0) return { registry, ready: Promise.resolve() };
  const parsed = validateScramUsers(scram);
  const credentials = Promise.all(
    scram.map(async (u, i) => parsed[i] ?? (await scramCredentialFromPassword(u.username, u.password!))),
  ).then((creds) => new Map(creds.map((c) => [c.username, c])));
  const ready = credentials.then(() => undefined);
  ready.catch((err: unknown) => {
    logger.error({ err }, "deriving a SCRAM-SHA-256 credential failed: SCRAM authentication fails");
  });
  registry.register(new ScramSha256Authenticator(async (username) => (await credentials).get(username)));
  return { registry, ready };
}
