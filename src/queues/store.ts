// What the queue engine persists, and through what: a small port over the storage layer (the queue-log concern of
// src/storage), with an in-memory implementation for unit tests and embedding without storage.
//
// Every call is synchronous and lands in the storage layer's current batch; calls made in one synchronous step are
// in one batch, hence one transaction. The engine relies on that for its atomic steps: a DLQ move is
// `append(dlq)` + `remove(queue)` + `deletePending` in one step — after a crash the message is in exactly one of
// the two queues. The broker waits on `commit()` before it acknowledges (PUBACK after the durable append).
import type { Properties } from "../codec/index.ts";
import { hashKey } from "./partition.ts";

/** Where a new stream group starts (`stream-offset` on SUBSCRIBE); ignored once the group has a committed offset. */
export type StreamStart =
  | { kind: "earliest" }
  | { kind: "latest" }
  | { kind: "offset"; offset: number }
  | { kind: "timestamp"; at: number };

/** One message of a queue as stored (the body is stored once per queue, whatever the number of groups). */
export interface QueueRecord {
  payload: Buffer;
  /** 5.0 properties forwarded to consumers (user properties, content type, correlation data, …). */
  properties?: Properties | undefined;
  partitionKey?: string | undefined;
  /** ms since the epoch. */
  enqueuedAt: number;
  /** Absolute expiry (queue messageTtl or the publisher's Message Expiry Interval, the earlier). */
  expiresAt?: number | undefined;
  /** Set on dead letters. */
  dlq?: DeadLetterInfo | undefined;
}

export interface DeadLetterInfo {
  reason: string;
  originalQueue: string;
  originalId: string;
  group: string;
  deliveryCount: number;
}

/** A group's durable position: every seq <= floor is settled for the group (its committed offset). */
export interface GroupRecord {
  floor: number;
  createdAt: number;
}

/** A message delivered at least once to a group and not settled: survives restarts with its delivery count. */
export interface PendingRecord {
  count: number;
  /** When it may be delivered again (retry backoff); 0 = at once. */
  visibleAt: number;
}

export interface LoadedGroup {
  name: string;
  record: GroupRecord;
  pending: Map<number, PendingRecord>;
  /** Seqs above the floor the group has settled (out-of-order acks while other groups still need the message). */
  done: Set<number>;
}

/**
 * What the engine's index keeps of a message (message-index.ts): everything but the body, so recovery need not
 * read bodies. A store without `read` adds the record (it is then kept in memory).
 */
export interface LoadedMessage {
  seq: number;
  /** QueueRecord.enqueuedAt. */
  enqueuedAt: number;
  expiresAt?: number | undefined;
  /** Payload bytes. */
  size: number;
  /** hashKey(partitionKey), when the message has a key. */
  keyHash?: number | undefined;
  /** The record has `dlq` set. */
  deadLetter: boolean;
  record?: QueueRecord | undefined;
}

/** The index fields of a record (what a store keeps beside the body). */
export function loadedMessageOf(seq: number, r: QueueRecord): LoadedMessage {
  return {
    seq,
    enqueuedAt: r.enqueuedAt,
    expiresAt: r.expiresAt,
    size: r.payload.length,
    keyHash: r.partitionKey === undefined ? undefined : hashKey(r.partitionKey),
    deadLetter: r.dlq !== undefined,
  };
}

export interface LoadedQueue {
  name: string;
  nextSeq: number;
  /** In seq order; may be read lazily, page by page (the engine iterates it once, at startup). */
  messages: Iterable<LoadedMessage>;
  groups: LoadedGroup[];
}

/** A persistent session's queue subscription: the group and options to rejoin with after a restart. */
export interface MemberRecord {
  name: string;
  group: string;
  prefetch?: number | undefined;
  start?: StreamStart | undefined;
}

export interface LoadedMember {
  clientId: string;
  filter: string;
  record: MemberRecord;
}

export interface QueueStore {
  putMember(clientId: string, filter: string, record: MemberRecord): void;
  deleteMember(clientId: string, filter: string): void;
  loadMembers(): LoadedMember[];
  /** Appends a message and returns its seq (1, 2, 3 … per queue, never reused). */
  append(queue: string, record: QueueRecord): number;
  remove(queue: string, seq: number): void;
  putGroup(queue: string, group: string, record: GroupRecord): void;
  deleteGroup(queue: string, group: string): void;
  putPending(queue: string, group: string, seq: number, record: PendingRecord): void;
  deletePending(queue: string, group: string, seq: number): void;
  putDone(queue: string, group: string, seq: number): void;
  deleteDone(queue: string, group: string, seq: number): void;
  /** Removes the queue, its messages and its groups. */
  drop(queue: string): void;
  /** Everything committed, to rebuild the engine at startup. */
  load(): LoadedQueue[];
  /**
   * The body of a message appended and written (see `written`), or undefined if there is none. Optional: without
   * it the engine keeps every body in memory for as long as its message.
   */
  read?(queue: string, seq: number): QueueRecord | undefined;
  /**
   * Resolves once everything given to the store so far is written, so `read` finds it — without hurrying the
   * write (unlike `commit` in sync mode). Optional: `commit` is used instead.
   */
  written?(): Promise<void>;
  /** Resolves at the durability point of everything written so far. */
  commit(): Promise<void>;
  /** True when writes survive a restart (the broker then delays acknowledgements until commit()). */
  readonly durable: boolean;
}

