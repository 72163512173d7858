// The byte encoding of the clustered queues' frames (docs/cluster-queues.md "Wire"). The hot kinds — a proxied
// publish and its outcome, a settlement and its outcome, a delivery to a consumer's node, a replication frame of ops
// and its acknowledgement — are written field by field into one growing buffer; everything rare (joins, leaves,
// snapshots, refusals) and the optional fields of a message (5.0 properties, dead-letter info) are node:v8 blobs.
// node:v8 for every message cost 20-30 µs per message per direction under load (its serializer handles each
// Buffer through a JavaScript callback and allocates per call); written by hand a publish is well under 1 µs.
//
//   str   = u32 byte length | utf-8        bytes = u32 length | bytes        blob = bytes of node:v8 serialize()
//   f64 for sequence numbers, epochs, op indexes and times (integers up to 2^53)
//
// A field added to one of the encoded records must be added here too: test/unit/cluster-queues/wire.test.ts
// round-trips every kind and compares deeply.
import type { EnqueueInput, QueueDelivery } from "../../queues/index.ts";
import type { QueueReply, QueueRequest, ReplicationAck, ReplicationFrame } from "./frames.ts";
import type { StoreOp } from "./ops.ts";
import { WireReader, WireWriter } from "../transport/index.ts";

export { WireReader, WireWriter };

// ---- optional fields: one flags byte, then the fields present ---------------------------------------------------

const F = { properties: 1, partitionKey: 2, expiresAt: 4, dlq: 8, retryAfter: 16, reason: 32 } as const;

interface Optional {
  properties?: unknown;
  partitionKey?: string | undefined;
  expiresAt?: number | undefined;
  dlq?: unknown;
}

function writeOptional(w: WireWriter, o: Optional): void {
  const flags =
    (o.properties !== undefined ? F.properties : 0) |
    (o.partitionKey !== undefined ? F.partitionKey : 0) |
    (o.expiresAt !== undefined ? F.expiresAt : 0) |
    (o.dlq !== undefined ? F.dlq : 0);
  w.u8(flags);
  if (o.properties !== undefined) w.blob(o.properties);
  if (o.partitionKey !== undefined) w.str(o.partitionKey);
  if (o.expiresAt !== undefined) w.f64(o.expiresAt);
  if (o.dlq !== undefined) w.blob(o.dlq);
}

interface ReadOptional {
  properties: unknown;
  partitionKey: string | undefined;
  expiresAt: number | undefined;
  dlq: unknown;
}

/** The optional fields, each `undefined` when absent (as the engine's objects have them). */
function readOptional(r: WireReader): ReadOptional {
  const flags = r.u8();
  return {
    properties: flags & F.properties ? r.blob() : undefined,
    partitionKey: flags & F.partitionKey ? r.str() : undefined,
    expiresAt: flags & F.expiresAt ? r.f64() : undefined,
    dlq: flags & F.dlq ? r.blob() : undefined,
  };
}

// ---- store ops (replication) ------------------------------------------------------------------------------------

const Op = {
  append: 1,
  remove: 2,
  putGroup: 3,
  deleteGroup: 4,
  putPending: 5,
  deletePending: 6,
  putDone: 7,
  deleteDone: 8,
  drop: 9,
} as const;

export function writeOp(w: WireWriter, op: StoreOp): void {
  w.u8(Op[op.op]);
  w.str(op.queue);
  switch (op.op) {
    case "append":
      w.f64(op.seq);
      w.bytes(op.record.payload);
      w.f64(op.record.enqueuedAt);
      writeOptional(w, op.record);
      return;
    case "remove":
      w.f64(op.seq);
      return;
    case "putGroup":
      w.str(op.group);
      w.f64(op.record.floor);
      w.f64(op.record.createdAt);
      return;
    case "deleteGroup":
      w.str(op.group);
      return;
    case "putPending":
      w.str(op.group);
      w.f64(op.seq);
      w.f64(op.record.count);
      w.f64(op.record.visibleAt);
      return;
    case "deletePending":
    case "putDone":
    case "deleteDone":
      w.str(op.group);
      w.f64(op.seq);
      return;
    case "drop":
      return;
  }
}

