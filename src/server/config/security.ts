// Config keys of the security work (issue #14): authentication methods under `auth`. Kept apart from
// wharf-config.ts (which several people edit) and spread into its `auth` section.
import { DEFAULT_SECURITY_OPTIONS } from "../../broker/security-options.ts";
import { AUTH_METHOD_NAMES } from "../auth/method.ts";
import { JWT_ALGORITHMS } from "../auth/jwt-method.ts";
import { MTLS_USERNAME_SOURCES } from "../auth/mtls-method.ts";
import { HASH_PRIORITIES } from "../auth/argon2-verifier.ts";
import { validateTopicFilter } from "../../topics/index.ts";
import {
  anyStr,
  array,
  bool,
  int,
  object,
  oneOf,
  optional,
  refine,
  required,
  str,
  type ConfigIssue,
  type Infer,
  type ObjectSchema,
} from "./schema.ts";

const methodsSchema = refine(array(oneOf(AUTH_METHOD_NAMES, "password-file"), []), (methods, path, issues) => {
  const seen = new Set<string>();
  methods.forEach((m, i) => {
    if (seen.has(m)) issues.push({ path: `${path}[${i}]`, message: `${m} is listed twice`, value: m });
    seen.add(m);
  });
});

/** Token bucket in whole numbers: `burst` attempts at once, refilled at `perMinute`. perMinute 0 = no limit. */
export const bucketSchema = (burst: number, perMinute: number) =>
  object({
    burst: int({ min: 1, default: burst }),
    perMinute: int({ min: 0, default: perMinute }),
  });

/** Keys added to the `auth` section. */
export const authSecurityKeys = {
  /** Order in which the methods are asked; [] = every configured one, in the order of AUTH_METHOD_NAMES. */
  methods: methodsSchema,
  /** argon2id password file (`wharf passwd`); "" = none. Reloaded when it changes. */
  passwordFile: anyStr(""),
  /** Seconds a verified (user, password) pair is accepted without hashing again; 0 = no cache. */
  cacheTtl: int({ min: 0, max: 86_400, default: 120 }),
  /** Verified pairs kept at most (LRU). */
  cacheSize: int({ min: 0, default: 10_000 }),
  /** argon2id verifications running at once: low-priority worker threads, capped at the CPUs the process may use. */
  maxConcurrentHashes: int({ min: 1, max: 64, default: 2 }),
  /** The hash workers' scheduling: "idle" = SCHED_IDLE (nice 19 where chrt is missing), "nice" = nice 19 only. */
  hashPriority: oneOf(HASH_PRIORITIES, "idle"),
  /** Verifications waiting for a slot; more CONNECTs are refused with 0x89 Server busy (3.x 0x03). */
  maxPendingHashes: int({ min: 0, default: 256 }),
  /** CONNECT attempts per user name (brute force); cached, already verified credentials are exempt. */
  connectAttemptsPerUser: bucketSchema(10, 30),
  /** Client ids bound to user names: `<user>` or `<user><separator>…`; anonymous clients get assigned ids only. */
  bindClientId: bool(false),
  clientIdSeparator: str({ default: "-" }),
  /** JWT in the Password field (jwt-method.ts). */
  jwt: object({
    secret: anyStr(""),
    publicKeyFile: anyStr(""),
    jwksFile: anyStr(""),
    algorithms: array(oneOf(JWT_ALGORITHMS, "HS256"), []),
    audience: anyStr(""),
    issuer: anyStr(""),
    usernameClaim: str({ default: "sub" }),
    aclClaim: anyStr(""),
    clockTolerance: int({ min: 0, max: 3600, default: 0 }),
  }),
  /** HTTP auth callout (http-method.ts). */
  http: object({
    url: anyStr(""),
    timeoutMs: int({ min: 1, max: 60_000, default: 2000 }),
    allowCacheTtl: int({ min: 0, max: 86_400, default: 60 }),
    denyCacheTtl: int({ min: 0, max: 86_400, default: 5 }),
    cacheSize: int({ min: 0, default: 10_000 }),
    breakerThreshold: int({ min: 1, default: 5 }),
    breakerCooldown: int({ min: 1, max: 3600, default: 30 }),
  }),
  /** Client certificates verified by a TLS listener (mtls-method.ts). */
  mtls: object({
    usernameFrom: oneOf(MTLS_USERNAME_SOURCES, "commonName"),
  }),
};

