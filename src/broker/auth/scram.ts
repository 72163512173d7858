// SCRAM-SHA-256 (RFC 5802, RFC 7677) as an MQTT 5.0 enhanced authentication method, server side:
//
//   CONNECT  Authentication Data = client-first   "n,,n=<user>,r=<cnonce>"
//   AUTH 18  Authentication Data = server-first   "r=<cnonce+snonce>,s=<salt>,i=<iterations>"   (step -> continue)
//   AUTH 18  Authentication Data = client-final   "c=biws,r=<cnonce+snonce>,p=<ClientProof>"
//   CONNACK 0 / AUTH 0  Authentication Data = server-final "v=<ServerSignature>"              (step -> success)
//
// Verification needs only StoredKey and ServerKey: ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage) must hash
// to StoredKey. No PBKDF2 runs during an exchange (the client does that work), so a step is a few HMACs.
import { randomBytes as cryptoRandomBytes, timingSafeEqual } from "node:crypto";
import { ReasonCode } from "../../codec/reason-codes.ts";
import type { AuthContext, AuthSession, AuthStepResult, EnhancedAuthenticator } from "./authenticator.ts";
import { AuthError, AuthErrorCode } from "./authenticator.ts";
import { saslPrep } from "./saslprep.ts";
import {
  SCRAM_DEFAULT_SALT_BYTES,
  SCRAM_KEY_BYTES,
  SCRAM_MIN_ITERATIONS,
  hmacSha256,
  sha256,
  xorBuffers,
  type ScramCredential,
} from "./scram-credential.ts";
import { decodeMessage, isValidNonce, parseClientFinal, parseClientFirst } from "./scram-messages.ts";

export {
  SCRAM_MIN_ITERATIONS,
  formatScramCredential,
  parseScramCredentialSpec,
  parseStoredScramCredential,
  scramCredentialFromPassword,
  scramCredentialLookup,
} from "./scram-credential.ts";
export type { ScramCredential } from "./scram-credential.ts";

export type ScramCredentialLookup = (
  username: string,
) => ScramCredential | undefined | Promise<ScramCredential | undefined>;

export interface ScramSha256Options {
  /** Random bytes in the server nonce (base64-encoded on the wire). Default 18, at least 12. */
  nonceBytes?: number;
  /** Source of the server nonce bytes. Default crypto.randomBytes. */
  randomBytes?: (n: number) => Buffer;
  /** Produces the whole server nonce (printable ASCII without ','), overriding the two options above; for tests. */
  generateNonce?: () => string;
  /**
   * Key of the fake credentials of unknown users (see below). Default: 32 random bytes per authenticator, so fake
   * salts are stable for the life of the process. Configure a fixed secret to keep them stable across restarts too.
   */
  fakeSecret?: Buffer;
  /** Iteration count announced for unknown users: set it to the one of your real credentials. Default 4096. */
  fakeIterations?: number;
  /** Salt length announced for unknown users: set it to the one of your real credentials. Default 16. */
  fakeSaltBytes?: number;
}

/** Same reason for every proof failure, so a client cannot tell an unknown user from a wrong password. */
const AUTH_FAILED = "authentication failed";

type ExchangeState =
  | { at: "first"; emptyChallengeSent: boolean }
  | {
      at: "final";
      username: string;
      known: boolean;
      cred: ScramCredential;
      gs2Header: string;
      nonce: string;
      /** client-first-message-bare "," server-first-message: the first two parts of AuthMessage. */
      authPrefix: string;
    }
  | { at: "done" };

function failure(reason: string, detail?: string, reasonCode: number = ReasonCode.NotAuthorized): AuthStepResult {
  return detail === undefined
    ? { kind: "failure", reasonCode, reason }
    : { kind: "failure", reasonCode, reason, detail };
}

/** What a session needs from its authenticator. */
interface ScramDeps {
  lookup: ScramCredentialLookup;
  serverNonce: () => string;
  fakeCredential: (username: string) => ScramCredential;
}

