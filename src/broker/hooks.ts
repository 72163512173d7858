// Authentication and authorization hooks (deps.auth) combined with the config ACL (options.acl).
//
// Hooks may be synchronous or return a promise. The connection only awaits (and holds back the packets that
// follow, to keep their order) when a hook actually returned a promise; with no hooks and no ACL the publish and
// subscribe paths do no extra work at all.
import type { Properties, ProtocolVersion, QoS, Will } from "../codec/index.ts";
import type { Logger } from "../util/index.ts";
import { aclAllows } from "./acl.ts";
import type { AclRule } from "./options.ts";
import type { PeerIdentity } from "./transport.ts";

/** Who a connected client is, as hooks see it. */
export interface ClientInfo {
  readonly clientId: string;
  readonly username: string | undefined;
  readonly protocolVersion: ProtocolVersion;
  readonly remoteAddress: string;
  /** Transport kind: "tcp", "tls", "ws", … */
  readonly transport: string;
}

export interface AuthenticateContext extends ClientInfo {
  readonly password: Buffer | undefined;
  /** The identity the transport proved (mTLS client certificate), if any. */
  readonly peerIdentity: PeerIdentity | undefined;
  /** Clean Session (3.x) / Clean Start (5.0). */
  readonly clean: boolean;
  /** True when the broker assigned the client id (empty id in CONNECT). */
  readonly assignedClientId: boolean;
  readonly will: Will | undefined;
  readonly properties: Properties | undefined;
}

/**
 * Result of authenticate: true accepts; false refuses with "bad user name or password" (3.x 0x04, 5.0 0x86);
 * `{ reasonCode }` refuses with that 5.0 reason code (mapped to the nearest 3.x return code for 3.x clients);
 * `{ accept: true, username }` accepts as that user (e.g. the subject of a JWT, the CN of a client certificate):
 * ACL rules, client-id binding and logs then see this name, not the CONNECT's User Name.
 */
export type AuthResult = boolean | { readonly reasonCode: number; readonly reasonString?: string } | AuthAccepted;

export interface AuthAccepted {
  readonly accept: true;
  /** The authenticated user name; undefined keeps the CONNECT's User Name. */
  readonly username?: string;
}

export interface PublishInfo {
  readonly qos: QoS;
  readonly retain: boolean;
  readonly payload: Buffer;
  /** True when the broker is publishing the client's will. */
  readonly will: boolean;
}

export interface AuthHooks {
  authenticate?: (ctx: AuthenticateContext) => AuthResult | Promise<AuthResult>;
  authorizePublish?: (client: ClientInfo, topic: string, msg: PublishInfo) => boolean | Promise<boolean>;
  authorizeSubscribe?: (client: ClientInfo, filter: string, qos: QoS) => boolean | Promise<boolean>;
}

/** A decision now, or later. */
export type Decision = boolean | Promise<boolean>;

export function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null)?.then === "function";
}

/** ACL first (a deny there is final), then the hook. Hook errors deny and are logged. */
export class Authorizer {
  constructor(
    private readonly rules: readonly AclRule[],
    private readonly hooks: AuthHooks | undefined,
    private readonly logger: Logger,
  ) {}

  /** True when neither ACL nor hooks restrict publishing: the hot path skips authorization entirely. */
  get publishOpen(): boolean {
    return this.rules.length === 0 && this.hooks?.authorizePublish === undefined;
  }

  get subscribeOpen(): boolean {
    return this.rules.length === 0 && this.hooks?.authorizeSubscribe === undefined;
  }

  canPublish(client: ClientInfo, topic: string, msg: PublishInfo): Decision {
    if (this.rules.length > 0 && !aclAllows(this.rules, "publish", client, topic)) return false;
    const hook = this.hooks?.authorizePublish;
    if (hook === undefined) return true;
    return this.#guard(() => hook(client, topic, msg), "authorizePublish");
  }

  canSubscribe(client: ClientInfo, filter: string, qos: QoS): Decision {
    if (this.rules.length > 0 && !aclAllows(this.rules, "subscribe", client, filter)) return false;
    const hook = this.hooks?.authorizeSubscribe;
    if (hook === undefined) return true;
    return this.#guard(() => hook(client, filter, qos), "authorizeSubscribe");
  }

  #guard(call: () => boolean | Promise<boolean>, name: string): Decision {
    const fail = (err: unknown): boolean => {
      this.logger.error({ err, hook: name }, "auth hook failed: denying");
      return false;
    };
    try {
      const r = call();
      return isPromise(r) ? r.then((v) => v, fail) : r;
    } catch (err) {
      return fail(err);
    }
  }
}
