// The `publish` and `deliver` spans of a publish record (trace-record.ts) written straight into an OTLP protobuf
// request (otlp-proto.ts) by the built-in batcher (otlp-batcher.ts): the constant parts of each span kind (name and
// kind, the constant attributes, event names, attribute keys) are encoded once here, and per span only the ids, the
// times, the topic and client id (through the encoder's cache of whole key/value pairs) and the integers are written.
// The bytes are those otlpRequestProto() writes for the same spans as LightSpans (record-spans.ts): a test compares
// them. Why: the generic path built an attributes object per span and encoded it key by key through two cache
// look-ups each (2.3-2.6 µs per traced fan-in message at 1 % sampling, docs/benchmarks.md stop 17 (2)).
import { SpanKind } from "@opentelemetry/api";
import {
  FIXED64,
  LEN,
  PbWriter,
  VARINT,
  attribute,
  fieldBytes,
  keyValuesOf,
  msNanos,
  msNanosAt,
  stringAttribute,
  varintBytes,
} from "./otlp-proto.ts";
import { BATCH, CLIENT, WILL, hex, type PublishRecord } from "./trace-record.ts";

/** A template part: the bytes `write` writes. */
const part = fieldBytes;

const SPAN = 2; // ScopeSpans.spans
const ATTR = 9; // Span.attributes
const EVENT = 11; // Span.events
const EVENT_ATTR = 3; // Event.attributes

const PUBLISH_HEAD = part((w) => {
  w.string(5, "publish");
  w.tag(6, VARINT);
  w.varint(SpanKind.SERVER + 1);
});
const DELIVER_HEAD = part((w) => {
  w.string(5, "deliver");
  w.tag(6, VARINT);
  w.varint(SpanKind.PRODUCER + 1);
});
const RECEIVE = part((w) => {
  attribute(w, ATTR, "messaging.system", "mqtt");
  attribute(w, ATTR, "messaging.operation.type", "receive");
});
const SEND = part((w) => {
  attribute(w, ATTR, "messaging.system", "mqtt");
  attribute(w, ATTR, "messaging.operation.type", "send");
});
const RETAIN = [false, true].map((v) => part((w) => attribute(w, ATTR, "mqtt.retain", v)));
const WILL_ATTR = part((w) => attribute(w, ATTR, "mqtt.will", true));
const IN_PROCESS_ATTR = part((w) => attribute(w, ATTR, "mqtt.in_process", true));
const ROUTED = part((w) => w.string(2, "routed"));
const ACK_EVENTS = new Map(["PUBACK", "PUBREC", "settled"].map((n) => [n, part((w) => w.string(2, n))]));

/**
 * An integer attribute's key in field `field` (a span's or an event's): `key`, the encoded KeyValue.key field, and
 * `small`, every byte of the attribute but the last for a value below 128 (one varint byte): the usual case (QoS,
 * counts, reason codes), written as one copy and one byte (~25 ns per attribute when built field by field, seven per
 * traced fan-in message).
 */
interface IntKey {
  readonly field: number;
  readonly key: Buffer;
  readonly small: Buffer;
}
function intKey(field: number, k: string): IntKey {
  const key = part((w) => w.string(1, k));
  const small = part((w) => {
    w.tag(field, LEN);
    w.varint(key.length + 4);
    w.copy(key);
    w.tag(2, LEN); // KeyValue.value
    w.varint(2);
    w.tag(3, VARINT); // AnyValue.int_value
  });
  return { field, key, small };
}
const BODY_SIZE = intKey(ATTR, "messaging.message.body.size");
const QOS = intKey(ATTR, "mqtt.qos");
const BATCH_SIZE = intKey(ATTR, "mqtt.batch.size");
const MATCHED = intKey(ATTR, "mqtt.route.matched");
const REFUSED = intKey(ATTR, "mqtt.route.refused");
const DELIVERIES = intKey(ATTR, "mqtt.deliveries");
const REASON_CODE = intKey(ATTR, "mqtt.reason_code");
const EVENT_REASON_CODE = intKey(EVENT_ATTR, "mqtt.reason_code");
const PACKET_ID = intKey(ATTR, "mqtt.packet_id");

/** A KeyValue with an integer value (AnyValue.int_value), as the generic encoder writes a safe integer ≥ 0. */
function intAttr(w: PbWriter, k: IntKey, v: number): void {
  if (v < 0x80) {
    w.copy(k.small);
    w.varint(v);
    return;
  }
  const vl = varintBytes(v);
  w.tag(k.field, LEN);
  w.varint(k.key.length + 3 + vl);
  w.copy(k.key);
  w.tag(2, LEN); // KeyValue.value
  w.varint(1 + vl);
  w.tag(3, VARINT); // AnyValue.int_value
  w.varint(v);
}

// The caches of the topic's and the client id's encoded KeyValues, looked up once here rather than per attribute.
const TOPIC = "messaging.destination.name";
const CLIENT_ID = "messaging.client.id";
const TOPICS = keyValuesOf(TOPIC);
const CLIENT_IDS = keyValuesOf(CLIENT_ID);

