// OTLP/HTTP with the protobuf encoding (`tracing.protocol: http/protobuf`, the OTLP default): an
// ExportTraceServiceRequest (opentelemetry-proto, collector/trace/v1/trace_service.proto and trace/v1/trace.proto)
// written straight into one Buffer. Why not JSON: a span of the broker's is ~750 bytes of JSON, and building that
// string (~1.4 µs) then encoding it to UTF-8 for the request (~2.4 µs: the string is a V8 rope, flattened first)
// cost ~3.8 µs per span, two spans per traced fan-in message; the protobuf form is ~40 % of the bytes (ids as raw
// bytes, field numbers instead of names) with no intermediate string. Field numbers are those of the .proto files;
// proto3 defaults (0, "", empty) are omitted, as protobuf encoders do.
import type { Attributes, AttributeValue, HrTime } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { BROKER_VERSION } from "../broker/index.ts";
import { LightSpan, nibble } from "./light-span.ts";

export const VARINT = 0;
export const FIXED64 = 1;
export const LEN = 2;

/** A growable byte buffer with protobuf primitives; nested messages get their length once written. */
export class PbWriter {
  buf: Buffer;
  n = 0;

  /**
   * 256 KB by default (the batcher passes its previous request's size: a full one, MAX_BATCH spans, is ~2.6 MB).
   * Never from Node's shared pool (allocUnsafeSlow): a finished request's buffer is its own, so that it can be moved
   * to the HTTP worker (ProtoRequest.finish()).
   * `buf`: a buffer to write into instead (the batcher's reused shared buffers); grown into a SharedArrayBuffer if
   * it is one.
   */
  constructor(size = 256 * 1024, buf?: Buffer) {
    this.buf = buf ?? Buffer.allocUnsafeSlow(size);
  }

  /**
   * Bytes already encoded (a cached field). Past 16 bytes by TypedArray#set (one memmove): the span templates copy
   * ~18 parts of 20-60 bytes per traced message, and the byte loop for those was ~29 % of their encoding
   * (`npm run bench:ops-encode`: 1.29-1.31 -> 1.02-1.08 µs per traced message; docs/benchmarks.md, stop 20).
   */
  copy(from: Buffer): void {
    const len = from.length;
    this.#room(len);
    const b = this.buf;
    const n = this.n;
    if (len > 16) b.set(from, n);
    else for (let i = 0; i < len; i++) b[n + i] = from[i]!;
    this.n += len;
  }

