// The deferred writes of the queue logs (queue-log.ts; docs/storage.md "Deferred queue writes"): the hot path of a
// durable queue (append with its body, deliver, ack) pushes nothing when called. appendMessage and every
// pending-entry change are noted (LogState.unwritten, GroupState.dirty) and pushed when the batch is cut
// (materialize(), from the committer's beforeFlush), as their net effect. A message appended, delivered and
// acknowledged before the cut — most of them in `batched` mode (10 ms windows) and in `sync` while a commit is in
// flight — costs no key, no encoding and no op at all; one still there at the cut is written as if every call had
// pushed its op (same batch, same transaction, same committed state: the ops of one batch are applied together).
// The rarer calls that read or move what may be deferred (move, drop, dropGroup) push the deferred writes of that
// log first (materializeLog/materializeGroup), then proceed through the batch's elision (elide.ts).
import type { EngineHost, GroupState, LogState } from "./engine-state.ts";
import { Space } from "./keys.ts";
import { encodeBodyEntry, encodeGroup, encodeMessage, encodePending } from "./records.ts";
import type { PendingEntry } from "./types.ts";

export class DeferredQueueWrites {
  /** Logs and groups with deferred writes, pushed at the cut. */
  #listedLogs: LogState[] = [];
  #listedGroups: [LogState, GroupState][] = [];

  readonly #h: EngineHost;

  constructor(host: EngineHost) {
    this.#h = host;
  }

  /** An entry was appended to `st` (in st.unwritten): it is written at the cut unless it goes before. */
  appended(st: LogState): void {
    if (!st.listed) {
      st.listed = true;
      this.#listedLogs.push(st);
    }
    this.#h.defer(1);
  }

  /** Pushes every deferred write (the committer's beforeFlush: the batch is about to be cut). */
  materialize(): void {
    const logs = this.#listedLogs;
    const groups = this.#listedGroups;
    if (logs.length > 0) {
      this.#listedLogs = [];
      for (const st of logs) this.#writeUnwritten(st);
    }
    if (groups.length > 0) {
      this.#listedGroups = [];
      for (const [st, g] of groups) this.#writeDirty(st, g);
    }
  }

  /**
   * Pushes the log's unwritten appends (one entry each, its body inside). Straight into the batch, not through the
   * elision: each op is the key's final state so far, and an op pushed later in the same batch (a removal through
   * the elision after a mid-batch materialize) comes after it, so the batch's outcome is right either way.
   */
  #writeUnwritten(st: LogState): void {
    st.listed = false;
    const h = this.#h;
    st.unwritten.forEach((u, seq) => {
      h.put(Space.QueueLog, [st.key, seq], encodeBodyEntry(encodeMessage(u.message), u.appendedAt, u.meta));
    });
    const previous = st.lastCut;
    st.lastCut = st.unwritten;
    previous.clear();
    st.unwritten = previous;
  }

  /**
   * Pushes the net effect of the group's pending-entry changes and, when anything changed, the group record
   * (straight into the batch, as above). A first delivery in flight (isFirst) is no `qpend` record of its own: the
   * group record lists them all, rewritten once per batch (the cursor moves in nearly every batch anyway). So a
   * message delivered before a cut and acknowledged after it costs no pending-entry put and delete; only
   * redeliveries, nacks (a visible-at time) and settled markers get records. The batch is atomic, so after a crash
   * every pending entry is in exactly one of the two places: its record, or the list (a record wins at open).
   */
  #writeDirty(st: LogState, g: GroupState): void {
    g.listed = false;
    g.deferred = 0;
    const h = this.#h;
    g.dirty.forEach((_, seq) => {
      const p = g.pending.get(seq);
      if (p !== undefined && !isFirst(p)) {
        h.put(Space.QueuePending, [g.pendingKey, seq], encodePending(p));
        g.keyed.set(seq, true);
      } else if (g.keyed.delete(seq)) h.remove(Space.QueuePending, [g.pendingKey, seq]);
    });
    g.dirty.clear();
    if (g.record) {
      g.record = false;
      const first: number[] = [];
      g.pending.forEach((p, seq) => {
        if (isFirst(p) && !g.keyed.has(seq)) first.push(seq);
      });
      h.put(Space.QueueGroup, [st.key, g.key], encodeGroup(g.name, g.cursor, first));
    }
  }

  /** Pushes the deferred writes of one log and its groups now (before a call that goes through the elision). */
  materializeLog(st: LogState): void {
    if (st.listed) {
      this.#h.defer(-st.unwritten.size);
      this.#writeUnwritten(st);
      this.#listedLogs = this.#listedLogs.filter((x) => x !== st);
    }
    for (const g of st.groups.values()) this.materializeGroup(st, g);
  }

  materializeGroup(st: LogState, g: GroupState): void {
    if (!g.listed) return;
    this.#h.defer(-g.deferred);
    this.#writeDirty(st, g);
    this.#listedGroups = this.#listedGroups.filter((x) => x[1] !== g);
  }

  /** The group record (cursor, first deliveries) is to be written at the cut. */
  touchGroup(st: LogState, g: GroupState): void {
    if (!g.listed) {
      g.listed = true;
      this.#listedGroups.push([st, g]);
    }
    if (!g.record) {
      g.record = true;
      g.deferred++;
      this.#h.defer(1);
    }
  }

  /** Notes a change of `seq`'s pending entry (before the change is made to g.pending). */
  touchPending(st: LogState, g: GroupState, seq: number): void {
    this.touchGroup(st, g);
    if (g.dirty.has(seq)) return;
    g.dirty.set(seq, true);
    g.deferred++;
    this.#h.defer(1);
  }

  /** Drops `seq`'s pending entry in `g` (deferred), if it has one. */
  dropPending(st: LogState, g: GroupState, seq: number): boolean {
    if (!g.pending.has(seq)) return false;
    if (!g.keyed.has(seq) && g.dirty.delete(seq)) {
      // No record of its own and changed since the cut: only the group record (already to be written) changes.
      g.deferred--;
      this.#h.defer(-1);
    } else this.touchPending(st, g, seq);
    g.pending.delete(seq);
    return true;
  }
}

/**
 * The value of every first delivery's pending entry (its seq is the key it is kept under: read out with it). The
 * entries of a group are only read through getPending()/pending(), which copy them with their seq.
 */
export const FIRST: PendingEntry = Object.freeze({ seq: 0, deliveries: 1, visibleAt: 0 });

/** A first delivery in flight: kept in its group record's list, not as a `qpend` record (#writeDirty). */
export function isFirst(p: PendingEntry): boolean {
  return p.deliveries === 1 && p.visibleAt === 0 && p.consumer === undefined;
}
