// Span exporters of `tracing.exporter`: OTLP/HTTP with the JSON encoding (POST <endpoint>, the
// ExportTraceServiceRequest of opentelemetry-proto, accepted by the OpenTelemetry Collector, Jaeger and Tempo), and
// a console exporter printing the same span objects one JSON line each. Written here (~100 lines) rather than
// adding @opentelemetry/exporter-trace-otlp-http and its protobuf/gRPC dependency tree for one HTTP POST.
import type { Attributes, AttributeValue, HrTime } from "@opentelemetry/api";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace-base";
import { request } from "undici";
import { BROKER_VERSION } from "../broker/index.ts";

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

export class OtlpHttpJsonExporter implements SpanExporter {
  readonly #pending = new Set<Promise<void>>();
  #stopped = false;

  constructor(
    private readonly endpoint: string,
    private readonly serviceName: string,
    private readonly onError: (err: Error) => void,
    private readonly timeoutMs = 10_000,
  ) {}

  export(spans: ReadableSpan[], done: ResultCallback): void {
    if (this.#stopped) return done({ code: FAILED, error: new Error("exporter shut down") });
    const body = JSON.stringify(otlpRequest(spans, this.serviceName));
    const p = request(this.endpoint, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    })
      .then(async (res) => {
        await res.body.dump();
        if (res.statusCode >= 300) throw new Error(`OTLP endpoint ${this.endpoint} answered ${res.statusCode}`);
        done({ code: SUCCESS });
      })
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
    for (const s of spans) this.write(JSON.stringify({ service: this.serviceName, span: otlpSpan(s) }) + "\n");
    done({ code: SUCCESS });
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
