// Replication frames between a slot's owner and its replicas, and their byte encoding for the peer transport
// (node:v8 serialization: structured data with Buffers, Maps and Sets, no schema to keep in step by hand).
import { deserialize, serialize } from "node:v8";
import type { LoadedQueue } from "../../queues/index.ts";
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

export function encodeFrame(f: ReplicationFrame | ReplicationAck): Buffer {
  return serialize(f);
}

/** Node's v8 serializer writes Buffers as host objects: they come back as Buffers (payloads, correlation data). */
export function decodeFrame(b: Buffer): ReplicationFrame {
  return deserialize(b) as ReplicationFrame;
}

export function decodeAck(b: Buffer): ReplicationAck {
  return deserialize(b) as ReplicationAck;
}