/**
 * The credential of a user that does not exist. Answering "unknown user" at the first step would let anyone
 * enumerate user names, so the server instead answers with a plausible server-first (a salt and iteration count like
 * a real user's) and fails at the proof step with the same reason code and reason as a wrong password. The salt is an
 * HMAC of a server secret and the name, not random: a real user's salt is the same on every attempt, and a fake one
 * that changed per attempt would give the game away after two tries. The keys are HMACs too, so the proof check runs
 * the same computations as for a real user.
 */
function fakeCredential(secret: Buffer, iterations: number, saltBytes: number, username: string): ScramCredential {
  const mac = (label: string): Buffer => hmacSha256(secret, `${label}\0${username}`);
  return {
    username,
    salt: mac("salt").subarray(0, saltBytes),
    iterations,
    storedKey: mac("stored-key"),
    serverKey: mac("server-key"),
  };
}

export class ScramSha256Authenticator implements EnhancedAuthenticator {
  readonly method = "SCRAM-SHA-256";
  readonly #deps: ScramDeps;

  constructor(lookup: ScramCredentialLookup, opts: ScramSha256Options = {}) {
    const nonceBytes = opts.nonceBytes ?? 18;
    const fakeSaltBytes = opts.fakeSaltBytes ?? SCRAM_DEFAULT_SALT_BYTES;
    const fakeIterations = opts.fakeIterations ?? SCRAM_MIN_ITERATIONS;
    if (!Number.isInteger(nonceBytes) || nonceBytes < 12 || nonceBytes > 256) {
      throw new AuthError(AuthErrorCode.InvalidOption, `nonceBytes must be an integer in 12..256, got ${nonceBytes}`);
    }
    if (!Number.isInteger(fakeSaltBytes) || fakeSaltBytes < 1 || fakeSaltBytes > SCRAM_KEY_BYTES) {
      throw new AuthError(AuthErrorCode.InvalidOption, `fakeSaltBytes must be an integer in 1..${SCRAM_KEY_BYTES}`);
    }
    if (!Number.isSafeInteger(fakeIterations) || fakeIterations < 1) {
      throw new AuthError(AuthErrorCode.InvalidOption, `fakeIterations must be a positive integer`);
    }
    const random = opts.randomBytes ?? cryptoRandomBytes;
    const secret = Buffer.from(opts.fakeSecret ?? cryptoRandomBytes(32));
    this.#deps = {
      lookup,
      serverNonce: opts.generateNonce ?? (() => random(nonceBytes).toString("base64")),
      fakeCredential: (username) => fakeCredential(secret, fakeIterations, fakeSaltBytes, username),
    };
  }

  start(ctx: AuthContext): AuthSession {
    return new ScramSession(this.#deps, ctx);
  }
}

class ScramSession implements AuthSession {
  readonly #deps: ScramDeps;
  readonly #ctx: AuthContext;
  #state: ExchangeState = { at: "first", emptyChallengeSent: false };
  #busy = false;
  #aborted = false;

  constructor(deps: ScramDeps, ctx: AuthContext) {
    this.#deps = deps;
    this.#ctx = ctx;
  }