const sec = DEFAULT_SECURITY_OPTIONS;
const rateSchema = (d: { burst: number; perSecond: number }) =>
  object({ burst: int({ min: 1, default: d.burst }), perSecond: int({ min: 0, default: d.perSecond }) });

/** Keys added to the `mqtt` section: they map 1:1 onto BrokerOptions (src/broker/security-options.ts). */
export const mqttSecurityKeys = {
  maxPacketSizeBeforeConnect: int({ min: 64, max: 268_435_460, default: sec.maxPacketSizeBeforeConnect }),
  persistentSessionExpiry: int({ min: 0, max: 4_294_967_295, default: sec.persistentSessionExpiry }),
  maxSessions: int({ min: 0, default: sec.maxSessions }),
  maxQueuedBytesTotal: int({ min: 0, default: sec.maxQueuedBytesTotal }),
  connectionRatePerIp: rateSchema(sec.connectionRatePerIp),
  publishRate: rateSchema(sec.publishRate),
  publishByteRate: rateSchema(sec.publishByteRate),
};

/** What a bad ACL topic filter should have been, with the rule it breaks (from src/topics). */
function topicFilterProblem(filter: string): string | undefined {
  try {
    validateTopicFilter(filter);
    return undefined;
  } catch (err) {
    return `a valid topic filter (${err instanceof Error ? err.message : String(err)})`;
  }
}

export const aclRuleSchema = object({
  // A rule's meaning is in these three: no defaults, so a half-written rule is an error.
  permission: required(oneOf(["allow", "deny"] as const, "deny")),
  action: required(oneOf(["publish", "subscribe", "all"] as const, "all")),
  topic: required(str({ default: "#", check: topicFilterProblem })),
  clientId: optional(str({ default: "" })),
  username: optional(str({ default: "" })),
});

const aclObject = object({
  /** What happens when no rule matches. */
  default: oneOf(["allow", "deny"] as const, "allow"),
  /** "subscribe": overlapping deny rules refuse a subscription; "filter": checked per delivered message. */
  mode: oneOf(["subscribe", "filter"] as const, "subscribe"),
  rules: array(aclRuleSchema, []),
});

/**
 * `acl`: a mapping {default, mode, rules}, or (the older form, still accepted) just the list of rules. Always
 * parsed into the mapping.
 */
export const aclSchema: ObjectSchema<typeof aclObject.shape> = {
  ...aclObject,
  parse(input, path, issues) {
    if (Array.isArray(input)) {
      return { ...aclObject.defaultValue, rules: aclObject.shape.rules.parse(input, path, issues) };
    }
    return aclObject.parse(input, path, issues);
  },
};
export type AclConfig = Infer<typeof aclObject>;

export type AuthSecurityConfig = {
  [K in keyof typeof authSecurityKeys]: ReturnType<(typeof authSecurityKeys)[K]["parse"]>;
};

interface AuthSectionView {
  methods: readonly string[];
  passwordFile: string;
  scram: readonly unknown[];
  bindClientId: boolean;
}

/** Cross-key rules of `auth`: a listed method must be configured, a configured one listed. */
export function checkAuthSection(auth: AuthSectionView, path: string, issues: ConfigIssue[]): void {
  const at = (k: string): string => (path === "" ? k : `${path}.${k}`);
  const listed = auth.methods;
  if (listed.includes("password-file") && auth.passwordFile === "") {
    issues.push({
      path: at("methods"),
      message: "password-file is listed but auth.passwordFile is not set",
      value: listed,
    });
  }
  if (listed.includes("scram") && auth.scram.length === 0) {
    issues.push({ path: at("methods"), message: "scram is listed but auth.scram lists no user", value: listed });
  }
  if (listed.length > 0) {
    if (auth.passwordFile !== "" && !listed.includes("password-file")) {
      issues.push({
        path: at("passwordFile"),
        message: "set, but auth.methods leaves password-file out",
        value: auth.passwordFile,
      });
    }
    if (auth.scram.length > 0 && !listed.includes("scram")) {
      issues.push({
        path: at("scram"),
        message: "lists users, but auth.methods leaves scram out",
        value: auth.scram.length,
      });
    }
  }
  const verifying = auth.passwordFile !== "" || listed.some((m) => m !== "scram");
  if (auth.bindClientId && !verifying) {
    issues.push({
      path: at("bindClientId"),
      message: "needs an authentication method that proves user names (e.g. auth.passwordFile)",
      value: true,
    });
  }
}
