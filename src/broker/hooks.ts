// Authentication and authorization hooks (deps.auth) combined with the config ACL (options.acl).
//
// Hooks may be synchronous or return a promise. The connection only awaits (and holds back the packets that
// follow, to keep their order) when a hook actually returned a promise; with no hooks and no ACL the publish and
// subscribe paths do no extra work at all.
import type { Properties, ProtocolVersion, QoS, Will } from "../codec/index.ts";
import type { Logger } from "../util/index.ts";
import { aclDecide } from "./acl.ts";
import type { AclAction, AclReadMode, AclSubject } from "./acl.ts";
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
  /** ACL rules the client's credentials carried (JWT claim, HTTP callout answer), checked before the configured ones. */
  readonly acl?: readonly AclRule[];
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
  /** ACL rules for this client (e.g. from a JWT claim), checked before the configured ones. */
  readonly acl?: readonly AclRule[];
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

/** Whom a delivery is checked for: a connected client, or a session's remembered identity. */
export type ReadSubject = AclSubject & { readonly acl?: readonly AclRule[] };

export interface AuthorizerOptions {
  /** Decision when no rule matches (default "allow"). */
  readonly aclDefault?: "allow" | "deny";
  /** "subscribe" (deny rules refuse overlapping subscriptions) or "filter" (checked per delivered message). */
  readonly aclReadMode?: AclReadMode;
}

/**
 * ACL first (a deny there is final), then the hook. Hook errors deny and are logged. The client's own rules
 * (ClientInfo.acl, from a JWT claim or an HTTP callout answer) come before the configured ones; no matching rule
 * anywhere = `aclDefault`. Every transport and every topic goes through here, `$queue/` settle topics included:
 * canPublish / canSubscribe / canRead are the API for features that route on a client's behalf.
 */
export class Authorizer {
  #rules: readonly AclRule[];
  #defaultAllow: boolean;
  #mode: AclReadMode;
  #clientRules = false;

  constructor(
    rules: readonly AclRule[],
    private hooks: AuthHooks | undefined,
    private readonly logger: Logger,
    opts: AuthorizerOptions = {},
  ) {
    this.#rules = rules;
    this.#defaultAllow = (opts.aclDefault ?? "allow") === "allow";
    this.#mode = opts.aclReadMode ?? "subscribe";
  }

  /**
   * Replaces the configured ACL at runtime (createBroker's configure()): every later check uses the new rules.
   * Subscriptions granted before stay (as in Mosquitto): in "subscribe" mode a subscription is checked once, when
   * it is made; in "filter" mode every delivery is checked, so a new deny rule applies to the next message.
   */
  configure(rules: readonly AclRule[], opts: AuthorizerOptions = {}): void {
    this.#rules = rules;
    this.#defaultAllow = (opts.aclDefault ?? "allow") === "allow";
    this.#mode = opts.aclReadMode ?? "subscribe";
  }

  /** True when neither ACL nor hooks restrict publishing: the hot path skips authorization entirely. */
  get publishOpen(): boolean {
    return this.#aclOpen && this.hooks?.authorizePublish === undefined;
  }

  get subscribeOpen(): boolean {
    return this.#aclOpen && this.hooks?.authorizeSubscribe === undefined;
  }

  /** True when deliveries must be checked one by one (read-filter mode with something to filter). */
  get readChecked(): boolean {
    return this.#mode === "filter" && !this.#aclOpen;
  }

  /** Live reload of the authorization hooks (Broker.setAuthHooks: the server's auth chain after a reload). */
  replaceHooks(hooks: AuthHooks | undefined): void {
    this.hooks = hooks;
  }

  /**
   * Whether the ACL rules alone (no hooks: they may be asynchronous) still let `client` hold a subscription to
   * `filter`: after an ACL change, subscriptions the new rules refuse are removed.
   */
  aclAllowsSubscription(client: ReadSubject, filter: string): boolean {
    return this.#aclOpen || this.#acl(client, "subscribe", filter);
  }

  get #aclOpen(): boolean {
    return this.#rules.length === 0 && this.#defaultAllow && !this.#clientRules;
  }

  /** A client with its own rules connected: from now on the fast paths check. */
  noteClientRules(): void {
    this.#clientRules = true;
  }

  #acl(client: ReadSubject, action: AclAction | "read", topic: string): boolean {
    const own = client.acl;
    if (own !== undefined) {
      const d = aclDecide(own, action, client, topic, this.#mode);
      if (d !== undefined) return d;
    }
    return aclDecide(this.#rules, action, client, topic, this.#mode) ?? this.#defaultAllow;
  }

  canPublish(client: ClientInfo, topic: string, msg: PublishInfo): Decision {
    if (!this.#aclOpen && !this.#acl(client, "publish", topic)) return false;
    const hook = this.hooks?.authorizePublish;
    if (hook === undefined) return true;
    return this.#guard(() => hook(client, topic, msg), "authorizePublish");
  }

  canSubscribe(client: ClientInfo, filter: string, qos: QoS): Decision {
    if (!this.#aclOpen && !this.#acl(client, "subscribe", filter)) return false;
    const hook = this.hooks?.authorizeSubscribe;
    if (hook === undefined) return true;
    return this.#guard(() => hook(client, filter, qos), "authorizeSubscribe");
  }

  /**
   * Read check of one message for one subscriber (read-filter mode; always true in "subscribe" mode, where the
   * subscription was checked as a whole). `client` is the session's last authenticated identity (a session restored
   * from storage before its client came back knows only its client id).
   */
  canRead(client: ReadSubject, topic: string): boolean {
    if (!this.readChecked) return true;
    return this.#acl(client, "read", topic);
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
