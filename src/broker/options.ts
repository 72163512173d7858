// Broker core options. The server's YAML config maps onto this (see docs/configuration.md).
// Every field has a default in DEFAULT_BROKER_OPTIONS; the broker takes Partial<BrokerOptions>.
import type { QueueConfigEntry } from "../queues/index.ts";
import { DEFAULT_SECURITY_OPTIONS } from "./security-options.ts";
import type { SecurityOptions } from "./security-options.ts";
import { MAX_UINT16 } from "../util/index.ts";

import { DEFAULT_OVERLOAD_OPTIONS } from "./backpressure.ts";
import type { OverloadOptions } from "./backpressure.ts";

export interface AclRule {
  /** "allow" or "deny"; rules are checked in order, first match wins, no match = allow. */
  permission: "allow" | "deny";
  action: "publish" | "subscribe" | "all";
  /** Topic filter (wildcards allowed); matched against the topic (publish) or filter (subscribe). */
  topic: string;
  /** Optional: only for this client id / username. */
  clientId?: string;
  username?: string;
}

/** How a shared subscription group picks the member that gets a message (5.0 §4.8.2; docs/broker.md). */
export type SharedSubscriptionStrategy = "round-robin" | "random" | "sticky" | "least-inflight";

/** 5.0 outbound Topic Aliases: "auto" assigns them when the client allows any, "off" never. */
export type OutboundTopicAliasPolicy = "auto" | "off";

export interface BrokerOptions extends SecurityOptions {
  /** Largest packet the server accepts (bytes, whole packet). 5.0 CONNACK announces it. */
  maxPacketSize: number;
  /** Maximum QoS 1/2 PUBLISHes in flight to one client at once (capped by a 5.0 client's Receive Maximum). */
  maxInflight: number;
  /** 5.0 Receive Maximum the server announces: QoS 1/2 PUBLISHes a client may have unacknowledged to us. */
  receiveMaximum: number;
  /** Largest keepalive (seconds) accepted; 0 = no limit. Larger requests are capped (5.0: Server Keep Alive). */
  maxKeepAlive: number;
  /** Per-session queue bound (messages waiting to be sent, offline or over the inflight window). */
  maxQueuedMessages: number;
  /** Per-session queue bound in payload bytes; 0 = unlimited (default 16 MiB, docs/security.md). */
  maxQueuedBytes: number;
  /** Queue QoS 0 messages for offline persistent sessions. */
  queueQos0Offline: boolean;
  /** Allow clients without credentials. */
  allowAnonymous: boolean;
  /** Highest QoS the server supports (5.0 Maximum QoS). */
  maximumQoS: 0 | 1 | 2;
  retainAvailable: boolean;
  wildcardSubscriptionAvailable: boolean;
  subscriptionIdentifiersAvailable: boolean;
  sharedSubscriptionAvailable: boolean;
  /** 5.0 Topic Alias Maximum the server accepts from clients; 0 = none. */
  topicAliasMaximum: number;
  /** Prefix of assigned client identifiers. */
  clientIdPrefix: string;
  /** $SYS topics: publish period in seconds; 0 disables. */
  sysInterval: number;
  acl: AclRule[];
  // The fields below are optional: the broker fills them from DEFAULT_BROKER_OPTIONS.
  /** Seconds a new connection may take to send CONNECT (and finish authenticating); 0 = no limit. */
  connectTimeout?: number;
  /** Seconds broker.close() waits for clients to close after DISCONNECT/end before destroying their sockets. */
  closeTimeout?: number;
  /** 5.0 shared subscriptions: how a group picks a member for each message (default round-robin). */
  sharedSubscriptionStrategy?: SharedSubscriptionStrategy;
  /** 5.0 Topic Aliases the server assigns on PUBLISHes to clients that announced a Topic Alias Maximum. */
  outboundTopicAliases?: OutboundTopicAliasPolicy;
  /**
   * 5.0 enhanced authentication with SCRAM-SHA-256 (docs/auth.md): the users and their credentials, each with
   * either a `password` (derived at startup) or a stored `credential` ("SCRAM-SHA-256$iter:salt$stored:server").
   * Empty = the method is not offered (unless deps.authenticators brings it).
   */
  scram?: ScramUserOption[];
  /**
   * 5.0 server redirection (§4.11): every new CONNECT is refused with CONNACK 0x9C Use another server or 0x9D
   * Server moved and this Server Reference (3.x clients: 0x03 Server unavailable). null = serve normally.
   * broker.redirect() changes it at runtime.
   */
  serverRedirect?: ServerRedirect | null;
  /**
   * 5.0 Response Information returned in CONNACK to clients that set Request Response Information 1; `%c` and `%u`
   * are replaced by the client id and user name (e.g. "responses/%c/"). "" = never sent.
   */
  responseInformation?: string;
  /**
   * Check the payload of 5.0 PUBLISHes (and wills) with Payload Format Indicator 1 is valid UTF-8; refused with
   * 0x99 Payload format invalid otherwise (§3.3.2.3.2). Default true.
   */
  validatePayloadFormat?: boolean;
  /** Subscriptions one session may hold; more get SUBACK 0x97 Quota exceeded (3.x: 0x80). 0 = unlimited. */
  maxSubscriptionsPerSession?: number;
  /** Durable queues (`$queue/<name>`, docs/queues.md): per-name/pattern settings over the defaults. */
  queues?: QueueConfigEntry[];
  /**
   * Backpressure from subscribers to publishers and the slow-consumer policy (src/broker/backpressure.ts,
   * docs/broker.md "Overload and slow consumers"); missing fields take DEFAULT_OVERLOAD_OPTIONS.
   */
  overload?: Partial<OverloadOptions>;
}

