// Startup: rebuild the engine's indexes from a backend and audit reference counts (and say how to repair them).
import { corruptError } from "./errors.ts";
import { newClient, newGroup, newLog } from "./engine-state.ts";
import type { ClientState, GroupState, LogState } from "./engine-state.ts";
import { Space, isHashedKey, keyText } from "./keys.ts";
import type { Key, SpaceName } from "./keys.ts";
import type { KvBackend, KvEntry, KvOp } from "./kv.ts";
import {
  CorruptRecordError,
  decodeInbound,
  decodeGroup,
  decodeInflight,
  decodeLogEntry,
  decodePending,
  decodeQueueMeta,
  decodeQueued,
  decodeRefcount,
  decodeRetained,
  decodeSession,
  decodeSubscription,
  decodeWill,
  encodeLogEntry,
} from "./records.ts";
import { RefCounts } from "./ref-counts.ts";
import { BODY_INSIDE, PAGE } from "./seq-index.ts";
import type { LoadedSnapshot } from "./snapshot.ts";
import type { MessageId, OpenReport } from "./types.ts";

export interface Indexes {
  clients: Map<string, ClientState>;
  /** Live reference counts (recounted from the references). */
  refs: RefCounts;
  /** Messages with a stored count record (no record means a count of 1). */
  counted: Set<MessageId>;
  retained: Map<string, MessageId>;
  logs: Map<string, LogState>;
  nextMessageId: number;
  /** Ops that make the stored counts match the references (empty for a consistent store). */
  repairs: KvOp[];
  report: OpenReport;
  /** The queue logs and message keys came from the index snapshot (snapshot.ts), not from a scan. */
  fromSnapshot: boolean;
}

/** Runs `fn` over a space's entries, turning a malformed value into STORAGE_CORRUPT naming where it is. */
function each(kv: KvBackend, path: string | undefined, space: SpaceName, fn: (e: KvEntry) => void): void {
  for (const e of kv.entries(space)) {
    try {
      fn(e);
    } catch (err) {
      if (err instanceof CorruptRecordError) {
        throw corruptError(path, `${space} entry ${JSON.stringify(e.key)}: ${err.message}`, err);
      }
      throw err;
    }
  }
}

function numericId(path: string | undefined, space: SpaceName, key: Key): number {
  const id = key[1];
  if (typeof id !== "number" || !Number.isSafeInteger(id))
    throw corruptError(path, `${space} key ${JSON.stringify(key)} is not numeric`);
  return id;
}

/**
 * Rebuilds the indexes. First optimistically (fastIndexes: one pass over the references, then message keys and
 * stored counts merged in id order, no per-message Set or Map besides the live counts), which is all a consistent
 * store needs; at the first sign of anything to repair it starts over with the full audit below, which says what
 * to repair. At 1 M queued messages the fast path does about half the hash-table work and allocates no
 * id-sized temporary sets.
 */
export function loadIndexes(kv: KvBackend, path: string | undefined, snapshot?: LoadedSnapshot): Indexes {
  return (
    (snapshot === undefined ? undefined : fastIndexes(kv, path, snapshot)) ??
    fastIndexes(kv, path) ??
    auditedIndexes(kv, path)
  );
}

/** What the reference-holding spaces rebuild (both paths share it). */
interface Scanned {
  clients: Map<string, ClientState>;
  retained: Map<string, MessageId>;
  logs: Map<string, LogState>;
}

/**
 * Scans every space that references message bodies or belongs to a client or queue log. `ref` counts a reference
 * (false: drop the entry); `inline` stores a pre-release inline log body and returns its new id; stray pending
 * entries are listed in `repairs`.
 */
