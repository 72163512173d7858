// HTTP auth callout: POSTs the CONNECT's credentials as JSON to a configured URL and follows the answer.
//
// Request body: {"clientId", "username", "password" (UTF-8, or base64 with "passwordEncoding":"base64"),
//   "remoteAddress", "transport", "protocolVersion", "certificate" (mTLS identity or null)}.
// Answer: 2xx with {"result":"allow"} (optionally "username" to rename the client and "acl": [{permission, action,
//   topic}]) accepts; {"result":"deny"} or a 401/403 refuses (final); {"result":"ignore"} passes to the next
//   method. Anything else (timeout, connection error, 5xx, unreadable body) means "could not decide":
//   fail-closed, the client is refused with 3.x 0x03 / 5.0 0x88 unless a later method accepts it.
// Answers are cached (allow and deny separately, with their own TTL) under an HMAC of the exact credentials, like
// the verified-credential cache. A circuit breaker stops calling a failing service for a while.
import { createHmac, randomBytes } from "node:crypto";
import { lazyImport } from "../../util/lazy.ts";
import type { AclRule, AuthenticateContext } from "../../broker/index.ts";
import type { Clock } from "../../util/index.ts";
import { CircuitBreaker } from "./circuit-breaker.ts";
import { parseAclClaim } from "./jwt-method.ts";
import { PASS, type AuthMethod, type MethodOutcome } from "./method.ts";

/** undici, loaded with the first request (src/util/lazy.ts). */
const undici = lazyImport(() => import("undici"));

export interface HttpMethodOptions {
  url: string;
  timeoutMs: number;
  allowCacheTtlMs: number;
  denyCacheTtlMs: number;
  cacheSize: number;
  breakerThreshold: number;
  breakerCooldownMs: number;
  clock: Pick<Clock, "now">;
}

interface Cached {
  readonly outcome: MethodOutcome;
  readonly expiresAt: number;
}

export class HttpCalloutMethod implements AuthMethod {
  readonly name = "http";
  readonly breaker: CircuitBreaker;
  readonly #cache = new Map<string, Cached>();
  readonly #secret = randomBytes(32);
  /** Requests sent (tests, metrics). */
  calls = 0;

  constructor(private readonly opts: HttpMethodOptions) {
    this.breaker = new CircuitBreaker(opts.clock, opts.breakerThreshold, opts.breakerCooldownMs);
  }

  #key(ctx: AuthenticateContext): string {
    const h = createHmac("sha256", this.#secret);
    for (const part of [ctx.clientId, ctx.username ?? "\u0000none", ctx.peerIdentity?.fingerprint256 ?? ""]) {
      const b = Buffer.from(part);
      h.update(`${b.length}:`).update(b);
    }
    const pw = ctx.password ?? Buffer.alloc(0);
    h.update(`${ctx.password === undefined ? -1 : pw.length}:`).update(pw);
    return h.digest("base64");
  }

  async authenticate(ctx: AuthenticateContext): Promise<MethodOutcome> {
    const key = this.#key(ctx);
    const now = this.opts.clock.now();
    const hit = this.#cache.get(key);
    if (hit !== undefined) {
      if (hit.expiresAt > now) return hit.outcome;
      this.#cache.delete(key);
    }
    if (!this.breaker.allow()) return { kind: "unavailable", reason: "callout circuit open" };
    let outcome: MethodOutcome;
    try {
      outcome = await this.#call(ctx);
    } catch (err) {
      this.breaker.failure();
      return { kind: "unavailable", reason: err instanceof Error ? err.message : String(err) };
    }
    this.breaker.success();
    const ttl =
      outcome.kind === "accept" ? this.opts.allowCacheTtlMs : outcome.kind === "reject" ? this.opts.denyCacheTtlMs : 0;
    if (ttl > 0 && this.opts.cacheSize > 0) {
      while (this.#cache.size >= this.opts.cacheSize) {
        const oldest = this.#cache.keys().next();
        if (oldest.done === true) break;
        this.#cache.delete(oldest.value);
      }
      this.#cache.set(key, { outcome, expiresAt: now + ttl });
    }
    return outcome;
  }

  async #call(ctx: AuthenticateContext): Promise<MethodOutcome> {
    this.calls++;
    const pw = ctx.password;
    const utf8 = pw === undefined ? undefined : pw.toString("utf8");
    const textual = utf8 !== undefined && Buffer.from(utf8, "utf8").equals(pw!);
    const body = JSON.stringify({
      clientId: ctx.clientId,
      username: ctx.username ?? null,
      password: pw === undefined ? null : textual ? utf8 : pw.toString("base64"),
      ...(pw !== undefined && !textual ? { passwordEncoding: "base64" } : {}),
      remoteAddress: ctx.remoteAddress,
      transport: ctx.transport,
      protocolVersion: ctx.protocolVersion,
      certificate: ctx.peerIdentity ?? null,
    });
    const { request } = await undici();
    const res = await request(this.opts.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      signal: AbortSignal.timeout(this.opts.timeoutMs),
      headersTimeout: this.opts.timeoutMs,
      bodyTimeout: this.opts.timeoutMs,
    });
    if (res.statusCode === 401 || res.statusCode === 403) {
      await res.body.dump();
      return { kind: "reject", reason: `callout: HTTP ${res.statusCode}` };
    }
    if (res.statusCode < 200 || res.statusCode >= 300) {
      await res.body.dump();
      throw new Error(`callout: HTTP ${res.statusCode}`);
    }
    const text = await res.body.text();
    if (text.length > 65_536) throw new Error("callout: answer too large");
    const answer = JSON.parse(text) as { result?: unknown; username?: unknown; acl?: unknown };
    if (answer.result === "deny") return { kind: "reject", reason: "callout: deny" };
    if (answer.result === "ignore") return PASS;
    if (answer.result !== "allow") throw new Error("callout: answer without result allow/deny/ignore");
    const username = typeof answer.username === "string" && answer.username !== "" ? answer.username : ctx.username;
    let acl: AclRule[] | undefined;
    if (answer.acl !== undefined) {
      acl = parseAclClaim(answer.acl);
      if (acl === undefined) throw new Error("callout: malformed acl");
    }
    return acl === undefined ? { kind: "accept", username } : { kind: "accept", username, acl };
  }
}
