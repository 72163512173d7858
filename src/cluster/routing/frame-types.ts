// Frame types of cluster routing (the 16..63 range of transport/frame-types.ts).
export const RoutingFrame = {
  /** A publish for the receiver's ordinary subscriptions: message (message-codec.ts). */
  Forward: 16,
  /** A publish for one member of a shared group on the receiver: string `$share/<group>/<filter>` + message. */
  ForwardShared: 17,
  /** The sender's whole interest, replacing what the receiver knew: JSON InterestSnapshot. */
  InterestSync: 18,
  /** One change of the sender's interest: JSON InterestDelta. */
  InterestDelta: 19,
  /** "Send me your InterestSync" (empty body): sent when a link comes up. */
  SyncRequest: 20,
  /** A retained message (empty payload: deleted): f64 stamp + string node + message. */
  Retained: 21,
  /** Forward of a QoS 1/2 message, numbered (reliable.ts header) and kept until acknowledged. */
  ForwardReliable: 22,
  /** ForwardShared of a QoS 1/2 message, numbered. */
  ForwardSharedReliable: 23,
  /** Cumulative acknowledgement of numbered forwards: u32 epoch + f64 upTo. (24, 25: sessions/frames.ts) */
  ForwardAck: 26,
  /** QoS 0 publishes for the receiver's ordinary subscriptions, one synchronous run's worth (forward-batch.ts). */
  ForwardBatch: 27,
} as const;

/** Filters with at least one ordinary subscription on the node, and its shared groups (`$share/<g>/<filter>`). */
export interface InterestSnapshot {
  readonly f: readonly string[];
  readonly s: readonly string[];
}

/** "+f"/"-f": an ordinary filter gained its first / lost its last subscriber here; "+s"/"-s": a shared group. */
export interface InterestDelta {
  readonly op: "+f" | "-f" | "+s" | "-s";
  readonly v: string;
}
