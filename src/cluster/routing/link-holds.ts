// Backpressure across a link to another node: a link over its high-water mark holds the publisher whose packet is
// being handled (its connection stops reading, as for a local subscriber over its marks) until the link drains, at
// most STALL_LIMIT_MS per episode; past that the link is "stalled" and QoS 0 to it is dropped (counted) until it
// drains, so one slow node stalls its publishers for a bounded time only.
import type { Producer } from "../../broker/index.ts";
import type { Clock, Logger, TimerHandle } from "../../util/index.ts";

/** Longest a full link holds publishers in one episode (as overload.stallLimitMs does for a local subscriber). */
export const STALL_LIMIT_MS = 1000;

/** The counters the holds keep (the router's ClusterRoutingStats). */
export interface HoldCounters {
  publisherHolds: number;
  forwardDropped: number;
}

export class LinkHolds {
  /** Per peer: publishers held because its link is full, released on drain (or after STALL_LIMIT_MS). */
  readonly #held = new Map<string, { producers: Set<Producer>; timer: TimerHandle }>();
  /** Peers whose link stayed full past the stall limit: QoS 0 to them is dropped until the link drains. */
  readonly #stalled = new Set<string>();

  constructor(
    /** `producer` is the connection whose packet is being handled (RoutingParts.overload). */
    private readonly overload: { readonly producer: Producer | undefined },
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly stats: HoldCounters,
  ) {}

  /**
   * Whether a message may go to `node` now. A full link holds the current publisher; false only for QoS 0 to a link
   * past its stall limit (or with no publisher to hold), which is dropped and counted.
   */
  admit(writable: boolean, node: string, qos: number): boolean {
    if (writable) return true;
    const producer = this.overload.producer;
    if (producer !== undefined && !this.#stalled.has(node)) this.#hold(node, producer);
    else if (qos === 0) {
      this.stats.forwardDropped++;
      return false;
    }
    return true;
  }

  /** The link to `node` drained (or the node left): its publishers go on, and it is no longer stalled. */
  clear(node: string): void {
    this.#stalled.delete(node);
    this.#release(node);
  }

  /** Releases every held publisher (the router detaches). */
  releaseAll(): void {
    for (const node of [...this.#held.keys()]) this.#release(node);
  }

  #hold(node: string, producer: Producer): void {
    let h = this.#held.get(node);
    if (h === undefined) {
      const timer = this.clock.setTimeout(() => {
        this.#stalled.add(node);
        this.logger.warn({ node }, "link to a node stayed full past the stall limit: QoS 0 to it is dropped");
        this.#release(node);
      }, STALL_LIMIT_MS);
      this.#held.set(node, (h = { producers: new Set(), timer }));
    }
    if (h.producers.has(producer)) return;
    h.producers.add(producer);
    producer.hold();
    this.stats.publisherHolds++;
  }

  #release(node: string): void {
    const h = this.#held.get(node);
    if (h === undefined) return;
    this.#held.delete(node);
    h.timer.cancel();
    for (const p of h.producers) p.release();
  }
}