/**
 * A span's constant bytes with holes: `bytes` copied as one part, then the holes (ids, times, small integers) written
 * at their offsets `at`. The usual spans are a few such parts (the topic and client id pairs between them) instead of
 * ~18 parts and fields written one by one: the copies and field calls were most of a traced message's encoding
 * (`copy` alone 3.1 % of the broker's main thread at 10 % sampling, fan-in QoS 0 profile, docs/benchmarks.md stop 22).
 * The bytes are what the field-by-field code below writes for the same values (the template-against-generic test).
 */
interface Holed {
  readonly bytes: Buffer;
  readonly at: readonly number[];
}
function holed(write: (w: PbWriter, hole: (bytes: number) => void) => void): Holed {
  const w = new PbWriter(512);
  const at: number[] = [];
  write(w, (bytes) => {
    at.push(w.n);
    for (let i = 0; i < bytes; i++) w.varint(0);
  });
  return { bytes: fieldBytes((out) => out.copy(w.buf.subarray(0, w.n))), at };
}

/** The ids' fields (trace, span, [parent]) with holes for their bytes: holes 0, 1, [2]. */
function idHoles(w: PbWriter, hole: (bytes: number) => void, parent: boolean): void {
  w.tag(1, LEN);
  w.varint(16);
  hole(16);
  w.tag(2, LEN);
  w.varint(8);
  hole(8);
  if (parent) {
    w.tag(4, LEN);
    w.varint(8);
    hole(8);
  }
}

/** A fixed64 time field with a hole for its value. */
function timeHole(w: PbWriter, hole: (bytes: number) => void, field: number): void {
  w.tag(field, FIXED64);
  hole(8);
}

/**
 * A span up to its topic: ids (with the parent's when `parent`), `head` (name and kind), start and end times, the
 * constant attributes `attrs`. Holes: trace id, span id, [parent span id], start, end.
 */
function spanStart(head: Buffer, attrs: Buffer, parent: boolean): Holed {
  return holed((w, hole) => {
    idHoles(w, hole, parent);
    w.copy(head);
    timeHole(w, hole, 7);
    timeHole(w, hole, 8);
    w.copy(attrs);
  });
}

/** A client publish span up to its topic, by parent. */
const PUBLISH_START = [false, true].map((parent) => spanStart(PUBLISH_HEAD, RECEIVE, parent));

/**
 * A routed client publish span after its body size (its integers below 128): QoS, retain, matched, refused,
 * deliveries, reason code, the `routed` event, the acknowledgement's event (QoS 1 PUBACK, QoS 2 PUBREC); by
 * QoS × 2 + retain. Holes: matched, refused, deliveries, reason code, the routed time, [the ack time, its reason code].
 */
const PUBLISH_END = [0, 1, 2].flatMap((qos) =>
  [false, true].map((retain) =>
    holed((w, hole) => {
      w.copy(QOS.small);
      w.varint(qos);
      w.copy(RETAIN[retain ? 1 : 0]!);
      for (const k of [MATCHED, REFUSED, DELIVERIES, REASON_CODE]) {
        w.copy(k.small);
        hole(1);
      }
      const routed = w.begin(EVENT);
      timeHole(w, hole, 1);
      w.copy(ROUTED);
      w.end(routed);
      if (qos > 0) {
        const e = w.begin(EVENT);
        timeHole(w, hole, 1);
        w.copy(ACK_EVENTS.get(qos === 1 ? "PUBACK" : "PUBREC")!);
        w.copy(EVENT_REASON_CODE.small);
        hole(1);
        w.end(e);
      }
    }),
  ),
);

/** A deliver span up to its topic (it always has a parent: the publish span). */
const DELIVER_START = spanStart(DELIVER_HEAD, SEND, true);
/** A deliver span's QoS attribute, by QoS. */
const DELIVER_QOS = [0, 1, 2].map((qos) =>
  fieldBytes((w) => {
    w.copy(QOS.small);
    w.varint(qos);
  }),
);

/** Copies `t` at the writer's position; returns where it starts (its holes are at that + t.at[i]). */
function put(w: PbWriter, t: Holed): number {
  const n = w.n;
  w.copy(t.bytes);
  return n;
}

/** The ids of a 32-byte slot (trace id, span id, parent span id when `parent`) into the holes of a template at `p`. */
function putIds(b: Buffer, p: number, t: Holed, ids: Buffer, at: number, parent: boolean): void {
  const trace = p + t.at[0]!;
  const span = p + t.at[1]!;
  for (let i = 0; i < 16; i++) b[trace + i] = ids[at + i]!;
  for (let i = 0; i < 8; i++) b[span + i] = ids[at + 16 + i]!;
  if (parent) {
    const ps = p + t.at[2]!;
    for (let i = 0; i < 8; i++) b[ps + i] = ids[at + 24 + i]!;
  }
}

