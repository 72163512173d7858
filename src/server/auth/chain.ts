// The authentication chain: the configured methods asked in order for every CONNECT that carries credentials
// (User Name, Password or a transport identity). It is the broker's `authenticate` hook (the core's seam), so it
// applies to every transport alike.
//
//  - The first method that accepts decides; a method that rejects (its user, wrong password) ends the chain;
//    methods that do not know the credentials pass them on. Nobody accepting = refused: 3.x 0x04 / 5.0 0x86
//    Bad user name or password, or 0x03 / 0x88 Server unavailable when a method could not decide (fail-closed).
//  - A client without any credential is anonymous: the core accepts or refuses it (mqtt.allowAnonymous) before
//    the chain runs.
//  - CONNECT attempts per user name are rate limited (token bucket; brute force): over the limit -> 3.x 0x03 /
//    5.0 0x9F Connection rate exceeded, without verifying anything. A cached (already verified) pair is exempt,
//    so an attacker hammering a name does not lock out its owner's running devices.
//  - When no method verified a password and the client is refused, the chain spends one dummy argon2id
//    verification first, so an unknown user name is refused as slowly as a wrong password (no user enumeration).
//  - Client-id binding (auth.bindClientId): an authenticated user may only use client ids equal to its user name
//    or starting with `<user name><separator>`; an anonymous client only ids the broker assigns. A user can
//    therefore never take over (and kick off) another user's session. Violations: 3.x 0x02 / 5.0 0x85. A user
//    name containing the separator is refused under binding (it could claim ids of another user).
import { ReasonCode } from "../../codec/index.ts";
import type { AuthResult, AuthenticateContext } from "../../broker/index.ts";
import { KeyedTokenBuckets, LogLimiter, SemaphoreFullError } from "../../util/index.ts";
import type { Clock, Logger, TokenBucketSpec } from "../../util/index.ts";
import type { AuthMethod, MethodOutcome } from "./method.ts";
import type { PasswordFileMethod } from "./password-method.ts";

export interface ClientIdBinding {
  readonly separator: string;
}

export interface AuthChainOptions {
  methods: readonly AuthMethod[];
  allowAnonymous: boolean;
  /** CONNECT attempts per user name; undefined = unlimited. */
  attemptsPerUser?: TokenBucketSpec;
  bindClientId?: ClientIdBinding;
  clock: Clock;
  logger: Logger;
}

export class AuthChain {
  readonly #methods: readonly AuthMethod[];
  readonly #password: PasswordFileMethod | undefined;
  readonly #attempts: KeyedTokenBuckets | undefined;
  readonly #logs: LogLimiter;

  constructor(private readonly opts: AuthChainOptions) {
    this.#methods = opts.methods;
    this.#password = opts.methods.find((m): m is PasswordFileMethod => m.name === "password-file");
    this.#attempts =
      opts.attemptsPerUser === undefined ? undefined : new KeyedTokenBuckets(opts.attemptsPerUser, opts.clock);
    this.#logs = new LogLimiter(opts.clock);
  }

  /** The broker's authenticate hook. */
  readonly authenticate = async (ctx: AuthenticateContext): Promise<AuthResult> => {
    const outcome = await this.#decide(ctx);
    if (outcome === true) return this.#bind(ctx, ctx.username) ?? outcome;
    if (typeof outcome === "object" && "accept" in outcome)
      return this.#bind(ctx, outcome.username ?? ctx.username) ?? outcome;
    return outcome;
  };

  async #decide(ctx: AuthenticateContext): Promise<AuthResult> {
    const hasSecret = ctx.username !== undefined || ctx.password !== undefined;
    if (!hasSecret && ctx.peerIdentity === undefined) return true; // anonymous: the core applied allowAnonymous
    const cached = this.#password?.cached(ctx);
    if (cached?.kind === "accept") return { accept: true, username: cached.username };
    const userKey = ctx.username;
    if (userKey !== undefined && this.#attempts !== undefined && !this.#attempts.take(userKey)) {
      this.#warn(`attempts:${userKey}`, { username: userKey, remote: ctx.remoteAddress }, "too many CONNECT attempts");
      return { reasonCode: ReasonCode.ConnectionRateExceeded, reasonString: "too many attempts" };
    }
    let unavailable: string | undefined;
    let verified = false;
    for (const method of this.#methods) {
      let out: MethodOutcome;
      try {
        out = await method.authenticate(ctx);
      } catch (err) {
        if (err instanceof SemaphoreFullError) {
          this.#warn("busy", { remote: ctx.remoteAddress }, "too many password verifications waiting: refusing");
          return { reasonCode: ReasonCode.ServerBusy, reasonString: "server busy" };
        }
        this.opts.logger.error({ err, method: method.name }, "authentication method failed: refusing");
        out = { kind: "unavailable", reason: "internal error" };
      }
      if (method.name === "password-file" && out.kind !== "pass") verified = true;
      if (out.kind === "accept") {
        if (userKey !== undefined) this.#attempts?.refund(userKey);
        return out.acl === undefined
          ? { accept: true, username: out.username }
          : { accept: true, username: out.username, acl: out.acl };
      }
      if (out.kind === "reject") return this.#refuse(ctx, method.name, out.reason);
      if (out.kind === "unavailable") unavailable ??= `${method.name}: ${out.reason}`;
    }
    if (!hasSecret) {
      // Only a transport identity no method took: treat as anonymous.
      if (this.opts.allowAnonymous) return true;
      return { reasonCode: ReasonCode.NotAuthorized };
    }
    if (unavailable !== undefined) {
      this.#warn(`unavailable`, { reason: unavailable }, "authentication unavailable: refusing (fail-closed)");
      return { reasonCode: ReasonCode.ServerUnavailable, reasonString: "authentication unavailable" };
    }
    // Nobody knew the user: spend a verification anyway (same time as a wrong password).
    if (!verified && ctx.password !== undefined) await this.#password?.file.burn(ctx.password).catch(() => undefined);
    return this.#refuse(ctx, undefined, "no method accepted the credentials");
  }

  #refuse(ctx: AuthenticateContext, method: string | undefined, reason: string): AuthResult {
    this.#warn(
      `refused:${ctx.username ?? ""}`,
      { username: ctx.username, remote: ctx.remoteAddress, method, reason },
      "authentication failed",
    );
    return false; // 3.x 0x04, 5.0 0x86
  }

  #bind(ctx: AuthenticateContext, username: string | undefined): AuthResult | undefined {
    const b = this.opts.bindClientId;
    if (b === undefined) return undefined;
    const id = ctx.clientId;
    // A user name containing the separator could claim another user's ids ("a" + "-b-1" vs user "a-b"): refused.
    const ok =
      username === undefined
        ? ctx.assignedClientId
        : !username.includes(b.separator) && (id === username || id.startsWith(`${username}${b.separator}`));
    if (ok) return undefined;
    this.#warn(`bind:${id}`, { username, remote: ctx.remoteAddress }, "client id not bound to this user: refusing");
    return { reasonCode: ReasonCode.ClientIdentifierNotValid, reasonString: "client id not allowed for this user" };
  }

  #warn(key: string, obj: Record<string, unknown>, msg: string): void {
    this.#logs.log(this.opts.logger, "warn", key, obj, msg);
  }

  close(): void {
    for (const m of this.#methods) m.close?.();
  }
}
