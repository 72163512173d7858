// Records the broker persists. These are the storage layer's public shapes; the on-disk encoding (short field
// names, see records.ts) is private to the layer and versioned by SCHEMA_VERSION.
import type { Properties, ProtocolVersion, QoS, RetainHandling, Will } from "../codec/types.ts";

/** Store-assigned id of a message body. Positive integer, never reused while the message is referenced. */
export type MessageId = number;

/** One application message body, stored once however many sessions hold it. */
export interface StoredMessage {
  topic: string;
  payload: Buffer;
  /** QoS the publisher used. */
  qos: QoS;
  retain: boolean;
  /** 5.0 properties to forward (userProperties keep order and duplicates; Buffer fields stay Buffers). */
  properties?: Properties | undefined;
  /** Absolute expiry deadline (ms since the epoch) from the Message Expiry Interval; undefined = never. */
  expiresAt?: number | undefined;
  /** Client id of the publisher (5.0 No Local); undefined for broker-originated messages. */
  origin?: string | undefined;
}

/** A session's persistent header [MQTT-4.1]. */
export interface SessionRecord {
  clientId: string;
  protocolVersion: ProtocolVersion;
  /** Session Expiry Interval in seconds; 0xFFFFFFFF = never. */
  expiryInterval: number;
  /** When the disconnected session expires (ms since the epoch); undefined while connected or if it never does. */
  expiresAt?: number | undefined;
  /** Last time the client was seen (connect, disconnect), ms since the epoch. */
  lastSeen: number;
  username?: string | undefined;
}

export interface StoredSubscription {
  filter: string;
  /** Granted QoS. */
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: RetainHandling;
  /** 5.0 Subscription Identifier. */
  identifier?: number | undefined;
}

/** How one message goes to one session: the per-subscriber parts of a PUBLISH. */
export interface DeliveryOptions {
  /** min(message QoS, granted QoS) [MQTT-3.8.4-6]. */
  qos: QoS;
  /** RETAIN flag to send. */
  retain: boolean;
  /** 5.0 subscription identifiers of the matching subscriptions. */
  subscriptionIds?: number[] | undefined;
}

/** An entry of a session's offline queue: a message waiting to be sent, in `seq` order. */
export interface QueuedMessage extends DeliveryOptions {
  seq: number;
  messageId: MessageId;
}

/** Outbound QoS 1/2 states [MQTT-4.3.2] [MQTT-4.3.3]; same values as the broker's OutState. */
export const InflightState = {
  /** QoS 1 PUBLISH sent, waiting for PUBACK. */
  AwaitPuback: 1,
  /** QoS 2 PUBLISH sent, waiting for PUBREC. */
  AwaitPubrec: 2,
  /** PUBREL sent, waiting for PUBCOMP: the message body is no longer needed and its reference is dropped. */
  AwaitPubcomp: 3,
} as const;
export type InflightStateValue = (typeof InflightState)[keyof typeof InflightState];

/** A QoS 1/2 message sent to a session and not yet acknowledged. */
export interface InflightMessage extends DeliveryOptions {
  packetId: number;
  state: InflightStateValue;
  /** undefined once the state is AwaitPubcomp (only PUBREL is resent then). */
  messageId: MessageId | undefined;
  /** Send order within the session, so a reconnect resends in the original order [MQTT-4.4.0-1]. */
  order: number;
}

/** What putInflight takes: an inflight message minus the store-assigned order. */
export type InflightInit = Omit<InflightMessage, "order">;

/** A will waiting for its connection to end or for its delay to run out. */
export interface StoredWill {
  clientId: string;
  will: Will;
  /** When to publish it (ms since the epoch); undefined while the connection is still open. */
  deadline?: number | undefined;
  /** Username of the connection that set it, for ACL checks when it is published. */
  username?: string | undefined;
}

export interface RetainedEntry {
  topic: string;
  messageId: MessageId;
}

