// Put/remove elision within one batch. A QoS 1 message sent to a persistent session is written (body, inflight
// entry) and, once the client's PUBACK arrives, removed again. When both happen before the batch holding the
// writes is cut — usual in batched mode (10 ms windows) and while a sync commit is in flight — the pair cancels
// out: the put is dropped from the batch and, if the key did not exist before it, so is the removal. The batch
// stays atomic and its outcome identical; the disk is spared the encoding and the writes.
//
// "Fresh" means the key is absent from the state all earlier ops produce (committed plus pending): the engine
// knows it from its in-memory indexes (a new message id or queue seq, no inflight entry under that packet id).
import type { Committer } from "./committer.ts";
import type { Key, KeyId, SpaceName } from "./keys.ts";

/**
 * A pending put, packed into one number (no object per op: a queue message makes three): its position in the
 * committer's pending batch × 2, plus 1 when the key was absent before this put (or before the put it replaced).
 */
type PendingPut = number;

const pack = (index: number, fresh: boolean): PendingPut => index * 2 + (fresh ? 1 : 0);
const indexOf = (p: PendingPut): number => Math.floor(p / 2);
const isFresh = (p: PendingPut): boolean => p % 2 === 1;

export class Elider {
  #generation = -1;
  /** Puts of the current (not yet cut) batch: space → group → id. */
  #puts = new Map<SpaceName, Map<string, Map<KeyId, PendingPut>>>();

  constructor(private readonly committer: Committer) {}

  /** Pushes a put; a pending put of the same key in this batch is dropped (this one overwrites it anyway). */
  put(space: SpaceName, key: Key, value: unknown, fresh: boolean): void {
    const ids = this.#ids(space, key[0], true)!;
    const previous = ids.get(key[1]);
    if (previous !== undefined) {
      this.committer.cancel(indexOf(previous));
      fresh = isFresh(previous);
    }
    ids.set(key[1], pack(this.committer.push({ space, key, value }), fresh));
  }

  /**
   * Pushes the removal of `key`, unless it cancels out against a pending put of a fresh key. Returns true when
   * nothing was written for the key in this batch at all (it never reaches the disk).
   */
  remove(space: SpaceName, key: Key): boolean {
    const ids = this.#ids(space, key[0], false);
    const previous = ids?.get(key[1]);
    if (previous !== undefined) {
      ids!.delete(key[1]);
      this.committer.cancel(indexOf(previous));
      if (isFresh(previous)) return true;
    }
    this.committer.push({ space, key, remove: true });
    return false;
  }

  #ids(space: SpaceName, group: string, create: boolean): Map<KeyId, PendingPut> | undefined {
    if (this.committer.generation !== this.#generation) {
      // A batch was cut since: its ops are beyond reach, start tracking the new one.
      this.#generation = this.committer.generation;
      this.#puts = new Map();
    }
    let groups = this.#puts.get(space);
    if (groups === undefined) {
      if (!create) return undefined;
      this.#puts.set(space, (groups = new Map<string, Map<KeyId, PendingPut>>()));
    }
    let ids = groups.get(group);
    if (ids === undefined) {
      if (!create) return undefined;
      groups.set(group, (ids = new Map<KeyId, PendingPut>()));
    }
    return ids;
  }
}
