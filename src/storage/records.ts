// On-disk value shapes (schema version 1) and their conversion to and from the public records. Field names are
// one or two letters because msgpack repeats them in every value. Encoders build fresh objects and copy nested
// structures, so a caller mutating its objects after a call cannot change what is written later; Buffers
// (payloads, binary properties) are shared, never copied: callers must treat them as immutable.
import type { Properties, QoS, UserProperty, Will } from "../codec/types.ts";
import { WharfError } from "../util/errors.ts";
import type {
  QueueEntryMeta,
  DeliveryOptions,
  InflightMessage,
  MessageId,
  PendingEntry,
  QueuedMessage,
  SessionRecord,
  StoredMessage,
  StoredSubscription,
  StoredWill,
} from "./types.ts";

/** Thrown by decoders on a value of the wrong shape; the loader turns it into STORAGE_CORRUPT. */
export class CorruptRecordError extends WharfError<"STORAGE_CORRUPT_RECORD"> {
  override readonly name = "CorruptRecordError";
  constructor(message: string) {
    super("STORAGE_CORRUPT_RECORD", message);
  }
}

type Obj = Record<string, unknown>;

function obj(v: unknown, what: string): Obj {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new CorruptRecordError(`${what} is not a record`);
  return v as Obj;
}
function num(o: Obj, field: string, what: string): number {
  const v = o[field];
  if (typeof v !== "number" || !Number.isFinite(v)) throw new CorruptRecordError(`${what}.${field} is not a number`);
  return v;
}
function optNum(o: Obj, field: string, what: string): number | undefined {
  return o[field] === undefined ? undefined : num(o, field, what);
}
function str(o: Obj, field: string, what: string): string {
  const v = o[field];
  if (typeof v !== "string") throw new CorruptRecordError(`${what}.${field} is not a string`);
  return v;
}
function optStr(o: Obj, field: string, what: string): string | undefined {
  return o[field] === undefined ? undefined : str(o, field, what);
}
function bool(o: Obj, field: string): boolean {
  return o[field] === true || o[field] === 1;
}
function qos(o: Obj, field: string, what: string): QoS {
  const v = o[field];
  if (v !== 0 && v !== 1 && v !== 2) throw new CorruptRecordError(`${what}.${field} is not a QoS`);
  return v;
}
function buf(o: Obj, field: string, what: string): Buffer {
  const v = o[field];
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  throw new CorruptRecordError(`${what}.${field} is not binary`);
}
function numbers(v: unknown, what: string): number[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((n) => typeof n === "number"))
    throw new CorruptRecordError(`${what} is not numbers`);
  return v;
}

/** Deep copy of properties: arrays copied, undefined entries dropped, Buffers shared. */
export function copyProperties(p: Properties | undefined): Properties | undefined {
  if (p === undefined) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p)) {
    if (v === undefined) continue;
    if (k === "userProperties") out[k] = (v as UserProperty[]).map(([a, b]) => [a, b]);
    else if (Array.isArray(v)) out[k] = [...(v as unknown[])];
    else out[k] = v;
  }
  return out;
}

function decodeProperties(v: unknown, what: string): Properties | undefined {
  if (v === undefined) return undefined;
  const o = obj(v, what);
  const up = o.userProperties;
  if (up !== undefined) {
    const ok =
      Array.isArray(up) &&
      up.every((e) => Array.isArray(e) && e.length === 2 && typeof e[0] === "string" && typeof e[1] === "string");
    if (!ok) throw new CorruptRecordError(`${what}.userProperties is not a list of pairs`);
  }
  for (const f of ["correlationData", "authenticationData"]) if (o[f] !== undefined) o[f] = buf(o, f, what);
  return o;
}

// ---- messages -------------------------------------------------------------------------------------------------

