// Proxy routing (docs/cluster.md "Durable queues in the cluster"): publishes on any node reach the queue's slot
// owner; consumers on any node receive from the owner of every queue they consume. The owner runs the group logic
// (one engine per slot); a consumer on another node is a remote member of that group, its deliveries forwarded to
// its node and its settlements forwarded back.
//
// After a failover the consumer's node joins the new owner (the epoch in etcd changed): the new owner recovered
// the slot's in-flight messages as pending, so what the old owner had delivered and nobody settled is delivered
// again (at least once), and a settlement of such a delivery still reaches it.
import type {
  Consumer,
  ConsumerLink,
  EnqueueInput,
  JoinOptions,
  PublishOutcome,
  QueueDelivery,
  QueueEngine,
  SettleOutcome,
} from "../../queues/index.ts";
import type { Clock, Logger, TimerHandle } from "../../util/index.ts";
import { isWharfError } from "../../util/index.ts";
import { ClusterQueueError, ClusterQueueErrorCode } from "./errors.ts";
import type { QueueLink, QueueReply, QueueRequest, SettleAction } from "./frames.ts";
import type { SlotOwner } from "./ownership.ts";

export interface RoutingHost {
  readonly nodeId: string;
  readonly link: QueueLink;
  readonly clock: Clock;
  readonly logger: Logger;
  engineOf(queue: string): QueueEngine | undefined;
  ownerOf(queue: string): SlotOwner | undefined;
  /** Live node ids. */
  liveNodes(): ReadonlySet<string>;
}

/** A consumer on this node of a queue owned anywhere in the cluster. */
export interface ClusterConsumer {
  readonly queue: string;
  readonly group: string;
  /** The owner node it is joined to right now (undefined while the slot has none). */
  readonly joinedTo: string | undefined;
  settle(
    action: SettleAction,
    messageId: string,
    opts?: { retryAfter?: number; reason?: string },
  ): Promise<SettleOutcome>;
  close(): Promise<void>;
}

interface Local {
  key: string;
  queue: string;
  group: string;
  link: ConsumerLink;
  opts: JoinOptions;
  joined: SlotOwner | undefined;
  /** The engine consumer when the owner is this node. */
  here: { engine: QueueEngine; consumer: Consumer } | undefined;
  retry: TimerHandle | undefined;
  joining: boolean;
  closed: boolean;
}

interface Remote {
  node: string;
  queue: string;
  engine: QueueEngine;
  consumer: Consumer;
}

const RETRY_MS = 100;

/** Leaves a group; an engine whose slot was lost meanwhile refuses the writes that implies (nothing to undo). */
function leaveQuietly(engine: QueueEngine, consumer: Consumer): void {
  try {
    engine.leave(consumer);
  } catch {
    // fenced: the slot's new owner has the state
  }
}

function failure(err: unknown): QueueReply {
  if (isWharfError(err)) return { ok: false, code: err.code, message: err.message };
  return { ok: false, code: "CLUSTER_QUEUE_ERROR", message: err instanceof Error ? err.message : String(err) };
}

export class QueueRouting {
  readonly #h: RoutingHost;
  readonly #locals = new Map<string, Local>();
  readonly #remotes = new Map<string, Remote>();
  #seq = 0;

  constructor(host: RoutingHost) {
    this.#h = host;
  }

  // ---- producing ----------------------------------------------------------------------------------------------

  /**
   * Appends to `queue` on its owner, wherever it is, and resolves with the owner's outcome once the message is
   * committed there (and replicated, in sync mode). While the slot has no owner (a failover) or its owner changes
   * under the request, it tries again until `timeoutMs`.
   */
  publish(queue: string, input: EnqueueInput, timeoutMs = 10_000): Promise<PublishOutcome> {
    // The common case, one request answered ok, without an async function's frame (once per message).
    const start = this.#h.clock.now();
    return this.#call(queue, { kind: "publish", queue, input }).then(
      (reply) => (reply.ok ? reply.publish! : this.#publishAgain(queue, input, start + timeoutMs, reply)),
      (err: unknown) => this.#publishAgain(queue, input, start + timeoutMs, failure(err)),
    );
  }

