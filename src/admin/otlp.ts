// Span exporters of `tracing.exporter`: OTLP/HTTP (POST <endpoint>, the ExportTraceServiceRequest of
// opentelemetry-proto, accepted by the OpenTelemetry Collector, Jaeger and Tempo) with the protobuf encoding
// (otlp-proto.ts, the default) or the JSON one (here), and
// a console exporter printing the same span objects one JSON line each. Written here (~100 lines) rather than
// adding @opentelemetry/exporter-trace-otlp-http and its protobuf/gRPC dependency tree for one HTTP POST.
import type { Attributes, AttributeValue, HrTime } from "@opentelemetry/api";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace-base";
import { BROKER_VERSION } from "../broker/index.ts";
import { LightSpan } from "./light-span.ts";
import { otlpRequestProto } from "./otlp-proto.ts";
import { httpWorker, postFromWorker } from "./http-worker.ts";

type ResultCallback = Parameters<SpanExporter["export"]>[1];
type ResultCode = Parameters<ResultCallback>[0]["code"];
// ExportResultCode.SUCCESS / FAILED of @opentelemetry/core (not a direct dependency: only these two numbers).
const SUCCESS = 0 as unknown as ResultCode;
const FAILED = 1 as unknown as ResultCode;

interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string;
  doubleValue?: number;
  arrayValue?: { values: OtlpAnyValue[] };
}

function anyValue(v: AttributeValue): OtlpAnyValue {
  if (typeof v === "string") return { stringValue: v };
  if (typeof v === "boolean") return { boolValue: v };
  if (typeof v === "number") return Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v };
  return { arrayValue: { values: v.filter((x) => x != null).map((x) => anyValue(x as AttributeValue)) } };
}

function attributes(attrs: Attributes): { key: string; value: OtlpAnyValue }[] {
  const out: { key: string; value: OtlpAnyValue }[] = [];
  for (const [key, v] of Object.entries(attrs)) if (v !== undefined) out.push({ key, value: anyValue(v) });
  return out;
}

/** HrTime ([s, ns]) as the decimal nanoseconds string OTLP/JSON wants (fixed64 values are strings in JSON). */
function nanos(t: HrTime): string {
  return (BigInt(t[0]) * 1_000_000_000n + BigInt(t[1])).toString();
}

/** One span as an OTLP/JSON Span (ids hex; kind = API SpanKind + 1; status codes are the same numbers). */
export function otlpSpan(s: ReadableSpan): Record<string, unknown> {
  const sc = s.spanContext();
  return {
    traceId: sc.traceId,
    spanId: sc.spanId,
    ...(s.parentSpanContext === undefined ? {} : { parentSpanId: s.parentSpanContext.spanId }),
    name: s.name,
    kind: s.kind + 1,
    startTimeUnixNano: nanos(s.startTime),
    endTimeUnixNano: nanos(s.endTime),
    attributes: attributes(s.attributes),
    events: s.events.map((e) => ({
      timeUnixNano: nanos(e.time),
      name: e.name,
      attributes: attributes(e.attributes ?? {}),
    })),
    status: { code: s.status.code, ...(s.status.message === undefined ? {} : { message: s.status.message }) },
  };
}

export function otlpRequest(spans: readonly ReadableSpan[], serviceName: string): Record<string, unknown> {
  return {
    resourceSpans: [
      {
        resource: { attributes: attributes({ "service.name": serviceName, "service.version": BROKER_VERSION }) },
        scopeSpans: [{ scope: { name: "wharf", version: BROKER_VERSION }, spans: spans.map(otlpSpan) }],
      },
    ],
  };
}

// The exporter's encoder: the same document as JSON.stringify(otlpRequest(...)), written as one string without the
// intermediate objects. Exporting is most of what a sampled message costs the broker (bench/ops/tracer-micro.ts:
// ~3 µs per span through the objects and JSON.stringify, with BigInt nanoseconds); strings from clients (topics,
// client ids) still go through JSON.stringify for escaping.

function anyValueJson(v: AttributeValue): string {
  if (typeof v === "string") return `{"stringValue":${JSON.stringify(v)}}`;
  if (typeof v === "boolean") return v ? `{"boolValue":true}` : `{"boolValue":false}`;
  if (typeof v === "number")
    return Number.isInteger(v) ? `{"intValue":"${v}"}` : `{"doubleValue":${JSON.stringify(v)}}`;
  let out = "";
  for (const x of v) if (x != null) out += (out === "" ? "" : ",") + anyValueJson(x);
  return `{"arrayValue":{"values":[${out}]}}`;
}

/** `{"key":<key>,"value":` per attribute name: names are the code's constants, a few dozen (bounded anyway). */
const keyHeads = new Map<string, string>();
const KEY_HEADS_MAX = 1024;

function attributesJson(attrs: Attributes): string {
  let out = "";
  for (const key in attrs) {
    const v = attrs[key];
    if (v === undefined) continue;
    let head = keyHeads.get(key);
    if (head === undefined) {
      head = `{"key":${JSON.stringify(key)},"value":`;
      if (keyHeads.size < KEY_HEADS_MAX) keyHeads.set(key, head);
    }
    out += `${out === "" ? "" : ","}${head}${anyValueJson(v)}}`;
  }
  return `[${out}]`;
}

/** nanos() without BigInt: seconds then nanoseconds padded to 9 digits (HrTime nanoseconds are < 1e9). */
function nanosJson(t: HrTime): string {
  return t[0] === 0 ? `"${t[1]}"` : `"${t[0]}${String(t[1]).padStart(9, "0")}"`;
}

