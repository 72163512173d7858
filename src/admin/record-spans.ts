// Publish records (trace-record.ts) as LightSpans for an SDK span processor: what every exporter but the built-in
// OTLP/HTTP protobuf one gets (the console and JSON exporters, an injected one: the tests' InMemorySpanExporter).
// The spans are those the built-in exporter's templates encode (otlp-templates.ts; a test compares the bytes): the
// attributes in this order, the `routed` event and the acknowledgement's event, the error status.
import { SpanKind, TraceFlags, type Attributes, type SpanContext } from "@opentelemetry/api";
import { LightSpan, type SpanOutput } from "./light-span.ts";
import { BATCH, WILL, hex, type PublishRecord, type PublishSink } from "./trace-record.ts";

export class SpanRecordSink implements PublishSink {
  constructor(private readonly out: SpanOutput) {}

  publishEnded(r: PublishRecord): void {
    const a: Attributes = {
      "messaging.system": "mqtt",
      "messaging.operation.type": "receive",
      "messaging.destination.name": r.topic,
      "messaging.client.id": r.clientId,
      "messaging.message.body.size": r.bodySize,
      "mqtt.qos": r.qos,
      "mqtt.retain": r.retain,
    };
    if (r.origin === WILL) a["mqtt.will"] = true;
    else if (r.local) {
      a["mqtt.in_process"] = true;
      if (r.origin === BATCH && r.batch !== undefined) {
        a["mqtt.batch"] = r.batch.kind;
        a["mqtt.batch.size"] = r.batch.size;
      }
    }
    const span = new LightSpan(this.out, "publish", SpanKind.SERVER, a, r.parent, r.startMs, r.ids, r.idAt);
    if (!Number.isNaN(r.routedMs)) {
      a["mqtt.route.matched"] = r.matched;
      a["mqtt.route.refused"] = r.refused;
      span.addEvent("routed", undefined, r.routedMs);
    }
    a["mqtt.deliveries"] = r.deliveries; // those written while routing (later ones: their spans)
    const rc = r.reasonCode;
    if (r.qos > 0 && r.origin !== WILL) span.addEvent(r.ackEvent, { "mqtt.reason_code": rc }, r.endMs);
    a["mqtt.reason_code"] = rc;
    if (rc >= 0x80) span.error(`0x${hex(rc)}`);
    span.end(r.endMs);
  }

  delivered(
    ids: Buffer,
    at: number,
    subscriber: string,
    topic: string,
    qos: number,
    packetId: number | undefined,
    ms: number,
  ): void {
    const a: Attributes = {
      "messaging.system": "mqtt",
      "messaging.operation.type": "send",
      "messaging.destination.name": topic,
      "messaging.client.id": subscriber,
      "mqtt.qos": qos,
    };
    if (packetId !== undefined) a["mqtt.packet_id"] = packetId;
    new LightSpan(this.out, "deliver", SpanKind.PRODUCER, a, parentOf(ids, at), ms, ids, at).end(ms);
  }
}

/** The parent (the publish span) of the deliver span whose slot is `at` of `ids`. */
function parentOf(ids: Buffer, at: number): SpanContext {
  const hexIds = ids.toString("hex", at, at + 32);
  return { traceId: hexIds.slice(0, 32), spanId: hexIds.slice(48), traceFlags: TraceFlags.SAMPLED };
}
