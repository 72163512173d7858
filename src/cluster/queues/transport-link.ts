// The clustered queues' replica and queue links over the cluster core's inter-node transport (docs/cluster.md
// "Inter-node transport"): one connection per peer, shared with routing; frames of this module are in the 64..127
// range. Request/response: a request carries an id, its reply comes back as a Reply frame over the replier's own link
// to the requester (each node writes on the connection it dialed). Frames written in one tick go out together (the
// transport batches per peer), so the replication frames and proxied publishes of one tick share one write.
//
//   body = u32 request id | v8-serialized payload (frames.ts)
//
// A request fails when the transport refuses it (no link, link over its 64 MiB limit), when the peer leaves the
// membership, or after `timeoutMs` (a paused or unreachable peer): the callers (replicator, routing) retry or fail
// the publish, never acknowledge it.
import { deserialize, serialize } from "node:v8";
import type { Clock, Logger, TimerHandle } from "../../util/index.ts";
import { silentLogger } from "../../util/index.ts";
import type { QueueLink, QueueReply, QueueRequest, ReplicaLink, ReplicationAck, ReplicationFrame } from "./frames.ts";

export const QueueFrame = {
  /** Owner -> replica: ReplicationFrame; answered with a ReplicationAck. */
  Replicate: 64,
  /** Any node -> slot owner or consumer's node: QueueRequest; answered with a QueueReply. */
  Request: 65,
  /** The answer to a Replicate or Request frame, by request id. */
  Reply: 66,
} as const;

/** What the link needs of the cluster core (ClusterNode.routingPeers() provides it). */
export interface QueuePeers {
  readonly self: string;
  send(node: string, type: number, body: Buffer | readonly Buffer[]): boolean;
  handle(type: number, fn: (from: string, body: Buffer) => void): () => void;
  onLeave(fn: (node: string) => void): () => void;
}

export interface TransportLinkHandlers {
  /** Answered once the replica applied it (durably, with a journal). */
  frame(f: ReplicationFrame): Promise<ReplicationAck>;
  request(from: string, req: QueueRequest): Promise<QueueReply>;
}

interface Pending {
  node: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: TimerHandle;
}

function frame(id: number, payload: unknown): Buffer[] {
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(id, 0);
  return [head, serialize(payload)];
}

export class TransportQueueLink implements ReplicaLink, QueueLink {
  readonly #peers: QueuePeers;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #timeoutMs: number;
  readonly #pending = new Map<number, Pending>();
  readonly #off: (() => void)[] = [];
  #id = 0;
  #closed = false;
  /** Requests failed: refused by the transport, peer left, timed out. */
  failed = 0;

  constructor(
    peers: QueuePeers,
    handlers: TransportLinkHandlers,
    o: { clock: Clock; logger?: Logger; timeoutMs?: number },
  ) {
    this.#peers = peers;
    this.#clock = o.clock;
    this.#logger = o.logger ?? silentLogger;
    this.#timeoutMs = o.timeoutMs ?? 5000;
    this.#off.push(
      peers.handle(QueueFrame.Replicate, (from, body) => {
        const id = body.readUInt32BE(0);
        // No answer when the durable write failed: the owner times out and the write is not acknowledged.
        handlers.frame(deserialize(body.subarray(4)) as ReplicationFrame).then(
          (ack) => this.#reply(from, id, ack),
          (err: unknown) => this.#logger.error({ err }, "cluster queues: replica copy not written"),
        );
      }),
      peers.handle(QueueFrame.Request, (from, body) => {
        const id = body.readUInt32BE(0);
        const req = deserialize(body.subarray(4)) as QueueRequest;
        void handlers.request(from, req).then((rep) => this.#reply(from, id, rep));
      }),
      peers.handle(QueueFrame.Reply, (_from, body) => {
        const p = this.#pending.get(body.readUInt32BE(0));
        if (p === undefined) return; // timed out or failed already
        this.#pending.delete(body.readUInt32BE(0));
        p.timer.cancel();
        p.resolve(deserialize(body.subarray(4)));
      }),
      peers.onLeave((node) => this.#failAll(node, `${node} left the cluster`)),
    );
  }

  send(node: string, f: ReplicationFrame): Promise<ReplicationAck> {
    return this.#call(node, QueueFrame.Replicate, f) as Promise<ReplicationAck>;
  }

  request(node: string, req: QueueRequest): Promise<QueueReply> {
    return this.#call(node, QueueFrame.Request, req) as Promise<QueueReply>;
  }

  /** Fails every request in flight and stops answering. */
  close(): void {
    this.#closed = true;
    for (const off of this.#off) off();
    this.#failAll(undefined, "closed");
  }

  #reply(to: string, id: number, payload: unknown): void {
    if (this.#closed) return;
    if (!this.#peers.send(to, QueueFrame.Reply, frame(id, payload))) {
      // The requester times out and retries; nothing was acknowledged on its behalf by this reply alone.
      this.#logger.debug({ to }, "cluster queues: reply not sent (no link)");
    }
  }

  #call(node: string, type: number, payload: unknown): Promise<unknown> {
    if (this.#closed) return Promise.reject(new Error("queue link closed"));
    const id = (this.#id = (this.#id + 1) >>> 0);
    return new Promise((resolve, reject) => {
      if (!this.#peers.send(node, type, frame(id, payload))) {
        this.failed++;
        reject(new Error(`no link to ${node}`));
        return;
      }
      const timer = this.#clock.setTimeout(() => {
        if (this.#pending.delete(id)) {
          this.failed++;
          reject(new Error(`request to ${node} timed out after ${this.#timeoutMs} ms`));
        }
      }, this.#timeoutMs);
      this.#pending.set(id, { node, resolve, reject, timer });
    });
  }

  #failAll(node: string | undefined, why: string): void {
    for (const [id, p] of this.#pending) {
      if (node !== undefined && p.node !== node) continue;
      this.#pending.delete(id);
      p.timer.cancel();
      this.failed++;
      p.reject(new Error(why));
    }
  }
}