export function encodeMessage(m: StoredMessage): Obj {
  const v: Obj = { t: m.topic, p: m.payload, q: m.qos, r: m.retain ? 1 : 0 };
  const props = copyProperties(m.properties);
  if (props !== undefined) v.x = props;
  if (m.expiresAt !== undefined) v.e = m.expiresAt;
  if (m.origin !== undefined) v.o = m.origin;
  return v;
}

export function decodeMessage(raw: unknown): StoredMessage {
  const what = "message";
  const o = obj(raw, what);
  const m: StoredMessage = {
    topic: str(o, "t", what),
    payload: buf(o, "p", what),
    qos: qos(o, "q", what),
    retain: bool(o, "r"),
  };
  const props = decodeProperties(o.x, `${what}.properties`);
  if (props !== undefined) m.properties = props;
  const e = optNum(o, "e", what);
  if (e !== undefined) m.expiresAt = e;
  const origin = optStr(o, "o", what);
  if (origin !== undefined) m.origin = origin;
  return m;
}

// ---- sessions, wills, subscriptions ---------------------------------------------------------------------------

export function encodeSession(s: SessionRecord): Obj {
  const v: Obj = { c: s.clientId, v: s.protocolVersion, i: s.expiryInterval, s: s.lastSeen };
  if (s.expiresAt !== undefined) v.e = s.expiresAt;
  if (s.username !== undefined) v.u = s.username;
  return v;
}

export function decodeSession(raw: unknown): SessionRecord {
  const what = "session";
  const o = obj(raw, what);
  const pv = o.v;
  if (pv !== 3 && pv !== 4 && pv !== 5) throw new CorruptRecordError(`${what}.v is not a protocol version`);
  const s: SessionRecord = {
    clientId: str(o, "c", what),
    protocolVersion: pv,
    expiryInterval: num(o, "i", what),
    lastSeen: num(o, "s", what),
  };
  const e = optNum(o, "e", what);
  if (e !== undefined) s.expiresAt = e;
  const u = optStr(o, "u", what);
  if (u !== undefined) s.username = u;
  return s;
}

export function encodeWill(w: StoredWill): Obj {
  const will: Obj = { t: w.will.topic, p: w.will.payload, q: w.will.qos, r: w.will.retain ? 1 : 0 };
  const props = copyProperties(w.will.properties);
  if (props !== undefined) will.x = props;
  const v: Obj = { c: w.clientId, w: will };
  if (w.deadline !== undefined) v.d = w.deadline;
  if (w.username !== undefined) v.u = w.username;
  return v;
}

export function decodeWill(raw: unknown): StoredWill {
  const what = "will";
  const o = obj(raw, what);
  const wo = obj(o.w, `${what}.w`);
  const will: Will = {
    topic: str(wo, "t", what),
    payload: buf(wo, "p", what),
    qos: qos(wo, "q", what),
    retain: bool(wo, "r"),
  };
  const props = decodeProperties(wo.x, `${what}.properties`);
  if (props !== undefined) will.properties = props;
  const w: StoredWill = { clientId: str(o, "c", what), will };
  const d = optNum(o, "d", what);
  if (d !== undefined) w.deadline = d;
  const u = optStr(o, "u", what);
  if (u !== undefined) w.username = u;
  return w;
}

export function encodeSubscription(s: StoredSubscription, clientId: string | undefined): Obj {
  const v: Obj = {
    f: s.filter,
    q: s.qos,
    n: s.noLocal ? 1 : 0,
    a: s.retainAsPublished ? 1 : 0,
    h: s.retainHandling,
  };
  if (s.identifier !== undefined) v.i = s.identifier;
  if (clientId !== undefined) v.c = clientId;
  return v;
}

export function decodeSubscription(raw: unknown): StoredSubscription & { clientId: string | undefined } {
  const what = "subscription";
  const o = obj(raw, what);
  const h = o.h;
  if (h !== 0 && h !== 1 && h !== 2) throw new CorruptRecordError(`${what}.h is not a retain handling`);
  const s: StoredSubscription & { clientId: string | undefined } = {
    filter: str(o, "f", what),
    qos: qos(o, "q", what),
    noLocal: bool(o, "n"),
    retainAsPublished: bool(o, "a"),
    retainHandling: h,
    clientId: optStr(o, "c", what),
  };
  const i = optNum(o, "i", what);
  if (i !== undefined) s.identifier = i;
  return s;
}

