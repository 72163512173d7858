// Pluggable MQTT 5.0 enhanced authentication (spec section 4.12). An EnhancedAuthenticator implements one
// Authentication Method (property 0x15), e.g. "SCRAM-SHA-256"; the broker core drives one AuthSession per exchange
// (the CONNECT exchange, and each re-authentication) and maps step results onto AUTH / CONNACK / DISCONNECT packets.
// Nothing here knows about packets or sockets: data in and out is the Authentication Data property (0x16).
import { WharfError } from "../../util/index.ts";

/** Outcome of one step of an exchange. */
export type AuthStepResult =
  /** Send AUTH 0x18 Continue Authentication, with `data` as Authentication Data (absent = no data) [MQTT-4.12.0-2]. */
  | { kind: "continue"; data?: Buffer }
  /**
   * Accept: CONNACK 0x00 (during CONNECT) or AUTH 0x00 (re-authentication), carrying `data` (e.g. SCRAM
   * server-final) as Authentication Data. `username` is the identity that was proven.
   */
  | { kind: "success"; data?: Buffer; username?: string }
  /**
   * Reject: CONNACK (during CONNECT) or DISCONNECT (re-authentication) with `reasonCode`, then close
   * [MQTT-4.12.0-4] [MQTT-4.12.1-2]. `reason` may go to the client as Reason String (only if it asked for problem
   * information); it never tells an unknown user apart from a wrong password. `detail` is for server logs only and
   * must never be sent to the client.
   */
  | { kind: "failure"; reasonCode: number; reason?: string; detail?: string };

/**
 * One exchange. The broker calls `step` with the Authentication Data of the CONNECT (first call) and then of each
 * client AUTH 0x18, strictly one call at a time, until a "success" or "failure" result. Implementations never throw
 * or reject: every problem is a "failure" result. A finished session answers every further call with a failure.
 */
export interface AuthSession {
  step(data: Buffer | undefined): Promise<AuthStepResult>;
}

export interface AuthContext {
  clientId: string;
  /**
   * For the CONNECT exchange: the User Name of the CONNECT packet, if any. For a re-authentication: the identity
   * proven by the previous exchange. When present, the method must authenticate exactly this identity.
   */
  username?: string;
}

/** One Authentication Method. `start` is called once per exchange and must not block (no I/O, no heavy CPU). */
export interface EnhancedAuthenticator {
  readonly method: string;
  start(ctx: AuthContext): AuthSession;
}

/** Stable codes of configuration-time authentication errors (these never reach a client, so carry no reason code). */
export const AuthErrorCode = {
  InvalidMethod: "AUTH_INVALID_METHOD",
  DuplicateMethod: "AUTH_DUPLICATE_METHOD",
  InvalidCredential: "AUTH_INVALID_CREDENTIAL",
  InvalidOption: "AUTH_INVALID_OPTION",
} as const;
export type AuthErrorCodeValue = (typeof AuthErrorCode)[keyof typeof AuthErrorCode];

/** Thrown while configuring authentication (registering methods, parsing credentials), never during an exchange. */
export class AuthError extends WharfError<AuthErrorCodeValue> {
  override readonly name = "AuthError";
}

/** The Authentication Methods a broker offers, by exact (case-sensitive) method name. */
export class AuthenticatorRegistry {
  readonly #byMethod = new Map<string, EnhancedAuthenticator>();

  register(a: EnhancedAuthenticator): void {
    // The method travels as an MQTT UTF-8 string: non-empty here, no NUL / control characters [MQTT-1.5.4-2].
    if (a.method.length === 0 || /\p{Cc}/u.test(a.method)) {
      throw new AuthError(
        AuthErrorCode.InvalidMethod,
        `invalid authentication method name ${JSON.stringify(a.method)}`,
      );
    }
    if (this.#byMethod.has(a.method)) {
      throw new AuthError(AuthErrorCode.DuplicateMethod, `authentication method ${a.method} is already registered`);
    }
    this.#byMethod.set(a.method, a);
  }

  get(method: string): EnhancedAuthenticator | undefined {
    return this.#byMethod.get(method);
  }

  /** Registered method names, in registration order. */
  methods(): string[] {
    return [...this.#byMethod.keys()];
  }
}