export function readOp(r: WireReader): StoreOp {
  const code = r.u8();
  const queue = r.str();
  switch (code) {
    case Op.append: {
      const seq = r.f64();
      const payload = r.bytes(true); // kept in the copy's store
      const enqueuedAt = r.f64();
      const o = readOptional(r);
      // The keys the engine's records have: dlq only on dead letters.
      const record: Extract<StoreOp, { op: "append" }>["record"] = {
        payload,
        properties: o.properties as QueueDelivery["properties"],
        partitionKey: o.partitionKey,
        enqueuedAt,
        expiresAt: o.expiresAt,
      };
      if (o.dlq !== undefined) record.dlq = o.dlq as QueueDelivery["dlq"];
      return { op: "append", queue, seq, record };
    }
    case Op.remove:
      return { op: "remove", queue, seq: r.f64() };
    case Op.putGroup: {
      const group = r.str();
      return { op: "putGroup", queue, group, record: { floor: r.f64(), createdAt: r.f64() } };
    }
    case Op.deleteGroup:
      return { op: "deleteGroup", queue, group: r.str() };
    case Op.putPending: {
      const group = r.str();
      const seq = r.f64();
      return { op: "putPending", queue, group, seq, record: { count: r.f64(), visibleAt: r.f64() } };
    }
    case Op.deletePending:
      return { op: "deletePending", queue, group: r.str(), seq: r.f64() };
    case Op.putDone:
      return { op: "putDone", queue, group: r.str(), seq: r.f64() };
    case Op.deleteDone:
      return { op: "deleteDone", queue, group: r.str(), seq: r.f64() };
    case Op.drop:
      return { op: "drop", queue };
    default:
      throw new RangeError(`unknown store op ${code} in a replication frame`);
  }
}

// ---- replication frames and their acknowledgements --------------------------------------------------------------

export function writeReplication(w: WireWriter, f: ReplicationFrame): void {
  if (f.kind === "snapshot") {
    w.u8(0);
    w.blob(f);
    return;
  }
  w.u8(1);
  w.u32(f.slot);
  w.f64(f.epoch);
  w.f64(f.from);
  w.u32(f.ops.length);
  for (const op of f.ops) writeOp(w, op);
}

export function readReplication(r: WireReader): ReplicationFrame {
  if (r.u8() === 0) return r.blob() as ReplicationFrame;
  const slot = r.u32();
  const epoch = r.f64();
  const from = r.f64();
  const n = r.u32();
  const ops: StoreOp[] = new Array<StoreOp>(n);
  for (let i = 0; i < n; i++) ops[i] = readOp(r);
  return { kind: "ops", slot, epoch, from, ops };
}

// ---- proxied requests and replies -------------------------------------------------------------------------------

const Req = { other: 0, publish: 1, settle: 2 } as const;
const Action = { ack: 0, nack: 1, reject: 2 } as const;
const ACTIONS = ["ack", "nack", "reject"] as const;

export function writeRequest(w: WireWriter, q: QueueRequest): void {
  if (q.kind === "publish") {
    w.u8(Req.publish);
    w.str(q.queue);
    w.bytes(q.input.payload);
    writeOptional(w, q.input);
    return;
  }
  if (q.kind === "settle") {
    w.u8(Req.settle);
    w.str(q.queue);
    w.str(q.group);
    w.u8(Action[q.action]);
    w.str(q.messageId);
    w.u8((q.retryAfter !== undefined ? F.retryAfter : 0) | (q.reason !== undefined ? F.reason : 0));
    if (q.retryAfter !== undefined) w.f64(q.retryAfter);
    if (q.reason !== undefined) w.str(q.reason);
    return;
  }
  w.u8(Req.other);
  w.blob(q);
}