/** One SCRAM-SHA-256 user (BrokerOptions.scram): exactly one of `password` and `credential`. */
export interface ScramUserOption {
  username: string;
  /** Plain password; a credential with a random salt and 4096 iterations is derived from it at startup. */
  password?: string;
  /** Stored form "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>" (docs/auth.md). */
  credential?: string;
}

/** Where clients are sent by server redirection (5.0 §4.11). */
export interface ServerRedirect {
  /** 0x9C Use another server (temporary) or 0x9D Server moved (permanent). */
  reasonCode: 0x9c | 0x9d;
  /** Server Reference property, e.g. "mqtt2.example.com:1883" (its format is not specified by MQTT). */
  serverReference: string;
}

export const DEFAULT_BROKER_OPTIONS: Readonly<Required<BrokerOptions>> = Object.freeze({
  ...DEFAULT_SECURITY_OPTIONS,
  // Safe defaults (issue #14, docs/security.md "Defaults"): the protocol maximum (256 MB) let one client make the
  // broker buffer 256 MB per packet and 1,000 x 256 MB per stalled session. 1 MiB is EMQX's default and NATS's
  // max_payload; 16 MiB per session holds 16 maximum-size messages, or all 1,000 queued messages up to 16 KB each.
  maxPacketSize: 1024 * 1024,
  // 1,000 (issue #10): a window of 100 capped QoS 1 fan-in to one subscriber at ~85k msg/s with the broker at 32 %
  // CPU (the subscriber's round trip, not the broker, set the pace). NATS's MQTT max_ack_pending is 1,024; Mosquitto
  // (20) and EMQX (32) trade throughput for small resend bursts. Memory stays bounded: the window also stops at
  // maxQueuedBytes of payload (inflight.ts), and a 5.0 client's Receive Maximum caps it [MQTT-3.3.4-9].
  maxInflight: 1000,
  receiveMaximum: MAX_UINT16,
  maxKeepAlive: MAX_UINT16,
  maxQueuedMessages: 1000,
  maxQueuedBytes: 16 * 1024 * 1024,
  queueQos0Offline: false,
  allowAnonymous: true,
  maximumQoS: 2,
  retainAvailable: true,
  wildcardSubscriptionAvailable: true,
  subscriptionIdentifiersAvailable: true,
  sharedSubscriptionAvailable: true,
  topicAliasMaximum: 10,
  clientIdPrefix: "wharf-",
  sysInterval: 10,
  acl: [],
  connectTimeout: 30,
  closeTimeout: 5,
  sharedSubscriptionStrategy: "round-robin",
  outboundTopicAliases: "auto",
  scram: [],
  serverRedirect: null,
  responseInformation: "",
  validatePayloadFormat: true,
  maxSubscriptionsPerSession: 0,
  queues: [],
  overload: DEFAULT_OVERLOAD_OPTIONS,
});
