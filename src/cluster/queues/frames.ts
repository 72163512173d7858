// Replication frames between a slot's owner and its replicas, proxy requests between nodes, and their byte encoding
// for the peer transport are in wire.ts.
import type {
  EnqueueInput,
  LoadedQueue,
  PublishOutcome,
  QueueDelivery,
  SettleOutcome,
  StreamStart,
} from "../../queues/index.ts";
import type { StoreOp } from "./ops.ts";

export type ReplicationFrame =
  /** The slot's whole state at op `index` (a new replica, or one that fell out of step). */
  | { kind: "snapshot"; slot: number; epoch: number; index: number; queues: LoadedQueue[] }
  /** Ops `from` .. `from + ops.length - 1` of the owner's log at `epoch`. */
  | { kind: "ops"; slot: number; epoch: number; from: number; ops: StoreOp[] };

export type ReplicationAck =
  | { ok: true; index: number }
  /** The replica knows a later epoch for the slot: the sender is a former owner. */
  | { ok: false; reason: "fenced"; epoch: number }
  /** Not in step (no state for this epoch, or a gap): send a snapshot. */
  | { ok: false; reason: "resync" };

/** How an owner reaches a replica: request/response to a node id, in order per node. */
export interface ReplicaLink {
  send(node: string, frame: ReplicationFrame): Promise<ReplicationAck>;
}

/** Proxy routing (docs/cluster.md): what a node asks of a slot's owner. */
export type QueueRequest =
  | { kind: "publish"; queue: string; input: EnqueueInput }
  | {
      kind: "join";
      queue: string;
      group: string;
      /** The consumer's key on its node (unique per node). */
      consumer: string;
      /** The client id (stats, logs). */
      id: string;
      prefetch?: number | undefined;
      start?: StreamStart | undefined;
    }
  /** Also sent by a consumer's node that got a delivery for a consumer it no longer has. */
  | { kind: "leave"; queue: string; consumer: string }
  | {
      kind: "settle";
      queue: string;
      group: string;
      action: SettleAction;
      messageId: string;
      retryAfter?: number | undefined;
      reason?: string | undefined;
    };

export type SettleAction = "ack" | "nack" | "reject";

export type QueueReply =
  | { ok: true; publish?: PublishOutcome; settle?: SettleOutcome }
  /** `code`: a ClusterQueueError code (no owner, fenced, not replicated) or QUEUE_… from the engine. */
  | { ok: false; code: string; message: string };

/** How a node reaches another node's handleRequest() (request/response), and a consumer's node (one-way). */
export interface QueueLink {
  request(node: string, req: QueueRequest): Promise<QueueReply>;
  /**
   * A delivery for `consumer` (its key on `node`), one way: the consumer's node answers only when it has no such
   * consumer (a "leave" request). `onRefused`: the link could not take it (no link, over its limit).
   */
  deliver(node: string, consumer: string, d: QueueDelivery, onRefused: () => void): void;
}
