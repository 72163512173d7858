// The ONE place where the MQTT 5.0 acceptance suite names Wharf-only broker options (issue #4; all of them now exist
// in src/broker/options.ts under these names). The tests only call these functions; should an option be renamed, it
// changes here and nothing else. Options that already exist in BrokerOptions (receiveMaximum,
// maxPacketSize, topicAliasMaximum, maxKeepAlive, maximumQoS, retainAvailable, wildcardSubscriptionAvailable,
// subscriptionIdentifiersAvailable, sharedSubscriptionAvailable, maxQueuedMessages, acl, …) are used under their
// existing names, through the generic TargetOptions of test/helpers/target.ts or `existing` below.
export type WharfOptions = Record<string, unknown>;

export type SharedStrategy = "round-robin" | "random" | "sticky" | "least-inflight";
export type OutboundAliasPolicy = "off" | "auto";

export const wharfOptions = {
  /** Enhanced authentication with SCRAM-SHA-256 (src/broker/auth), credentials from config. */
  scram: (users: { username: string; password: string }[]): WharfOptions => ({ scram: users }),

  /**
   * Server redirection during maintenance: CONNACK 0x9C (Use another server) or 0x9D (Server moved) with a Server
   * Reference to every new connection.
   */
  redirect: (reasonCode: 0x9c | 0x9d, serverReference: string): WharfOptions => ({
    serverRedirect: { reasonCode, serverReference },
  }),

  /** How a shared subscription group picks a member (default "round-robin"). */
  sharedStrategy: (strategy: SharedStrategy): WharfOptions => ({ sharedSubscriptionStrategy: strategy }),

  /** Validate the payload of PUBLISHes with Payload Format Indicator 1 as UTF-8, refusing with 0x99. */
  validatePayloadFormat: (on: boolean): WharfOptions => ({ validatePayloadFormat: on }),

  /** Outbound topic alias policy: "auto" assigns aliases when the client allows them, "off" never. */
  outboundTopicAliases: (policy: OutboundAliasPolicy): WharfOptions => ({ outboundTopicAliases: policy }),

  /** Response Information returned when a client sets Request Response Information 1. */
  responseInformation: (value: string): WharfOptions => ({ responseInformation: value }),

  /** Subscriptions one session may hold; a SUBSCRIBE beyond it gets SUBACK 0x97 for the extra filters. */
  maxSubscriptionsPerSession: (n: number): WharfOptions => ({ maxSubscriptionsPerSession: n }),

  /** Existing BrokerOptions fields with no Mosquitto equivalent wired through TargetOptions. */
  existing: {
    wildcardSubscriptionAvailable: (on: boolean): WharfOptions => ({ wildcardSubscriptionAvailable: on }),
    subscriptionIdentifiersAvailable: (on: boolean): WharfOptions => ({ subscriptionIdentifiersAvailable: on }),
    sharedSubscriptionAvailable: (on: boolean): WharfOptions => ({ sharedSubscriptionAvailable: on }),
  },
} as const;
