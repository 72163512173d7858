// The clustered queues' replica and queue links over the cluster core's inter-node transport (docs/cluster.md
// "Inter-node transport"): one connection per peer, shared with routing; frames of this module are in the 64..127
// range. Everything this node has for one peer during one turn of the event loop — replication frames, proxied
// publishes and settlements, replies, deliveries — is written into one buffer and sent as one Batch frame (one
// transport frame and one decode per peer per turn instead of one per message: with sync replication a message
// crossed nodes six times as a frame of its own, each a node:v8 serialization, and that was most of the cost).
//
//   Batch body = entry*       entry = u8 kind | fields (wire.ts)
//     Replicate: u32 request id | replication frame      (answered with a Reply: the ReplicationAck)
//     Request:   u32 request id | queue request          (answered with a Reply: the QueueReply)
//     Reply:     u32 request id | reply
//     Deliver:   consumer key | delivery                 (one way; "leave" request back if the consumer is gone)
//
// A reply comes back over the replier's own link to the requester (each node writes on the connection it dialed).
// A request fails when the transport refuses its batch (no link, link over its 64 MiB limit), when the peer leaves
// the membership, or after `timeoutMs` (a paused or unreachable peer): the callers (replicator, routing) retry or
// fail the publish, never acknowledge it. A delivery the transport refused calls its `onRefused`.
import type { QueueDelivery } from "../../queues/index.ts";
import type { Clock, Logger, TimerHandle } from "../../util/index.ts";
import { silentLogger } from "../../util/index.ts";
import type { QueueLink, QueueReply, QueueRequest, ReplicaLink, ReplicationAck, ReplicationFrame } from "./frames.ts";
import {
  readDelivery,
  readReplication,
  readReply,
  readRequest,
  WireReader,
  WireWriter,
  writeDelivery,
  writeReplication,
  writeReply,
  writeRequest,
} from "./wire.ts";

export const QueueFrame = {
  /** Entries for one peer from one turn of the event loop (above). */
  Batch: 67,
} as const;

const Entry = { Replicate: 1, Request: 2, Reply: 3, Deliver: 4 } as const;

/** A batch is sent once it holds this much, without waiting for the end of the turn (bounds the frame size). */
const BATCH_BYTES = 1024 * 1024;

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
  deliver(from: string, consumer: string, d: QueueDelivery): void;
}

interface Pending {
  node: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  deadline: number;
}

/** What is being collected for one peer: the bytes, and who to tell if the transport refuses them. */
interface Outgoing {
  readonly w: WireWriter;
  ids: number[];
  refused: (() => void)[];
}

export class TransportQueueLink implements ReplicaLink, QueueLink {
  readonly #peers: QueuePeers;
  readonly #handlers: TransportLinkHandlers;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #timeoutMs: number;
  /** Requests in flight by id; ids grow, so insertion order is deadline order. */
  readonly #pending = new Map<number, Pending>();
  readonly #out = new Map<string, Outgoing>();
  readonly #off: (() => void)[] = [];
  #flushScheduled = false;
  #sweep: TimerHandle | undefined;
  #id = 0;
  #closed = false;
  /** Requests failed: refused by the transport, peer left, timed out. */
  failed = 0;
  /** Batch frames sent and entries in them (admin, benchmarks). */
  batches = 0;
  entries = 0;

