// A slot's queue state in memory, built from StoreOps: the owner writes through it (via the fenced store) and a
// replica applies the owner's ops to its own copy, so both run the same code and hold the same state for the same
// op sequence. `load()` is what a new owner's engine recovers from after a failover; `snapshot()` is what a new
// replica starts from.
import { loadedMessageOf } from "../../queues/index.ts";
import type {
  GroupRecord,
  LoadedMember,
  LoadedQueue,
  MemberRecord,
  PendingRecord,
  QueueRecord,
  QueueStore,
} from "../../queues/index.ts";
import type { StoreOp } from "./ops.ts";

interface SlotQueue {
  nextSeq: number;
  messages: Map<number, QueueRecord>;
  groups: Map<string, { record: GroupRecord; pending: Map<number, PendingRecord>; done: Set<number> }>;
}

export class SlotMemoryStore implements QueueStore {
  readonly durable = false;
  readonly #queues = new Map<string, SlotQueue>();
  readonly #members = new Map<string, LoadedMember>();
  /** Messages and payload bytes held (replication lag and admin figures). */
  messages = 0;
  bytes = 0;

  /** A store holding exactly `state` (a snapshot). */
  static from(state: readonly LoadedQueue[]): SlotMemoryStore {
    const s = new SlotMemoryStore();
    for (const lq of state) {
      const q = s.#queue(lq.name);
      q.nextSeq = lq.nextSeq;
      for (const m of lq.messages) if (m.record !== undefined) s.#hold(q, m.seq, m.record);
      for (const g of lq.groups) {
        q.groups.set(g.name, { record: { ...g.record }, pending: new Map(g.pending), done: new Set(g.done) });
      }
    }
    return s;
  }

  #queue(name: string): SlotQueue {
    let q = this.#queues.get(name);
    if (q === undefined) this.#queues.set(name, (q = { nextSeq: 1, messages: new Map(), groups: new Map() }));
    return q;
  }

  #group(queue: string, group: string) {
    const q = this.#queue(queue);
    let g = q.groups.get(group);
    if (g === undefined) {
      g = { record: { floor: 0, createdAt: 0 }, pending: new Map(), done: new Set() };
      q.groups.set(group, g);
    }
    return g;
  }

  #hold(q: SlotQueue, seq: number, record: QueueRecord): void {
    if (!q.messages.has(seq)) {
      this.messages++;
      this.bytes += record.payload.length;
    }
    q.messages.set(seq, record);
    if (seq >= q.nextSeq) q.nextSeq = seq + 1;
  }

  /** Applies one op (a replica applying the owner's log; the owner's own writes come through here too). */
  apply(op: StoreOp): void {
    switch (op.op) {
      case "append":
        this.#hold(this.#queue(op.queue), op.seq, op.record);
        return;
      case "remove": {
        const q = this.#queues.get(op.queue);
        const r = q?.messages.get(op.seq);
        if (q === undefined || r === undefined) return;
        q.messages.delete(op.seq);
        this.messages--;
        this.bytes -= r.payload.length;
        return;
      }
      case "putGroup":
        this.#group(op.queue, op.group).record = { ...op.record };
        return;
      case "deleteGroup":
        this.#queues.get(op.queue)?.groups.delete(op.group);
        return;
      case "putPending":
        this.#group(op.queue, op.group).pending.set(op.seq, { ...op.record });
        return;
      case "deletePending":
        this.#queues.get(op.queue)?.groups.get(op.group)?.pending.delete(op.seq);
        return;
      case "putDone":
        this.#group(op.queue, op.group).done.add(op.seq);
        return;
      case "deleteDone":
        this.#queues.get(op.queue)?.groups.get(op.group)?.done.delete(op.seq);
        return;
      case "drop": {
        const q = this.#queues.get(op.queue);
        if (q === undefined) return;
        for (const r of q.messages.values()) {
          this.messages--;
          this.bytes -= r.payload.length;
        }
        this.#queues.delete(op.queue);
        return;
      }
    }
  }

  // ---- QueueStore (the owner's engine writes here through the fenced store) -----------------------------------

  putMember(clientId: string, filter: string, record: MemberRecord): void {
    this.#members.set(JSON.stringify([clientId, filter]), { clientId, filter, record: { ...record } });
  }

  deleteMember(clientId: string, filter: string): void {
    this.#members.delete(JSON.stringify([clientId, filter]));
  }

  loadMembers(): LoadedMember[] {
    return [...this.#members.values()];
  }

  append(queue: string, record: QueueRecord): number {
    const seq = this.#queue(queue).nextSeq;
    this.apply({ op: "append", queue, seq, record });
    return seq;
  }

  remove(queue: string, seq: number): void {
    this.apply({ op: "remove", queue, seq });
  }

  putGroup(queue: string, group: string, record: GroupRecord): void {
    this.apply({ op: "putGroup", queue, group, record });
  }

  deleteGroup(queue: string, group: string): void {
    this.apply({ op: "deleteGroup", queue, group });
  }

  putPending(queue: string, group: string, seq: number, record: PendingRecord): void {
    this.apply({ op: "putPending", queue, group, seq, record });
  }

  deletePending(queue: string, group: string, seq: number): void {
    this.apply({ op: "deletePending", queue, group, seq });
  }

  putDone(queue: string, group: string, seq: number): void {
    this.apply({ op: "putDone", queue, group, seq });
  }

  deleteDone(queue: string, group: string, seq: number): void {
    this.apply({ op: "deleteDone", queue, group, seq });
  }

  drop(queue: string): void {
    this.apply({ op: "drop", queue });
  }

  /**
   * Everything held, as the engine recovers it (and as a snapshot for a new replica): with the bodies (this store
   * has no `read`, so the engine keeps the bodies of the slot it owns; a snapshot must carry them).
   */
  load(): LoadedQueue[] {
    return [...this.#queues].map(([name, q]) => ({
      name,
      nextSeq: q.nextSeq,
      messages: [...q.messages]
        .sort((a, b) => a[0] - b[0])
        .map(([seq, record]) => ({ ...loadedMessageOf(seq, record), record })),
      groups: [...q.groups].map(([gname, g]) => ({
        name: gname,
        record: { ...g.record },
        pending: new Map(g.pending),
        done: new Set(g.done),
      })),
    }));
  }

  commit(): Promise<void> {
    return Promise.resolve();
  }
}
