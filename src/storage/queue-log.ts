// Durable queue logs over the engine's batch (the `queues` concern of Storage). An entry appended with append() is
// a reference to a message body stored once in `msg` (reference counted with the sessions' references), so a
// message routed to a queue and to persistent sessions, or moved to a dead-letter log, is never copied. An entry
// appended with appendMessage() (the queue engine's own bodies) holds its body inside (schema 4): one record per
// message, no count. Seqs are assigned densely and never reused; entries leave individually (ack, remove, move)
// or by prefix (deleteUpTo).
//
// Consumer groups: each has a cursor (the next seq it hands out) and pending entries (handed out, not yet
// acknowledged: delivery count, next-visible time, consumer). Everything is decided from the in-memory indexes,
// so every call is synchronous and only appends ops to the current batch: calls made in one synchronous run
// (e.g. ack + move to a dead-letter log + append) are committed in one transaction.
//
// Deferred writes (the hot path of a durable queue: append with its body, deliver, ack) are queue-log-deferred.ts:
// appendMessage and every pending-entry change push nothing when called, and are written at the batch's cut as
// their net effect.
import { newGroup, newLog } from "./engine-state.ts";
import type { EngineHost, GroupState, LogState } from "./engine-state.ts";
import { Space, keyText } from "./keys.ts";
import { decodeLogEntry, decodeMessage, encodeBodyEntry, encodeLogEntry, encodeMessage } from "./records.ts";
import { DeferredQueueWrites, FIRST, isFirst } from "./queue-log-deferred.ts";
import { BODY_INSIDE } from "./seq-index.ts";
import type { MessageRefs } from "./refs.ts";
import type { QueueLogStore } from "./storage.ts";
import type {
  MessageId,
  PendingEntry,
  QueueEntryMeta,
  QueueGroupInfo,
  QueueLogEntry,
  QueueLogInfo,
  QueueLogRef,
  StoredMessage,
} from "./types.ts";
import { checkQos, invalid } from "./validate.ts";

function checkSeq(seq: number, what: string): void {
  if (!Number.isSafeInteger(seq) || seq < 1) throw invalid(`${what}: seq ${seq} is not a positive integer`);
}

export class EngineQueueLogs implements QueueLogStore {
  readonly #h: EngineHost;
  readonly #refs: MessageRefs;
  /** keyText(queue) → log. */
  readonly #logs: Map<string, LogState>;
  /** Appends and pending-entry changes held back until the cut (queue-log-deferred.ts). */
  readonly #deferred: DeferredQueueWrites;
  /** The last log and group looked up by name (a broker's queue traffic is mostly one queue, one group). */
  #lastName: string | undefined;
  #lastLog: LogState | undefined;
  #lastGroupLog: LogState | undefined;
  #lastGroupName: string | undefined;
  #lastGroup: GroupState | undefined;

  constructor(host: EngineHost, refs: MessageRefs, logs: Map<string, LogState>) {
    this.#h = host;
    this.#refs = refs;
    this.#logs = logs;
    this.#deferred = new DeferredQueueWrites(host);
  }

  #log(queue: string, create: boolean): LogState | undefined {
    this.#h.check();
    if (queue === this.#lastName) return this.#lastLog;
    const key = keyText(queue);
    let st = this.#logs.get(key);
    if (st === undefined && create) {
      this.#logs.set(key, (st = newLog(queue)));
      this.#writeMeta(st, true);
    }
    if (st !== undefined) {
      this.#lastName = queue;
      this.#lastLog = st;
    }
    return st;
  }

  #groupOf(st: LogState, group: string): GroupState | undefined {
    if (st === this.#lastGroupLog && group === this.#lastGroupName) return this.#lastGroup;
    const g = st.groups.get(keyText(group));
    if (g !== undefined) {
      this.#lastGroupLog = st;
      this.#lastGroupName = group;
      this.#lastGroup = g;
    }
    return g;
  }

