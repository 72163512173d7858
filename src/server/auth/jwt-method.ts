// JWT in the CONNECT Password field (jose): HS256 / RS256 / ES256 / EdDSA with a shared secret, a public key (PEM)
// or a local JWKS file; `exp` required, `nbf`, `aud` and `iss` checked; a claim names the user; an optional claim
// carries ACL rules for this client. A Password that is not JWT-shaped is passed on to the next method; a JWT that
// fails verification is refused (it was meant for this method).
import { createPublicKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import type { JSONWebKeySet, JWTVerifyGetKey, JWTPayload } from "jose";
import type { AclRule, AuthenticateContext } from "../../broker/index.ts";
import { validateTopicFilter } from "../../topics/index.ts";
import { lazyRequire, type Clock } from "../../util/index.ts";
import { PASS, type AuthMethod, type MethodOutcome } from "./method.ts";

export const JWT_ALGORITHMS = ["HS256", "RS256", "ES256", "EdDSA"] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

export interface JwtMethodOptions {
  /** HS256 shared secret (UTF-8 bytes). */
  secret?: string;
  /** PEM public key (RS256 / ES256 / EdDSA). */
  publicKeyFile?: string;
  /** JWKS file ({"keys":[...]}); the token's `kid` / `alg` pick the key. */
  jwksFile?: string;
  /** Accepted `alg` values; default: the ones the configured key can verify. */
  algorithms?: readonly JwtAlgorithm[];
  audience?: string;
  issuer?: string;
  /** Claim holding the user name (default "sub"). */
  usernameClaim?: string;
  /** Claim holding ACL rules for this client ("" = none): [{permission, action, topic}, ...]. */
  aclClaim?: string;
  /** Seconds of clock skew tolerated on exp / nbf. */
  clockTolerance?: number;
  clock: Pick<Clock, "now">;
}

export class JwtConfigError extends Error {
  readonly code = "JWT_CONFIG_INVALID";
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

function algorithmsFor(key: KeyObject): JwtAlgorithm[] {
  switch (key.asymmetricKeyType) {
    case "rsa":
      return ["RS256"];
    case "ec":
      return ["ES256"];
    case "ed25519":
    case "ed448":
      return ["EdDSA"];
    default:
      throw new JwtConfigError(`unsupported public key type ${key.asymmetricKeyType ?? "?"}`);
  }
}

/** jose, loaded when a JWT method is configured (the first JwtMethod). */
const loadJose = lazyRequire<typeof import("jose")>("jose");

export class JwtMethod implements AuthMethod {
  readonly name = "jwt";
  readonly #key: Uint8Array | KeyObject | JWTVerifyGetKey;
  readonly #algorithms: string[];
  readonly #jose = loadJose();

  constructor(private readonly opts: JwtMethodOptions) {
    const sources = [opts.secret, opts.publicKeyFile, opts.jwksFile].filter((s) => s !== undefined && s !== "");
    if (sources.length !== 1) throw new JwtConfigError("give exactly one of secret, publicKeyFile and jwksFile");
    if (opts.secret !== undefined && opts.secret !== "") {
      // RFC 7518 §3.2: an HS256 key must have at least 256 bits.
      if (Buffer.byteLength(opts.secret) < 32) throw new JwtConfigError("secret must be at least 32 bytes (HS256)");
      this.#key = new TextEncoder().encode(opts.secret);
      this.#algorithms = ["HS256"];
    } else if (opts.publicKeyFile !== undefined && opts.publicKeyFile !== "") {
      const key = createPublicKey(readFileSync(opts.publicKeyFile));
      this.#key = key;
      this.#algorithms = algorithmsFor(key);
    } else {
      const jwks = JSON.parse(readFileSync(opts.jwksFile!, "utf8")) as JSONWebKeySet;
      this.#key = this.#jose.createLocalJWKSet(jwks);
      this.#algorithms = ["RS256", "ES256", "EdDSA", "HS256"];
    }
    if (opts.algorithms !== undefined && opts.algorithms.length > 0) {
      const allowed = opts.algorithms.filter((a) => this.#algorithms.includes(a));
      if (allowed.length === 0) throw new JwtConfigError(`no algorithm of ${opts.algorithms.join(", ")} fits the key`);
      this.#algorithms = allowed;
    }
  }

  get algorithms(): readonly string[] {
    return this.#algorithms;
  }

  async authenticate(ctx: AuthenticateContext): Promise<MethodOutcome> {
    const token = ctx.password?.toString("utf8");
    if (token === undefined || !token.startsWith("eyJ") || !JWT_SHAPE.test(token)) return PASS;
    let payload: JWTPayload;
    try {
      const verifyOpts = {
        algorithms: this.#algorithms,
        audience: this.opts.audience || undefined,
        issuer: this.opts.issuer || undefined,
        clockTolerance: this.opts.clockTolerance ?? 0,
        currentDate: new Date(this.opts.clock.now()),
        requiredClaims: ["exp"],
      };
      const key = this.#key;
      const { jwtVerify } = this.#jose;
      const r =
        typeof key === "function" ? await jwtVerify(token, key, verifyOpts) : await jwtVerify(token, key, verifyOpts);
      payload = r.payload;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      return { kind: "reject", reason: `jwt: ${typeof code === "string" ? code : "invalid"}` };
    }
    const claim = payload[this.opts.usernameClaim ?? "sub"];
    if (typeof claim !== "string" || claim.length === 0) return { kind: "reject", reason: "jwt: no user name claim" };
    // A User Name sent with the token must be the token's user: no "log in as alice, act as bob".
    if (ctx.username !== undefined && ctx.username !== "" && ctx.username !== claim) {
      return { kind: "reject", reason: "jwt: user name differs from the token's" };
    }
    const aclClaim = this.opts.aclClaim ?? "";
    if (aclClaim === "") return { kind: "accept", username: claim };
    const rules = parseAclClaim(payload[aclClaim]);
    if (rules === undefined) return { kind: "reject", reason: "jwt: malformed ACL claim" };
    return { kind: "accept", username: claim, acl: rules };
  }
}

/** ACL rules from a claim (or an HTTP callout answer): a list of {permission, action, topic}; undefined if malformed. */
export function parseAclClaim(value: unknown): AclRule[] | undefined {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > 1000) return undefined;
  const rules: AclRule[] = [];
  for (const r of value) {
    if (typeof r !== "object" || r === null) return undefined;
    const { permission, action, topic } = r as Record<string, unknown>;
    if (permission !== "allow" && permission !== "deny") return undefined;
    if (action !== "publish" && action !== "subscribe" && action !== "all") return undefined;
    if (typeof topic !== "string") return undefined;
    try {
      validateTopicFilter(topic);
    } catch {
      return undefined;
    }
    rules.push({ permission, action, topic });
  }
  return rules;
}
