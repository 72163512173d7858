// Ordering `partition` / `strict` (group.ts): which consumer owns which partition, and what each partition has in
// flight or waiting for a retry. A partition is served by its owner only, never while one of its messages waits
// for a retry (that message goes first), and moves to a new owner only once the old one holds none of it.
import { assignPartitions } from "./partition.ts";

/** `C` is the group's consumer (generic, so this file needs nothing from group.ts). */
export class PartitionState<C extends { partitions: number[] }> {
  #owners: (C | undefined)[] = [];
  readonly #inflight: number[];
  readonly #holder: (C | undefined)[];
  readonly #waiting: number[];

  constructor(partitions: number) {
    this.#inflight = new Array<number>(partitions).fill(0);
    this.#holder = new Array<C | undefined>(partitions).fill(undefined);
    this.#waiting = new Array<number>(partitions).fill(0);
  }

  /** Consumers joined or left: partitions are spread again (assignPartitions) and each consumer's list rebuilt. */
  rebalance(consumers: readonly C[]): void {
    const owners = assignPartitions(this.#holder.length, consumers.length);
    this.#owners = owners.map((i) => (i < 0 ? undefined : consumers[i]));
    for (const c of consumers) c.partitions = [];
    this.#owners.forEach((c, p) => c?.partitions.push(p));
  }

  /**
   * The consumer that may take partition `part`'s next message now, or undefined: its owner, unless a message of
   * it waits for a retry, the previous owner still holds some of it, or (strict) one is in flight.
   */
  server(part: number, strict: boolean): C | undefined {
    const owner = this.#owners[part];
    if (owner === undefined || this.#waiting[part]! > 0) return undefined;
    if (this.#inflight[part]! > 0 && (strict || this.#holder[part] !== owner)) return undefined;
    return owner;
  }

  delivered(part: number, c: C): void {
    this.#inflight[part]!++;
    this.#holder[part] = c;
  }

  /** A delivery held by `c` settled or went back. */
  released(part: number, c: C): void {
    const n = --this.#inflight[part]!;
    if (n === 0 && this.#holder[part] === c) this.#holder[part] = undefined;
  }

  waitStarted(part: number): void {
    this.#waiting[part]!++;
  }

  waitEnded(part: number): void {
    this.#waiting[part]!--;
  }
}
