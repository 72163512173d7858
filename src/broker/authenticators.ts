// The Authentication Methods a broker offers (5.0 enhanced authentication): custom EnhancedAuthenticators from
// BrokerDeps.authenticators plus SCRAM-SHA-256 when BrokerOptions.scram lists users. Credentials given as
// passwords are derived with PBKDF2 asynchronously; exchanges that start before that finished simply wait for it.
import type { Logger } from "../util/index.ts";
import {
  AuthError,
  AuthErrorCode,
  AuthenticatorRegistry,
  ScramSha256Authenticator,
  parseScramCredentialSpec,
  scramCredentialFromPassword,
} from "./auth/index.ts";
import type { EnhancedAuthenticator, ScramCredential } from "./auth/index.ts";
import type { ScramUserOption } from "./options.ts";

const STORED_PREFIX = "SCRAM-SHA-256$";

export interface Authenticators {
  readonly registry: AuthenticatorRegistry;
  /** Settles when every configured credential is derived; rejects with AuthError for an invalid one. */
  readonly ready: Promise<void>;
}

/** Checks the shape of the SCRAM user list synchronously (the parts that need no key derivation). */
function checkScramUsers(users: readonly ScramUserOption[]): void {
  const seen = new Set<string>();
  for (const u of users) {
    const bad = (why: string): AuthError =>
      new AuthError(AuthErrorCode.InvalidCredential, `scram user ${JSON.stringify(u.username)}: ${why}`);
    if (typeof u.username !== "string" || u.username.length === 0) throw bad("user name must be a non-empty string");
    if (seen.has(u.username)) throw bad("listed twice");
    seen.add(u.username);
    if ((u.password === undefined) === (u.credential === undefined)) {
      throw bad("give exactly one of password and credential");
    }
    if (u.credential !== undefined && !u.credential.startsWith(STORED_PREFIX)) {
      throw bad(`credential must be in the stored form ${STORED_PREFIX}<iterations>:<salt>$<StoredKey>:<ServerKey>`);
    }
  }
}

async function deriveCredential(u: ScramUserOption): Promise<ScramCredential> {
  if (u.credential !== undefined) return parseScramCredentialSpec(u.username, u.credential);
  return scramCredentialFromPassword(u.username, u.password ?? "");
}

async function deriveAll(users: readonly ScramUserOption[]): Promise<Map<string, ScramCredential>> {
  const creds = await Promise.all(users.map(deriveCredential));
  const byName = new Map<string, ScramCredential>();
  for (const c of creds) {
    // Two spellings that SASLprep maps to one name would make one credential shadow the other.
    if (byName.has(c.username)) {
      throw new AuthError(AuthErrorCode.InvalidCredential, `scram user ${JSON.stringify(c.username)} is listed twice`);
    }
    byName.set(c.username, c);
  }
  return byName;
}

/**
 * Builds the registry. Throws AuthError synchronously for a duplicate method or a malformed user list; problems
 * only found while deriving (a prohibited password, a malformed stored credential) reject `ready`, are logged at
 * error, and make SCRAM exchanges fail with 0x83 Implementation specific error.
 */
export function buildAuthenticators(
  scram: readonly ScramUserOption[],
  custom: readonly EnhancedAuthenticator[],
  logger: Logger,
): Authenticators {
  const registry = new AuthenticatorRegistry();
  for (const a of custom) registry.register(a);
  if (scram.length === 0) return { registry, ready: Promise.resolve() };
  checkScramUsers(scram);
  const credentials = deriveAll(scram);
  const ready = credentials.then(() => undefined);
  ready.catch((err: unknown) => {
    logger.error({ err }, "invalid SCRAM-SHA-256 credential in the configuration: SCRAM authentication fails");
  });
  registry.register(new ScramSha256Authenticator(async (username) => (await credentials).get(username)));
  return { registry, ready };
}
