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

/** performance.timeOrigin, fixed for the process: read once (a getter call per span otherwise). */
const TIME_ORIGIN = performance.timeOrigin;
/**
 * Times in ms since the epoch from the monotonic clock: the publish span and its deliver spans share it (the SDK
 * anchors each span to Date.now() at 1 ms steps, so a delivery could appear to start after its publish ended).
 */
export const spanClock = (): number => TIME_ORIGIN + performance.now();

/** ms since the epoch (fractional) as HrTime [seconds, nanoseconds]. */
export function hrTime(ms: number): HrTime {
  const s = Math.floor(ms / 1000);
  const ns = Math.min(999_999_999, Math.max(0, Math.round((ms - s * 1000) * 1e6)));
  return [s, ns];
}

// Ids live in 32-byte slots of a pooled buffer of random bytes, [trace id 16][span id 8][parent span id 8]: one
// randomFillSync per 512 spans, no string per id. The OTLP protobuf encoder copies the bytes (otlp-proto.ts); the hex
// strings of the API's SpanContext are made only when something asks for them (the traceparent of a publish span,
// the SDK's exporters, the tests). Hex ids made per span and parsed back to bytes by the encoder were ~6 % of the
// broker's CPU with tracing at 10 % in fan-in QoS 0 (docs/benchmarks.md).
const SLOT = 32;
const POOL_BYTES = 512 * SLOT;
let pool = Buffer.allocUnsafe(0);
let poolAt = 0;

/** Takes a 32-byte id slot of the pool; returns its offset in idPool() (read idPool() after this call). */
export function takeIdSlot(): number {
  if (poolAt + SLOT > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES)); // a new buffer: earlier spans keep theirs
    poolAt = 0;
  }
  const at = poolAt;
  poolAt += SLOT;
  return at;
}

/** The pool the last takeIdSlot() took from. */
export function idPool(): Buffer {
  return pool;
}

/**
 * Fills the slot at `at` from its random bytes: a new trace (`parent` undefined) or a remote parent's ids (hex). The
 * span id stays random.
 */
export function fillIds(ids: Buffer, at: number, parent: SpanContext | undefined): void {
  nonZero(ids, at + 16, 8);
  if (parent === undefined) nonZero(ids, at, 16);
  else {
    hexInto(ids, at, parent.traceId, 16);
    hexInto(ids, at + 24, parent.spanId, 8);
  }
}

/** Fills the slot at `at` as a child of the span whose slot is `from` at `p`: its trace id, its span id as parent. */
export function fillChildIds(ids: Buffer, at: number, from: Buffer, p: number): void {
  nonZero(ids, at + 16, 8);
  // Byte loops: Buffer#copy is a native call costing more than 24 bytes.
  for (let i = 0; i < 16; i++) ids[at + i] = from[p + i]!;
  for (let i = 0; i < 8; i++) ids[at + 24 + i] = from[p + 16 + i]!;
}

/** Lowercase hex `hex` (an API SpanContext's id) into `buf` at `at`, `bytes` long. */
function hexInto(buf: Buffer, at: number, hex: string, bytes: number): void {
  for (let i = 0; i < bytes; i++)
    buf[at + i] = (nibble(hex.charCodeAt(2 * i)) << 4) | nibble(hex.charCodeAt(2 * i + 1));
}

/** One hex digit's value (0-9, a-f, A-F; anything else 0: ids are validated before they get here). */
export function nibble(c: number): number {
  if (c <= 0x39) return c - 0x30;
  return (c | 0x20) - 0x57;
}

/** W3C Trace Context: an all-zero id is invalid. A random one is (probability 2^-64 per id): its last bit is set. */
function nonZero(buf: Buffer, at: number, bytes: number): void {
  for (let i = 0; i < bytes; i++) if (buf[at + i] !== 0) return;
  buf[at + bytes - 1] = 1;
}

// `00-<trace id>-<span id>-01`, rewritten in place per call: one native call makes the string (a flat one-byte
// string), where toString("hex") of the ids, two slices and a template made four (0.4 µs per traced message in the
// fan-in profile at 1 %, docs/benchmarks.md stop 17 (2)).
const TRACEPARENT_BYTES = Buffer.from(`00-${"0".repeat(32)}-${"0".repeat(16)}-01`, "latin1");
const HEX_DIGITS = Buffer.from("0123456789abcdef", "latin1");

/** The W3C traceparent (sampled) naming the span whose ids are in the slot `at` of `ids`. */
export function traceparentOfIds(ids: Buffer, at: number): string {
  hexIds(TRACEPARENT_BYTES, 0, ids, at);
  return TRACEPARENT_BYTES.toString("latin1", 0, 55);
}

