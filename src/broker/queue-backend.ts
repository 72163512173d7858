// The queue seam of the broker (docs/queues.md, docs/cluster-queues.md): where the `$queue/` wire mapping
// (queue-bridge.ts) sends appends, consumers and settlements. By default the node's own queue engine; a clustered
// node plugs in a backend that reaches each queue's slot owner (src/cluster/queues), whose outcomes are promises
// (answered after the owner's commit and replication). The broker never imports the cluster layer.
import type { ConsumerLink, EnqueueInput, JoinOptions, QueueEngine } from "../queues/index.ts";

/** A backend's answer to an append or a settlement: what the acknowledgement says. */
export type QueueOutcome = { ok: true } | { ok: false; reasonCode: number; reason: string };

export type QueueSettleAction = "ack" | "nack" | "reject";

/** One consumer of a queue's group, as the wire mapping holds it. */
export interface QueueMembership {
  /** Seqs delivered to this consumer and not settled (the 3.1.1 "oldest unsettled" settle, in-process checks). */
  readonly inflight: ReadonlySet<number>;
  /** `arg`: retry-after (ms) for nack, the reason for reject. */
  settle(action: QueueSettleAction, messageId: string, arg?: number | string): QueueOutcome | Promise<QueueOutcome>;
  /**
   * Acknowledges this consumer's delivery of `seq` (a PUBACK of it: no message id to build and parse). Optional: a
   * backend without it is given the delivery's message id through settle().
   */
  ackSeq?(seq: number): QueueOutcome | Promise<QueueOutcome>;
  /** Leaves the group: what it has not settled goes to the group's other consumers. */
  leave(): void;
}

export interface QueueBackend {
  /** Appends one message; a promise when the append is answered elsewhere (a clustered slot owner). */
  publish(name: string, input: EnqueueInput): QueueOutcome | Promise<QueueOutcome>;
  /** Joins `group` of queue `name`; throws (QueueError) on an invalid name or start position. */
  join(name: string, group: string, link: ConsumerLink, opts: JoinOptions): QueueMembership;
  /** The queue's default prefetch (its `queues:` config entry). */
  prefetchOf(name: string): number;
}

/** The node's own engine as the backend; `touch()` after every write (the next acknowledgement waits for it). */
export function localQueueBackend(engine: QueueEngine, touch: () => void): QueueBackend {
  const wrote = <T extends { ok: boolean }>(r: T): T => {
    if (r.ok) touch();
    return r;
  };
  return {
    publish: (name, input) => wrote(engine.publish(name, input)),
    prefetchOf: (name) => engine.settingsOf(name).prefetch,
    join(name, group, link, opts) {
      const consumer = engine.join(name, group, link, opts);
      touch();
      return {
        inflight: consumer.inflight,
        ackSeq: (seq) => wrote(engine.ack(name, group, seq)),
        settle: (action, id, arg) =>
          wrote(
            action === "ack"
              ? engine.ack(name, group, id)
              : action === "nack"
                ? engine.nack(name, group, id, typeof arg === "number" ? arg : undefined)
                : engine.reject(name, group, id, typeof arg === "string" ? arg : undefined),
          ),
        leave: () => {
          engine.leave(consumer);
          touch();
        },
      };
    },
  };
}
