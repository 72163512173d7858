// Durable slot state (docs/cluster-queues.md "Durability"): every slot copy this node holds — the slots it owns and
// its replicas of other owners' slots — written to its own LMDB (the storage layer's KV backend) as a base (the
// copy's state at an op index, with its epoch) plus the ops after it, and the node's slot-layer incarnation. A node
// restarted with its data directory is the same in-sync member it was (same incarnation, same epochs and indexes),
// so after every node restarted the in-sync members claim their slots back with everything acknowledged.
//
//   ["",        "incarnation"] → string
//   ["s<slot>", "base"]        → v8 { epoch, index, queues: LoadedQueue[] }
//   ["s<slot>", <op index>]    → v8 StoreOp, for every op after the base's index
//
// Writes issued in one turn of the event loop commit in one LMDB transaction (lmdb-js batches them): a replica
// acknowledges a replication frame, and an owner commits, once `flushed()` resolved (group commit). A copy's ops are
// folded into a new base every COMPACT_OPS ops, so a restart replays at most that many per slot.
import { randomUUID } from "node:crypto";
import { deserialize, serialize } from "node:v8";
import type { LoadedQueue } from "../../queues/index.ts";
import { Space } from "../../storage/index.ts";
import type { KvBackend, KvOp } from "../../storage/index.ts";
import type { StoreOp } from "./ops.ts";
import { SlotMemoryStore } from "./slot-store.ts";

const COMPACT_OPS = 20_000;

export interface JournaledCopy {
  slot: number;
  epoch: number;
  index: number;
  store: SlotMemoryStore;
}

interface Meta {
  epoch: number;
  /** Ops written after the base: indexes `from`..`to` (none when to < from). */
  from: number;
  to: number;
}

const group = (slot: number): string => `s${slot}`;

export class SlotJournal {
  readonly #kv: KvBackend;
  readonly #meta = new Map<number, Meta>();
  #last: Promise<unknown> = Promise.resolve();
  readonly incarnation: string;
  /** What was found at open: every slot copy, rebuilt (base + ops). */
  readonly found: JournaledCopy[] = [];

  constructor(kv: KvBackend) {
    this.#kv = kv;
    const inc = kv.get(Space.Meta, ["", "incarnation"]);
    if (typeof inc === "string") this.incarnation = inc;
    else {
      this.incarnation = randomUUID().slice(0, 8);
      this.#write([{ space: Space.Meta, key: ["", "incarnation"], value: this.incarnation }]);
    }
    const slots = new Set<number>();
    for (const key of kv.keys(Space.Meta)) if (/^s\d+$/.test(key[0])) slots.add(Number(key[0].slice(1)));
    for (const slot of slots) {
      const base = kv.get(Space.Meta, [group(slot), "base"]);
      if (!Buffer.isBuffer(base)) continue;
      const b = deserialize(base) as { epoch: number; index: number; queues: LoadedQueue[] };
      const store = SlotMemoryStore.from(b.queues);
      let index = b.index;
      let to = b.index;
      for (const e of kv.range(Space.Meta, group(slot), b.index + 1)) {
        to = Math.max(to, e.key[1] as number);
        if (e.key[1] !== index + 1) continue; // after a gap: never acknowledged as one sequence
        store.apply(deserialize(e.value as Buffer) as StoreOp);
        index++;
      }
      this.#meta.set(slot, { epoch: b.epoch, from: b.index + 1, to });
      this.found.push({ slot, epoch: b.epoch, index, store });
    }
  }

  /** The copy of `slot` is now exactly `store`'s state at (`epoch`, `index`): a new base, the old ops dropped. */
  reset(slot: number, epoch: number, index: number, store: SlotMemoryStore): void {
    const ops = this.#removeOps(slot);
    const base = serialize({ epoch, index, queues: store.load() });
    ops.push({ space: Space.Meta, key: [group(slot), "base"], value: base });
    this.#meta.set(slot, { epoch, from: index + 1, to: index });
    this.#write(ops);
  }

  /** Op `index` of the copy of `slot` (applied to `store` already); folded into a new base every COMPACT_OPS. */
  append(slot: number, index: number, op: StoreOp, store: SlotMemoryStore): void {
    const m = this.#meta.get(slot);
    if (m === undefined) return; // no base: a reset comes first (a snapshot or an acquire)
    if (index - m.from >= COMPACT_OPS) {
      this.reset(slot, m.epoch, index, store);
      return;
    }
    m.to = Math.max(m.to, index);
    this.#write([{ space: Space.Meta, key: [group(slot), index], value: serialize(op) }]);
  }

  /** Forgets the copy of `slot`. */
  drop(slot: number): void {
    const ops = this.#removeOps(slot);
    if (!this.#meta.delete(slot)) return;
    ops.push({ space: Space.Meta, key: [group(slot), "base"], remove: true });
    this.#write(ops);
  }

  /** Resolves once everything written so far is committed (rejects when a commit failed). */
  flushed(): Promise<void> {
    return this.#last.then(() => undefined);
  }

  close(): Promise<void> {
    return this.flushed().finally(() => this.#kv.close());
  }

  /** Removals of every op key written after the slot's base (tracked here: writes of this turn are not readable). */
  #removeOps(slot: number): KvOp[] {
    const m = this.#meta.get(slot);
    const out: KvOp[] = [];
    if (m !== undefined)
      for (let i = m.from; i <= m.to; i++) out.push({ space: Space.Meta, key: [group(slot), i], remove: true });
    return out;
  }

  #write(ops: readonly KvOp[]): void {
    const p = this.#kv.write(ops);
    const prev = this.#last;
    this.#last = Promise.all([prev, p]);
    // A failed commit rejects flushed(): the acknowledgement waiting for it is not sent.
    p.catch(() => undefined);
  }
}
