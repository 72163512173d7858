// Wiring of the OpenTelemetry SDK for `tracing.enabled`: the broker's span records (light-span.ts; the sampling
// decision is OtelBrokerTracer's, taken before a span exists) go to an SDK span processor (batching) and on to the
// configured exporter. The SDK module is imported here dynamically, so a broker with tracing off never loads it; nor
// does one with the default exporter (OTLP/HTTP protobuf, our OtlpProtoBatcher), which reads nothing of the SDK's:
// loaded, the SDK and its dependencies (resources, core, semantic conventions) hold ~2.3 MB of the broker's heap,
// which brought the young broker's first mark-compacts into the ops benchmark's window (2 per 3 s window with
// tracing at 1 %, none without tracing: docs/benchmarks.md, stop 16).
import { createRequire } from "node:module";
import type { SpanExporter, SpanProcessor, ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { BROKER_VERSION, type Broker } from "../broker/index.ts";
import type { Logger } from "../util/index.ts";
import { ConsoleJsonExporter, OtlpHttpExporter, type OtlpProtocol } from "./otlp.ts";
import { OtlpProtoBatcher } from "./otlp-batcher.ts";
import type { SpanOutput } from "./light-span.ts";
import { OtelBrokerTracer } from "./tracing.ts";

export interface TracingOptions {
  sampleRatio: number;
  exporter: "otlp" | "console";
  endpoint: string;
  /** OTLP/HTTP body encoding (default http/protobuf). */
  protocol?: OtlpProtocol | undefined;
  serviceName: string;
}

export interface TracingDeps {
  logger: Logger;
  /** Replaces the configured exporter, with synchronous export of each span (tests: an InMemorySpanExporter). */
  exporter?: SpanExporter | undefined;
}

export interface BrokerTracing {
  /** Exports what is buffered and detaches from the broker. */
  close(): Promise<void>;
}

export async function startTracing(broker: Broker, opts: TracingOptions, deps: TracingDeps): Promise<BrokerTracing> {
  let lastError = 0;
  const onError = (err: Error): void => {
    // At most one warning a minute: a collector that is down must not flood the log.
    const now = Date.now();
    if (now - lastError < 60_000) return;
    lastError = now;
    deps.logger.warn({ err, endpoint: opts.endpoint }, "tracing: exporting spans failed (spans dropped)");
  };
  let processor: SpanProcessor;
  let output: SpanOutput;
  let records: OtlpProtoBatcher | undefined;
  if (
    deps.exporter === undefined &&
    opts.exporter === "otlp" &&
    (opts.protocol ?? "http/protobuf") === "http/protobuf"
  ) {
    // Each span encoded when it ends, batches POSTed (otlp-batcher.ts: no span object kept until export); the SDK is
    // not loaded unless something reads a span's resource or scope (the batcher writes its own).
    // Publish and deliver spans go to it as records encoded from templates (trace-record.ts, otlp-templates.ts).
    processor = records = new OtlpProtoBatcher(opts.endpoint, opts.serviceName, onError);
    output = lazySpanOutput(processor);
  } else {
    const sdk = await import("@opentelemetry/sdk-trace-base");
    if (deps.exporter !== undefined) {
      // Tests get every span at once.
      processor = new sdk.SimpleSpanProcessor(deps.exporter);
    } else {
      // Batches of the SDK's processor (at most 2048 spans buffered, then dropped).
      const exporter: SpanExporter =
        opts.exporter === "console"
          ? new ConsoleJsonExporter(opts.serviceName)
          : new OtlpHttpExporter(opts.endpoint, opts.serviceName, onError, opts.protocol);
      processor = new sdk.BatchSpanProcessor(exporter);
    }
    output = await spanOutput(processor);
  }
  const tracer = new OtelBrokerTracer(output, opts.sampleRatio, Math.random, records);
  broker.setTracer(tracer);
  deps.logger.info(
    { sampleRatio: opts.sampleRatio, exporter: deps.exporter === undefined ? opts.exporter : "injected" },
    "tracing enabled",
  );
  return {
    async close() {
      broker.setTracer(undefined);
      await processor.shutdown();
    },
  };
}

/**
 * Finished spans to `processor`, with the resource and instrumentation scope an SDK tracer provider gives its spans
 * (read from one span it starts and never ends: the SDK has no other public way to them, and building a Resource
 * ourselves would import @opentelemetry/resources, which is not our dependency).
 */
export async function spanOutput(processor: Pick<SpanProcessor, "onEnd">): Promise<SpanOutput> {
  const { resource, instrumentationScope } = probe(await import("@opentelemetry/sdk-trace-base"));
  return { onEnd: (span) => processor.onEnd(span), resource, instrumentationScope };
}

type Sdk = typeof import("@opentelemetry/sdk-trace-base");

function probe(sdk: Sdk): ReadableSpan {
  return new sdk.BasicTracerProvider().getTracer("wharf", BROKER_VERSION).startSpan("probe") as unknown as ReadableSpan;
}

/** spanOutput() whose resource and scope load the SDK (synchronously) only when first read. */
export function lazySpanOutput(processor: Pick<SpanProcessor, "onEnd">): SpanOutput {
  let probed: ReadableSpan | undefined;
  const read = (): ReadableSpan =>
    (probed ??= probe(createRequire(import.meta.url)("@opentelemetry/sdk-trace-base") as Sdk));
  return {
    onEnd: (span) => processor.onEnd(span),
    get resource() {
      return read().resource;
    },
    get instrumentationScope() {
      return read().instrumentationScope;
    },
  };
}
