// Runtime changes of the broker options that can change safely while clients are connected (Broker.reconfigure,
// createBroker's configure()). Each option listed here is read where it is used, so a change applies from the next
// use on: the inflight window and keepalive cap of the next CONNECT, the next session, the next SUBSCRIBE, the
// next publish/connection rate check (limiters rebuilt with full buckets), the next authorization, the next
// CONNECT's connect timeout and anonymous check. Queue bounds live in one object every session queue reads at each
// enqueue, so they change in place (a queue already longer is not trimmed: it drains). A new ACL also removes the
// subscriptions it no longer allows. Options that shape state already handed out (packet sizes announced in
// CONNACK, Maximum QoS, listeners, storage) are not here: changing them needs a restart.
import { MAX_UINT16 } from "../util/index.ts";
import { BrokerError, BrokerErrorCode } from "./errors.ts";
import type { BrokerOptions } from "./options.ts";
import { resetRateLimits } from "./rate-limits.ts";
import type { BrokerRuntime } from "./runtime.ts";

export const LIVE_OPTIONS = [
  "maxInflight",
  "maxKeepAlive",
  "maxSubscriptionsPerSession",
  "maxSessions",
  "maxQueuedMessages",
  "maxQueuedBytes",
  "connectTimeout",
  "allowAnonymous",
  "publishRate",
  "publishByteRate",
  "connectionRatePerIp",
  "acl",
  "aclDefault",
  "aclReadMode",
] as const;
export type LiveOptionName = (typeof LIVE_OPTIONS)[number];
export type LiveOptions = Partial<Pick<Required<BrokerOptions>, LiveOptionName>>;

const LIVE = new Set<string>(LIVE_OPTIONS);
const RATE = new Set<string>(["publishRate", "publishByteRate", "connectionRatePerIp"]);
const ACL = new Set<string>(["acl", "aclDefault", "aclReadMode"]);

/** Applies `changes` (values validated by the caller's schema); throws BrokerError for an option not live. */
export function reconfigure(rt: BrokerRuntime, changes: LiveOptions): void {
  const keys = Object.keys(changes).filter((k) => changes[k as LiveOptionName] !== undefined);
  const fixed = keys.filter((k) => !LIVE.has(k));
  if (fixed.length > 0) {
    throw new BrokerError(
      BrokerErrorCode.InvalidOption,
      `${fixed.join(", ")}: cannot change at runtime (live: ${LIVE_OPTIONS.join(", ")})`,
    );
  }
  const bad = keys.map((k) => problem(k, changes[k as LiveOptionName])).filter((x) => x !== undefined);
  if (bad.length > 0) throw new BrokerError(BrokerErrorCode.InvalidOption, bad.join("; "));
  const options = rt.options as Record<string, unknown>;
  for (const k of keys) options[k] = changes[k as LiveOptionName];
  if (keys.some((k) => RATE.has(k))) resetRateLimits(rt);
  if (keys.includes("maxQueuedMessages") || keys.includes("maxQueuedBytes")) rt.applyQueueLimits();
  if (keys.some((k) => ACL.has(k))) {
    rt.authorizer.configure(rt.options.acl, { aclDefault: rt.options.aclDefault, aclReadMode: rt.options.aclReadMode });
    rt.revokeDeniedSubscriptions();
  }
  rt.logger.info({ changed: keys }, "broker options changed at runtime");
}

const INT_RANGES: Record<string, [number, number]> = {
  maxInflight: [1, MAX_UINT16],
  maxKeepAlive: [0, MAX_UINT16],
  maxSubscriptionsPerSession: [0, Number.MAX_SAFE_INTEGER],
  maxSessions: [0, Number.MAX_SAFE_INTEGER],
  maxQueuedMessages: [0, Number.MAX_SAFE_INTEGER],
  maxQueuedBytes: [0, Number.MAX_SAFE_INTEGER],
  connectTimeout: [0, 86_400],
};

const isInt = (v: unknown, min: number, max: number): boolean =>
  typeof v === "number" && Number.isSafeInteger(v) && v >= min && v <= max;

/** Why `value` is not a valid `key`, or undefined. */
function problem(key: string, value: unknown): string | undefined {
  const range = INT_RANGES[key];
  if (range !== undefined) {
    return isInt(value, range[0], range[1]) ? undefined : `${key} must be an integer ${range[0]}..${range[1]}`;
  }
  if (RATE.has(key)) {
    const r = value as { burst?: unknown; perSecond?: unknown };
    const ok = typeof value === "object" && value !== null && isInt(r.burst, 1, Number.MAX_SAFE_INTEGER);
    return ok && isInt(r.perSecond, 0, Number.MAX_SAFE_INTEGER)
      ? undefined
      : `${key} must be { burst: integer >= 1, perSecond: integer >= 0 }`;
  }
  if (key === "acl") return Array.isArray(value) ? undefined : "acl must be a list of rules";
  if (key === "allowAnonymous") return typeof value === "boolean" ? undefined : "allowAnonymous must be a boolean";
  if (key === "aclDefault")
    return value === "allow" || value === "deny" ? undefined : 'aclDefault must be "allow" or "deny"';
  return value === "subscribe" || value === "filter" ? undefined : 'aclReadMode must be "subscribe" or "filter"';
}