function scanReferences(
  kv: KvBackend,
  path: string | undefined,
  ref: (id: MessageId, space: SpaceName, key: Key) => boolean,
  inline: (e: ReturnType<typeof decodeLogEntry>, key: Key) => MessageId,
  repairs: KvOp[],
  snapshot?: LoadedSnapshot,
): Scanned {
  const clients = new Map<string, ClientState>();
  const client = (group: string, carried: string | undefined, space: SpaceName): ClientState => {
    let c = clients.get(group);
    if (c === undefined) {
      const clientId = carried ?? group;
      if (keyText(clientId) !== group)
        throw corruptError(path, `${space} group ${JSON.stringify(group)} does not match its client id`);
      clients.set(group, (c = newClient(clientId)));
    }
    return c;
  };

  each(kv, path, Space.Queue, ({ key, value }) => {
    const seq = numericId(path, Space.Queue, key);
    const q = decodeQueued(seq, value);
    const c = client(key[0], q.clientId, Space.Queue);
    c.nextSeq = Math.max(c.nextSeq, seq + 1);
    if (ref(q.messageId, Space.Queue, key)) c.queue.set(seq, q.messageId);
  });
  each(kv, path, Space.Inflight, ({ key, value }) => {
    const { clientId, ...m } = decodeInflight(numericId(path, Space.Inflight, key), value);
    const c = client(key[0], clientId, Space.Inflight);
    c.nextSeq = Math.max(c.nextSeq, m.order + 1);
    if (m.messageId === undefined || ref(m.messageId, Space.Inflight, key)) c.inflight.set(m.packetId, m);
  });
  each(kv, path, Space.Inbound, ({ key, value }) => {
    client(key[0], decodeInbound(value).clientId, Space.Inbound).inbound.add(numericId(path, Space.Inbound, key));
  });
  each(kv, path, Space.Subscription, ({ key, value }) => {
    client(key[0], decodeSubscription(value).clientId, Space.Subscription).subs.add(String(key[1]));
  });
  each(kv, path, Space.Session, ({ key, value }) => {
    client(String(key[1]), decodeSession(value).clientId, Space.Session).session = true;
  });
  each(kv, path, Space.Will, ({ key, value }) => {
    client(String(key[1]), decodeWill(value).clientId, Space.Will).will = true;
  });
  const retained = new Map<string, MessageId>();
  each(kv, path, Space.Retained, ({ key, value }) => {
    const r = decodeRetained(value);
    if (ref(r.messageId, Space.Retained, key)) retained.set(String(key[1]), r.messageId);
  });
  const logs = new Map<string, LogState>();
  const log = (group: string, space: SpaceName): LogState => {
    let st = logs.get(group);
    if (st === undefined) {
      // Every log has a qmeta record written with its first entry or group; without it the name is the key.
      if (isHashedKey(group)) throw corruptError(path, `${space} group ${JSON.stringify(group)} has no queue meta`);
      logs.set(group, (st = newLog(group)));
    }
    return st;
  };
  each(kv, path, Space.QueueMeta, ({ key, value }) => {
    const { name, tail } = decodeQueueMeta(value);
    const st = newLog(name);
    if (st.key !== key[1]) throw corruptError(path, `qmeta key ${JSON.stringify(key)} does not match its name`);
    st.tail = tail;
    st.next = tail + 1;
    logs.set(st.key, st);
  });
  if (snapshot !== undefined) {
    // The logs' entries as the last clean close left them (validated in snapshot.ts): no entry is read.
    for (const [key, entries] of snapshot.logs) {
      if (!logs.has(key) && isHashedKey(key)) throw new Bail("a snapshot log without its meta");
      const st = log(key, Space.QueueLog);
      st.entries = entries;
      st.startup = true;
      for (const page of entries.pages()) {
        const base = page.index * PAGE;
        const ids = page.ids;
        for (let o = 0; o < PAGE; o++) {
          const id = ids[o]!;
          if (Number.isNaN(id)) continue;
          st.next = Math.max(st.next, base + o + 1);
          if (id === BODY_INSIDE) continue;
          if (!ref(id, Space.QueueLog, [key, base + o])) throw new Bail("dangling reference");
        }
      }
    }
  } else
    each(kv, path, Space.QueueLog, ({ key, value }) => {
      const seq = numericId(path, Space.QueueLog, key);
      const st = log(key[0], Space.QueueLog);
      st.next = Math.max(st.next, seq + 1);
      const e = decodeLogEntry(value);
      if (e.body !== undefined) {
        // Its own body inside: no reference to count (BODY_INSIDE in the index).
        st.entries.set(seq, BODY_INSIDE, e.appendedAt, e.meta);
        st.startup = true;
        return;
      }
      let id = e.messageId;
      if (id === undefined) id = inline(e, key);
      if (ref(id, Space.QueueLog, key)) {
        st.entries.set(seq, id, e.appendedAt, e.meta);
        st.startup = true;
      }
    });
  const groupsByPendingKey = new Map<string, GroupState>();
  const firsts = new Map<GroupState, number[]>();
  each(kv, path, Space.QueueGroup, ({ key, value }) => {
    const st = log(key[0], Space.QueueGroup);
    const { name, cursor, first } = decodeGroup(value);
    const g = newGroup(st.name, name, cursor);
    st.groups.set(g.key, g);
    groupsByPendingKey.set(g.pendingKey, g);
    if (first.length > 0) firsts.set(g, first);
  });
  each(kv, path, Space.QueuePending, ({ key, value }) => {
    const seq = numericId(path, Space.QueuePending, key);
    const g = groupsByPendingKey.get(key[0]);
    // A pending entry outlives its group or entry only by a bug: drop it rather than refuse the store.
    if (g === undefined) repairs.push({ space: Space.QueuePending, key, remove: true });
    else {
      g.pending.set(seq, decodePending(seq, value));
      g.keyed.set(seq, true);
    }
  });
  for (const st of logs.values()) {
    for (const g of st.groups.values()) {
      for (const seq of g.pending.keys()) {
        if (st.entries.has(seq)) continue;
        g.pending.delete(seq);
        g.keyed.delete(seq);
        repairs.push({ space: Space.QueuePending, key: [g.pendingKey, seq], remove: true });
      }
      // First deliveries in flight (the group record's list, schema 3): delivered once, visible at once. A seq
      // with a record of its own keeps that; one whose entry is gone is skipped (the list is rewritten with the
      // group's next write; a batch removes both together, so only a bug leaves one).
      for (const seq of firsts.get(g) ?? []) {
        if (st.entries.has(seq) && !g.pending.has(seq)) g.pending.set(seq, { seq, deliveries: 1, visibleAt: 0 });
      }
    }
  }

  return { clients, retained, logs };
}

