// The broker's own span records: what OtelBrokerTracer (tracing.ts) records for a sampled trace, handed to an
// OpenTelemetry SDK SpanProcessor (batching, then any SpanExporter: ours, or an InMemorySpanExporter in tests) as a
// ReadableSpan. Why not the SDK's Tracer and Span: at 1 % of 1M messages/s the broker records ~20,000 spans a
// second, and the SDK spent ~2.5 µs creating each (context objects, attribute sanitising, a sampler call, a clock
// anchor per span, 24 Math.random() calls for the ids), about 5 % of the broker's CPU in the fan-in profile
// (docs/operations.md "Tracing", measured overhead). A LightSpan is one object with the attributes object the
// tracer built; ids come from a pooled crypto buffer, times from one monotonic clock as ms numbers, converted to
// HrTime only when an exporter reads them (our OTLP encoder reads the numbers directly: otlp.ts).
import { randomFillSync } from "node:crypto";
import {
  SpanStatusCode,
  TraceFlags,
  type Attributes,
  type HrTime,
  type Link,
  type SpanContext,
  type SpanKind,
  type SpanStatus,
} from "@opentelemetry/api";
import type { ReadableSpan, TimedEvent } from "@opentelemetry/sdk-trace-base";

/**
 * Times in ms since the epoch from the monotonic clock: the publish span and its deliver spans share it (the SDK
 * anchors each span to Date.now() at 1 ms steps, so a delivery could appear to start after its publish ended).
 */
export const spanClock = (): number => performance.timeOrigin + performance.now();

/** ms since the epoch (fractional) as HrTime [seconds, nanoseconds]. */
export function hrTime(ms: number): HrTime {
  const s = Math.floor(ms / 1000);
  const ns = Math.min(999_999_999, Math.max(0, Math.round((ms - s * 1000) * 1e6)));
  return [s, ns];
}

// Random ids from a pooled buffer: one randomFillSync per 512 span ids (4 KiB) instead of Math.random() per hex
// digit (the SDK's RandomIdGenerator).
const POOL = Buffer.allocUnsafe(4096);
let poolAt = POOL.length;
const ZERO16 = "0".repeat(16);

function randomHex(bytes: number): string {
  for (;;) {
    if (poolAt + bytes > POOL.length) {
      randomFillSync(POOL);
      poolAt = 0;
    }
    const hex = POOL.toString("hex", poolAt, poolAt + bytes);
    poolAt += bytes;
    // All-zero ids are invalid (W3C Trace Context): draw again (probability 2^-64 per id).
    if (!hex.startsWith(ZERO16)) return hex;
  }
}

export const newSpanId = (): string => randomHex(8);
export const newTraceId = (): string => randomHex(16);

/** What every LightSpan of one tracer shares: where finished spans go and the SDK's resource and scope. */
export interface SpanOutput {
  /** A SpanProcessor's onEnd (BatchSpanProcessor, SimpleSpanProcessor): sampled spans only are handed over. */
  onEnd(span: ReadableSpan): void;
  readonly resource: ReadableSpan["resource"];
  readonly instrumentationScope: ReadableSpan["instrumentationScope"];
}

// Shared by every span without links or events (exporters only read them).
const NO_LINKS: Link[] = [];
const NO_EVENTS: TimedEvent[] = [];
const UNSET: SpanStatus = { code: SpanStatusCode.UNSET };

/** One recorded span; sampled by construction (the tracer decided before creating it). */
export class LightSpan implements ReadableSpan {
  readonly #ctx: SpanContext;
  readonly parentSpanContext: SpanContext | undefined;
  status: SpanStatus = UNSET;
  #events: TimedEvent[] | undefined;
  /** ms since the epoch (spanClock); endMs is NaN until end(). */
  endMs = Number.NaN;

  constructor(
    readonly out: SpanOutput,
    readonly name: string,
    readonly kind: SpanKind,
    readonly attributes: Attributes,
    /** The parent's ids (remote or local), or undefined for a root span (a new trace). */
    parent: SpanContext | undefined,
    readonly startMs: number = spanClock(),
  ) {
    this.#ctx = {
      traceId: parent === undefined ? newTraceId() : parent.traceId,
      spanId: newSpanId(),
      traceFlags: TraceFlags.SAMPLED,
    };
    this.parentSpanContext = parent;
  }

  spanContext(): SpanContext {
    return this.#ctx;
  }

  /** W3C traceparent naming this span (sampled). */
  get traceparent(): string {
    return `00-${this.#ctx.traceId}-${this.#ctx.spanId}-01`;
  }

  setAttribute(key: string, value: Attributes[string]): void {
    this.attributes[key] = value;
  }

  addEvent(name: string, attributes?: Attributes, at: number = spanClock()): void {
    (this.#events ??= []).push(
      attributes === undefined ? { name, time: hrTime(at) } : { name, time: hrTime(at), attributes },
    );
  }

  get events(): TimedEvent[] {
    return this.#events ?? NO_EVENTS;
  }

  error(message: string): void {
    this.status = { code: SpanStatusCode.ERROR, message };
  }

  end(at: number = spanClock()): void {
    if (this.ended) return;
    this.endMs = Math.max(at, this.startMs);
    this.out.onEnd(this);
  }

  get ended(): boolean {
    return !Number.isNaN(this.endMs);
  }
  get startTime(): HrTime {
    return hrTime(this.startMs);
  }
  get endTime(): HrTime {
    return hrTime(this.ended ? this.endMs : this.startMs);
  }
  /** endTime − startTime exactly (both rounded to ns first). */
  get duration(): HrTime {
    const [s0, n0] = this.startTime;
    const [s1, n1] = this.endTime;
    return n1 >= n0 ? [s1 - s0, n1 - n0] : [s1 - s0 - 1, n1 - n0 + 1_000_000_000];
  }
  get links(): Link[] {
    return NO_LINKS;
  }
  get resource(): ReadableSpan["resource"] {
    return this.out.resource;
  }
  get instrumentationScope(): ReadableSpan["instrumentationScope"] {
    return this.out.instrumentationScope;
  }
  get droppedAttributesCount(): number {
    return 0;
  }
  get droppedEventsCount(): number {
    return 0;
  }
  get droppedLinksCount(): number {
    return 0;
  }
}
