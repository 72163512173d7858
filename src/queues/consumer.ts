// A consumer of one group (group.ts), and the group's entry for a message it delivered and has not settled.
import type { ConsumerLink } from "./types.ts";

/**
 * What a consumer (and the engine, through `consumer.group`) needs of its group; group.ts implements it. An
 * interface, so this file needs nothing from group.ts.
 */
export interface ConsumerGroup {
  readonly name: string;
  readonly host: { readonly name: string };
  readonly consumers: readonly Consumer[];
  /** `c`'s deliveries in flight as a set of seqs (Consumer.inflight). */
  heldSeqs(c: Consumer): ReadonlySet<number>;
  /** The consumer left: what it holds goes to the others at once. */
  leave(c: Consumer): void;
}

export class Consumer {
  /** Deliveries held: delivered and not settled. */
  held = 0;
  /** Seqs delivered and not settled, in delivery order (a view of the group's order: no Set churned per message). */
  readonly inflight: ReadonlySet<number>;
  /** Partitions owned (ordering partition/strict). */
  partitions: number[] = [];

  constructor(
    readonly link: ConsumerLink,
    readonly group: ConsumerGroup,
    public prefetch: number,
  ) {
    this.inflight = group.heldSeqs(this);
  }

  get id(): string {
    return this.link.id;
  }

  get free(): number {
    return this.prefetch - this.held;
  }
}

export class Pending {
  /** Delivery serial while in flight (inflight-order.ts), 0 otherwise. */
  serial = 0;
  /** Deliveries so far. */
  count: number;
  /** Holder while in flight; undefined while waiting for a retry or ready again. */
  consumer: Consumer | undefined = undefined;
  /** In flight: when the delivery times out. Waiting: when it becomes visible again. */
  at = 0;
  /** The DLQ was full when it should have moved there: retry the move (not a delivery) at `at`. */
  parked: string | undefined = undefined;

  constructor(
    readonly seq: number,
    readonly partition: number,
    count: number,
  ) {
    this.count = count;
  }
}