/** The publish span of `r` (ended). */
export function encodePublish(w: PbWriter, r: PublishRecord): void {
  // The usual span: a routed client publish, no error, its counts below 128.
  if (
    r.origin === CLIENT &&
    !Number.isNaN(r.routedMs) &&
    (r.matched | r.refused | r.deliveries | r.reasonCode) < 0x80 &&
    r.qos <= 2
  ) {
    encodeClientPublish(w, r);
    return;
  }
  const s = w.begin2(SPAN);
  w.rawBytes(1, r.ids, r.idAt, 16);
  w.rawBytes(2, r.ids, r.idAt + 16, 8);
  if (r.parent !== undefined) w.rawBytes(4, r.ids, r.idAt + 24, 8);
  w.copy(PUBLISH_HEAD);
  msNanos(w, 7, r.startMs);
  msNanos(w, 8, Math.max(r.endMs, r.startMs));
  w.copy(RECEIVE);
  stringAttribute(w, ATTR, TOPIC, TOPICS, r.topic);
  stringAttribute(w, ATTR, CLIENT_ID, CLIENT_IDS, r.clientId);
  intAttr(w, BODY_SIZE, r.bodySize);
  intAttr(w, QOS, r.qos);
  w.copy(RETAIN[r.retain ? 1 : 0]!);
  if (r.origin === WILL) w.copy(WILL_ATTR);
  else if (r.local) {
    w.copy(IN_PROCESS_ATTR);
    if (r.origin === BATCH && r.batch !== undefined) {
      attribute(w, ATTR, "mqtt.batch", r.batch.kind);
      intAttr(w, BATCH_SIZE, r.batch.size);
    }
  }
  const routed = !Number.isNaN(r.routedMs);
  if (routed) {
    intAttr(w, MATCHED, r.matched);
    intAttr(w, REFUSED, r.refused);
  }
  intAttr(w, DELIVERIES, r.deliveries);
  const rc = r.reasonCode;
  intAttr(w, REASON_CODE, rc);
  if (routed) {
    const e = w.begin(EVENT);
    msNanos(w, 1, r.routedMs);
    w.copy(ROUTED);
    w.end(e);
  }
  if (r.qos > 0 && r.origin !== WILL) {
    const e = w.begin(EVENT);
    msNanos(w, 1, r.endMs);
    w.copy(ACK_EVENTS.get(r.ackEvent)!);
    intAttr(w, EVENT_REASON_CODE, rc);
    w.end(e);
  }
  if (rc >= 0x80) {
    const st = w.begin(15); // Span.status
    w.string(2, `0x${hex(rc)}`);
    w.tag(3, VARINT);
    w.varint(2); // STATUS_CODE_ERROR
    w.end(st);
  }
  w.end2(s);
}

/** encodePublish() of a routed client publish whose counts and reason code are below 128, from its templates. */
function encodeClientPublish(w: PbWriter, r: PublishRecord): void {
  const s = w.begin2(SPAN);
  const parent = r.parent !== undefined;
  const start = PUBLISH_START[parent ? 1 : 0]!;
  let p = put(w, start);
  let b = w.buf;
  putIds(b, p, start, r.ids, r.idAt, parent);
  const t = parent ? 3 : 2;
  msNanosAt(b, p + start.at[t]!, r.startMs);
  msNanosAt(b, p + start.at[t + 1]!, Math.max(r.endMs, r.startMs));
  stringAttribute(w, ATTR, TOPIC, TOPICS, r.topic);
  stringAttribute(w, ATTR, CLIENT_ID, CLIENT_IDS, r.clientId);
  intAttr(w, BODY_SIZE, r.bodySize);
  const end = PUBLISH_END[r.qos * 2 + (r.retain ? 1 : 0)]!;
  p = put(w, end);
  b = w.buf; // grown by the copies above, perhaps
  const at = end.at;
  b[p + at[0]!] = r.matched;
  b[p + at[1]!] = r.refused;
  b[p + at[2]!] = r.deliveries;
  b[p + at[3]!] = r.reasonCode;
  msNanosAt(b, p + at[4]!, r.routedMs);
  if (r.qos > 0) {
    msNanosAt(b, p + at[5]!, r.endMs);
    b[p + at[6]!] = r.reasonCode;
  }
  w.end2(s);
}

/** One deliver span (ids in the slot `at` of `ids`: trace, span, parent), started and ended at `ms`. */
export function encodeDeliver(
  w: PbWriter,
  ids: Buffer,
  at: number,
  subscriber: string,
  topic: string,
  qos: number,
  packetId: number | undefined,
  ms: number,
): void {
  const s = w.begin2(SPAN);
  const p = put(w, DELIVER_START);
  const b = w.buf;
  putIds(b, p, DELIVER_START, ids, at, true);
  const start = p + DELIVER_START.at[3]!;
  const end = p + DELIVER_START.at[4]!;
  msNanosAt(b, start, ms);
  for (let i = 0; i < 8; i++) b[end + i] = b[start + i]!;
  stringAttribute(w, ATTR, TOPIC, TOPICS, topic);
  stringAttribute(w, ATTR, CLIENT_ID, CLIENT_IDS, subscriber);
  if (qos <= 2) w.copy(DELIVER_QOS[qos]!);
  else intAttr(w, QOS, qos);
  if (packetId !== undefined) intAttr(w, PACKET_ID, packetId);
  w.end2(s);
}