export function readRequest(r: WireReader): QueueRequest {
  const kind = r.u8();
  if (kind === Req.publish) {
    const queue = r.str();
    const payload = r.bytes(false); // the engine copies what it keeps
    const o = readOptional(r);
    const input: EnqueueInput = { payload, properties: o.properties as EnqueueInput["properties"] };
    if (o.partitionKey !== undefined) input.partitionKey = o.partitionKey;
    if (o.expiresAt !== undefined) input.expiresAt = o.expiresAt;
    return { kind: "publish", queue, input };
  }
  if (kind === Req.settle) {
    const queue = r.str();
    const group = r.str();
    const action = ACTIONS[r.u8()] ?? "ack";
    const messageId = r.str();
    const flags = r.u8();
    const retryAfter = flags & F.retryAfter ? r.f64() : undefined;
    const reason = flags & F.reason ? r.str() : undefined;
    return { kind: "settle", queue, group, action, messageId, retryAfter, reason };
  }
  return r.blob() as QueueRequest;
}

const Rep = { other: 0, ok: 1, published: 2, settled: 3, applied: 4 } as const;

/** A QueueReply or a ReplicationAck: the requester knows which it asked for. */
export function writeReply(w: WireWriter, v: QueueReply | ReplicationAck): void {
  if (v.ok) {
    if ("index" in v) {
      w.u8(Rep.applied);
      w.f64(v.index);
      return;
    }
    const p = v.publish;
    const s = v.settle;
    if (p === undefined && s === undefined) {
      w.u8(Rep.ok);
      return;
    }
    if (p?.ok === true && s === undefined) {
      w.u8(Rep.published);
      w.f64(p.seq);
      w.str(p.messageId);
      return;
    }
    if (s?.ok === true && p === undefined) {
      w.u8(Rep.settled);
      return;
    }
  }
  w.u8(Rep.other);
  w.blob(v);
}

export function readReply(r: WireReader): QueueReply | ReplicationAck {
  switch (r.u8()) {
    case Rep.ok:
      return { ok: true };
    case Rep.published: {
      const seq = r.f64();
      return { ok: true, publish: { ok: true, seq, messageId: r.str() } };
    }
    case Rep.settled:
      return { ok: true, settle: { ok: true } };
    case Rep.applied:
      return { ok: true, index: r.f64() };
    default:
      return r.blob() as QueueReply | ReplicationAck;
  }
}

// ---- deliveries to a consumer's node ----------------------------------------------------------------------------

export function writeDelivery(w: WireWriter, d: QueueDelivery): void {
  w.str(d.queue);
  w.str(d.group);
  w.f64(d.seq);
  w.str(d.messageId);
  w.u32(d.deliveryCount);
  w.u32(d.partition);
  w.bytes(d.payload);
  writeOptional(w, d);
}

export function readDelivery(r: WireReader): QueueDelivery {
  const queue = r.str();
  const group = r.str();
  const seq = r.f64();
  const messageId = r.str();
  const deliveryCount = r.u32();
  const partition = r.u32();
  const payload = r.bytes(true); // queued in the consumer's session
  const o = readOptional(r);
  return {
    queue,
    group,
    seq,
    messageId,
    deliveryCount,
    partition,
    payload,
    properties: o.properties as QueueDelivery["properties"],
    partitionKey: o.partitionKey,
    dlq: o.dlq as QueueDelivery["dlq"],
    expiresAt: o.expiresAt,
  };
}

// ---- one value per buffer -----------------------------------------------------------------------------------------

function encoded(write: (w: WireWriter) => void): Buffer {
  const w = new WireWriter(256);
  write(w);
  return w.take();
}

// One value per buffer (the in-memory test link; the peer transport batches them: transport-link.ts).
export const encodeReplication = (f: ReplicationFrame): Buffer => encoded((w) => writeReplication(w, f));
export const encodeRequest = (q: QueueRequest): Buffer => encoded((w) => writeRequest(w, q));
export const encodeReply = (v: QueueReply | ReplicationAck): Buffer => encoded((w) => writeReply(w, v));
export const encodeDelivery = (d: QueueDelivery): Buffer => encoded((w) => writeDelivery(w, d));
export const decodeReplication = (b: Buffer): ReplicationFrame => readReplication(new WireReader(b));
export const decodeRequest = (b: Buffer): QueueRequest => readRequest(new WireReader(b));
export const decodeAck = (b: Buffer): ReplicationAck => readReply(new WireReader(b)) as ReplicationAck;
export const decodeReply = (b: Buffer): QueueReply => readReply(new WireReader(b)) as QueueReply;
export const decodeDelivery = (b: Buffer): QueueDelivery => readDelivery(new WireReader(b));