  /** After a failed attempt: retries a retriable failure (no owner yet, a failover) until `deadline`. */
  async #publishAgain(
    queue: string,
    input: EnqueueInput,
    deadline: number,
    first: QueueReply,
  ): Promise<PublishOutcome> {
    let reply = first;
    for (let attempt = 0; ; attempt++) {
      if (reply.ok) return reply.publish!;
      const retriable = reply.code !== ClusterQueueErrorCode.NotReplicated && reply.code.startsWith("CLUSTER_");
      if (!retriable || this.#h.clock.now() >= deadline) {
        throw new ClusterQueueError(
          reply.code === ClusterQueueErrorCode.NotReplicated ? reply.code : ClusterQueueErrorCode.NoOwner,
          `publish to ${queue}: ${reply.message}`,
        );
      }
      await this.#sleep(Math.min(1000, RETRY_MS * 2 ** Math.min(attempt, 4)));
      try {
        reply = await this.#call(queue, { kind: "publish", queue, input });
      } catch (err) {
        reply = failure(err);
      }
    }
  }

  // ---- consuming ----------------------------------------------------------------------------------------------

  /** Joins `group` of `queue` at its owner; rejoins the new owner after every failover or handoff. */
  consume(queue: string, group: string, link: ConsumerLink, opts: JoinOptions = {}): ClusterConsumer {
    const l: Local = {
      key: `${link.id}#${++this.#seq}`,
      queue,
      group,
      link,
      opts,
      joined: undefined,
      here: undefined,
      retry: undefined,
      joining: false,
      closed: false,
    };
    this.#locals.set(l.key, l);
    queueMicrotask(() => void this.#join(l)); // deliveries start after consume() returned its handle

    return {
      queue,
      group,
      get joinedTo() {
        return l.joined?.node;
      },
      settle: (action, messageId, o = {}) => this.#settle(l, action, messageId, o.retryAfter, o.reason),
      close: () => this.#close(l),
    };
  }

  /** Ownership or membership changed: consumers follow their slots' owners; the departed nodes' consumers go. */
  changed(): void {
    for (const l of this.#locals.values()) {
      const o = this.#h.ownerOf(l.queue);
      if (o?.epoch !== l.joined?.epoch || (l.here !== undefined && this.#h.engineOf(l.queue) !== l.here.engine)) {
        void this.#join(l);
      }
    }
    const live = this.#h.liveNodes();
    for (const [k, r] of this.#remotes) {
      if (live.has(r.node)) continue;
      this.#remotes.delete(k);
      leaveQuietly(r.engine, r.consumer);
    }
  }

  /** This node lost a slot: the remote consumers it served there are gone with the engine. */
  engineClosed(engine: QueueEngine): void {
    for (const [k, r] of this.#remotes) if (r.engine === engine) this.#remotes.delete(k);
  }

  // ---- requests from other nodes ----------------------------------------------------------------------------------

  /** A delivery from a slot's owner for one of this node's consumers; a consumer gone meanwhile is left there. */
  deliver(from: string, consumer: string, d: QueueDelivery): void {
    const l = this.#locals.get(consumer);
    if (l !== undefined && !l.closed) {
      l.link.send(d);
      return;
    }
    // The owner gives its unsettled messages to the group's other members (what a refused delivery did before).
    this.#h.link.request(from, { kind: "leave", queue: d.queue, consumer }).catch(failure);
  }

  async handle(from: string, req: QueueRequest): Promise<QueueReply> {
    try {
      const engine = this.#h.engineOf(req.queue);
      if (engine === undefined) {
        return {
          ok: false,
          code: ClusterQueueErrorCode.NoOwner,
          message: `${this.#h.nodeId} does not own ${req.queue}`,
        };
      }
      switch (req.kind) {
        case "publish": {
          const r = engine.publish(req.queue, req.input);
          if (r.ok) await engine.commit();
          return { ok: true, publish: r };
        }
        case "join": {
          const key = `${from}|${req.consumer}`;
          const prev = this.#remotes.get(key);
          if (prev !== undefined) {
            this.#remotes.delete(key);
            leaveQuietly(prev.engine, prev.consumer);
          }
          const link: ConsumerLink = { id: req.id, send: (d) => this.#forward(from, key, req.consumer, d) };
          const consumer = engine.join(req.queue, req.group, link, { prefetch: req.prefetch, start: req.start });
          this.#remotes.set(key, { node: from, queue: req.queue, engine, consumer });
          await engine.commit();
          return { ok: true };
        }
        case "leave": {
          const key = `${from}|${req.consumer}`;
          const r = this.#remotes.get(key);
          if (r !== undefined) {
            this.#remotes.delete(key);
            leaveQuietly(r.engine, r.consumer);
          }
          return { ok: true };
        }
        case "settle": {
          const r = this.#settleHere(
            engine,
            req.queue,
            req.group,
            req.action,
            req.messageId,
            req.retryAfter,
            req.reason,
          );
          if (r.ok) await engine.commit();
          return { ok: true, settle: r };
        }
      }
    } catch (err) {
      return failure(err);
    }
  }

  // ---- internals ------------------------------------------------------------------------------------------------

  #sleep(ms: number): Promise<void> {
    return new Promise((r) => this.#h.clock.setTimeout(r, ms));
  }

  /** A request to the queue's owner (handled in place when that is this node). */
  #call(queue: string, req: QueueRequest): Promise<QueueReply> {
    const o = this.#h.ownerOf(queue);
    if (o === undefined) {
      return Promise.resolve({ ok: false, code: ClusterQueueErrorCode.NoOwner, message: `no owner for ${queue}` });
    }
    if (o.node === this.#h.nodeId) return this.handle(this.#h.nodeId, req);
    return this.#h.link.request(o.node, req);
  }

  #forward(node: string, key: string, consumer: string, d: QueueDelivery): void {
    const r = this.#remotes.get(key);
    this.#h.link.deliver(node, consumer, d, () => {
      // The link could not take it (no link, over its limit): the consumer's unsettled messages go to others.
      if (r === undefined || this.#remotes.get(key) !== r) return;
      this.#remotes.delete(key);
      leaveQuietly(r.engine, r.consumer);
    });
  }

  #settleHere(
    engine: QueueEngine,
    queue: string,
    group: string,
    action: SettleAction,
    messageId: string,
    retryAfter: number | undefined,
    reason: string | undefined,
  ): SettleOutcome {
    if (action === "ack") return engine.ack(queue, group, messageId);
    if (action === "nack") return engine.nack(queue, group, messageId, retryAfter);
    return engine.reject(queue, group, messageId, reason);
  }

  async #settle(
    l: Local,
    action: SettleAction,
    messageId: string,
    retryAfter: number | undefined,
    reason: string | undefined,
  ): Promise<SettleOutcome> {
    const reply = await this.#call(l.queue, {
      kind: "settle",
      queue: l.queue,
      group: l.group,
      action,
      messageId,
      retryAfter,
      reason,
    }).catch(failure);
    if (reply.ok) return reply.settle!;
    throw new ClusterQueueError(ClusterQueueErrorCode.NoOwner, `settle on ${l.queue}: ${reply.message}`);
  }

  async #join(l: Local): Promise<void> {
    if (l.closed || l.joining) return;
    l.retry?.cancel();
    l.retry = undefined;
    l.joining = true;
    try {
      const o = this.#h.ownerOf(l.queue);
      if (l.here !== undefined) {
        leaveQuietly(l.here.engine, l.here.consumer);
        l.here = undefined;
      }
      l.joined = undefined;
      if (o === undefined) return; // changed() joins once the slot has an owner
      const engine = o.node === this.#h.nodeId ? this.#h.engineOf(l.queue) : undefined;
      if (o.node === this.#h.nodeId && engine === undefined) return; // our claim is not set up yet: retried below
      if (engine !== undefined) {
        const consumer = engine.join(l.queue, l.group, l.link, l.opts);
        l.here = { engine, consumer };
        l.joined = o;
        return;
      }
      const rep = await this.#h.link
        .request(o.node, {
          kind: "join",
          queue: l.queue,
          group: l.group,
          consumer: l.key,
          id: l.link.id,
          prefetch: l.opts.prefetch,
          start: l.opts.start,
        })
        .catch(failure);
      if (rep.ok) l.joined = o;
    } catch (err) {
      this.#h.logger.debug({ err, queue: l.queue }, "cluster queues: join failed");
    } finally {
      l.joining = false;
      if (!l.closed && (l.joined === undefined || l.joined.epoch !== this.#h.ownerOf(l.queue)?.epoch)) {
        l.retry = this.#h.clock.setTimeout(() => void this.#join(l), RETRY_MS);
      }
    }
  }

  async #close(l: Local): Promise<void> {
    if (l.closed) return;
    l.closed = true;
    l.retry?.cancel();
    this.#locals.delete(l.key);
    if (l.here !== undefined) {
      leaveQuietly(l.here.engine, l.here.consumer);
      l.here = undefined;
      return;
    }
    const o = l.joined;
    if (o !== undefined && o.node !== this.#h.nodeId) {
      await this.#h.link.request(o.node, { kind: "leave", queue: l.queue, consumer: l.key }).catch(failure);
    }
  }
}
