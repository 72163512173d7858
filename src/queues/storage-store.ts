// The queue engine's QueueStore over the storage layer's queue-log concern (src/storage, docs/storage.md "Queue
// logs"): each message is one log entry with its body inside; a group is its cursor plus its pending entries.
// Mapping:
//
//  - a message → queues.appendMessage(queue, body): one log entry holding the body, written only if the message
//    is still there when its batch is cut (storage/queue-log.ts). What the engine keeps beside the
//    body travels in the body's user properties, which are also what consumers receive: `partition-key`, and on
//    dead letters `dlq-reason`, `original-queue`, `original-message-id`, `consumer-group`, `delivery-count`. The
//    append time is the log entry's appendedAt (same clock).
//  - a group's floor (every seq <= floor settled) → cursor = floor + 1.
//  - a pending delivery → a pending entry (delivery count, visibleAt).
//  - "settled above the floor" (an out-of-order ack while the body is still kept for another group or a stream) →
//    a pending entry with 0 deliveries whose consumer is the SETTLED marker; it goes when the floor passes it.
//
// The engine's atomic steps (DLQ move = append to the DLQ + removal here) are synchronous runs of these calls, so
// they land in one storage batch: one transaction.
import type { Properties, UserProperty } from "../codec/index.ts";
import type { QueueEntryMeta, QueueLogRef, Storage, StoredMessage } from "../storage/index.ts";
import { QUEUE_PREFIX } from "./config.ts";
import type {
  DeadLetterInfo,
  LoadedGroup,
  LoadedMember,
  LoadedMessage,
  LoadedQueue,
  MemberRecord,
  QueueRecord,
  QueueStore,
} from "./store.ts";
import { loadedMessageOf } from "./store.ts";
import { hashKey } from "./partition.ts";

/**
 * A log without entries whose groups are the persistent sessions' queue subscriptions: the group name is the JSON
 * of [client id, filter, member record] (what a restored session rejoins with). U+0000 cannot occur in a queue name.
 */
const MEMBERS = "\u0000members";
/** Consumer of a pending entry that marks "settled by this group above its floor". */
const SETTLED = "\u0000settled";
/** Entries read per range scan at startup. */
const PAGE = 10_000;

const META_KEYS = new Set([
  "partition-key",
  "dlq-reason",
  "original-queue",
  "original-message-id",
  "consumer-group",
  "delivery-count",
]);

export function toStoredMessage(queue: string, r: QueueRecord, topic = QUEUE_PREFIX + queue): StoredMessage {
  const extra: UserProperty[] = [];
  if (r.partitionKey !== undefined) extra.push(["partition-key", r.partitionKey]);
  const d = r.dlq;
  if (d !== undefined) {
    extra.push(
      ["dlq-reason", d.reason],
      ["original-queue", d.originalQueue],
      ["original-message-id", d.originalId],
      ["consumer-group", d.group],
      ["delivery-count", String(d.deliveryCount)],
    );
  }
  let properties = r.properties;
  if (extra.length > 0) {
    properties = { ...properties, userProperties: [...(properties?.userProperties ?? []), ...extra] };
  }
  return {
    topic,
    payload: r.payload,
    qos: 1,
    retain: false,
    properties,
    expiresAt: r.expiresAt,
    origin: undefined,
  };
}

export function fromStoredMessage(m: StoredMessage, appendedAt: number): QueueRecord {
  const all = m.properties?.userProperties ?? [];
  const meta = new Map<string, string>();
  const kept: UserProperty[] = [];
  for (const up of all) {
    if (META_KEYS.has(up[0])) meta.set(up[0], up[1]);
    else kept.push(up);
  }
  let properties: Properties | undefined = m.properties;
  if (properties !== undefined && kept.length !== all.length) {
    properties = { ...properties, userProperties: kept.length > 0 ? kept : undefined };
    if (kept.length === 0) delete properties.userProperties;
    if (Object.keys(properties).length === 0) properties = undefined;
  }
  let dlq: DeadLetterInfo | undefined;
  const reason = meta.get("dlq-reason");
  if (reason !== undefined) {
    dlq = {
      reason,
      originalQueue: meta.get("original-queue") ?? "",
      originalId: meta.get("original-message-id") ?? "",
      group: meta.get("consumer-group") ?? "",
      deliveryCount: Number(meta.get("delivery-count") ?? 0),
    };
  }
  return {
    payload: m.payload,
    properties,
    partitionKey: meta.get("partition-key"),
    enqueuedAt: appendedAt,
    expiresAt: m.expiresAt,
    dlq,
  };
}

export class StorageQueueStore implements QueueStore {
  readonly durable: boolean;
  /** Member key (JSON of [client id, filter]) → its group name in the MEMBERS log. */
  readonly #members = new Map<string, string>();
  /** The last queue appended to and its topic (one string concatenation per queue, not per message). */
  #lastQueue = "";
  #lastTopic = QUEUE_PREFIX;

  constructor(readonly storage: Storage) {
    this.durable = storage.kind === "lmdb";
  }

  putMember(clientId: string, filter: string, record: MemberRecord): void {
    this.deleteMember(clientId, filter);
    const group = JSON.stringify([clientId, filter, record]);
    this.#members.set(JSON.stringify([clientId, filter]), group);
    this.storage.queues.setCursor(MEMBERS, group, 1);
  }

