// Broker core options. The server's YAML config maps onto this (see docs/configuration.md).
// Every field has a default in DEFAULT_BROKER_OPTIONS; the broker takes Partial<BrokerOptions>.

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

export interface BrokerOptions {
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
  /** Per-session queue bound in payload bytes; 0 = unlimited. */
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
  // The fields below are optional so that code building a full BrokerOptions from its own config keeps compiling;
  // the broker fills them from DEFAULT_BROKER_OPTIONS.
  /** Seconds a new connection may take to send CONNECT (and finish authenticating); 0 = no limit. */
  connectTimeout?: number;
  /** Seconds broker.close() waits for clients to close after DISCONNECT/end before destroying their sockets. */
  closeTimeout?: number;
  // Optional for the same reason (issue #4 additions).
  /** 5.0 shared subscriptions: how a group picks a member for each message (default round-robin). */
  sharedSubscriptionStrategy?: SharedSubscriptionStrategy;
  /** 5.0 Topic Aliases the server assigns on PUBLISHes to clients that announced a Topic Alias Maximum. */
  outboundTopicAliases?: OutboundTopicAliasPolicy;
}

export const DEFAULT_BROKER_OPTIONS: Readonly<Required<BrokerOptions>> = Object.freeze({
  maxPacketSize: 268_435_460, // 256 MB body + 5-byte fixed header: the protocol maximum
  maxInflight: 100,
  receiveMaximum: 65_535,
  maxKeepAlive: 65_535,
  maxQueuedMessages: 1000,
  maxQueuedBytes: 0,
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
});
