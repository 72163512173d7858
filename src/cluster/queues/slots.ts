// Which slot a queue lives in, and which nodes a slot prefers (docs/cluster.md "Durable queues in the cluster").
//
// The unit of ownership is a slot: a fixed partition of the queue name space (`cluster.queues.slots`, default 64),
// like Redis Cluster's hash slots. A queue and its dead-letter queue always share a slot, so a DLQ move stays one
// commit on one owner; a queue's own `partitions` (ordering, consumer assignment) live inside its slot.
import { DLQ_PREFIX, hashKey } from "../../queues/index.ts";

/** The slot of queue `name`: `dlq/<name>` goes with `<name>`. */
export function slotOf(name: string, slots: number): number {
  let base = name;
  while (base.startsWith(DLQ_PREFIX) && base.length > DLQ_PREFIX.length) base = base.slice(DLQ_PREFIX.length);
  return hashKey(base) % slots;
}

/**
 * Rendezvous (highest random weight) ranking of `nodes` for `slot`: the first is the preferred owner, the next
 * ones its replicas. A node joining or leaving moves only the slots it ranks first (or second) in, about 1/n of
 * them, and every node computes the same ranking from the same membership.
 */
export function rankNodes(nodes: Iterable<string>, slot: number): string[] {
  const scored = [...nodes].map((n) => ({ n, w: mix(hashKey(`${n}\u0000${slot}`)) }));
  scored.sort((a, b) => b.w - a.w || (a.n < b.n ? -1 : a.n > b.n ? 1 : 0));
  return scored.map((s) => s.n);
}

/**
 * MurmurHash3's 32-bit finalizer: FNV-1a of keys that differ only in a byte or two ("a\0 3" vs "b\0 3") differ
 * in few bits, so the order of their raw hashes is nearly the same for every slot (one node would rank first
 * everywhere); the avalanche makes each bit of the input flip about half of the output bits.
 */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
