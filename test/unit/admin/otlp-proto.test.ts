// The OTLP/HTTP protobuf encoding of spans (src/admin/otlp-proto.ts), decoded by protobufjs with the field numbers
// of opentelemetry-proto (trace/v1/trace.proto, common/v1/common.proto, resource/v1/resource.proto, written out
// below), must say exactly what the JSON encoding says: ids, times to the nanosecond, attributes of every kind,
// events, status, parents; long strings and messages whose lengths need more than one varint byte included.
import { test } from "node:test";
import assert from "node:assert/strict";
import protobuf from "protobufjs";
import { InMemorySpanExporter, SimpleSpanProcessor, BasicTracerProvider } from "@opentelemetry/sdk-trace-base";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { ROOT_CONTEXT, SpanStatusCode, trace } from "@opentelemetry/api";
import { otlpRequest } from "../../../src/admin/otlp.ts";
import { PbWriter, ProtoRequest, otlpRequestProto } from "../../../src/admin/otlp-proto.ts";
import { encodeDeliver, encodePublish } from "../../../src/admin/otlp-templates.ts";
import { SpanRecordSink } from "../../../src/admin/record-spans.ts";
import type { PublishSink } from "../../../src/admin/trace-record.ts";
import { OtelBrokerTracer } from "../../../src/admin/tracing.ts";
import { lazySpanOutput, spanOutput } from "../../../src/admin/tracing-sdk.ts";
import { PARENT, TRACE } from "./tracing-harness.ts";

const f = (id: number, type: string, rule?: "repeated") => ({ id, type, ...(rule === undefined ? {} : { rule }) });
const root = protobuf.Root.fromJSON({
  nested: {
    ExportTraceServiceRequest: { fields: { resourceSpans: f(1, "ResourceSpans", "repeated") } },
    ResourceSpans: { fields: { resource: f(1, "Resource"), scopeSpans: f(2, "ScopeSpans", "repeated") } },
    Resource: { fields: { attributes: f(1, "KeyValue", "repeated") } },
    ScopeSpans: { fields: { scope: f(1, "Scope"), spans: f(2, "Span", "repeated") } },
    Scope: { fields: { name: f(1, "string"), version: f(2, "string") } },
    Span: {
      fields: {
        traceId: f(1, "bytes"),
        spanId: f(2, "bytes"),
        parentSpanId: f(4, "bytes"),
        name: f(5, "string"),
        kind: f(6, "int32"),
        startTimeUnixNano: f(7, "fixed64"),
        endTimeUnixNano: f(8, "fixed64"),
        attributes: f(9, "KeyValue", "repeated"),
        events: f(11, "Event", "repeated"),
        status: f(15, "Status"),
      },
    },
    Event: {
      fields: { timeUnixNano: f(1, "fixed64"), name: f(2, "string"), attributes: f(3, "KeyValue", "repeated") },
    },
    Status: { fields: { message: f(2, "string"), code: f(3, "int32") } },
    KeyValue: { fields: { key: f(1, "string"), value: f(2, "AnyValue") } },
    AnyValue: {
      oneofs: { value: { oneof: ["stringValue", "boolValue", "intValue", "doubleValue", "arrayValue"] } },
      fields: {
        stringValue: f(1, "string"),
        boolValue: f(2, "bool"),
        intValue: f(3, "int64"),
        doubleValue: f(4, "double"),
        arrayValue: f(5, "ArrayValue"),
      },
    },
    ArrayValue: { fields: { values: f(1, "AnyValue", "repeated") } },
  },
});

type Obj = Record<string, unknown>;
const hex = (b: unknown) => Buffer.from(b as Uint8Array).toString("hex");

/** A decoded AnyValue in the OTLP/JSON shape (otlp.ts otlpRequest). */
function anyValue(v: Obj): Obj {
  if (v.arrayValue !== undefined) {
    return { arrayValue: { values: ((v.arrayValue as Obj).values as Obj[]).map(anyValue) } };
  }
  if (v.intValue !== undefined) return { intValue: String(v.intValue) };
  for (const k of ["stringValue", "boolValue", "doubleValue"]) if (v[k] !== undefined) return { [k]: v[k] };
  throw new Error(`empty AnyValue ${JSON.stringify(v)}`);
}
const kvs = (a: unknown) => (a as Obj[]).map((kv) => ({ key: kv.key, value: anyValue(kv.value as Obj) }));

