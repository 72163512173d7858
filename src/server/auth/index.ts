// Builds the authentication chain from the config's `auth` section and hands it to the broker as its
// `authenticate` hook (the core's seam: src/broker/hooks.ts). Outer-layer parts (files, watching, HTTP) live here.
import type { AuthHooks } from "../../broker/index.ts";
import type { Clock, Logger } from "../../util/index.ts";
import type { AuthConfig } from "../config/index.ts";
import { AuthChain } from "./chain.ts";
import { CredentialCache } from "./credential-cache.ts";
import { AUTH_METHOD_NAMES, type AuthMethod, type AuthMethodName } from "./method.ts";
import { PasswordFile } from "./password-file.ts";
import { PasswordFileMethod } from "./password-method.ts";
import { HttpCalloutMethod } from "./http-method.ts";
import { JwtMethod } from "./jwt-method.ts";
import { MtlsMethod } from "./mtls-method.ts";

export { AuthChain } from "./chain.ts";
export { CredentialCache } from "./credential-cache.ts";
export * from "./method.ts";
export * from "./password-file.ts";
export { JwtMethod, JwtConfigError, parseAclClaim } from "./jwt-method.ts";
export { HttpCalloutMethod } from "./http-method.ts";
export { CircuitBreaker } from "./circuit-breaker.ts";
export { MtlsMethod } from "./mtls-method.ts";

export interface ServerAuth {
  /** undefined when nothing is configured: the broker then runs without an authenticate hook. */
  readonly hooks: AuthHooks | undefined;
  readonly chain: AuthChain | undefined;
  close(): void;
}

/** The methods the config sets up, in the configured order (auth.methods) or the default one. */
export function configuredMethods(auth: AuthConfig): AuthMethodName[] {
  if (auth.methods.length > 0) return [...auth.methods];
  const present: Record<AuthMethodName, boolean> = {
    "password-file": auth.passwordFile !== "",
    jwt: auth.jwt.secret !== "" || auth.jwt.publicKeyFile !== "" || auth.jwt.jwksFile !== "",
    http: auth.http.url !== "",
    mtls: false, // only when listed: a TLS listener's verified certificates then identify clients
    scram: auth.scram.length > 0,
  };
  return AUTH_METHOD_NAMES.filter((m) => present[m]);
}

export function buildServerAuth(
  auth: AuthConfig,
  allowAnonymous: boolean,
  deps: { clock: Clock; logger: Logger; watch?: boolean },
): ServerAuth {
  const { clock, logger } = deps;
  const cache = new CredentialCache(clock, auth.cacheTtl * 1000, auth.cacheSize);
  const methods: AuthMethod[] = [];
  try {
    for (const name of configuredMethods(auth)) {
      if (name === "password-file") {
        const file = new PasswordFile(auth.passwordFile, {
          logger,
          maxConcurrent: auth.maxConcurrentHashes,
          maxWaiting: auth.maxPendingHashes,
          priority: auth.hashPriority,
          watch: deps.watch,
        });
        methods.push(new PasswordFileMethod(file, cache));
        logger.info({ file: auth.passwordFile, users: file.size }, "password file loaded");
      }
      if (name === "jwt") {
        const j = auth.jwt;
        methods.push(
          new JwtMethod({
            secret: j.secret,
            publicKeyFile: j.publicKeyFile,
            jwksFile: j.jwksFile,
            algorithms: j.algorithms,
            audience: j.audience,
            issuer: j.issuer,
            usernameClaim: j.usernameClaim,
            aclClaim: j.aclClaim,
            clockTolerance: j.clockTolerance,
            clock,
          }),
        );
      }
      if (name === "http") {
        const h = auth.http;
        methods.push(
          new HttpCalloutMethod({
            url: h.url,
            timeoutMs: h.timeoutMs,
            allowCacheTtlMs: h.allowCacheTtl * 1000,
            denyCacheTtlMs: h.denyCacheTtl * 1000,
            cacheSize: h.cacheSize,
            breakerThreshold: h.breakerThreshold,
            breakerCooldownMs: h.breakerCooldown * 1000,
            clock,
          }),
        );
      }
      if (name === "mtls") methods.push(new MtlsMethod(auth.mtls.usernameFrom));
      // scram runs inside the broker (5.0 enhanced authentication: the client names the method).
    }
  } catch (err) {
    for (const m of methods) m.close?.();
    throw err;
  }
  if (methods.length === 0) return { hooks: undefined, chain: undefined, close() {} };
  const per = auth.connectAttemptsPerUser;
  const chain = new AuthChain({
    methods,
    allowAnonymous,
    attemptsPerUser: per.perMinute > 0 ? { burst: per.burst, rate: per.perMinute / 60 } : undefined,
    bindClientId: auth.bindClientId ? { separator: auth.clientIdSeparator } : undefined,
    clock,
    logger,
  });
  return { hooks: { authenticate: chain.authenticate }, chain, close: () => chain.close() };
}
