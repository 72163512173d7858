// The engine's in-memory indexes: just enough to decide every write without reading the backend (which only
// shows committed batches). Rebuilt from the backend at open (engine-load.ts).
import type { Elider } from "./elide.ts";
import { isHashedKey, keyText, pendingGroupKey } from "./keys.ts";
import type { Key, SpaceName } from "./keys.ts";
import type { KvBackend } from "./kv.ts";
import { SeqMap } from "../util/seq-map.ts";
import { SeqIndex } from "./seq-index.ts";
import type { InflightMessage, MessageId, PendingEntry, QueueEntryMeta, StoredMessage } from "./types.ts";

/** A queue message appended with its body (appendMessage) and not yet in any batch: written at the cut if it lives. */
export interface UnwrittenEntry {
  readonly message: StoredMessage;
  readonly appendedAt: number;
  readonly meta: QueueEntryMeta | undefined;
}

export interface ClientState {
  readonly clientId: string;
  /** keyText(clientId): the group of the client's per-client keys. */
  readonly key: string;
  /** The client id when its key is hashed (per-client values must then carry it), else undefined. */
  readonly carry: string | undefined;
  /** Offline queue: seq → message, in seq order. */
  readonly queue: Map<number, MessageId>;
  /** Inflight by packet id (bounded by the inflight window, so whole records are kept). */
  readonly inflight: Map<number, InflightMessage>;
  readonly inbound: Set<number>;
  /** Keys (keyText) of the subscription filters. */
  readonly subs: Set<string>;
  session: boolean;
  will: boolean;
  /** Next queue seq / inflight order. */
  nextSeq: number;
}

export function newClient(clientId: string): ClientState {
  const key = keyText(clientId);
  return {
    clientId,
    key,
    carry: isHashedKey(key) ? clientId : undefined,
    queue: new Map(),
    inflight: new Map(),
    inbound: new Set(),
    subs: new Set(),
    session: false,
    will: false,
    nextSeq: 1,
  };
}

/** A durable queue log (queue-log.ts). */
export interface LogState {
  readonly name: string;
  /** keyText(name). */
  readonly key: string;
  /** Entries: seq → message id, in seq order (appends only ever add the largest seq). Replaced only at open. */
  entries: SeqIndex;
  /** Seq the next append gets. */
  next: number;
  /** Highest seq removed at the tail as stored in qmeta: after a restart next = max(last entry, tail) + 1. */
  tail: number;
  /** Consumer groups by keyText(name). */
  readonly groups: Map<string, GroupState>;
  /**
   * True from open until the log first changes: `entries` (append times and metas included) is then exactly what
   * is committed, so `scan` is served from it instead of reading and decoding the log a second time (at 1 M
   * entries that is ~2 s of CPU).
   */
  startup: boolean;
  /** Appends (appendMessage) since the last batch was cut, by seq: nothing of them is pushed until the cut. */
  unwritten: SeqMap<UnwrittenEntry>;
  /**
   * The appends pushed at the last cut and still in the log: their batch may still be in flight (not readable
   * yet), and a batch is cut only once the previous one is written, so until the next cut move() finds the body
   * here.
   */
  lastCut: SeqMap<UnwrittenEntry>;
  /** In the queue logs' list of states with deferred writes. */
  listed: boolean;
}

export interface GroupState {
  readonly name: string;
  readonly key: string;
  /** pendingGroupKey(queue, group). */
  readonly pendingKey: string;
  cursor: number;
  /** Handed out, unacknowledged: bounded by the consumers' windows, so whole records are kept. */
  readonly pending: SeqMap<PendingEntry>;
  /** Pending entries changed since the last batch was cut (written at the cut, net effect only). */
  readonly dirty: SeqMap<boolean>;
  /**
   * Pending entries with a `qpend` record (committed or in a batch already cut). A first delivery (count 1, visible
   * at once, no consumer) has none: it is in the group record's list of first deliveries instead (queue-log.ts).
   */
  readonly keyed: SeqMap<boolean>;
  /** The group record (cursor, first deliveries) is to be written at the cut. */
  record: boolean;
  /** Ops this group counts as deferred (Committer.defer) until its writes are pushed. */
  deferred: number;
  /** In the queue logs' list of states with deferred writes. */
  listed: boolean;
}

export function newLog(name: string): LogState {
  return {
    name,
    key: keyText(name),
    entries: new SeqIndex(),
    next: 1,
    tail: 0,
    groups: new Map(),
    startup: false,
    unwritten: new SeqMap(),
    lastCut: new SeqMap(),
    listed: false,
  };
}

export function newGroup(queue: string, name: string, cursor: number): GroupState {
  return {
    name,
    key: keyText(name),
    pendingKey: pendingGroupKey(queue, name),
    cursor,
    pending: new SeqMap(),
    dirty: new SeqMap(),
    keyed: new SeqMap(),
    record: false,
    deferred: 0,
    listed: false,
  };
}

/** What each concern's implementation gets from the engine: the backend (reads), the batch (writes), the clock. */
export interface EngineHost {
  readonly kv: KvBackend;
  /** Names the store in errors. */
  readonly path: string | undefined;
  /** The batch, with elision of puts undone before it is cut (elide.ts). */
  readonly elider: Elider;
  put(space: SpaceName, key: Key, value: unknown): void;
  remove(space: SpaceName, key: Key): void;
  /** Ops kept back until the batch is cut (Committer.defer): pushed from the engine's beforeFlush. */
  defer(delta: number): void;
  now(): number;
  /** Throws STORAGE_CLOSED after close(). */
  check(): void;
}