class Bail extends Error {}

/**
 * The indexes of a consistent store, or undefined at the first thing to repair (then the audit runs). References
 * are counted in one pass; then message keys and stored counts, both in id order, are merged against the counts:
 * every message referenced exactly as often as its stored count says, no count without a message, as many
 * messages as referenced ids (so no reference to a missing body).
 */
function fastIndexes(kv: KvBackend, path: string | undefined, snapshot?: LoadedSnapshot): Indexes | undefined {
  const refs = new RefCounts();
  let references = 0;
  const repairs: KvOp[] = [];
  const ref = (id: MessageId): boolean => {
    refs.increment(id);
    references++;
    return true;
  };
  let scanned: Scanned;
  try {
    scanned = scanReferences(
      kv,
      path,
      ref,
      () => {
        throw new Bail("inline body");
      },
      repairs,
      snapshot,
    );
  } catch (e) {
    if (e instanceof Bail) return undefined;
    throw e;
  }
  if (repairs.length > 0) return undefined;
  if (snapshot !== undefined) return snapshotIndexes(kv, scanned, refs, references, snapshot);
  // Count records exist only for counts other than 1 (and in stores written before that rule, for 1 too).
  const counts = kv.entries(Space.Refcount)[Symbol.iterator]();
  const counted = new Set<MessageId>();
  let messages = 0;
  let maxId = 0;
  try {
    let c = counts.next();
    for (const key of kv.keys(Space.Message)) {
      const id = key[1];
      if (typeof id !== "number") return undefined;
      const n = refs.get(id);
      if (n === undefined) return undefined; // an orphan body
      let stored = 1;
      if (c.done !== true) {
        const cid = c.value.key[1];
        if (typeof cid !== "number" || cid < id) return undefined; // a count without its body
        if (cid === id) {
          stored = c.value.value as number;
          counted.add(id);
          c = counts.next();
        }
      }
      if (stored !== n) return undefined;
      messages++;
      if (id > maxId) maxId = id;
    }
    if (c.done !== true || messages !== refs.size) return undefined;
  } finally {
    counts.return?.();
  }
  const report: OpenReport = {
    messages,
    references,
    refcountMismatches: 0,
    orphanMessages: 0,
    danglingReferences: 0,
    repaired: false,
  };
  return { ...scanned, refs, counted, nextMessageId: maxId + 1, repairs, report, fromSnapshot: false };
}

