// Ascending list of message seqs ready for delivery: the shared Fifo (src/util, O(1) push/shift at the ends) plus an
// ordered insert for the (rare) message that comes back from a retry or a lost consumer, so a partition's order is
// kept, and a removal by binary search.
import { Fifo } from "../util/index.ts";

export class SeqList extends Fifo<number> {
  /** Inserts `seq` keeping the list ascending (appends in O(1) when it is the largest). */
  insert(seq: number): void {
    const items = this.items;
    if (items.length === this.head || items[items.length - 1]! < seq) {
      items.push(seq);
      return;
    }
    const lo = this.#lowerBound(seq);
    if (items[lo] === seq) return;
    if (lo === this.head && this.head > 0) {
      items[--this.head] = seq;
      return;
    }
    items.splice(lo, 0, seq);
  }

  /** Removes `seq` if present (purge, DLQ move of a message that was waiting). */
  remove(seq: number): boolean {
    // Binary search (the list is ascending): a removal is usually of a seq that is not here (settled messages
    // are in flight, not ready), and an indexOf over a backlog of 1 M per settlement made draining quadratic.
    const items = this.items;
    const lo = this.#lowerBound(seq);
    if (lo >= items.length || items[lo] !== seq) return false;
    if (lo === this.head) this.shift();
    else items.splice(lo, 1);
    return true;
  }

  /** Index of the first item >= seq (items.length if none). */
  #lowerBound(seq: number): number {
    const items = this.items;
    let lo = this.head;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (items[mid]! < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
