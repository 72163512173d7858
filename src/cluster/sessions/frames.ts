// Frames of session takeover across nodes (in the 16..63 range of transport/frame-types.ts; routing has 16..21).
//
//   TakeoverRequest  JSON TakeoverRequest: "give me client id `c`, which you own at revision `rev`"
//   TakeoverReply    u32 n | JSON ReplyHead (n bytes) | deliveries: the session state, if any
//
// A delivery is `u32 n | u8 qos | u8 retain | u8 ids | ids x u32 | message` (n bytes after the u32), the message
// in message-codec.ts's format; the in-flight deliveries come first (in their order), then the queued ones.
import type { Delivery, OutStateValue, SessionState, Subscription } from "../../broker/index.ts";
import { ClusterError, ClusterErrorCode } from "../errors.ts";
import { BodyReader, encodeMessageHead } from "../routing/message-codec.ts";

export const SessionFrame = {
  TakeoverRequest: 24,
  TakeoverReply: 25,
} as const;

export interface TakeoverRequest {
  /** Request id, echoed by the reply. */
  readonly id: number;
  /** Client id. */
  readonly c: string;
  /** The revision of the ownership key the requester read. */
  readonly rev: string;
  /** The requester's lease: the owner moves the key onto it. */
  readonly lease: string;
  /** The CONNECT asked for a clean start: no state to send. */
  readonly clean: boolean;
}

/** "moved": the key is the requester's now (at `rev`), the state follows if there was a session; "not-owner": read again. */
export type TakeoverOutcome = "moved" | "not-owner";

export interface TakeoverReply {
  readonly id: number;
  readonly r: TakeoverOutcome;
  readonly rev?: string | undefined;
  readonly state?: SessionState | undefined;
}

interface ReplyHead {
  id: number;
  r: TakeoverOutcome;
  rev?: string;
  /** Present with a state. */
  subs?: Subscription[];
  /** [packetId, state] per in-flight delivery. */
  inflight?: [number, OutStateValue][];
  queued?: number;
  in2?: number[];
}

export function encodeRequest(r: TakeoverRequest): Buffer {
  return Buffer.from(JSON.stringify(r));
}

export function decodeRequest(body: Buffer): TakeoverRequest {
  const v = JSON.parse(body.toString()) as Partial<TakeoverRequest>;
  if (typeof v.id !== "number" || typeof v.c !== "string" || typeof v.rev !== "string") throw bad("request");
  if (typeof v.lease !== "string" || typeof v.clean !== "boolean") throw bad("request");
  return v as TakeoverRequest;
}

export function encodeReply(r: TakeoverReply): Buffer[] {
  const head: ReplyHead = { id: r.id, r: r.r, rev: r.rev };
  const parts: Buffer[] = [];
  const s = r.state;
  if (s !== undefined) {
    head.subs = [...s.subscriptions];
    head.inflight = s.inflight.map((o) => [o.packetId, o.state]);
    head.queued = s.queued.length;
    head.in2 = [...s.inboundQos2];
    for (const o of s.inflight) encodeDelivery(o.delivery, parts);
    for (const d of s.queued) encodeDelivery(d, parts);
  }
  const json = Buffer.from(JSON.stringify(head));
  const n = Buffer.allocUnsafe(4);
  n.writeUInt32BE(json.length, 0);
  return [n, json, ...parts];
}

export function decodeReply(body: Buffer): TakeoverReply {
  const n = body.readUInt32BE(0);
  const head = JSON.parse(body.toString("utf8", 4, 4 + n)) as ReplyHead;
  if (typeof head.id !== "number" || (head.r !== "moved" && head.r !== "not-owner")) throw bad("reply");
  if (head.subs === undefined) return { id: head.id, r: head.r, rev: head.rev };
  let off = 4 + n;
  const next = (): Delivery => {
    if (off + 4 > body.length) throw bad("truncated state");
    const len = body.readUInt32BE(off);
    const d = decodeDelivery(body.subarray(off + 4, off + 4 + len));
    off += 4 + len;
    return d;
  };
  const inflight = (head.inflight ?? []).map(([packetId, state]) => ({ packetId, state, delivery: next() }));
  const queued: Delivery[] = [];
  for (let i = 0; i < (head.queued ?? 0); i++) queued.push(next());
  const subscriptions = head.subs.map((j) => subscriptionFromJson(j));
  return {
    id: head.id,
    r: head.r,
    rev: head.rev,
    state: { subscriptions, inflight, queued, inboundQos2: head.in2 ?? [] },
  };
}

function encodeDelivery(d: Delivery, parts: Buffer[]): void {
  const ids = d.subscriptionIds ?? [];
  const pre = Buffer.allocUnsafe(4 + 3 + 4 * ids.length);
  const msgHead = encodeMessageHead(d.msg);
  pre.writeUInt32BE(3 + 4 * ids.length + msgHead.length + d.msg.payload.length, 0);
  pre.writeUInt8(d.qos, 4);
  pre.writeUInt8(d.retain ? 1 : 0, 5);
  pre.writeUInt8(ids.length, 6);
  ids.forEach((id, i) => pre.writeUInt32BE(id, 7 + 4 * i));
  parts.push(pre, msgHead, d.msg.payload);
}

function decodeDelivery(b: Buffer): Delivery {
  const qos = b.readUInt8(0);
  if (qos > 2) throw bad("QoS");
  const nIds = b.readUInt8(2);
  const ids: number[] = [];
  for (let i = 0; i < nIds; i++) ids.push(b.readUInt32BE(3 + 4 * i));
  const reader = new BodyReader(b);
  reader.off = 3 + 4 * nIds;
  // Its own copy: the frame's buffer would otherwise stay pinned as long as the message waits in the session.
  const msg = reader.message();
  return {
    msg: { ...msg, payload: Buffer.from(msg.payload) },
    qos: qos as Delivery["qos"],
    retain: b.readUInt8(1) === 1,
    subscriptionIds: nIds === 0 ? undefined : ids,
  };
}

/** A subscription from the reply's JSON (checked: it came over the network). */
function subscriptionFromJson(j: unknown): Subscription {
  const v = j as Subscription;
  const raw = j as Record<string, unknown>;
  if (typeof v.filter !== "string" || typeof v.qos !== "number" || v.qos < 0 || v.qos > 2) throw bad("subscription");
  return {
    filter: v.filter,
    qos: v.qos,
    noLocal: raw.noLocal === true,
    retainAsPublished: raw.retainAsPublished === true,
    retainHandling: v.retainHandling ?? 0,
    identifier: v.identifier,
    shared: v.shared,
    queue: v.queue,
    version: v.version,
  };
}

function bad(what: string): ClusterError {
  return new ClusterError(ClusterErrorCode.BadFrame, `invalid session takeover frame: ${what}`);
}