/** Everything persisted about one client id. */
export interface SessionSnapshot {
  clientId: string;
  session: SessionRecord | undefined;
  will: StoredWill | undefined;
  subscriptions: StoredSubscription[];
  /** Offline queue in seq order. */
  queue: QueuedMessage[];
  /** In send order. */
  inflight: InflightMessage[];
  /** Inbound QoS 2 packet identifiers received and not yet released by PUBREL [MQTT-4.3.3-2]. */
  inboundQos2: number[];
}

export interface QueueLogInfo {
  name: string;
  /** Seq of the oldest entry still kept (= nextSeq when empty). */
  firstSeq: number;
  /** Seq the next append gets. */
  nextSeq: number;
  length: number;
}

/** What open() found: the whole persisted state, to rebuild the broker's in-memory view. */
export interface StorageSnapshot {
  sessions: SessionSnapshot[];
  retained: RetainedEntry[];
  /** Every message referenced by a queue, inflight or retained entry. */
  messages: Map<MessageId, StoredMessage>;
  queueLogs: QueueLogInfo[];
}

/** Result of verify(): stored reference counts against the references actually present. */
export interface IntegrityReport {
  messages: number;
  references: number;
  /** Stored refcount differs from the number of references. */
  refcountMismatches: number;
  /** Message bodies nothing references (should have been deleted with their last reference). */
  orphanMessages: number;
  /** References to message bodies that do not exist. */
  danglingReferences: number;
  ok: boolean;
}

/** What open() repaired (all zero after a clean shutdown or a crash in sync mode). */
export type OpenReport = Omit<IntegrityReport, "ok"> & { repaired: boolean };

/** An entry of a durable queue log: a reference to a stored message body, in `seq` order. */
export interface QueueLogEntry {
  seq: number;
  /** The shared body's id; undefined when the body is inside the entry (appendMessage, schema 4). */
  messageId: MessageId | undefined;
  /** The body (read with the entry; stored once, however many logs and sessions reference it). */
  message: StoredMessage;
  /** When it was appended, or moved into this log (ms since the epoch, storage clock). */
  appendedAt: number;
  /** What append() was given as meta. */
  meta?: QueueEntryMeta | undefined;
}

/**
 * Small plain data a queue layer keeps with a log entry (the index fields it needs at startup without reading the
 * body: size, expiry, key hash …). Stored in the entry itself; not carried by `move`.
 */
export type QueueEntryMeta = Readonly<Record<string, number | string | boolean>>;

/** A queue log entry without its body (`scan`). */
export interface QueueLogRef {
  seq: number;
  /** As QueueLogEntry.messageId. */
  messageId: MessageId | undefined;
  appendedAt: number;
  meta: QueueEntryMeta | undefined;
}

/** A queue log entry handed to a consumer of a group and not yet acknowledged. */
export interface PendingEntry {
  seq: number;
  /** Times it was handed out (1 after the first delivery); drives retry limits and dead-lettering. */
  deliveries: number;
  /** When it may be handed out again if still unacknowledged (visibility timeout, retry backoff), ms since the epoch. */
  visibleAt: number;
  /** Who has it (consumer / client id), if the queue layer tracks it. */
  consumer?: string | undefined;
}

export interface QueueGroupInfo {
  name: string;
  /** Seq the group hands out next: every entry below it was handed out (or skipped) by this group. */
  cursor: number;
  /** Entries handed out and not yet acknowledged. */
  pending: number;
}

/**
 * When a commit() promise resolves, and what a crash can lose (docs/storage.md):
 * - sync: after the batch holding the writes is fsync'd. Nothing acknowledged is ever lost.
 * - batched: at once; a durable commit runs every `batchIntervalMs`. A crash loses at most that window.
 * - none: at once; writes are committed without fsync as fast as LMDB takes them, fsync'd on close().
 */
export const Durability = { Sync: "sync", Batched: "batched", None: "none" } as const;
export type DurabilityMode = (typeof Durability)[keyof typeof Durability];