/** The trace id and span id of the slot `at` of `ids` as hex into the traceparent (`00-…-…-01`) at `o` of `out`. */
function hexIds(out: Buffer, o: number, ids: Buffer, at: number): void {
  for (let i = 0; i < 16; i++) {
    const b = ids[at + i]!;
    out[o + 3 + 2 * i] = HEX_DIGITS[b >> 4]!;
    out[o + 4 + 2 * i] = HEX_DIGITS[b & 15]!;
  }
  for (let i = 0; i < 8; i++) {
    const b = ids[at + 16 + i]!;
    out[o + 36 + 2 * i] = HEX_DIGITS[b >> 4]!;
    out[o + 37 + 2 * i] = HEX_DIGITS[b & 15]!;
  }
}

/**
 * `traceparent` (sampled) as an encoded MQTT 5.0 user property: 0x26, then the key and the value as two-byte-length
 * strings, the value (55 bytes, its ids zero here) from TRACEPARENT_VALUE_AT. What PreparedPublish writes for a
 * message whose one property is that user property (a root trace's PUBLISH without properties: every fan-in trace).
 */
const TRACEPARENT_PROPERTY = Buffer.concat([
  Buffer.from([0x26, 0, 11]),
  Buffer.from("traceparent", "latin1"),
  Buffer.from([0, 55]),
  TRACEPARENT_BYTES,
]);
export const TRACEPARENT_VALUE_AT = TRACEPARENT_PROPERTY.length - 55;

/**
 * The user property `traceparent` naming the span whose ids are in the slot `at` of `ids`, encoded (a new Buffer of
 * its own: it is the message's, shared by its subscribers' copies). The codec encoding the same property from its
 * string cost ~150-300 ns per traced message (its characters scanned and copied one by one, twice: length and
 * write; docs/benchmarks.md stop 23); here the hex digits are written once, into a copy of the property's constant
 * bytes (one native copy: 110-250 against 130-310 ns with the constant bytes written one by one, 6 alternating runs
 * of a micro-benchmark), and the string is made from them.
 */
export function traceparentPropertyOfIds(ids: Buffer, at: number): Buffer {
  const out = Buffer.allocUnsafe(TRACEPARENT_PROPERTY.length);
  TRACEPARENT_PROPERTY.copy(out);
  hexIds(out, TRACEPARENT_VALUE_AT, ids, at);
  return out;
}

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
  /** The pooled buffer holding this span's ids, from `idAt`: trace id (16), span id (8), parent span id (8). */
  readonly ids: Buffer;
  readonly idAt: number;
  readonly #parent: SpanContext | LightSpan | undefined;
  #ctx: SpanContext | undefined = undefined;
  status: SpanStatus = UNSET;
  #events: TimedEvent[] | undefined;
  /** ms since the epoch (spanClock); endMs is NaN until end(). */
  endMs = Number.NaN;

  constructor(
    readonly out: SpanOutput,
    readonly name: string,
    readonly kind: SpanKind,
    readonly attributes: Attributes,
    /** The parent: a span of ours, a remote span's ids (a traceparent), or undefined for a root span (a new trace). */
    parent: SpanContext | LightSpan | undefined,
    readonly startMs: number = spanClock(),
    /** Ids already drawn (trace id, span id, parent span id in a 32-byte slot of `ids` at `idAt`): taken as they are. */
    ids?: Buffer,
    idAt = 0,
  ) {
    if (ids !== undefined) {
      this.ids = ids;
      this.idAt = idAt;
    } else {
      const at = (this.idAt = takeIdSlot());
      const pooled = (this.ids = pool);
      if (parent instanceof LightSpan) fillChildIds(pooled, at, parent.ids, parent.idAt);
      else fillIds(pooled, at, parent);
    }
    this.#parent = parent;
  }

  spanContext(): SpanContext {
    if (this.#ctx === undefined) {
      const hex = this.ids.toString("hex", this.idAt, this.idAt + 24); // one call for both ids
      this.#ctx = { traceId: hex.slice(0, 32), spanId: hex.slice(32), traceFlags: TraceFlags.SAMPLED };
    }
    return this.#ctx;
  }

  /** The parent's ids (remote or local), or undefined for a root span. */
  get parentSpanContext(): SpanContext | undefined {
    const p = this.#parent;
    return p instanceof LightSpan ? p.spanContext() : p;
  }

  get hasParent(): boolean {
    return this.#parent !== undefined;
  }

  /** W3C traceparent naming this span (sampled). */
  get traceparent(): string {
    return traceparentOfIds(this.ids, this.idAt);
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
