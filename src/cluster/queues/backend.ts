// The broker's queue seam (src/broker/queue-backend.ts) backed by the clustered queues: an MQTT `$queue/` publish on
// any node goes to the queue's slot owner and is acknowledged once the owner committed it and (replication: sync) its
// replicas have it; a consumer on any node joins its group at the owner (proxy routing, routing.ts) and follows
// failovers; `$ack`/`$nack`/`$reject` and 3.1.1 PUBACKs settle at the owner.
//
// The broker is built before the node joins the cluster (the server starts listeners first), so the backend is
// attached later: publishes before that are refused (0x83, the publisher retries; nothing was stored), consumers
// that joined before are started at attach time.
import { ReasonCode } from "../../codec/index.ts";
import type { QueueBackend, QueueMembership, QueueOutcome, QueueSettleAction } from "../../broker/index.ts";
import type { ConsumerLink, EnqueueInput, JoinOptions } from "../../queues/index.ts";
import { isValidQueueName, QueueError, QueueErrorCode } from "../../queues/index.ts";
import type { Logger } from "../../util/index.ts";
import type { ClusterQueueNode } from "./node.ts";
import type { ClusterConsumer } from "./routing.ts";

function refused(err: unknown): QueueOutcome {
  const reason = err instanceof Error ? err.message : String(err);
  return { ok: false, reasonCode: ReasonCode.ImplementationSpecificError, reason };
}

interface Member extends QueueMembership {
  start(node: ClusterQueueNode): void;
}

export class ClusterQueueBackend implements QueueBackend {
  #node: ClusterQueueNode | undefined;
  readonly #waiting = new Set<Member>();
  readonly #prefetchOf: (name: string) => number;
  readonly #logger: Logger;

  constructor(o: { prefetchOf: (name: string) => number; logger: Logger }) {
    this.#prefetchOf = o.prefetchOf;
    this.#logger = o.logger;
  }

  get node(): ClusterQueueNode | undefined {
    return this.#node;
  }

  /** The node joined the cluster: publishes and consumers go through it from now on. */
  attach(node: ClusterQueueNode): void {
    this.#node = node;
    for (const m of this.#waiting) m.start(node);
    this.#waiting.clear();
  }

  /** The node leaves: publishes are refused again (consumers are closed by their sessions ending). */
  detach(): void {
    this.#node = undefined;
  }

  prefetchOf(name: string): number {
    return this.#prefetchOf(name);
  }

  publish(name: string, input: EnqueueInput): QueueOutcome | Promise<QueueOutcome> {
    const node = this.#node;
    if (node === undefined) return refused(new Error("the node has not joined the cluster yet"));
    return node.publishAnywhere(name, input).then((r) => r, refused);
  }

  join(name: string, group: string, link: ConsumerLink, opts: JoinOptions): QueueMembership {
    // The owner validates too, but a bad name must fail the SUBSCRIBE here, synchronously.
    if (!isValidQueueName(name)) {
      throw new QueueError(QueueErrorCode.InvalidName, `invalid queue name ${JSON.stringify(name)}`);
    }
    const inflight = new Set<number>();
    const tracked: ConsumerLink = {
      id: link.id,
      send: (d) => {
        inflight.add(d.seq);
        link.send(d);
      },
    };
    let consumer: ClusterConsumer | undefined;
    let left = false;
    const waiting = this.#waiting;
    const logger = this.#logger;
    const m: Member = {
      inflight,
      start(node) {
        if (!left) consumer = node.consume(name, group, tracked, opts);
      },
      settle(action: QueueSettleAction, messageId: string, arg?: number | string): Promise<QueueOutcome> {
        if (consumer === undefined) return Promise.resolve(refused(new Error(`not consuming ${name} right now`)));
        const seq = Number(/^\d{1,15}/.exec(messageId)?.[0]);
        const o = action === "nack" ? { retryAfter: arg as number | undefined } : { reason: arg as string | undefined };
        return consumer.settle(action, messageId, o).then((r) => {
          if (r.ok) inflight.delete(seq);
          return r;
        }, refused);
      },
      leave() {
        left = true;
        waiting.delete(m);
        inflight.clear();
        const c = consumer;
        consumer = undefined;
        c?.close().catch((err: unknown) => logger.debug({ err, queue: name }, "cluster queues: leave failed"));
      },
    };
    if (this.#node !== undefined) m.start(this.#node);
    else this.#waiting.add(m);
    return m;
  }
}