// ---- per-session deliveries -----------------------------------------------------------------------------------

function encodeDelivery(d: DeliveryOptions, v: Obj): Obj {
  v.q = d.qos;
  v.r = d.retain ? 1 : 0;
  if (d.subscriptionIds !== undefined && d.subscriptionIds.length > 0) v.s = [...d.subscriptionIds];
  return v;
}

function decodeDelivery(o: Obj, what: string): DeliveryOptions {
  const d: DeliveryOptions = { qos: qos(o, "q", what), retain: bool(o, "r") };
  const s = numbers(o.s, `${what}.s`);
  if (s !== undefined) d.subscriptionIds = s;
  return d;
}

export function encodeQueued(messageId: MessageId, d: DeliveryOptions, clientId: string | undefined): Obj {
  const v = encodeDelivery(d, { m: messageId });
  if (clientId !== undefined) v.c = clientId;
  return v;
}

export function decodeQueued(seq: number, raw: unknown): QueuedMessage & { clientId: string | undefined } {
  const what = "queue entry";
  const o = obj(raw, what);
  return { seq, messageId: num(o, "m", what), ...decodeDelivery(o, what), clientId: optStr(o, "c", what) };
}

export function encodeInflight(m: InflightMessage, clientId: string | undefined): Obj {
  const v = encodeDelivery(m, { st: m.state, o: m.order });
  if (m.messageId !== undefined) v.m = m.messageId;
  if (clientId !== undefined) v.c = clientId;
  return v;
}

export function decodeInflight(packetId: number, raw: unknown): InflightMessage & { clientId: string | undefined } {
  const what = "inflight entry";
  const o = obj(raw, what);
  const st = o.st;
  if (st !== 1 && st !== 2 && st !== 3) throw new CorruptRecordError(`${what}.st is not a state`);
  return {
    packetId,
    state: st,
    messageId: optNum(o, "m", what),
    order: num(o, "o", what),
    ...decodeDelivery(o, what),
    clientId: optStr(o, "c", what),
  };
}

export function encodeInbound(receivedAt: number, clientId: string | undefined): Obj {
  return clientId === undefined ? { at: receivedAt } : { at: receivedAt, c: clientId };
}

export function decodeInbound(raw: unknown): { receivedAt: number; clientId: string | undefined } {
  const o = obj(raw, "inbound entry");
  return { receivedAt: num(o, "at", "inbound entry"), clientId: optStr(o, "c", "inbound entry") };
}

// ---- retained, queue logs, meta -------------------------------------------------------------------------------

export function decodeRetained(raw: unknown): { topic: string; messageId: MessageId } {
  const o = obj(raw, "retained entry");
  return { topic: str(o, "t", "retained entry"), messageId: num(o, "m", "retained entry") };
}

export function decodeQueueMeta(raw: unknown): { name: string; tail: number } {
  const o = obj(raw, "queue meta");
  return { name: str(o, "n", "queue meta"), tail: num(o, "f", "queue meta") };
}

export function encodeLogEntry(messageId: MessageId, appendedAt: number, meta?: QueueEntryMeta): Obj {
  return meta === undefined ? { m: messageId, at: appendedAt } : { m: messageId, at: appendedAt, x: meta };
}

/** The entry's meta map. Its values are checked by whoever reads them (typeof per field): this runs once per entry
 * at every open, so it only checks the shape. */
function logMeta(o: Obj, what: string): QueueEntryMeta | undefined {
  const x = o.x;
  if (x === undefined) return undefined;
  if (typeof x !== "object" || x === null || Array.isArray(x)) throw new CorruptRecordError(`${what}: x is not a map`);
  return x as QueueEntryMeta;
}

