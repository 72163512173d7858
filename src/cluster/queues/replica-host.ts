// The replica side: this node's copies of other owners' slots. A frame is applied only when it is in step with
// the copy (same epoch, the next op index) and its epoch is not older than the latest epoch this node knows for
// the slot — from etcd (the owner key's revision) or from an earlier frame. A former owner's frames are refused
// ("fenced"), so a paused or partitioned owner cannot get a write acknowledged by a replica after a failover.
import type { ReplicationAck, ReplicationFrame } from "./frames.ts";
import type { SlotJournal } from "./journal.ts";
import { SlotMemoryStore } from "./slot-store.ts";

export interface ReplicaCopy {
  epoch: number;
  /** Ops applied (the owner's log index). */
  index: number;
  store: SlotMemoryStore;
}

export interface ReplicaHostOptions {
  /** The latest epoch etcd shows for the slot (0 when unknown). */
  knownEpoch: (slot: number) => number;
  /** A copy was (re)started from a snapshot at `epoch`. */
  onCopy?: (slot: number, epoch: number) => void;
  /** Durable copies: every applied frame written here, acknowledged once committed. */
  journal?: SlotJournal | undefined;
}

export class ReplicaHost {
  readonly #copies = new Map<number, ReplicaCopy>();
  /** Highest epoch seen per slot in frames (fencing even before etcd's watch catches up). */
  readonly #seen = new Map<number, number>();
  readonly #o: ReplicaHostOptions;
  /** Frames refused as fenced (a former owner's). */
  fenced = 0;

  constructor(o: ReplicaHostOptions) {
    this.#o = o;
  }

  handle(f: ReplicationFrame): ReplicationAck {
    const latest = Math.max(this.#seen.get(f.slot) ?? 0, this.#o.knownEpoch(f.slot));
    if (f.epoch < latest) {
      this.fenced++;
      return { ok: false, reason: "fenced", epoch: latest };
    }
    this.#seen.set(f.slot, f.epoch);
    if (f.kind === "snapshot") {
      const store = SlotMemoryStore.from(f.queues);
      this.#copies.set(f.slot, { epoch: f.epoch, index: f.index, store });
      this.#o.journal?.reset(f.slot, f.epoch, f.index, store);
      this.#o.onCopy?.(f.slot, f.epoch);
      return { ok: true, index: f.index };
    }
    const c = this.#copies.get(f.slot);
    if (c === undefined || c.epoch !== f.epoch || f.from > c.index + 1) return { ok: false, reason: "resync" };
    // A resent frame overlapping what was applied: skip the ops already in (the link retried after a timeout).
    for (let i = c.index + 1 - f.from; i < f.ops.length; i++) {
      c.store.apply(f.ops[i]!);
      this.#o.journal?.append(f.slot, f.from + i, f.ops[i]!, c.store);
    }
    c.index = Math.max(c.index, f.from + f.ops.length - 1);
    return { ok: true, index: c.index };
  }

  /** handle(), acknowledged once what it wrote is durable (with a journal: its group commit). */
  async handleDurable(f: ReplicationFrame): Promise<ReplicationAck> {
    const ack = this.handle(f);
    if (ack.ok && this.#o.journal !== undefined) await this.#o.journal.flushed();
    return ack;
  }

  /** The epoch of this node's copy of `slot` (what makes it eligible to take the slot over). */
  epochOf(slot: number): number | undefined {
    return this.#copies.get(slot)?.epoch;
  }

  copyOf(slot: number): ReplicaCopy | undefined {
    return this.#copies.get(slot);
  }

  /** Hands the copy to a new owner (this node) and forgets it here. */
  take(slot: number): ReplicaCopy | undefined {
    const c = this.#copies.get(slot);
    this.#copies.delete(slot);
    return c;
  }

  /** Keeps a former owner's state as a copy (a handoff back, or a re-claim after a brief lease loss). */
  adopt(slot: number, copy: ReplicaCopy): void {
    const cur = this.#copies.get(slot);
    if (cur !== undefined && cur.epoch > copy.epoch) return;
    this.#copies.set(slot, copy);
    if ((this.#seen.get(slot) ?? 0) < copy.epoch) this.#seen.set(slot, copy.epoch);
  }

  drop(slot: number): void {
    if (this.#copies.delete(slot)) this.#o.journal?.drop(slot);
  }

  /** Copies held: slot → epoch, ops applied, messages. */
  list(): { slot: number; epoch: number; index: number; messages: number }[] {
    return [...this.#copies].map(([slot, c]) => ({ slot, epoch: c.epoch, index: c.index, messages: c.store.messages }));
  }
}