/** The decoded protobuf request in the OTLP/JSON shape. */
function asJsonShape(buf: Buffer): Obj {
  const msg = root.lookupType("ExportTraceServiceRequest").decode(buf);
  const o = root
    .lookupType("ExportTraceServiceRequest")
    .toObject(msg, { longs: String, arrays: true, defaults: false });
  return {
    resourceSpans: (o.resourceSpans as Obj[]).map((rs) => ({
      resource: { attributes: kvs((rs.resource as Obj).attributes) },
      scopeSpans: (rs.scopeSpans as Obj[]).map((ss) => ({
        scope: ss.scope,
        spans: (ss.spans as Obj[]).map((s) => ({
          traceId: hex(s.traceId),
          spanId: hex(s.spanId),
          ...(s.parentSpanId === undefined ? {} : { parentSpanId: hex(s.parentSpanId) }),
          name: s.name,
          kind: s.kind,
          startTimeUnixNano: s.startTimeUnixNano,
          endTimeUnixNano: s.endTimeUnixNano,
          attributes: kvs(s.attributes),
          events: (s.events as Obj[]).map((e) => ({
            timeUnixNano: e.timeUnixNano,
            name: e.name,
            attributes: kvs(e.attributes),
          })),
          status: {
            code: (s.status as Obj | undefined)?.code ?? 0,
            ...((s.status as Obj | undefined)?.message === undefined ? {} : { message: (s.status as Obj).message }),
          },
        })),
      })),
    })),
  };
}

test("OTLP protobuf: the broker's span records and SDK spans decode to what the JSON encoding says (ids, ns times, attributes, events, status, parents; multi-byte lengths)", async () => {
  const exporter = new InMemorySpanExporter();
  const processor = new SimpleSpanProcessor(exporter);
  // The broker's own span records (LightSpan: times from ms numbers).
  const tracer = new OtelBrokerTracer(await spanOutput(processor), 1);
  const payload = Buffer.alloc(100);
  const longTopic = `a/${"é".repeat(60)}/"q"/${"x".repeat(200)}`; // > 127 bytes: a two-byte length
  // 300 client ids: the encoder's cache of whole key/value pairs (64 values per key) holds the first and encodes the
  // rest as they come; repeated pairs (topic "t/1", QoS, reason codes) are copied from it. Both must decode alike.
  for (let i = 0; i < 300; i++) {
    const props =
      i % 2 === 0 ? { userProperties: [["traceparent", `00-${TRACE}-${PARENT}-01`] as [string, string]] } : undefined;
    const t = tracer.publish(`c-${i}`, i === 7 ? longTopic : "t/1", {
      qos: i % 3,
      retain: i % 5 === 0,
      payload,
      properties: props,
    })!;
    t.routed(2, 1);
    t.ref.delivered("sub", "t/1", 1, i + 1);
    t.acked(i === 9 ? 0x97 : 0);
  }
  // SDK spans (HrTime times, attributes of every kind, a status message, a child).
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const sdkTracer = provider.getTracer("t");
  const s = sdkTracer.startSpan("publish", {
    startTime: [1_700_000_000, 5],
    attributes: {
      "messaging.destination.name": 'a/"quoted"\\topic/\u00e9\n',
      neg: -5,
      ratio: 0.25,
      big: 2 ** 40,
      flag: false,
      list: ["x", 'y"z'],
      nums: [1, 2.5],
    },
  });
  s.addEvent("PUBACK", { "mqtt.reason_code": 0x87 });
  s.setStatus({ code: SpanStatusCode.ERROR, message: 'no "way"' });
  sdkTracer.startSpan("deliver", {}, trace.setSpan(ROOT_CONTEXT, s)).end();
  s.end([1_700_000_001, 999_999_999]);
  const spans = exporter.getFinishedSpans();
  assert.equal(spans.length, 602);

  const buf = otlpRequestProto(spans, 'svc "x"');
  assert.ok(buf.length > 16_384, "outer lengths need three varint bytes");
  assert.deepEqual(asJsonShape(buf), JSON.parse(JSON.stringify(otlpRequest(spans, 'svc "x"'))));
  assert.ok(buf.length < 0.5 * JSON.stringify(otlpRequest(spans, "svc")).length, "protobuf: under half the bytes");
  await processor.shutdown();
  await provider.shutdown();
});

