// Broker options of the security work (issue #14): limits that hold against hostile clients. Kept in their own
// module and merged into BrokerOptions / DEFAULT_BROKER_OPTIONS (options.ts).

/** A token bucket: `burst` at once, refilled at `perSecond`; perSecond 0 = no limit. */
export interface RateLimit {
  burst: number;
  perSecond: number;
}

export interface SecurityOptions {
  /**
   * Largest packet accepted until the CONNECT is accepted (the CONNECT itself included). A CONNECT is small (ids,
   * credentials, a will); 64 KiB leaves room for a JWT and a sizeable will while a hostile `10 FF FF FF 7F` header is
   * refused after 5 bytes instead of buffering up to 256 MB (issue #14: 4 connections took RSS from 79 to 918 MB).
   * Bytes pipelined behind a CONNECT whose authentication is still running are bounded separately: the connection
   * pauses its transport above PENDING_INPUT_LIMIT (64 KiB, connection.ts).
   */
  maxPacketSizeBeforeConnect?: number;
  /**
   * Seconds a 3.1/3.1.1 persistent session (clean session 0) is kept after its client disconnects; 0 = forever
   * (the 3.1.1 behaviour). 5.0 clients choose their own Session Expiry Interval.
   */
  persistentSessionExpiry?: number;
  /** Sessions (connected and offline) at most; a CONNECT that needs a new one beyond it: 3.x 0x03, 5.0 0x97. 0 = no cap. */
  maxSessions?: number;
  /**
   * Payload bytes queued in all session queues together (global memory budget); a delivery that would exceed it is
   * treated like a full session queue (QoS 0 dropped, QoS 1/2 refused: 5.0 publishers get 0x97). 0 = no budget;
   * default 256 MiB.
   */
  maxQueuedBytesTotal?: number;
  /** New connections per remote IP address (all transports); over it the socket is closed at once. */
  connectionRatePerIp?: RateLimit;
  /** PUBLISH packets per client; over it: 5.0 DISCONNECT 0x96 Message rate too high, 3.x the connection is closed. */
  publishRate?: RateLimit;
  /** PUBLISH payload bytes per client, same consequence. */
  publishByteRate?: RateLimit;
  /** ACL decision when no rule matches: "allow" (default, compatible) or "deny" (deny by default). */
  aclDefault?: "allow" | "deny";
  /**
   * "subscribe" (default): a deny rule overlapping a requested filter refuses the subscription; "filter": the
   * subscription is granted unless a deny rule covers all of it, and each message is checked at delivery (read check).
   */
  aclReadMode?: "subscribe" | "filter";
}

export const DEFAULT_SECURITY_OPTIONS: Readonly<Required<SecurityOptions>> = Object.freeze({
  maxPacketSizeBeforeConnect: 65_536,
  persistentSessionExpiry: 0,
  maxSessions: 0,
  // 256 MiB over all session queues: with the per-session 16 MiB bound, 16 stalled sessions at most fill it;
  // beyond it QoS 0 is dropped and QoS 1/2 refused, so hostile subscribers cannot take the host's memory.
  maxQueuedBytesTotal: 256 * 1024 * 1024,
  connectionRatePerIp: Object.freeze({ burst: 1, perSecond: 0 }),
  publishRate: Object.freeze({ burst: 1, perSecond: 0 }),
  publishByteRate: Object.freeze({ burst: 1, perSecond: 0 }),
  aclDefault: "allow",
  aclReadMode: "subscribe",
});
