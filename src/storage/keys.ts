// Key spaces and key derivation shared by both backends (docs/storage.md, "Layout").
import { createHash } from "node:crypto";

/**
 * One named LMDB database per key space. Every key is a pair [group, id]: group is "" for flat spaces and the
 * (key form of the) client id or queue name for per-client / per-queue spaces, so one client's or one queue's
 * entries are a contiguous, ordered range.
 */
export const Space = {
  /** "" / "schema" → { version, createdAt }. */
  Meta: "meta",
  /** "" / message id → message body. */
  Message: "msg",
  /** "" / message id → reference count, written in the same transaction as the references. */
  Refcount: "ref",
  /** "" / client → SessionRecord. */
  Session: "session",
  /** "" / client → StoredWill. */
  Will: "will",
  /** client / filter → subscription. */
  Subscription: "sub",
  /** client / seq → queued delivery (message id + per-subscriber options). */
  Queue: "queue",
  /** client / packet id → inflight delivery. */
  Inflight: "inflight",
  /** client / packet id → receipt time of an inbound QoS 2 PUBLISH awaiting PUBREL. */
  Inbound: "inbound",
  /** "" / topic → message id of the retained message. */
  Retained: "retained",
  /** queue / seq → durable queue log entry: message id (body in `msg`, reference counted) and append time. */
  QueueLog: "qlog",
  /** "" / queue → { name, f }: the queue's name and the highest seq deleted at the log's tail (seqs are never reused). */
  QueueMeta: "qmeta",
  /** queue / group → { name, cursor } of a consumer group. */
  QueueGroup: "qgroup",
  /** pendingGroupKey(queue, group) / seq → { deliveries, visibleAt, consumer } of an entry handed out, unacknowledged. */
  QueuePending: "qpend",
} as const;
export type SpaceName = (typeof Space)[keyof typeof Space];
export const ALL_SPACES: readonly SpaceName[] = Object.values(Space);

export type KeyId = string | number;
export type Key = readonly [group: string, id: KeyId];

/** Longest UTF-8 key part used verbatim; LMDB keys are at most 1978 bytes and a key has two parts. */
const MAX_VERBATIM_BYTES = 480;
const HASHED_PREFIX = "\u0001";

/**
 * The key form of a client id, topic, filter or queue name. Short strings are used verbatim (readable, ordered);
 * long ones, and the few that LMDB's ordered key encoding cannot hold (U+0000) or that could be mistaken for a
 * hashed key (leading U+0001), become U+0001 + base64url(SHA-256). Values always carry the full string.
 */
export function keyText(s: string): string {
  const fits = s.length * 3 <= MAX_VERBATIM_BYTES || Buffer.byteLength(s, "utf8") <= MAX_VERBATIM_BYTES;
  if (fits && !s.startsWith(HASHED_PREFIX) && !s.includes("\0")) return s;
  return HASHED_PREFIX + createHash("sha256").update(s, "utf8").digest("base64url");
}

/** True when keyText(s) is not s itself, i.e. the value must carry the original string. */
export function isHashedKey(key: string): boolean {
  return key.startsWith(HASHED_PREFIX);
}

/**
 * Group part of a consumer group's pending keys: one contiguous range per (queue, group). JSON of the pair is
 * unambiguous whatever the names contain and has no U+0000 (escaped), so short names stay readable.
 */
export function pendingGroupKey(queue: string, group: string): string {
  return keyText(JSON.stringify([queue, group]));
}