  /** A log or group went: forget the lookups that may point at it. */
  #uncache(): void {
    this.#lastName = this.#lastGroupName = undefined;
    this.#lastLog = this.#lastGroupLog = undefined;
    this.#lastGroup = undefined;
  }

  #writeMeta(st: LogState, fresh: boolean): void {
    this.#h.elider.put(Space.QueueMeta, ["", st.key], { n: st.name, f: st.tail }, fresh);
  }

  #group(queue: string, group: string): { st: LogState; g: GroupState } {
    const st = this.#log(queue, false);
    const g = st === undefined ? undefined : this.#groupOf(st, group);
    if (st === undefined || g === undefined) throw invalid(`queue ${queue} has no consumer group ${group}`);
    return { st, g };
  }

  /** Pushes every deferred write (the committer's beforeFlush: the batch is about to be cut). */
  materialize(): void {
    this.#deferred.materialize();
  }

  /** The logs' states (the snapshot writer's input, at close). */
  states(): Iterable<LogState> {
    return this.#logs.values();
  }

  // ---- entries ---------------------------------------------------------------------------------------------

  append(queue: string, messageId: MessageId, meta?: QueueEntryMeta): number {
    this.#h.check();
    this.#refs.incref(messageId); // first: throws for an unknown message before anything changes
    return this.#add(this.#log(queue, true)!, messageId, meta);
  }

  appendMessage(queue: string, message: StoredMessage, meta?: QueueEntryMeta, appendedAt?: number): number {
    this.#h.check();
    checkQos(message.qos, "message");
    if (appendedAt !== undefined && !Number.isFinite(appendedAt))
      throw invalid(`appendedAt ${appendedAt} is not a time`);
    const st = this.#log(queue, true)!;
    st.startup = false;
    const seq = st.next++;
    const at = appendedAt ?? this.#h.now();
    st.entries.set(seq, BODY_INSIDE, at, meta);
    st.unwritten.set(seq, { message, appendedAt: at, meta });
    this.#deferred.appended(st);
    return seq;
  }

  #add(st: LogState, messageId: MessageId, meta?: QueueEntryMeta): number {
    st.startup = false;
    const seq = st.next++;
    const at = this.#h.now();
    st.entries.set(seq, messageId, at, meta);
    const value = encodeLogEntry(messageId, at, meta);
    this.#h.elider.put(Space.QueueLog, [st.key, seq], value, true); // a new seq
    return seq;
  }

  /** Deletes entry `seq` (known to exist) and its pending entries, and releases its body (unless `keepRef`). */
  #delete(st: LogState, seq: number, keepRef = false): void {
    const id = st.entries.get(seq)!;
    st.startup = false;
    st.entries.delete(seq);
    for (const g of st.groups.values()) this.#deferred.dropPending(st, g, seq);
    if (st.unwritten.delete(seq)) {
      // Appended since the cut (its body inside): nothing was pushed, so nothing is written for it.
      this.#h.defer(-1);
    } else {
      if (st.lastCut.size > 0) st.lastCut.delete(seq);
      this.#h.elider.remove(Space.QueueLog, [st.key, seq]);
      if (!keepRef && id !== BODY_INSIDE) this.#refs.decref(id);
    }
    // The newest entry gone: remember its seq, or a restart would hand it out again (groups' cursors are past it).
    if (seq === st.next - 1 && st.tail < seq) {
      st.tail = seq;
      this.#writeMeta(st, false);
    }
  }

  read(queue: string, fromSeq: number, limit: number): QueueLogEntry[] {
    this.#h.check();
    const out: QueueLogEntry[] = [];
    for (const e of this.#h.kv.range(Space.QueueLog, keyText(queue), fromSeq, limit)) {
      const { messageId, body, appendedAt, meta } = decodeLogEntry(e.value);
      const raw = body ?? (messageId === undefined ? undefined : this.#h.kv.get(Space.Message, ["", messageId]));
      if (raw === undefined) continue; // repaired at the next open
      out.push({ seq: Number(e.key[1]), messageId, message: decodeMessage(raw), appendedAt, meta });
    }
    return out;
  }

  scan(queue: string, fromSeq: number, limit: number): QueueLogRef[] {
    this.#h.check();
    const st = this.#logs.get(keyText(queue));
    // Right after open the index is what is committed (append times and metas included): no read, no decoding.
    if (st?.startup === true) {
      const page: QueueLogRef[] = st.entries.slice(fromSeq, limit);
      for (const e of page) if (e.messageId === BODY_INSIDE) e.messageId = undefined;
      return page;
    }
    const out: QueueLogRef[] = [];
    for (const e of this.#h.kv.range(Space.QueueLog, keyText(queue), fromSeq, limit)) {
      const { messageId, body, appendedAt, meta } = decodeLogEntry(e.value);
      if (messageId === undefined && body === undefined) continue; // pre-release inline: converted at open
      out.push({ seq: Number(e.key[1]), messageId, appendedAt, meta });
    }
    return out;
  }

  has(queue: string, seq: number): boolean {
    return this.#log(queue, false)?.entries.has(seq) ?? false;
  }

  remove(queue: string, seq: number): boolean {
    const st = this.#log(queue, false);
    if (st === undefined || !st.entries.has(seq)) return false;
    this.#delete(st, seq);
    return true;
  }

  move(queue: string, seq: number, to: string): number {
    const st = this.#log(queue, false);
    const id = st?.entries.get(seq);
    if (st === undefined || id === undefined) throw invalid(`queue ${queue} has no entry ${seq}`);
    if (id === BODY_INSIDE) {
      // The body goes with the entry: into the new entry, in the same batch as the removal of this one (not yet
      // written: from memory; its batch maybe still in flight: from the last cut's; else read back).
      const body = (st.unwritten.get(seq) ?? st.lastCut.get(seq))?.message ?? this.read(queue, seq, 1)[0]?.message;
      if (body === undefined) throw invalid(`queue ${queue}: entry ${seq} has no readable body`);
      this.#delete(st, seq);
      const dest = this.#log(to, true)!;
      dest.startup = false;
      const s = dest.next++;
      const at = this.#h.now();
      dest.entries.set(s, BODY_INSIDE, at);
      this.#h.elider.put(Space.QueueLog, [dest.key, s], encodeBodyEntry(encodeMessage(body), at), true);
      return s;
    }
    // The body keeps its reference throughout (never copied, never at count zero).
    this.#delete(st, seq, true);
    return this.#add(this.#log(to, true)!, id);
  }

  deleteUpTo(queue: string, seq: number): void {
    const st = this.#log(queue, false);
    if (st === undefined) return;
    // Entries are in seq order: stop at the first one past `seq`. Cost: one delete per entry removed.
    for (const s of st.entries.keys()) {
      if (s > seq) break;
      this.#delete(st, s);
    }
  }

  length(queue: string): number {
    return this.#log(queue, false)?.entries.size ?? 0;
  }

  list(): QueueLogInfo[] {
    this.#h.check();
    return [...this.#logs.values()].map((st) => ({
      name: st.name,
      firstSeq: firstSeq(st),
      nextSeq: st.next,
      length: st.entries.size,
    }));
  }

  drop(queue: string): void {
    const st = this.#log(queue, false);
    if (st === undefined) return;
    this.#deferred.materializeLog(st);
    this.#uncache();
    for (const [seq, id] of st.entries) {
      this.#h.elider.remove(Space.QueueLog, [st.key, seq]);
      if (id !== BODY_INSIDE) this.#refs.decref(id);
    }
    for (const g of st.groups.values()) this.#dropGroup(st, g);
    this.#h.elider.remove(Space.QueueMeta, ["", st.key]);
    this.#logs.delete(st.key);
  }

  // ---- consumer groups -------------------------------------------------------------------------------------

  groups(queue: string): QueueGroupInfo[] {
    const st = this.#log(queue, false);
    if (st === undefined) return [];
    return [...st.groups.values()].map((g) => ({ name: g.name, cursor: g.cursor, pending: g.pending.size }));
  }

  cursor(queue: string, group: string): number | undefined {
    const st = this.#log(queue, false);
    return st === undefined ? undefined : this.#groupOf(st, group)?.cursor;
  }

  setCursor(queue: string, group: string, seq: number): void {
    this.#h.check();
    checkSeq(seq, "cursor");
    const st = this.#log(queue, true)!;
    const key = keyText(group);
    let g = st.groups.get(key);
    if (g === undefined) st.groups.set(key, (g = newGroup(queue, group, seq)));
    g.cursor = seq;
    // Written at the cut: repeated cursor moves within one batch cost one write per group per batch.
    this.#deferred.touchGroup(st, g);
  }

  dropGroup(queue: string, group: string): void {
    const st = this.#log(queue, false);
    const g = st?.groups.get(keyText(group));
    if (st !== undefined && g !== undefined) this.#dropGroup(st, g);
  }

  #dropGroup(st: LogState, g: GroupState): void {
    this.#deferred.materializeGroup(st, g);
    this.#uncache();
    g.keyed.forEach((_, seq) => this.#h.elider.remove(Space.QueuePending, [g.pendingKey, seq]));
    this.#h.elider.remove(Space.QueueGroup, [st.key, g.key]);
    st.groups.delete(g.key);
  }

  putPending(queue: string, group: string, entry: PendingEntry): void {
    this.#h.check();
    const { st, g } = this.#group(queue, group);
    if (!st.entries.has(entry.seq)) throw invalid(`queue ${queue} has no entry ${entry.seq}`);
    if (!Number.isSafeInteger(entry.deliveries) || entry.deliveries < 0)
      throw invalid(`pending entry ${entry.seq}: delivery count ${entry.deliveries} is not a count`);
    if (!Number.isFinite(entry.visibleAt)) throw invalid(`pending entry ${entry.seq}: visibleAt is not a time`);
    let p = FIRST; // a first delivery (nearly every entry): one shared value, no copy per delivery
    if (!isFirst(entry)) {
      p = { seq: entry.seq, deliveries: entry.deliveries, visibleAt: entry.visibleAt };
      if (entry.consumer !== undefined) p.consumer = entry.consumer;
    }
    this.#deferred.touchPending(st, g, entry.seq);
    g.pending.set(entry.seq, p);
  }

  getPending(queue: string, group: string, seq: number): PendingEntry | undefined {
    const st = this.#log(queue, false);
    const p = st === undefined ? undefined : this.#groupOf(st, group)?.pending.get(seq);
    return p === undefined ? undefined : { ...p, seq };
  }

  pending(queue: string, group: string): PendingEntry[] {
    const st = this.#log(queue, false);
    const g = st === undefined ? undefined : this.#groupOf(st, group);
    if (g === undefined) return [];
    const out: PendingEntry[] = [];
    g.pending.forEach((p, seq) => out.push({ ...p, seq })); // ascending; a shared FIRST value gets its seq here
    return out;
  }

  removePending(queue: string, group: string, seq: number): boolean {
    const st = this.#log(queue, false);
    const g = st === undefined ? undefined : this.#groupOf(st, group);
    return st !== undefined && g !== undefined && this.#deferred.dropPending(st, g, seq);
  }

  ack(queue: string, group: string, seq: number): boolean {
    const st = this.#log(queue, false);
    if (st === undefined) return false;
    const had = this.removePending(queue, group, seq);
    if (!st.entries.has(seq)) return had;
    // Deleted once no group needs it: every group's cursor is past it and no group has it pending.
    for (const g of st.groups.values()) if (g.cursor <= seq || g.pending.has(seq)) return had;
    this.#delete(st, seq);
    return true;
  }
}

function firstSeq(st: LogState): number {
  for (const seq of st.entries.keys()) return seq;
  return st.next;
}