test("publish records: the built-in batcher's templates write the same bytes as the generic encoder of the LightSpans every other exporter gets (every origin, QoS, parents, errors, >10 deliveries, long and uncached strings)", async () => {
  const exporter = new InMemorySpanExporter();
  const processor = new SimpleSpanProcessor(exporter);
  const out = await spanOutput(processor);
  const spans = new SpanRecordSink(out);
  const req = new ProtoRequest("svc");
  // Each record's spans go both ways: from the templates into `req`, as LightSpans into the in-memory exporter.
  const tee: PublishSink = {
    publishEnded(r) {
      encodePublish(req.writer, r);
      req.count++;
      spans.publishEnded(r);
    },
    delivered(ids, at, subscriber, topic, qos, packetId, ms) {
      encodeDeliver(req.writer, ids, at, subscriber, topic, qos, packetId, ms);
      req.count++;
      spans.delivered(ids, at, subscriber, topic, qos, packetId, ms);
    },
  };
  const tracer = new OtelBrokerTracer(out, 1, Math.random, tee);
  const payload = Buffer.alloc(300);
  const longTopic = `l/${"é".repeat(70)}/${"y".repeat(100)}`; // > 127 bytes of UTF-8
  for (let i = 0; i < 200; i++) {
    const props =
      i % 4 === 1 ? { userProperties: [["traceparent", `00-${TRACE}-${PARENT}-01`] as [string, string]] } : undefined;
    const packet = { qos: i % 3, retain: i % 7 === 0, payload: payload.subarray(0, i), properties: props };
    const topic = i % 50 === 3 ? longTopic : `t/${i % 5}`;
    const kind = i % 10;
    const t =
      kind === 8
        ? tracer.will(`w-${i}`, topic, packet)!
        : kind === 9
          ? tracer.publishLocal(`in-${i}`, topic, packet, i % 20 === 9 ? { kind: "batch", size: i } : undefined)!
          : kind === 7
            ? tracer.publishLocal(`in-${i}`, topic, packet, { kind: "transaction", size: 3 })!
            : tracer.publish(`client-${i}`, topic, packet)!; // 200 client ids: past the encoder's 64 cached values
    assert.ok(t.properties?.userProperties?.some(([k, v]) => k === "traceparent" && v.endsWith("-01")));
    const deliveries = i % 13 === 0 ? 12 : i % 3; // > DELIVERY_SPANS (10) sometimes
    for (let d = 0; d < deliveries; d++) t.ref.delivered(`s-${d}`, topic, d % 3, d % 3 === 0 ? undefined : 1000 + d);
    if (i % 11 !== 5) t.routed(deliveries, i % 2); // sometimes acknowledged without routing
    t.acked(i % 17 === 0 ? 0x97 : i % 19 === 0 ? 0x80 : 0);
  }
  const finished = exporter.getFinishedSpans();
  assert.equal(req.count, finished.length);
  assert.ok(
    finished.some((s) => s.events.length === 2) && finished.some((s) => s.status.code === SpanStatusCode.ERROR),
  );
  assert.deepEqual(req.finish(), otlpRequestProto(finished, "svc"));
  // The parent chain: a deliver span is the child of its publish span, in its trace.
  const byId = new Map(finished.map((s) => [s.spanContext().spanId, s]));
  for (const d of finished.filter((s) => s.name === "deliver")) {
    const parent = byId.get(d.parentSpanContext!.spanId)!;
    assert.equal(parent.name, "publish");
    assert.equal(parent.spanContext().traceId, d.spanContext().traceId);
  }
  await processor.shutdown();
});