  async step(data: Buffer | undefined): Promise<AuthStepResult> {
    if (this.#state.at === "done" || this.#aborted) return failure("authentication exchange already finished");
    if (this.#busy) {
      // The driver broke the one-call-at-a-time contract: fail this call and the one in flight.
      this.#aborted = true;
      return failure("authentication step already in progress", undefined, ReasonCode.ProtocolError);
    }
    this.#busy = true;
    let result: AuthStepResult;
    try {
      result = this.#state.at === "first" ? await this.#first(data, this.#state) : this.#final(data, this.#state);
    } catch (err) {
      // Only a misbehaving lookup or credential can get here; never let it escape into the broker.
      result = failure("internal authentication error", String(err), ReasonCode.ImplementationSpecificError);
    } finally {
      this.#busy = false;
    }
    if (this.#aborted) {
      this.#state = { at: "done" };
      return result.kind === "failure" ? result : failure("authentication exchange aborted");
    }
    if (result.kind !== "continue") this.#state = { at: "done" };
    return result;
  }

  async #first(data: Buffer | undefined, state: { emptyChallengeSent: boolean }): Promise<AuthStepResult> {
    if (data === undefined || data.length === 0) {
      // The CONNECT carried no client-first: send one empty challenge (RFC 4422 section 5) and expect it in AUTH.
      if (state.emptyChallengeSent) return failure("missing client-first-message");
      state.emptyChallengeSent = true;
      return { kind: "continue" };
    }
    const text = decodeMessage(data);
    if (!text.ok) return failure(text.reason);
    const parsed = parseClientFirst(text.value);
    if (!parsed.ok) return failure(parsed.reason);
    const msg = parsed.value;
    const username = saslPrep(msg.username);
    if (username === undefined) return failure("user name is empty or contains prohibited characters");
    if (msg.authzid !== undefined && saslPrep(msg.authzid) !== username) {
      return failure("authorization identity other than the user name is not supported");
    }
    // The MQTT User Name (or, on re-authentication, the identity already proven) must be the SCRAM user:
    // otherwise a client could authenticate as one user and be treated as another.
    if (this.#ctx.username && saslPrep(this.#ctx.username) !== username) {
      return failure("SCRAM user name differs from the MQTT User Name or the authenticated user");
    }
    let cred: ScramCredential | undefined;
    try {
      cred = await this.#deps.lookup(username);
    } catch (err) {
      return failure("credential lookup failed", String(err), ReasonCode.ImplementationSpecificError);
    }
    if (cred && (cred.storedKey.length !== SCRAM_KEY_BYTES || cred.serverKey.length !== SCRAM_KEY_BYTES)) {
      return failure(
        "internal authentication error",
        "stored SCRAM credential has bad key lengths",
        ReasonCode.ImplementationSpecificError,
      );
    }
    const known = cred !== undefined;
    cred ??= this.#deps.fakeCredential(username);
    const serverNonce = this.#deps.serverNonce();
    if (!isValidNonce(serverNonce) || serverNonce.length === 0) {
      return failure(
        "internal authentication error",
        "generated server nonce is not printable",
        ReasonCode.ImplementationSpecificError,
      );
    }
    const nonce = msg.clientNonce + serverNonce;
    const serverFirst = `r=${nonce},s=${cred.salt.toString("base64")},i=${cred.iterations}`;
    this.#state = {
      at: "final",
      username,
      known,
      cred,
      gs2Header: msg.gs2Header,
      nonce,
      authPrefix: `${msg.bare},${serverFirst}`,
    };
    return { kind: "continue", data: Buffer.from(serverFirst, "utf8") };
  }

  #final(data: Buffer | undefined, st: Extract<ExchangeState, { at: "final" }>): AuthStepResult {
    if (data === undefined) return failure("missing client-final-message");
    const text = decodeMessage(data);
    if (!text.ok) return failure(text.reason);
    const parsed = parseClientFinal(text.value);
    if (!parsed.ok) return failure(parsed.reason);
    const msg = parsed.value;
    // Without channel binding, c= must be base64 of the exact gs2 header of client-first ("biws" for "n,,"): this
    // also detects a man in the middle that downgraded a "p=" or "y" client to "n".
    if (!msg.channelBinding.equals(Buffer.from(st.gs2Header, "utf8"))) {
      return failure("channel binding does not match the gs2 header");
    }
    // A replayed client-final from an earlier exchange carries that exchange's server nonce and fails here.
    if (msg.nonce !== st.nonce) return failure("nonce mismatch");
    if (msg.proof.length !== SCRAM_KEY_BYTES) return failure("client proof has the wrong length");
    const authMessage = `${st.authPrefix},${msg.withoutProof}`;
    const clientKey = xorBuffers(msg.proof, hmacSha256(st.cred.storedKey, authMessage));
    const proofOk = timingSafeEqual(sha256(clientKey), st.cred.storedKey);
    if (!proofOk || !st.known) {
      return failure(AUTH_FAILED, st.known ? `wrong password for ${st.username}` : `unknown user ${st.username}`);
    }
    const serverFinal = `v=${hmacSha256(st.cred.serverKey, authMessage).toString("base64")}`;
    return { kind: "success", data: Buffer.from(serverFinal, "utf8"), username: st.username };
  }
}
