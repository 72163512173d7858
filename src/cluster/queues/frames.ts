// Replication frames between a slot's owner and its replicas, and their byte encoding for the peer transport
// (node:v8 serialization: structured data with Buffers, Maps and Sets, no schema to keep in step by hand).
import { deserialize, serialize } from "node:v8";
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

/** Proxy routing (docs/cluster.md): what a node asks of a slot's owner, and what the owner sends a consumer's node. */
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
  | { kind: "leave"; queue: string; consumer: string }
  | {
      kind: "settle";
      queue: string;
      group: string;
      action: SettleAction;
      messageId: string;
      retryAfter?: number | undefined;
      reason?: string | undefined;
    }
  | { kind: "deliver"; consumer: string; delivery: QueueDelivery };

export type SettleAction = "ack" | "nack" | "reject";

export type QueueReply =
  | { ok: true; publish?: PublishOutcome; settle?: SettleOutcome }
  /** `code`: a ClusterQueueError code (no owner, fenced, not replicated) or QUEUE_… from the engine. */
  | { ok: false; code: string; message: string };

/** How a node reaches another node's handleRequest(): request/response to a node id. */
export interface QueueLink {
  request(node: string, req: QueueRequest): Promise<QueueReply>;
}

export function encodeFrame(f: ReplicationFrame | ReplicationAck | QueueRequest | QueueReply): Buffer {
  return serialize(f);
}

/** Node's v8 serializer writes Buffers as host objects: they come back as Buffers (payloads, correlation data). */
export function decodeFrame(b: Buffer): ReplicationFrame {
  return deserialize(b) as ReplicationFrame;
}

export function decodeAck(b: Buffer): ReplicationAck {
  return deserialize(b) as ReplicationAck;
}

export function decodeRequest(b: Buffer): QueueRequest {
  return deserialize(b) as QueueRequest;
}

export function decodeReply(b: Buffer): QueueReply {
  return deserialize(b) as QueueReply;
}
