// Config keys of the security work (issue #14): authentication methods under `auth`. Kept apart from
// wharf-config.ts (which several people edit) and spread into its `auth` section.
import { AUTH_METHOD_NAMES } from "../auth/method.ts";
import { anyStr, array, bool, int, object, oneOf, refine, str, type ConfigIssue } from "./schema.ts";

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
  /** argon2id verifications running at once (the libuv pool has 4 threads by default). */
  maxConcurrentHashes: int({ min: 1, max: 64, default: 2 }),
  /** Verifications waiting for a slot; more CONNECTs are refused with 0x89 Server busy (3.x 0x03). */
  maxPendingHashes: int({ min: 0, default: 256 }),
  /** CONNECT attempts per user name (brute force); cached, already verified credentials are exempt. */
  connectAttemptsPerUser: bucketSchema(10, 30),
  /** Client ids bound to user names: `<user>` or `<user><separator>…`; anonymous clients get assigned ids only. */
  bindClientId: bool(false),
  clientIdSeparator: str({ default: "-" }),
};

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