test("tracing.exporter otlp (default protocol http/protobuf): spans are POSTed as application/x-protobuf, flushed at shutdown", async (t) => {
  const { createServer } = await import("node:http");
  const { startServer, validateConfig } = await import("../../../src/server/index.ts");
  const { recordingLogger } = await import("../broker/harness.ts");
  const mqtt = (await import("mqtt")).default;
  const posts: { path: string; type: string; body: Buffer }[] = [];
  const rx = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      posts.push({ path: req.url ?? "", type: String(req.headers["content-type"]), body: Buffer.concat(chunks) });
      res.end();
    });
  });
  await new Promise<void>((resolve) => rx.listen(0, "127.0.0.1", resolve));
  t.after(() => rx.close());
  const port = (rx.address() as { port: number }).port;
  const server = await startServer(
    validateConfig({
      listeners: [{ host: "127.0.0.1", port: 0 }],
      storage: { type: "memory" },
      management: { enabled: false },
      sys: { interval: 0 },
      tracing: { enabled: true, sampleRatio: 1, endpoint: `http://127.0.0.1:${port}/v1/traces`, serviceName: "edge-9" },
    }),
    { logger: recordingLogger() },
  );
  const c = await mqtt.connectAsync({ host: "127.0.0.1", port: server.listeners[0]!.port, protocolVersion: 5 });
  await c.publishAsync("o/t", "1", { qos: 1 });
  await c.endAsync();
  await server.close();
  assert.ok(posts.length >= 1);
  assert.equal(posts[0]!.path, "/v1/traces");
  assert.equal(posts[0]!.type, "application/x-protobuf");
  const decoded = posts.map((p) => asJsonShape(p.body) as { resourceSpans: Obj[] });
  const names = decoded.flatMap((d) =>
    d.resourceSpans.flatMap((r) => (r.scopeSpans as Obj[]).flatMap((ss) => (ss.spans as Obj[]).map((x) => x.name))),
  );
  assert.deepEqual(names.sort(), ["connect", "publish"]);
  assert.deepEqual((decoded[0]!.resourceSpans[0]!.resource as Obj).attributes, [
    { key: "service.name", value: { stringValue: "edge-9" } },
    { key: "service.version", value: { stringValue: (await import("../../../src/broker/index.ts")).BROKER_VERSION } },
  ]);
});

/**
 * The spans of a request as protobufjs decodes them (every field of every span parsed, so a malformed request still
 * throws), without asJsonShape's conversion to the JSON shape: the batcher test counts ~28k spans and reads one
 * attribute of each, and the conversion (toObject, longs as strings, the JSON mapping) was about half of its CPU
 * after MAX_BATCH went from 2048 to 8192. What each span says is compared field by field above.
 */
function spansOf(buf: Buffer): { attributes: { value: { stringValue?: string } }[] }[] {
  const msg = root.lookupType("ExportTraceServiceRequest").decode(buf) as unknown as {
    resourceSpans: { scopeSpans: { spans: { attributes: { value: { stringValue?: string } }[] }[] }[] }[];
  };
  assert.equal(msg.resourceSpans.length, 1);
  assert.equal(msg.resourceSpans[0]!.scopeSpans.length, 1);
  return msg.resourceSpans[0]!.scopeSpans[0]!.spans;
}