  #room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const size = Math.max(this.buf.length * 2, this.n + k);
    const next = this.buf.buffer instanceof SharedArrayBuffer ? sharedBuffer(size) : Buffer.allocUnsafeSlow(size);
    this.buf.copy(next, 0, 0, this.n);
    this.buf = next;
  }

  /** Leaves `k` bytes to be written later. */
  skip(k: number): void {
    this.#room(k);
    this.n += k;
  }

  /** Non-negative integer below 2^53. */
  varint(v: number): void {
    this.#room(10);
    const b = this.buf;
    let n = this.n;
    // The position in a local, not read and written through `this` per byte: most varints written are tags and
    // lengths of one byte.
    while (v >= 0x80) {
      b[n++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    b[n] = v;
    this.n = n + 1;
  }

  tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  /** int64 (two's complement for negative values: 10 bytes, as protobuf writes them). */
  int64(field: number, v: number): void {
    this.tag(field, VARINT);
    if (v >= 0) {
      this.varint(v);
      return;
    }
    let u = BigInt.asUintN(64, BigInt(v));
    this.#room(10);
    while (u >= 0x80n) {
      this.buf[this.n++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    this.buf[this.n++] = Number(u);
  }

  string(field: number, s: string): void {
    this.tag(field, LEN);
    if (s.length <= 42) {
      // At most 126 bytes of UTF-8: a one-byte length. ASCII (names, ids, most topics) is copied by this loop,
      // cheaper than a call into Buffer.write for strings this short.
      this.#room(1 + s.length * 3);
      const b = this.buf;
      const at = this.n++;
      let i = 0;
      for (; i < s.length; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[at + 1 + i] = c;
      }
      const len = i === s.length ? i : b.write(s, at + 1, "utf8");
      b[at] = len;
      this.n += len;
      return;
    }
    const len = Buffer.byteLength(s);
    this.varint(len);
    this.#room(len);
    this.n += this.buf.write(s, this.n, "utf8");
  }

  /** A hex id (trace and span ids: lowercase hex, as the tracer makes them and traceparent carries them) as bytes. */
  hexBytes(field: number, hex: string): void {
    this.tag(field, LEN);
    const len = hex.length >> 1;
    this.varint(len);
    this.#room(len);
    const b = this.buf;
    for (let i = 0; i < len; i++)
      b[this.n + i] = (nibble(hex.charCodeAt(2 * i)) << 4) | nibble(hex.charCodeAt(2 * i + 1));
    this.n += len;
  }

  /** `len` bytes of `from` at `at` (a LightSpan's ids). */
  rawBytes(field: number, from: Buffer, at: number, len: number): void {
    this.tag(field, LEN);
    this.varint(len);
    this.#room(len);
    const b = this.buf;
    const n = this.n;
    for (let i = 0; i < len; i++) b[n + i] = from[at + i]!;
    this.n += len;
  }

  double(field: number, v: number): void {
    this.tag(field, FIXED64);
    this.#room(8);
    this.n = this.buf.writeDoubleLE(v, this.n);
  }

  /** fixed64 nanoseconds since the epoch from seconds and nanoseconds, exactly (no BigInt, no rounding). */
  nanos(field: number, sec: number, ns: number): void {
    this.tag(field, FIXED64);
    this.#room(8);
    nanosAt(this.buf, this.n, sec, ns);
    this.n += 8;
  }

  /** Starts a length-delimited field; end() fills its length in. One byte is reserved for the length. */
  begin(field: number): number {
    this.tag(field, LEN);
    this.#room(1);
    return this.n++;
  }

  /**
   * begin() with two bytes reserved for the length: a span (128 B to 16 KB encoded) then ends without moving its
   * bytes. end() moves a message whose length needs more than the one byte it reserved: per span that was a
   * copyWithin of ~300 bytes, 9 % of the broker's main thread at 10 % sampling (fan-in QoS 0 profile, stop 18).
   */
  begin2(field: number): number {
    this.tag(field, LEN);
    this.#room(2);
    const at = this.n;
    this.n += 2;
    return at;
  }

  end2(at: number): void {
    const len = this.n - at - 2;
    if (len >= 0x80 && len < 0x4000) {
      this.buf[at] = (len & 0x7f) | 0x80;
      this.buf[at + 1] = len >> 7;
      return;
    }
    // A short one: one byte of length; a long one: end() makes room for the rest.
    this.buf.copyWithin(at + 1, at + 2, this.n);
    this.n--;
    this.end(at);
  }

  end(at: number): void {
    const len = this.n - at - 1;
    if (len < 0x80) {
      this.buf[at] = len;
      return;
    }
    const k = varintBytes(len);
    this.#room(k - 1);
    this.buf.copyWithin(at + k, at + 1, this.n); // make room for the longer length
    this.n += k - 1;
    let v = len;
    let i = at;
    while (v >= 0x80) {
      this.buf[i++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[i] = v;
  }
}

/** The second PbWriter.nanos() last wrote, and sec × 1e9 split into its low and high 32 bits. */
let nanosSec = Number.NaN;
let nanosLo = 0;
let nanosHi = 0;

/** The 8 bytes of a fixed64 `sec` × 1e9 + `ns` (ns < 1e9) into `b` at `n` (room checked by the caller). */
function nanosAt(b: Buffer, n: number, sec: number, ns: number): void {
  // sec × 1e9 as two 32-bit halves, computed once per second (the spans of one second share it: this was ~0.3
  // µs of the ~1.5 µs a traced message's two spans took to encode, five times per trace), plus ns (< 2^30).
  if (sec !== nanosSec) secondNanos(sec);
  // The carry as a value, not a branch: the branch's arithmetic ran only in the ~1 in 4 seconds whose low half is
  // within 1e9 of 2^32, so in a broker at 1 % sampling it first ran seconds into the traffic, long after V8 had
  // optimised the span encoders without feedback for it, and deoptimised them there (`--log-deopt`, fan-in at 1 %:
  // in 2 of 6 tracing brokers' steady windows; docs/benchmarks.md, stop 23).
  const sum = nanosLo + ns;
  const carry = sum >= 0x1_0000_0000 ? 1 : 0;
  const lo32 = sum - carry * 0x1_0000_0000;
  const hi32 = nanosHi + carry;
  // Byte stores rather than Buffer#writeUInt32LE (argument checks, a call each: ~6 % of a traced message's encoding
  // in the tracer micro's profile).
  b[n] = lo32 & 0xff;
  b[n + 1] = (lo32 >>> 8) & 0xff;
  b[n + 2] = (lo32 >>> 16) & 0xff;
  b[n + 3] = lo32 >>> 24;
  b[n + 4] = hi32 & 0xff;
  b[n + 5] = (hi32 >>> 8) & 0xff;
  b[n + 6] = (hi32 >>> 16) & 0xff;
  b[n + 7] = hi32 >>> 24;
}

function secondNanos(sec: number): void {
  // sec × 1e9 with sec split at 2^16: every partial product stays below 2^47, exact in a double.
  const low = (sec % 65536) * 1e9;
  const high = Math.floor(sec / 65536) * 1e9; // × 2^16
  const sum = low + (high % 65536) * 65536;
  nanosLo = sum % 0x1_0000_0000;
  nanosHi = Math.floor(high / 65536) + Math.floor(sum / 0x1_0000_0000);
  nanosSec = sec;
}

/** A Buffer over a SharedArrayBuffer of its own: the HTTP worker reads it where it is (http-worker.ts). */
export function sharedBuffer(size: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(size));
}

function anyValue(w: PbWriter, field: number, v: AttributeValue): void {
  const at = w.begin(field);
  if (typeof v === "string") w.string(1, v);
  else if (typeof v === "boolean") {
    w.tag(2, VARINT);
    w.varint(v ? 1 : 0);
  } else if (typeof v === "number") {
    if (Number.isSafeInteger(v)) w.int64(3, v);
    else w.double(4, v);
  } else {
    const arr = w.begin(5); // ArrayValue
    for (const x of v) if (x != null) anyValue(w, 1, x);
    w.end(arr);
  }
  w.end(at);
}

/**
 * Attribute keys as encoded `KeyValue.key` fields (tag, length, UTF-8), for the first KEY_CACHE keys seen: the broker
 * uses a few dozen, ~25 bytes each, ~15 per traced message; copying them is cheaper than encoding them again.
 */
const keyFields = new Map<string, Buffer>();
const KEY_CACHE = 256;

function keyField(key: string): Buffer | undefined {
  let enc = keyFields.get(key);
  if (enc === undefined && keyFields.size < KEY_CACHE) {
    enc = fieldBytes((w) => w.string(1, key), 8 + key.length * 3);
    keyFields.set(key, enc);
  }
  return enc;
}

/**
 * Whole encoded KeyValue messages (key and value, without the enclosing field's tag and length), by key then value,
 * for scalar values: the broker's span attributes repeat (`messaging.system` "mqtt", the operation, QoS, reason
 * codes, the same topics and client ids message after message), and copying ~30 bytes is cheaper than encoding key
 * and value again (the attribute encoding was ~40 % of a traced message's cost in the tracer micro's profile).
 * Bounded: at most KEY_CACHE keys and VALUES_PER_KEY values each; past that, pairs are encoded as they come (a broker
 * with many topics or clients caches the first ones and encodes the rest).
 */
const keyValues = new Map<string, Map<string | number | boolean, Buffer>>();
const VALUES_PER_KEY = 64;

/** The cache of `key`'s encoded KeyValues (created on first use); undefined once KEY_CACHE keys have one. */
export function keyValuesOf(key: string): Map<string | number | boolean, Buffer> | undefined {
  let values = keyValues.get(key);
  if (values === undefined) {
    if (keyValues.size >= KEY_CACHE) return undefined;
    keyValues.set(key, (values = new Map<string | number | boolean, Buffer>()));
  }
  return values;
}

function keyValue(key: string, v: string | number | boolean): Buffer | undefined {
  const values = keyValuesOf(key);
  return values === undefined ? undefined : keyValueIn(values, key, v);
}

/** keyValue() with `key`'s cache already looked up (keyValuesOf(key)). */
function keyValueIn(
  values: Map<string | number | boolean, Buffer>,
  key: string,
  v: string | number | boolean,
): Buffer | undefined {
  let enc = values.get(v);
  if (enc === undefined && values.size < VALUES_PER_KEY && (typeof v !== "string" || v.length <= 256)) {
    enc = fieldBytes(
      (w) => {
        w.string(1, key);
        anyValue(w, 2, v);
      },
      32 + (key.length + (typeof v === "string" ? v.length : 0)) * 3,
    );
    values.set(v, enc);
  }
  return enc;
}

function attributes(w: PbWriter, field: number, attrs: Attributes): void {
  for (const key in attrs) {
    const v = attrs[key];
    if (v !== undefined) attribute(w, field, key, v);
  }
}

/** One attribute as a KeyValue in field `field` (a span's 9, an event's 3). */
export function attribute(w: PbWriter, field: number, key: string, v: AttributeValue): void {
  writeAttribute(w, field, key, v, typeof v === "object" ? undefined : keyValue(key, v));
}

/**
 * A string attribute of a key whose cache the caller holds (`values`: keyValuesOf(key), looked up once; the span
 * templates' topic and client id), as attribute() writes it.
 */
export function stringAttribute(
  w: PbWriter,
  field: number,
  key: string,
  values: Map<string | number | boolean, Buffer> | undefined,
  v: string,
): void {
  writeAttribute(w, field, key, v, values === undefined ? undefined : keyValueIn(values, key, v));
}

/** The KeyValue of `key` and `v`: `whole` if cached, else encoded here. */
function writeAttribute(w: PbWriter, field: number, key: string, v: AttributeValue, whole: Buffer | undefined): void {
  if (whole !== undefined) {
    w.tag(field, LEN);
    w.varint(whole.length);
    w.copy(whole);
    return;
  }
  const at = w.begin(field); // KeyValue
  const enc = keyField(key);
  if (enc === undefined) w.string(1, key);
  else w.copy(enc);
  anyValue(w, 2, v);
  w.end(at);
}

function hrNanos(w: PbWriter, field: number, t: HrTime): void {
  w.nanos(field, t[0], t[1]);
}

export function msNanos(w: PbWriter, field: number, ms: number): void {
  const sec = Math.floor(ms / 1000);
  w.nanos(field, sec, nanosInSecond(ms, sec));
}

/** msNanos()'s 8 value bytes (no tag) into `b` at `at`: a hole of a span template (otlp-templates.ts). */
export function msNanosAt(b: Buffer, at: number, ms: number): void {
  const sec = Math.floor(ms / 1000);
  nanosAt(b, at, sec, nanosInSecond(ms, sec));
}

/** The nanoseconds of `ms` past the start of its second `sec` (= floor(ms / 1000)), rounded into [0, 1e9). */
function nanosInSecond(ms: number, sec: number): number {
  return Math.min(999_999_999, Math.max(0, Math.round((ms - sec * 1000) * 1e6)));
}

function span(w: PbWriter, s: ReadableSpan): void {
  const at = w.begin2(2); // ScopeSpans.spans
  const light = s instanceof LightSpan;
  if (light) {
    // Ids as the bytes they were drawn as (no hex string made).
    w.rawBytes(1, s.ids, s.idAt, 16);
    w.rawBytes(2, s.ids, s.idAt + 16, 8);
    if (s.hasParent) w.rawBytes(4, s.ids, s.idAt + 24, 8);
  } else {
    const sc = s.spanContext();
    w.hexBytes(1, sc.traceId);
    w.hexBytes(2, sc.spanId);
    if (s.parentSpanContext !== undefined) w.hexBytes(4, s.parentSpanContext.spanId);
  }
  w.string(5, s.name);
  w.tag(6, VARINT);
  w.varint(s.kind + 1); // OTLP SpanKind = API SpanKind + 1 (0 is UNSPECIFIED)
  if (light) {
    msNanos(w, 7, s.startMs);
    msNanos(w, 8, s.endMs);
  } else {
    hrNanos(w, 7, s.startTime);
    hrNanos(w, 8, s.endTime);
  }
  attributes(w, 9, s.attributes);
  for (const e of s.events) {
    const ev = w.begin(11);
    hrNanos(w, 1, e.time);
    w.string(2, e.name);
    if (e.attributes !== undefined) attributes(w, 3, e.attributes);
    w.end(ev);
  }
  const code: number = s.status.code; // OTLP StatusCode = API SpanStatusCode (UNSET 0, OK 1, ERROR 2)
  if (code !== 0 || s.status.message !== undefined) {
    const st = w.begin(15);
    if (s.status.message !== undefined && s.status.message !== "") w.string(2, s.status.message);
    if (code !== 0) {
      w.tag(3, VARINT);
      w.varint(code);
    }
    w.end(st);
  }
  w.end2(at);
}

/**
 * One ExportTraceServiceRequest being written: the resource and scope first, then spans as they come (add()), so a
 * batching processor can encode each span when it ends and keep no span object (otlp-batcher.ts).
 */
export class ProtoRequest {
  readonly #w: PbWriter;
  /** The resource field then the scope field: what precedes the spans inside resource_spans and scope_spans. */
  readonly #resource: Buffer;
  readonly #scope: Buffer;
  /** Where the spans start: room is left before them for the two enclosing messages' tags and lengths. */
  readonly #start: number;
  count = 0;

  /**
   * `size`: the buffer to start with (bytes; a batcher passes its previous request's size, so it does not grow), or
   * `buf`: a buffer to write into (grown if need be: `buffer` is then another one).
   */
  constructor(serviceName: string, size?: number, buf?: Buffer) {
    this.#resource = fieldBytes((w) => {
      const res = w.begin(1); // ResourceSpans.resource
      attributes(w, 1, { "service.name": serviceName, "service.version": BROKER_VERSION });
      w.end(res);
    });
    this.#scope = fieldBytes((w) => {
      const scope = w.begin(1); // ScopeSpans.scope
      w.string(1, "wharf");
      w.string(2, BROKER_VERSION);
      w.end(scope);
    });
    const w = (this.#w = new PbWriter(size, buf));
    // Written at finish(), right before the spans, once their lengths are known: the spans are not moved (the
    // outer lengths of a ~700 KB request need three bytes; reserving one meant two moves of the whole request).
    this.#start = 2 * (1 + 10) + this.#resource.length + this.#scope.length;
    w.skip(this.#start);
  }

  add(s: ReadableSpan): void {
    span(this.#w, s);
    this.count++;
  }

  /** The writer, for a span encoded from a template (otlp-templates.ts); the caller counts it in `count`. */
  get writer(): PbWriter {
    return this.#w;
  }

  /** The buffer the request is written in (after finish(): the one its bytes are in). */
  get buffer(): Buffer {
    return this.#w.buf;
  }

  /**
   * The request's bytes, a view of an ArrayBuffer that belongs to this request alone (never Node's pool); the request
   * is not to be added to afterwards.
   */
  finish(): Buffer {
    const w = this.#w;
    const spans = w.n - this.#start;
    const ss = this.#scope.length + spans; // ScopeSpans
    const rs = this.#resource.length + 1 + varintBytes(ss) + ss; // ResourceSpans
    const from = this.#start - (1 + varintBytes(rs) + this.#resource.length + 1 + varintBytes(ss) + this.#scope.length);
    const end = w.n;
    w.n = from;
    w.tag(1, LEN); // ExportTraceServiceRequest.resource_spans
    w.varint(rs);
    w.copy(this.#resource);
    w.tag(2, LEN); // ResourceSpans.scope_spans
    w.varint(ss);
    w.copy(this.#scope);
    w.n = end;
    return w.buf.subarray(from, end);
  }
}

/** The bytes `write` writes into a fresh writer (of `size` bytes to start with: it grows if need be). */
export function fieldBytes(write: (w: PbWriter) => void, size = 256): Buffer {
  const w = new PbWriter(size);
  write(w);
  return Buffer.from(w.buf.subarray(0, w.n));
}

/** Bytes of `v` as a protobuf varint. */
export function varintBytes(v: number): number {
  let n = 1;
  for (; v >= 0x80; v = Math.floor(v / 0x80)) n++;
  return n;
}

/** The ExportTraceServiceRequest of `spans` in the protobuf encoding (what the exporter POSTs). */
export function otlpRequestProto(spans: readonly ReadableSpan[], serviceName: string): Buffer {
  const r = new ProtoRequest(serviceName);
  for (const s of spans) r.add(s);
  return r.finish();
}