  constructor(
    peers: QueuePeers,
    handlers: TransportLinkHandlers,
    o: { clock: Clock; logger?: Logger; timeoutMs?: number },
  ) {
    this.#peers = peers;
    this.#handlers = handlers;
    this.#clock = o.clock;
    this.#logger = o.logger ?? silentLogger;
    this.#timeoutMs = o.timeoutMs ?? 5000;
    this.#off.push(
      peers.handle(QueueFrame.Batch, (from, body) => this.#receive(from, body)),
      peers.onLeave((node) => this.#failAll(node, `${node} left the cluster`)),
    );
  }

  send(node: string, f: ReplicationFrame): Promise<ReplicationAck> {
    return this.#call(node, Entry.Replicate, (w) => writeReplication(w, f)) as Promise<ReplicationAck>;
  }

  request(node: string, req: QueueRequest): Promise<QueueReply> {
    return this.#call(node, Entry.Request, (w) => writeRequest(w, req)) as Promise<QueueReply>;
  }

  deliver(node: string, consumer: string, d: QueueDelivery, onRefused: () => void): void {
    if (this.#closed) {
      onRefused();
      return;
    }
    const o = this.#outgoing(node);
    o.w.u8(Entry.Deliver);
    o.w.str(consumer);
    writeDelivery(o.w, d);
    o.refused.push(onRefused);
    this.#written(node, o);
  }

  /** Fails every request in flight and stops answering. */
  close(): void {
    this.#closed = true;
    for (const off of this.#off) off();
    this.#sweep?.cancel();
    this.#sweep = undefined;
    this.#out.clear();
    this.#failAll(undefined, "closed");
  }

  // ---- receiving ----------------------------------------------------------------------------------------------

  #receive(from: string, body: Buffer): void {
    const r = new WireReader(body);
    try {
      while (!r.done) {
        const kind = r.u8();
        if (kind === Entry.Deliver) {
          const consumer = r.str();
          this.#handlers.deliver(from, consumer, readDelivery(r));
          continue;
        }
        const id = r.u32();
        if (kind === Entry.Reply) this.#replied(id, readReply(r));
        else if (kind === Entry.Request) {
          void this.#handlers.request(from, readRequest(r)).then((rep) => this.#reply(from, id, rep));
        } else if (kind === Entry.Replicate) {
          // No answer when the durable write failed: the owner times out and the write is not acknowledged.
          this.#handlers.frame(readReplication(r)).then(
            (ack) => this.#reply(from, id, ack),
            (err: unknown) => this.#logger.error({ err }, "cluster queues: replica copy not written"),
          );
        } else throw new RangeError(`unknown entry kind ${kind}`);
      }
    } catch (err) {
      // A bug or a foreign peer: what came before the bad entry was handled; the rest times out at the sender.
      this.#logger.error({ err, from }, "cluster queues: undecodable batch from a peer");
    }
  }

  #replied(id: number, value: unknown): void {
    const p = this.#pending.get(id);
    if (p === undefined) return; // timed out or failed already
    this.#pending.delete(id);
    p.resolve(value);
  }

  #reply(to: string, id: number, v: QueueReply | ReplicationAck): void {
    if (this.#closed) return;
    const o = this.#outgoing(to);
    o.w.u8(Entry.Reply);
    o.w.u32(id);
    writeReply(o.w, v);
    this.#written(to, o);
  }

  // ---- sending ------------------------------------------------------------------------------------------------

  #call(node: string, kind: number, write: (w: WireWriter) => void): Promise<unknown> {
    if (this.#closed) return Promise.reject(new Error("queue link closed"));
    const id = (this.#id = (this.#id + 1) >>> 0);
    return new Promise((resolve, reject) => {
      const o = this.#outgoing(node);
      o.w.u8(kind);
      o.w.u32(id);
      write(o.w);
      o.ids.push(id);
      this.#pending.set(id, { node, resolve, reject, deadline: this.#clock.now() + this.#timeoutMs });
      if (this.#sweep === undefined) this.#armSweep(this.#timeoutMs);
      this.#written(node, o);
    });
  }

  #outgoing(node: string): Outgoing {
    let o = this.#out.get(node);
    if (o === undefined) {
      o = { w: new WireWriter(), ids: [], refused: [] };
      this.#out.set(node, o);
    }
    return o;
  }

  #written(node: string, o: Outgoing): void {
    this.entries++;
    if (o.w.length >= BATCH_BYTES) this.#send(node, o);
    else if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      // After this turn's callbacks and their promise continuations (replies resolve in microtasks).
      setImmediate(() => this.#flush());
    }
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#closed) return;
    for (const [node, o] of this.#out) if (o.w.length > 0) this.#send(node, o);
  }

  #send(node: string, o: Outgoing): void {
    const body = o.w.take();
    const ids = o.ids;
    const refused = o.refused;
    o.ids = [];
    o.refused = [];
    this.batches++;
    if (this.#peers.send(node, QueueFrame.Batch, body)) return;
    // The transport refused the batch: its requests fail now (the callers retry), its deliveries are given back.
    for (const id of ids) {
      const p = this.#pending.get(id);
      if (p === undefined) continue;
      this.#pending.delete(id);
      this.failed++;
      p.reject(new Error(`no link to ${node}`));
    }
    for (const fn of refused) fn();
  }

  /** One timer for every request in flight: at the oldest one's deadline. */
  #armSweep(ms: number): void {
    this.#sweep = this.#clock.setTimeout(() => {
      this.#sweep = undefined;
      const now = this.#clock.now();
      for (const [id, p] of this.#pending) {
        if (p.deadline > now) {
          this.#armSweep(p.deadline - now);
          return;
        }
        this.#pending.delete(id);
        this.failed++;
        p.reject(new Error(`request to ${p.node} timed out after ${this.#timeoutMs} ms`));
      }
    }, ms);
  }

  #failAll(node: string | undefined, why: string): void {
    for (const [id, p] of this.#pending) {
      if (node !== undefined && p.node !== node) continue;
      this.#pending.delete(id);
      this.failed++;
      p.reject(new Error(why));
    }
  }
}
