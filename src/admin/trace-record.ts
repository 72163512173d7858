// One traced publish as the facts its spans are made of (ids, times, the message's topic, client, size, QoS, the
// routing and acknowledgement results), not as span objects: the `publish` span and its `deliver` spans
// (docs/operations.md "Tracing"; tracing.ts says what each is). Where the facts go is a PublishSink's business: the
// built-in OTLP batcher writes them straight into its request from pre-encoded templates (otlp-templates.ts), any
// other exporter (the SDK's processors, the in-memory exporter of the tests) gets the same spans as LightSpans
// (record-spans.ts). Why: at 1 % of ~1M messages/s the broker records ~10,000 traces a second, and building an
// attributes object, a LightSpan and three closures per trace, then encoding the attributes one by one through
// cache look-ups, was ~8 µs of the broker's main thread per trace plus ~1-1.5 µs of GC (docs/benchmarks.md, stop 17).
// One object per trace, no closure: it is the PublishTrace the broker calls and the MessageTrace its deliveries call.
import type { SpanContext } from "@opentelemetry/api";
import type { MessageTrace, PublishTrace, TracedBatch, TracedPublish } from "../broker/index.ts";
import type { Properties } from "../codec/index.ts";
import {
  fillChildIds,
  fillIds,
  idPool,
  spanClock,
  takeIdSlot,
  traceparentOfIds,
  traceparentPropertyOfIds,
} from "./light-span.ts";
import { traceparentProperties, withTraceparent } from "./traceparent.ts";

/** Delivery spans per traced message at most (docs/operations.md "Tracing"). */
export const DELIVERY_SPANS = 10;

/** Where a traced publish came from. */
export const CLIENT = 0;
export const IN_PROCESS = 1;
export const WILL = 2;
/** A publishBatch() or transaction commit: IN_PROCESS with PublishRecord.batch set. */
export const BATCH = 3;
export type Origin = typeof CLIENT | typeof IN_PROCESS | typeof WILL | typeof BATCH;

/** Where a publish record's spans go. */
export interface PublishSink {
  /** The publish span of `r` ended (acked()). */
  publishEnded(r: PublishRecord): void;
  /**
   * One `deliver` span: its ids in the 32-byte slot `at` of `ids` ([trace id][span id][parent span id: the publish
   * span's]), started and ended at `ms`.
   */
  delivered(
    ids: Buffer,
    at: number,
    subscriber: string,
    topic: string,
    qos: number,
    packetId: number | undefined,
    ms: number,
  ): void;
}

export class PublishRecord implements PublishTrace, MessageTrace {
  /** The 32-byte id slot: trace id, span id, parent span id (when `parent` is set). */
  readonly ids: Buffer;
  readonly idAt: number;
  readonly startMs = spanClock();
  readonly bodySize: number;
  readonly qos: number;
  readonly retain: boolean;
  readonly properties: Properties;
  /** MessageTrace.encodedProperties: a root trace's `traceparent` property, encoded where its value is written. */
  readonly encodedProperties: Buffer | undefined;
  readonly ref: MessageTrace = this;
  /** routed()'s counts and time; routedMs NaN until then. */
  matched = 0;
  refused = 0;
  routedMs = Number.NaN;
  /** First deliveries written so far (deliver spans for the first DELIVERY_SPANS of them). */
  deliveries = 0;
  reasonCode = 0;
  /** acked()'s time (ms since the epoch, spanClock); NaN until then. The span ends at max(endMs, startMs). */
  endMs = Number.NaN;

  constructor(
    readonly sink: PublishSink,
    readonly clientId: string,
    readonly topic: string,
    packet: TracedPublish,
    readonly origin: Origin,
    readonly batch: TracedBatch | undefined,
    /** The remote parent (a publisher's sampled traceparent), or undefined for a new trace. */
    readonly parent: SpanContext | undefined,
  ) {
    const at = (this.idAt = takeIdSlot());
    const ids = (this.ids = idPool());
    fillIds(ids, at, parent);
    this.bodySize = packet.payload.length;
    this.qos = packet.qos;
    this.retain = packet.retain;
    const p = packet.properties;
    const encoded = (this.encodedProperties = p === undefined ? traceparentPropertyOfIds(ids, at) : undefined);
    this.properties =
      encoded === undefined ? withTraceparent(p, traceparentOfIds(ids, at)) : traceparentProperties(encoded);
  }

  /** In process (a batch, a transaction, publish()): the promise settled, no packet. */
  get local(): boolean {
    return this.origin === IN_PROCESS || this.origin === BATCH;
  }

  /** The event the acknowledgement adds (QoS 1/2, not a will). */
  get ackEvent(): "settled" | "PUBACK" | "PUBREC" {
    return this.local ? "settled" : this.qos === 1 ? "PUBACK" : "PUBREC";
  }

  delivered(subscriber: string, topic: string, qos: number, packetId: number | undefined): void {
    // One span per first delivery, for the first DELIVERY_SPANS subscribers; a larger fan-out is counted on the
    // publish span instead (a sampled message to 50 subscribers would otherwise cost 50 spans).
    if (++this.deliveries > DELIVERY_SPANS) return;
    const at = takeIdSlot();
    const ids = idPool();
    fillChildIds(ids, at, this.ids, this.idAt);
    this.sink.delivered(ids, at, subscriber, topic, qos, packetId, spanClock());
  }

  routed(matched: number, refused: number): void {
    this.matched = matched;
    this.refused = refused;
    this.routedMs = spanClock();
  }

  acked(reasonCode: number): void {
    if (!Number.isNaN(this.endMs)) return;
    this.reasonCode = reasonCode;
    // A routed QoS 0 client publish or will ends where it was routed (docs/operations.md "Tracing": "QoS 0:
    // routed"): the core calls this right after routed(), nothing waits between, so that time is the end, without a
    // third clock read (~40 ns of the ~4 µs a traced fan-in message cost at 10 % sampling, docs/benchmarks.md stop
    // 22). An in-process publish ends when its promise settles, later: its own clock read.
    this.endMs = this.qos === 0 && !this.local && !Number.isNaN(this.routedMs) ? this.routedMs : spanClock();
    this.sink.publishEnded(this);
  }
}

/** A reason code as two hex digits (an error status's message). */
export function hex(n: number): string {
  return n.toString(16).padStart(2, "0");
}