/**
 * The rest of the fast path when the logs came from the snapshot: the message keys are not walked (the snapshot
 * recorded their count, checked against the store), but the stored count records still must match the
 * references recounted from the restored ids (both ways), else the caller scans.
 */
function snapshotIndexes(
  kv: KvBackend,
  scanned: Scanned,
  refs: RefCounts,
  references: number,
  snapshot: LoadedSnapshot,
): Indexes | undefined {
  const counted = new Set<MessageId>();
  for (const { key, value } of kv.entries(Space.Refcount)) {
    const id = key[1];
    if (typeof id !== "number" || typeof value !== "number" || refs.get(id) !== value) return undefined;
    counted.add(id);
  }
  for (const [id] of refs.multiples()) if (!counted.has(id)) return undefined;
  if (refs.size !== snapshot.messages || kv.count(Space.Message) !== snapshot.messages) return undefined;
  const lastId = kv.lastId(Space.Message, "") ?? 0;
  if (lastId >= snapshot.nextId) return undefined;
  const report: OpenReport = {
    messages: snapshot.messages,
    references,
    refcountMismatches: 0,
    orphanMessages: 0,
    danglingReferences: 0,
    repaired: false,
  };
  return {
    ...scanned,
    refs,
    counted,
    nextMessageId: snapshot.nextId,
    repairs: [],
    report,
    fromSnapshot: true,
  };
}

/** The full audit: every inconsistency counted and its repair listed. */
function auditedIndexes(kv: KvBackend, path: string | undefined): Indexes {
  const messageIds = new Set<MessageId>();
  let maxId = 0;
  for (const key of kv.keys(Space.Message)) {
    const id = numericId(path, Space.Message, key);
    messageIds.add(id);
    maxId = Math.max(maxId, id);
  }
  const stored = new Map<MessageId, number>();
  each(kv, path, Space.Refcount, (e) => stored.set(numericId(path, Space.Refcount, e.key), decodeRefcount(e.value)));

  const refs = new RefCounts();
  const repairs: KvOp[] = [];
  let references = 0;
  let dangling = 0;
  /** Counts a reference; false (and the entry is to be dropped) if its message is missing. */
  const ref = (id: MessageId, space: SpaceName, key: Key): boolean => {
    if (!messageIds.has(id)) {
      dangling++;
      repairs.push({ space, key, remove: true });
      return false;
    }
    refs.increment(id);
    references++;
    return true;
  };

  let nextId = maxId + 1;
  const { clients, retained, logs } = scanReferences(
    kv,
    path,
    ref,
    (e, key) => {
      // Pre-release inline body: store it once and reference it, in the repair batch.
      const id = nextId++;
      messageIds.add(id);
      repairs.push({ space: Space.Message, key: ["", id], value: e.inline });
      repairs.push({ space: Space.QueueLog, key, value: encodeLogEntry(id, e.appendedAt, e.meta) });
      return id;
    },
    repairs,
  );

  // Audit: every message must have exactly as many references as its stored count says (no record: 1).
  let refcountMismatches = 0;
  let orphanMessages = 0;
  const counted = new Set<MessageId>();
  for (const [id, n] of refs) {
    const s = stored.get(id);
    if ((s ?? 1) === n) {
      if (s !== undefined) counted.add(id);
      continue;
    }
    refcountMismatches++;
    if (n === 1) repairs.push({ space: Space.Refcount, key: ["", id], remove: true });
    else {
      repairs.push({ space: Space.Refcount, key: ["", id], value: n });
      counted.add(id);
    }
  }
  for (const id of messageIds) {
    if (refs.has(id)) continue;
    orphanMessages++;
    repairs.push({ space: Space.Message, key: ["", id], remove: true });
  }
  for (const id of stored.keys()) {
    if (refs.has(id)) continue;
    if (!messageIds.has(id)) refcountMismatches++;
    repairs.push({ space: Space.Refcount, key: ["", id], remove: true });
  }
  const report: OpenReport = {
    messages: messageIds.size,
    references,
    refcountMismatches,
    orphanMessages,
    danglingReferences: dangling,
    repaired: repairs.length > 0,
  };
  return { clients, refs, counted, retained, logs, nextMessageId: nextId, repairs, report, fromSnapshot: false };
}