/**
 * A log entry with its own body inside (appendMessage, schema 4): `b` is the body as `msg` stores one. One record
 * per queue message instead of a body and an entry (each written and, once acknowledged, deleted).
 */
export function encodeBodyEntry(body: Obj, appendedAt: number, meta?: QueueEntryMeta): Obj {
  return meta === undefined ? { b: body, at: appendedAt } : { b: body, at: appendedAt, x: meta };
}

/**
 * A queue log entry. `m` is a message id, or `b` the entry's own body (encodeBodyEntry). Before message bodies
 * were shared (no release wrote queue logs) `m` was the body itself: that form is returned as `inline` and
 * converted at open (engine-load.ts).
 */
export function decodeLogEntry(raw: unknown): {
  messageId: MessageId | undefined;
  inline?: Obj;
  body?: Obj;
  appendedAt: number;
  meta: QueueEntryMeta | undefined;
} {
  const what = "queue log entry";
  const o = obj(raw, what);
  const appendedAt = num(o, "at", what);
  const meta = logMeta(o, what);
  if (o.b !== undefined) {
    const body = obj(o.b, `${what}.b`); // the body's fields are checked where it is read (decodeMessage)
    return { messageId: undefined, body, appendedAt, meta };
  }
  if (typeof o.m === "object" && o.m !== null) {
    decodeMessage(o.m); // validates
    return { messageId: undefined, inline: o.m as Obj, appendedAt, meta };
  }
  return { messageId: num(o, "m", what), appendedAt, meta };
}

/**
 * A consumer group: name, cursor and (schema 3) `f`, the seqs of its first deliveries in flight (delivered once,
 * visible at once, no consumer recorded), ascending, as the first seq then the gaps between them: one small
 * number each (~1 byte), one value per group per batch instead of a pending-entry put and delete per message.
 */
export function encodeGroup(name: string, cursor: number, first?: readonly number[]): Obj {
  if (first === undefined || first.length === 0) return { g: name, c: cursor };
  const f = new Array<number>(first.length);
  let last = 0;
  for (let i = 0; i < first.length; i++) {
    f[i] = first[i]! - last;
    last = first[i]!;
  }
  return { g: name, c: cursor, f };
}

export function decodeGroup(raw: unknown): { name: string; cursor: number; first: number[] } {
  const what = "queue group";
  const o = obj(raw, what);
  const first: number[] = [];
  const f = o.f;
  if (f !== undefined) {
    if (!Array.isArray(f)) throw new CorruptRecordError(`${what}.f is not a list`);
    let seq = 0;
    for (const d of f) {
      if (typeof d !== "number" || !Number.isSafeInteger(d) || d < 1)
        throw new CorruptRecordError(`${what}.f holds a gap that is not a positive integer`);
      first.push((seq += d));
    }
  }
  return { name: str(o, "g", what), cursor: num(o, "c", what), first };
}

export function encodePending(p: PendingEntry): Obj {
  const v: Obj = { d: p.deliveries, v: p.visibleAt };
  if (p.consumer !== undefined) v.c = p.consumer;
  return v;
}

export function decodePending(seq: number, raw: unknown): PendingEntry {
  const what = "pending entry";
  const o = obj(raw, what);
  const p: PendingEntry = { seq, deliveries: num(o, "d", what), visibleAt: num(o, "v", what) };
  const c = optStr(o, "c", what);
  if (c !== undefined) p.consumer = c;
  return p;
}

export function decodeRefcount(raw: unknown): number {
  if (typeof raw !== "number" || !Number.isInteger(raw) || raw < 0)
    throw new CorruptRecordError("refcount is not a count");
  return raw;
}

export function decodeSchema(raw: unknown): { version: number; createdAt: number } {
  const o = obj(raw, "schema");
  return { version: num(o, "version", "schema"), createdAt: num(o, "createdAt", "schema") };
}
