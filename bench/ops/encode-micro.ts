// CPU per traced message of encoding its spans alone: the `publish` span and one `deliver` span of a publish record,
// written from the OTLP templates (src/admin/otlp-templates.ts) into a request, hot, in one thread: no HTTP, no broker.
// What `npm run bench:ops-tracer` measures with everything around it; this isolates the encoder for A/Bs of it
// (docs/benchmarks.md, stop 20). Usage: node --import tsx bench/ops/encode-micro.ts [rounds]
import { ProtoRequest, sharedBuffer } from "../../src/admin/otlp-proto.ts";
import { encodeDeliver, encodePublish } from "../../src/admin/otlp-templates.ts";
import type { SpanOutput } from "../../src/admin/light-span.ts";
import type { PublishRecord, PublishSink } from "../../src/admin/trace-record.ts";
import { OtelBrokerTracer } from "../../src/admin/tracing.ts";

const rounds = Number(process.argv[2] ?? 8);
const TRACES = 1024; // per request: 2048 spans, the batcher's MAX_BATCH
const REQUESTS = 200; // per round

// 1,024 publish records as fan-in makes them (4 publishers, one topic, one subscriber, QoS 0 and 1 alternating),
// each with its delivery's id slot.
const records: PublishRecord[] = [];
const deliveries: { ids: Buffer; at: number }[] = [];
const collect: PublishSink = {
  publishEnded: (r) => void records.push(r),
  delivered: (ids, at) => void deliveries.push({ ids, at }),
};
const out: SpanOutput = {
  onEnd: () => undefined,
  resource: undefined as unknown as SpanOutput["resource"],
  instrumentationScope: { name: "wharf" },
};
const tracer = new OtelBrokerTracer(out, 1, Math.random, collect);
const payload = Buffer.alloc(100);
for (let i = 0; i < TRACES; i++) {
  const packet = { qos: i % 2, retain: false, payload, properties: undefined };
  const t = tracer.publish(`pub-${i % 4}`, "bench/topic/1", packet);
  if (t === undefined) throw new Error("sampleRatio 1 records every publish");
  t.routed(1, 0);
  t.ref.delivered("sub-0", "bench/topic/1", i % 2, i % 2 === 1 ? 1 + i : undefined);
  t.acked(0);
}

const buf = sharedBuffer(1 << 20);
for (let k = 0; k < rounds; k++) {
  const cpu = process.cpuUsage();
  let bytes = 0;
  for (let j = 0; j < REQUESTS; j++) {
    const req = new ProtoRequest("wharf", undefined, buf);
    for (let i = 0; i < TRACES; i++) {
      const d = deliveries[i]!;
      encodeDeliver(
        req.writer,
        d.ids,
        d.at,
        "sub-0",
        "bench/topic/1",
        i % 2,
        i % 2 === 1 ? 1 + i : undefined,
        1.7e12 + i,
      );
      encodePublish(req.writer, records[i]!);
    }
    bytes = req.finish().length;
  }
  const used = process.cpuUsage(cpu);
  const ns = ((used.user + used.system) * 1000) / (REQUESTS * TRACES);
  console.log(`round ${k + 1}: ${ns.toFixed(0)} ns per traced message (2 spans, ${Math.round(bytes / TRACES)} B)`);
}