/** ms since the epoch (LightSpan times) as OTLP nanoseconds, without an HrTime array. */
function msNanosJson(ms: number): string {
  const sec = Math.floor(ms / 1000);
  const ns = Math.min(999_999_999, Math.max(0, Math.round((ms - sec * 1000) * 1e6)));
  return sec === 0 ? `"${ns}"` : `"${sec}${String(ns).padStart(9, "0")}"`;
}

function otlpSpanJson(s: ReadableSpan): string {
  const sc = s.spanContext();
  let events = "";
  for (const e of s.events) {
    events += `${events === "" ? "" : ","}{"timeUnixNano":${nanosJson(e.time)},"name":${JSON.stringify(e.name)},"attributes":${attributesJson(e.attributes ?? {})}}`;
  }
  const parent = s.parentSpanContext === undefined ? "" : `"parentSpanId":"${s.parentSpanContext.spanId}",`;
  const message = s.status.message === undefined ? "" : `,"message":${JSON.stringify(s.status.message)}`;
  return (
    `{"traceId":"${sc.traceId}","spanId":"${sc.spanId}",${parent}"name":${JSON.stringify(s.name)},"kind":${s.kind + 1},` +
    (s instanceof LightSpan
      ? `"startTimeUnixNano":${msNanosJson(s.startMs)},"endTimeUnixNano":${msNanosJson(s.endMs)},`
      : `"startTimeUnixNano":${nanosJson(s.startTime)},"endTimeUnixNano":${nanosJson(s.endTime)},`) +
    `"attributes":${attributesJson(s.attributes)},"events":[${events}],"status":{"code":${s.status.code}${message}}}`
  );
}

/** JSON.stringify(otlpRequest(spans, serviceName)), built directly (what the exporter sends). */
export function otlpRequestJson(spans: readonly ReadableSpan[], serviceName: string): string {
  let body = "";
  for (const s of spans) body += (body === "" ? "" : ",") + otlpSpanJson(s);
  const resource = attributesJson({ "service.name": serviceName, "service.version": BROKER_VERSION });
  const scope = `{"name":"wharf","version":${JSON.stringify(BROKER_VERSION)}}`;
  return `{"resourceSpans":[{"resource":{"attributes":${resource}},"scopeSpans":[{"scope":${scope},"spans":[${body}]}]}]}`;
}

export const PROTOBUF = "application/x-protobuf";

/**
 * One OTLP/HTTP POST, sent by undici on the HTTP worker thread (http-worker.ts); rejects on a network error, a
 * timeout or a status >= 300.
 */
export async function postOtlp(
  endpoint: string,
  body: string | Buffer,
  type: string,
  timeoutMs: number,
  /** The body's ArrayBuffer is the caller's alone and not used again: moved to the worker, not copied. */
  transfer = false,
): Promise<void> {
  const status = await postFromWorker({ url: endpoint, body, headers: { "content-type": type }, timeoutMs, transfer });
  if (status >= 300) throw new Error(`OTLP endpoint ${endpoint} answered ${status}`);
}

/** `tracing.protocol`: the OTLP/HTTP body encoding. */
export type OtlpProtocol = "http/protobuf" | "http/json";

/** OTLP/HTTP: one POST per batch of spans, protobuf (otlp-proto.ts) or JSON encoded. */
export class OtlpHttpExporter implements SpanExporter {
  readonly #pending = new Set<Promise<void>>();
  #stopped = false;

  constructor(
    private readonly endpoint: string,
    private readonly serviceName: string,
    private readonly onError: (err: Error) => void,
    private readonly protocol: OtlpProtocol = "http/protobuf",
    private readonly timeoutMs = 10_000,
  ) {
    void httpWorker.warm(); // its start paid now rather than at the first request (http-worker.ts)
  }

  export(spans: ReadableSpan[], done: ResultCallback): void {
    if (this.#stopped) return done({ code: FAILED, error: new Error("exporter shut down") });
    const proto = this.protocol === "http/protobuf";
    const body = proto ? otlpRequestProto(spans, this.serviceName) : otlpRequestJson(spans, this.serviceName);
    // A protobuf body is a finished ProtoRequest's own buffer (otlp-proto.ts): given to the worker, not copied.
    const p = postOtlp(this.endpoint, body, proto ? PROTOBUF : "application/json", this.timeoutMs, proto)
      .then(() => done({ code: SUCCESS }))
      .catch((err: unknown) => {
        const error = err instanceof Error ? err : new Error(String(err));
        this.onError(error);
        done({ code: FAILED, error });
      })
      .finally(() => this.#pending.delete(p));
    this.#pending.add(p);
  }

  async forceFlush(): Promise<void> {
    await Promise.all(this.#pending);
  }

  async shutdown(): Promise<void> {
    this.#stopped = true;
    await this.forceFlush();
  }
}

/** `tracing.exporter: console`: one JSON line per span on stdout (the OTLP span shape plus the service name). */
export class ConsoleJsonExporter implements SpanExporter {
  constructor(
    private readonly serviceName: string,
    private readonly write: (line: string) => void = (l) => process.stdout.write(l),
  ) {}

  export(spans: ReadableSpan[], done: ResultCallback): void {
    const service = JSON.stringify(this.serviceName);
    for (const s of spans) this.write(`{"service":${service},"span":${otlpSpanJson(s)}}\n`);
    done({ code: SUCCESS });
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
