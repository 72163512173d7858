// What one authentication method (password file, JWT, HTTP callout, mTLS identity) answers for one CONNECT.
// The chain (chain.ts) asks the configured methods in order.
import type { AclRule, AuthenticateContext } from "../../broker/index.ts";

export const AUTH_METHOD_NAMES = ["password-file", "jwt", "http", "mtls", "scram"] as const;
export type AuthMethodName = (typeof AUTH_METHOD_NAMES)[number];

export type MethodOutcome =
  /** Proven: the client is `username` (undefined keeps the CONNECT's User Name). */
  | { readonly kind: "accept"; readonly username: string | undefined; readonly acl?: readonly AclRule[] }
  /** The credentials are this method's and they are wrong: final, no later method is asked. */
  | { readonly kind: "reject"; readonly reason: string }
  /** Not this method's credentials (unknown user, not a JWT, no certificate): ask the next one. */
  | { readonly kind: "pass" }
  /** The method could not decide (callout down, breaker open): refused unless a later method accepts. */
  | { readonly kind: "unavailable"; readonly reason: string };

export interface AuthMethod {
  readonly name: AuthMethodName;
  authenticate(ctx: AuthenticateContext): MethodOutcome | Promise<MethodOutcome>;
  close?(): void;
}

export const PASS: MethodOutcome = Object.freeze({ kind: "pass" });