  deleteMember(clientId: string, filter: string): void {
    const key = JSON.stringify([clientId, filter]);
    const group = this.#members.get(key);
    if (group === undefined) return;
    this.#members.delete(key);
    this.storage.queues.dropGroup(MEMBERS, group);
  }

  loadMembers(): LoadedMember[] {
    const out: LoadedMember[] = [];
    for (const g of this.storage.queues.groups(MEMBERS)) {
      try {
        const [clientId, filter, record] = JSON.parse(g.name) as [string, string, MemberRecord];
        this.#members.set(JSON.stringify([clientId, filter]), g.name);
        out.push({ clientId, filter, record });
      } catch {
        this.storage.queues.dropGroup(MEMBERS, g.name); // not ours: cannot be rejoined
      }
    }
    return out;
  }

  append(queue: string, record: QueueRecord): number {
    if (queue !== this.#lastQueue) {
      this.#lastQueue = queue;
      this.#lastTopic = QUEUE_PREFIX + queue;
    }
    // The engine's append time is the entry's: a message keeps its `message-id` (`<seq>-<append ms>`) across a
    // restart, which two clock readings a millisecond boundary apart would not guarantee (and one reading is saved).
    const stored = toStoredMessage(queue, record, this.#lastTopic);
    return this.storage.queues.appendMessage(queue, stored, metaOf(record), record.enqueuedAt);
  }

  read(queue: string, seq: number): QueueRecord | undefined {
    const e = this.storage.queues.read(queue, seq, 1)[0];
    return e === undefined || e.seq !== seq ? undefined : fromStoredMessage(e.message, e.appendedAt);
  }

  written(): Promise<void> {
    return this.storage.written();
  }

  remove(queue: string, seq: number): void {
    this.storage.queues.remove(queue, seq);
  }

  putGroup(queue: string, group: string, record: { floor: number }): void {
    this.storage.queues.setCursor(queue, group, record.floor + 1);
  }

  deleteGroup(queue: string, group: string): void {
    this.storage.queues.dropGroup(queue, group);
  }

  putPending(queue: string, group: string, seq: number, record: { count: number; visibleAt: number }): void {
    this.storage.queues.putPending(queue, group, { seq, deliveries: record.count, visibleAt: record.visibleAt });
  }

  deletePending(queue: string, group: string, seq: number): void {
    this.storage.queues.removePending(queue, group, seq);
  }

  putDone(queue: string, group: string, seq: number): void {
    this.storage.queues.putPending(queue, group, { seq, deliveries: 0, visibleAt: 0, consumer: SETTLED });
  }

  deleteDone(queue: string, group: string, seq: number): void {
    this.storage.queues.removePending(queue, group, seq);
  }

  drop(queue: string): void {
    this.storage.queues.drop(queue);
  }

  load(): LoadedQueue[] {
    const q = this.storage.queues;
    return q
      .list()
      .filter((info) => info.name !== MEMBERS)
      .map((info) => {
        const messages = this.#messages(info.name, info.firstSeq, info.nextSeq);
        const groups: LoadedGroup[] = q.groups(info.name).map((g) => {
          const pending = new Map<number, { count: number; visibleAt: number }>();
          const done = new Set<number>();
          for (const p of q.pending(info.name, g.name)) {
            if (p.consumer === SETTLED) done.add(p.seq);
            else pending.set(p.seq, { count: p.deliveries, visibleAt: p.visibleAt });
          }
          return { name: g.name, record: { floor: g.cursor - 1, createdAt: 0 }, pending, done };
        });
        return { name: info.name, nextSeq: info.nextSeq, messages, groups };
      });
  }

  commit(): Promise<void> {
    return this.storage.commit();
  }

  /**
   * A queue's index entries, read page by page as the engine iterates (bodies are not read: the index fields are in
   * each log entry's meta; an entry written before they were has its body read once, here).
   */
  *#messages(queue: string, first: number, next: number): Generator<LoadedMessage, void, undefined> {
    const q = this.storage.queues;
    for (let from = first; from < next;) {
      const page = q.scan(queue, from, PAGE);
      if (page.length === 0) return;
      for (const e of page) {
        const m = fromMeta(e);
        if (m !== undefined) yield m;
        else {
          const r = this.read(queue, e.seq);
          if (r !== undefined) yield loadedMessageOf(e.seq, r);
        }
      }
      from = page[page.length - 1]!.seq + 1;
    }
  }
}

/**
 * The index fields kept with a log entry: `s` payload bytes, `x` expiry, `h` key hash, `d` dead letter. Short
 * keys: one per message on disk (about 12 bytes with msgpack for a keyless, non-expiring message).
 */
function metaOf(r: QueueRecord): QueueEntryMeta {
  // Built directly (not through loadedMessageOf: one object fewer per append); same fields, same rules.
  const meta: Record<string, number | boolean> = { s: r.payload.length };
  if (r.expiresAt !== undefined) meta.x = r.expiresAt;
  if (r.partitionKey !== undefined) meta.h = hashKey(r.partitionKey);
  if (r.dlq !== undefined) meta.d = true;
  return meta;
}

function fromMeta(e: QueueLogRef): LoadedMessage | undefined {
  const x = e.meta;
  if (x === undefined || typeof x.s !== "number") return undefined;
  return {
    seq: e.seq,
    enqueuedAt: e.appendedAt,
    size: x.s,
    expiresAt: typeof x.x === "number" ? x.x : undefined,
    keyHash: typeof x.h === "number" ? x.h : undefined,
    deadLetter: x.d === true,
  };
}
