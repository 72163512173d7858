// The ONE place where the MQTT 5.0 acceptance suite names Wharf broker options that src/broker/options.ts does not
// have yet (issue #4). The tests only call these functions; when the implementers settle on different names or
// shapes, they change them here and nothing else. Options that already exist in BrokerOptions (receiveMaximum,
// maxPacketSize, topicAliasMaximum, maxKeepAlive, maximumQoS, retainAvailable, wildcardSubscriptionAvailable,
// subscriptionIdentifiersAvailable, sharedSubscriptionAvailable, maxQueuedMessages, acl, …) are used under their
// existing names, through the generic TargetOptions of test/helpers/target.ts or `existing` below.
export type WharfOptions = Record<string, unknown>;

export type SharedStrategy = "round-robin" | "random" | "sticky" | "least-inflight";
export type OutboundAliasPolicy = "off" | "auto";

export const wharfOptions = {
  /** Enhanced authentication with SCRAM-SHA-256 (src/broker/auth), credentials from config (ASSUMED name). */
  scram: (users: { username: string; password: string }[]): WharfOptions => ({ scram: users }),

  /**
   * Server redirection during maintenance: CONNACK 0x9C (Use another server) or 0x9D (Server moved) with a Server
   * Reference to every new connection (ASSUMED name and shape).
   */
  redirect: (reasonCode: 0x9c | 0x9d, serverReference: string): WharfOptions => ({
    serverRedirect: { reasonCode, serverReference },
  }),

  /** How a shared subscription group picks a member (ASSUMED name; default "round-robin"). */
  sharedStrategy: (strategy: SharedStrategy): WharfOptions => ({ sharedSubscriptionStrategy: strategy }),

  /** Validate the payload of PUBLISHes with Payload Format Indicator 1 as UTF-8, refusing with 0x99 (ASSUMED name). */
  validatePayloadFormat: (on: boolean): WharfOptions => ({ validatePayloadFormat: on }),

  /** Outbound topic alias policy: "auto" assigns aliases when the client allows them, "off" never (ASSUMED name). */
  outboundTopicAliases: (policy: OutboundAliasPolicy): WharfOptions => ({ outboundTopicAliases: policy }),

  /** Response Information returned when a client sets Request Response Information 1 (ASSUMED name). */
  responseInformation: (value: string): WharfOptions => ({ responseInformation: value }),

  /** Subscriptions one session may hold; a SUBSCRIBE beyond it gets SUBACK 0x97 for the extra filters (ASSUMED name). */
  maxSubscriptionsPerSession: (n: number): WharfOptions => ({ maxSubscriptionsPerSession: n }),

  /** Existing BrokerOptions fields with no Mosquitto equivalent wired through TargetOptions. */
  existing: {
    wildcardSubscriptionAvailable: (on: boolean): WharfOptions => ({ wildcardSubscriptionAvailable: on }),
    subscriptionIdentifiersAvailable: (on: boolean): WharfOptions => ({ subscriptionIdentifiersAvailable: on }),
    sharedSubscriptionAvailable: (on: boolean): WharfOptions => ({ sharedSubscriptionAvailable: on }),
  },
} as const;
