// µs per traced message through OtelBrokerTracer with the SDK wiring of tracing-sdk.ts (its span records into a
// BatchSpanProcessor) and the OTLP/HTTP JSON exporter posting to a local sink: what one sampled message costs the
// broker's thread, by fan-out (deliveries per message). Usage: node --import tsx bench/ops/tracer-micro.ts [n]
import { spawn } from "node:child_process";
import { once } from "node:events";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace-base";
import { BatchSpanProcessor, type SpanProcessor } from "@opentelemetry/sdk-trace-base";
import { OtlpProtoBatcher } from "../../src/admin/otlp-batcher.ts";
import { OtlpHttpExporter, otlpRequest, otlpRequestJson } from "../../src/admin/otlp.ts";
import { otlpRequestProto } from "../../src/admin/otlp-proto.ts";
import { OtelBrokerTracer } from "../../src/admin/tracing.ts";
import { spanOutput } from "../../src/admin/tracing-sdk.ts";

const n = Number(process.argv[2] ?? 20_000);
// otlp: the broker's default (protobuf, encoded as spans end: OtlpProtoBatcher); otlp-json: posting JSON; proto / json: that encoding
// only (no HTTP); objects: JSON.stringify of the OTLP objects (the encoder before otlpRequestJson); none: spans only,
// exported nowhere
const mode = process.argv[3] ?? "otlp";
// The sink runs in a child process, so that only the broker side's cost is measured here.
const sink = spawn(
  process.execPath,
  [
    "-e",
    `const s=require("node:http").createServer((q,r)=>{q.resume();q.on("end",()=>r.end("{}"))});s.listen(0,"127.0.0.1",()=>console.log(s.address().port))`,
  ],
  { stdio: ["ignore", "pipe", "inherit"] },
);
const [portLine] = (await once(sink.stdout, "data")) as unknown[];
if (!Buffer.isBuffer(portLine)) throw new Error("sink did not print its port");
const url = `http://127.0.0.1:${portLine.toString().trim()}/v1/traces`;

class LocalExporter implements SpanExporter {
  constructor(private readonly encode: string) {}
  export(spans: ReadableSpan[], done: (r: { code: number }) => void): void {
    if (this.encode === "json") Buffer.from(otlpRequestJson(spans, "wharf"));
    else if (this.encode === "proto") otlpRequestProto(spans, "wharf");
    else if (this.encode === "objects") JSON.stringify(otlpRequest(spans, "wharf"));
    done({ code: 0 });
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
// otlp: what the broker runs by default (tracing-sdk.ts): spans encoded as they end, POSTed in batches.
const processor: SpanProcessor =
  mode === "otlp"
    ? new OtlpProtoBatcher(url, "wharf", () => {})
    : new BatchSpanProcessor(
        mode === "otlp-json" ? new OtlpHttpExporter(url, "wharf", () => {}, "http/json") : new LocalExporter(mode),
      );
const tracer = new OtelBrokerTracer(
  await spanOutput(processor),
  1,
  Math.random,
  processor instanceof OtlpProtoBatcher ? processor : undefined, // as the broker: publish records from templates
);

const payload = Buffer.alloc(100);
const packet = (qos: number) => ({ qos, retain: false, payload, properties: undefined });

async function run(deliveries: number, qos: number): Promise<number> {
  let cpu = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const t = tracer.publish("pub-1", "bench/topic/1", packet(qos))!;
    t.routed(deliveries, 0);
    for (let d = 0; d < deliveries; d++) t.ref.delivered(`sub-${d}`, "bench/topic/1", qos, qos > 0 ? d + 1 : undefined);
    t.acked(0);
    if (i % 20 === 0) await new Promise((r) => setImmediate(r)); // let the exporter's requests go out
  }
  await processor.forceFlush();
  cpu = process.cpuUsage(cpu);
  return (cpu.user + cpu.system) / n;
}

for (const [deliveries, qos] of [
  [1, 0],
  [1, 1],
  [50, 0],
  [50, 1],
] as const) {
  await run(deliveries, qos); // warm-up
  // The least of 5 runs: on a shared machine the others include time stolen by other processes.
  let us = Infinity;
  for (let i = 0; i < 5; i++) us = Math.min(us, await run(deliveries, qos));
  console.log(
    `${deliveries} deliveries, QoS ${qos}: ${us.toFixed(1)} µs CPU per traced message (${mode}, least of 5 runs of ${n})`,
  );
}
await processor.shutdown();
sink.kill();
