// The `publish` and `deliver` spans of a publish record (trace-record.ts) written straight into an OTLP protobuf
// request (otlp-proto.ts) by the built-in batcher (otlp-batcher.ts): the constant parts of each span kind (name and
// kind, the constant attributes, event names, attribute keys) are encoded once here, and per span only the ids, the
// times, the topic and client id (through the encoder's cache of whole key/value pairs) and the integers are written.
// The bytes are those otlpRequestProto() writes for the same spans as LightSpans (record-spans.ts): a test compares
// them. Why: the generic path built an attributes object per span and encoded it key by key through two cache
// look-ups each (2.3-2.6 µs per traced fan-in message at 1 % sampling, docs/benchmarks.md stop 17 (2)).
import { SpanKind } from "@opentelemetry/api";
import {
  LEN,
  VARINT,
  attribute,
  fieldBytes,
  keyValuesOf,
  msNanos,
  stringAttribute,
  varintBytes,
  type PbWriter,
} from "./otlp-proto.ts";
import { BATCH, WILL, hex, type PublishRecord } from "./trace-record.ts";

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

/** The publish span of `r` (ended). */
export function encodePublish(w: PbWriter, r: PublishRecord): void {
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
  w.rawBytes(1, ids, at, 16);
  w.rawBytes(2, ids, at + 16, 8);
  w.rawBytes(4, ids, at + 24, 8);
  w.copy(DELIVER_HEAD);
  msNanos(w, 7, ms);
  msNanos(w, 8, ms);
  w.copy(SEND);
  stringAttribute(w, ATTR, TOPIC, TOPICS, topic);
  stringAttribute(w, ATTR, CLIENT_ID, CLIENT_IDS, subscriber);
  intAttr(w, QOS, qos);
  if (packetId !== undefined) intAttr(w, PACKET_ID, packetId);
  w.end2(s);
}