interface MemQueue {
  nextSeq: number;
  messages: Map<number, QueueRecord>;
  groups: Map<string, { record: GroupRecord; pending: Map<number, PendingRecord>; done: Set<number> }>;
}

/**
 * In-memory QueueStore: no durability, but `load()` returns what was written, so unit tests can restart an engine
 * on it. Records are copied on the way in and out, like a real store.
 */
export class MemoryQueueStore implements QueueStore {
  readonly durable = false;
  readonly #queues = new Map<string, MemQueue>();
  readonly #members = new Map<string, LoadedMember>();
  /** Writes counted, for tests that check what a step wrote. */
  writes = 0;

  #q(queue: string): MemQueue {
    let q = this.#queues.get(queue);
    if (q === undefined) this.#queues.set(queue, (q = { nextSeq: 1, messages: new Map(), groups: new Map() }));
    return q;
  }

  #g(queue: string, group: string) {
    const q = this.#q(queue);
    let g = q.groups.get(group);
    if (g === undefined) {
      g = { record: { floor: 0, createdAt: 0 }, pending: new Map(), done: new Set() };
      q.groups.set(group, g);
    }
    return g;
  }

  putMember(clientId: string, filter: string, record: MemberRecord): void {
    this.writes++;
    this.#members.set(JSON.stringify([clientId, filter]), { clientId, filter, record: { ...record } });
  }

  deleteMember(clientId: string, filter: string): void {
    this.writes++;
    this.#members.delete(JSON.stringify([clientId, filter]));
  }

  loadMembers(): LoadedMember[] {
    return [...this.#members.values()].map((m) => ({ ...m, record: { ...m.record } }));
  }

  append(queue: string, record: QueueRecord): number {
    this.writes++;
    const q = this.#q(queue);
    const seq = q.nextSeq++;
    q.messages.set(seq, { ...record });
    return seq;
  }

  remove(queue: string, seq: number): void {
    this.writes++;
    const q = this.#queues.get(queue);
    if (q === undefined) return;
    q.messages.delete(seq);
  }

  putGroup(queue: string, group: string, record: GroupRecord): void {
    this.writes++;
    this.#g(queue, group).record = { ...record };
  }

  deleteGroup(queue: string, group: string): void {
    this.writes++;
    this.#queues.get(queue)?.groups.delete(group);
  }

  putPending(queue: string, group: string, seq: number, record: PendingRecord): void {
    this.writes++;
    this.#g(queue, group).pending.set(seq, { ...record });
  }

  deletePending(queue: string, group: string, seq: number): void {
    this.writes++;
    this.#queues.get(queue)?.groups.get(group)?.pending.delete(seq);
  }

  putDone(queue: string, group: string, seq: number): void {
    this.writes++;
    this.#g(queue, group).done.add(seq);
  }

  deleteDone(queue: string, group: string, seq: number): void {
    this.writes++;
    this.#queues.get(queue)?.groups.get(group)?.done.delete(seq);
  }

  drop(queue: string): void {
    this.writes++;
    this.#queues.delete(queue);
  }

  read(queue: string, seq: number): QueueRecord | undefined {
    const r = this.#queues.get(queue)?.messages.get(seq);
    return r === undefined ? undefined : { ...r };
  }

  written(): Promise<void> {
    return Promise.resolve();
  }

  load(): LoadedQueue[] {
    return [...this.#queues].map(([name, q]) => ({
      name,
      nextSeq: q.nextSeq,
      messages: [...q.messages].sort((a, b) => a[0] - b[0]).map(([seq, record]) => loadedMessageOf(seq, record)),
      groups: [...q.groups].map(([gname, g]) => ({
        name: gname,
        record: { ...g.record },
        pending: new Map([...g.pending].map(([s, p]) => [s, { ...p }])),
        done: new Set(g.done),
      })),
    }));
  }

  commit(): Promise<void> {
    return Promise.resolve();
  }
}
