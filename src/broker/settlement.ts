// The settlement seam: a delivery (one message for one session, message.ts) may carry an owner — whoever routed it
// and needs to know its fate: a shared subscription group today (shared.ts), durable queues and in-process
// subscribers next (DeliveryOwner, declared beside Delivery in message.ts). The session tells the owner, once, how the delivery ended:
//   acknowledged  PUBACK, or PUBREC < 0x80 for QoS 2 (from then on the message is the client's [MQTT-4.3.3-3]),
//                 with the client's reason code (0x00 or 0x10 No matching subscribers)
//   rejected      PUBACK / PUBREC >= 0x80 (5.0), with that reason code [MQTT-4.8.2-6]
//   sent          QoS 0 written to the client (at most once: nothing more will be known)
//   handed-back   the session gave it back unacknowledged because its connection was lost, it ended, or it
//                 unsubscribed; only when the owner reclaims it (DeliveryOwner.reclaims)
//   dropped       discarded: expired, larger than the client accepts, QoS 0 not kept offline or evicted from a
//                 full queue, or still held when the session ended
// Deliveries without an owner (ordinary subscriptions: the session itself owns them) cost nothing here; every
// settlement is also published on the `settlement` event channel (events.ts) when someone listens.

export const HandBackReason = {
  /** The session's connection ended; the session may live on. */
  ConnectionLost: "connection-lost",
  /** The session ended (expired, discarded by a clean start, or ended with its connection). */
  SessionEnded: "session-ended",
  /** The subscription the delivery was made for was removed (UNSUBSCRIBE). */
  Unsubscribed: "unsubscribed",
} as const;
export type HandBackReasonValue = (typeof HandBackReason)[keyof typeof HandBackReason];

export const DropReason = {
  /** 5.0 Message Expiry Interval passed while it waited [MQTT-3.3.2-5]. */
  Expired: "expired",
  /** Larger than the client's Maximum Packet Size: discarded as if delivered (5.0 [MQTT-3.1.2-25]). */
  TooLarge: "too-large",
  /** QoS 0 for an offline session that does not keep QoS 0 (queueQos0Offline off). */
  Offline: "offline",
  /** QoS 0 dropped or evicted from a full session queue (the overflow policy, queue.ts). */
  QueueFull: "queue-full",
  /** QoS 0 for a subscriber declared a slow consumer (src/broker/backpressure.ts). */
  SlowConsumer: "slow-consumer",
  /** Still held by the session when it ended and not reclaimed by its owner. */
  SessionEnded: "session-ended",
} as const;
export type DropReasonValue = (typeof DropReason)[keyof typeof DropReason];

export type Settlement =
  | { readonly kind: "acknowledged"; readonly reasonCode: number }
  | { readonly kind: "rejected"; readonly reasonCode: number }
  | { readonly kind: "sent" }
  | { readonly kind: "handed-back"; readonly reason: HandBackReasonValue }
  | { readonly kind: "dropped"; readonly reason: DropReasonValue };

/** Where the outbound flow of a delivery stands when the session considers handing it back. */
export const FlowState = {
  /** Not sent yet: in the session queue. */
  Queued: 0,
  /** QoS 1 PUBLISH sent, no PUBACK yet. */
  AwaitPuback: 1,
  /** QoS 2 PUBLISH sent, no PUBREC yet: the client may have it; it must not go to anyone else [MQTT-4.8.2-4]. */
  AwaitPubrec: 2,
} as const;
export type FlowStateValue = (typeof FlowState)[keyof typeof FlowState];

// Frozen, shared settlement values: the common outcomes allocate nothing.
export const SENT: Settlement = Object.freeze({ kind: "sent" });
const ACKED_0: Settlement = Object.freeze({ kind: "acknowledged", reasonCode: 0 });

export function acknowledged(reasonCode: number): Settlement {
  if (reasonCode === 0) return ACKED_0;
  return reasonCode >= 0x80 ? { kind: "rejected", reasonCode } : { kind: "acknowledged", reasonCode };
}

const DROPPED = new Map<DropReasonValue, Settlement>(
  Object.values(DropReason).map((reason) => [reason, Object.freeze({ kind: "dropped", reason } as const)]),
);
export function dropped(reason: DropReasonValue): Settlement {
  return DROPPED.get(reason)!;
}

const HANDED_BACK = new Map<HandBackReasonValue, Settlement>(
  Object.values(HandBackReason).map((reason) => [reason, Object.freeze({ kind: "handed-back", reason } as const)]),
);
export function handedBack(reason: HandBackReasonValue): Settlement {
  return HANDED_BACK.get(reason)!;
}