test("OtlpProtoBatcher: spans encoded as they end go out in requests of at most MAX_BATCH (8192); with the endpoint down they are dropped and counted, nothing waits", async (t) => {
  const { createServer } = await import("node:http");
  const { OtlpProtoBatcher, MAX_BATCH } = await import("../../../src/admin/otlp-batcher.ts");
  const bodies: Buffer[] = [];
  const rx = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      bodies.push(Buffer.concat(chunks));
      res.end();
    });
  });
  await new Promise<void>((resolve) => rx.listen(0, "127.0.0.1", resolve));
  t.after(() => rx.close());
  const port = (rx.address() as { port: number }).port;
  const errors: Error[] = [];
  const batcher = new OtlpProtoBatcher(`http://127.0.0.1:${port}/v1/traces`, "svc", (e) => errors.push(e));
  // As the broker wires it (tracing-sdk.ts): publish and deliver spans encoded from templates.
  const tracer = new OtelBrokerTracer(await spanOutput(batcher), 1, Math.random, batcher);
  const packet = { qos: 0, retain: false, payload: Buffer.alloc(10) };
  const n = Math.ceil(MAX_BATCH * 1.2); // messages: 2 spans each, 2.4 batches
  for (let i = 0; i < n; i++) {
    const tr = tracer.publish("c", `t/${i}`, packet)!;
    tr.ref.delivered("s", `t/${i}`, 0, undefined);
    tr.acked(0);
  }
  await batcher.forceFlush();
  const counts = bodies.map((b) => spansOf(b).length);
  // The requests are concurrent (up to MAX_IN_FLIGHT): at 8192 spans (~2.6 MB) they may arrive in any order.
  assert.deepEqual(
    [...counts].sort((a, b) => b - a),
    [MAX_BATCH, MAX_BATCH, 2 * n - 2 * MAX_BATCH],
  );
  assert.equal(batcher.sent, 2 * n);
  assert.equal(batcher.dropped, 0);
  assert.equal(errors.length, 0, errors.join());
  // The next requests are written into the settled ones' buffers (shared with the HTTP worker): each as it was sent.
  bodies.length = 0;
  for (let i = 0; i < MAX_BATCH; i++) {
    const tr = tracer.publish("c2", `u/${i}`, packet)!;
    tr.acked(0);
    if (i % MAX_BATCH === MAX_BATCH / 2) await batcher.forceFlush();
  }
  await batcher.forceFlush();
  const topics = bodies.flatMap((b) => spansOf(b).map((s) => s.attributes[2]!.value.stringValue));
  assert.deepEqual(
    topics,
    Array.from({ length: MAX_BATCH }, (_, i) => `u/${i}`),
  );
  assert.equal(errors.length, 0, errors.join());
  await batcher.shutdown();

  // Nobody listening: the spans are dropped and counted, the error reported.
  const down = new OtlpProtoBatcher("http://127.0.0.1:9/v1/traces", "svc", (e) => errors.push(e));
  const t2 = new OtelBrokerTracer(await spanOutput(down), 1);
  t2.publish("c", "x", packet)!.acked(0);
  await down.shutdown();
  assert.equal(down.dropped, 1);
  assert.equal(errors.length, 1);
});

test("fixed64 times: PbWriter.nanos() writes sec × 1e9 + ns exactly, within a second and across seconds (its per-second halves, the carry into the high word)", () => {
  const w = new PbWriter(64);
  // Seconds from 1970 to 2106, each with ns values at 0, near 1e9 and random; and runs of one second then another.
  const secs = [0, 1, 4, 65_535, 65_536, 1_700_000_000, 1_700_000_001, 4_294_967_295];
  for (let i = 0; i < 2000; i++) secs.push(Math.floor(Math.random() * 4_294_967_296));
  for (const sec of secs) {
    for (const ns of [0, 1, 999_999_999, Math.floor(Math.random() * 1e9), Math.floor(Math.random() * 1e9)]) {
      w.n = 0;
      w.nanos(7, sec, ns);
      assert.equal(w.buf[0], (7 << 3) | 1, "tag: field 7, fixed64");
      assert.equal(w.buf.readBigUInt64LE(1), BigInt(sec) * 1_000_000_000n + BigInt(ns), `${sec} s ${ns} ns`);
    }
  }
});

test("the default exporter's span output loads the SDK only when a span's resource or scope is read, and gives the SDK's", async () => {
  const ended: ReadableSpan[] = [];
  const lazy = lazySpanOutput({ onEnd: (s) => ended.push(s) });
  const eager = await spanOutput({ onEnd: () => undefined });
  assert.deepEqual(lazy.instrumentationScope, eager.instrumentationScope);
  assert.equal(lazy.instrumentationScope.name, "wharf");
  assert.deepEqual(lazy.resource.attributes, eager.resource.attributes);
  const tracer = new OtelBrokerTracer(lazy, 1);
  tracer
    .connect({ clientId: "c", protocolVersion: 5, transport: "tcp", remoteAddress: "127.0.0.1", properties: undefined })
    ?.end(0);
  assert.equal(ended.length, 1);
  assert.deepEqual(ended[0]!.resource.attributes, eager.resource.attributes);
});
