// OpenTelemetry tracing end to end: a real server with `tracing.enabled`, spans exported to an InMemorySpanExporter,
// MQTT.js 5.0 clients carrying W3C `traceparent` user properties. Checks the parent chain publisher → publish →
// route / commit / deliver, the traceparent subscribers receive, the PUBACK event, parent-based sampling, the
// connect span, and the OTLP/JSON encoding of the spans.
import { test } from "node:test";
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { otlpRequest, otlpRequestJson } from "../../../src/admin/otlp.ts";
import { OtelBrokerTracer } from "../../../src/admin/tracing.ts";
import { parseTraceparent } from "../../../src/admin/traceparent.ts";
import { startServer, validateConfig, type WharfServer } from "../../../src/server/index.ts";
import { recordingLogger } from "../broker/harness.ts";
import { until } from "../../helpers/webhook-receiver.ts";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT = "00f067aa0ba902b7";

async function start(t: { after(fn: () => unknown): void }, sampleRatio: number) {
  const exporter = new InMemorySpanExporter();
  const config = validateConfig({
    listeners: [{ host: "127.0.0.1", port: 0 }],
    storage: { type: "memory" },
    management: { enabled: false },
    sys: { interval: 0 },
    tracing: { enabled: true, sampleRatio },
  });
  const server = await startServer(config, { logger: recordingLogger(), spanExporter: exporter });
  t.after(() => server.close());
  return { server, exporter };
}

function client(server: WharfServer, clientId: string, extra: mqtt.IClientOptions = {}) {
  return mqtt.connectAsync({
    host: "127.0.0.1",
    port: server.listeners[0]!.port,
    clientId,
    protocolVersion: 5,
    reconnectPeriod: 0,
    ...extra,
  });
}

const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;

test("tracing: publisher traceparent → publish span (route, commit, PUBACK) → one deliver span per subscriber; subscribers get the publish span as parent", async (t) => {
  const { server, exporter } = await start(t, 0); // nothing sampled at the root: only the publisher's sampled trace
  const subs = await Promise.all([client(server, "tr-s1"), client(server, "tr-s2")]);
  const pub = await client(server, "tr-pub");
  t.after(() => [...subs, pub].forEach((c) => c.end(true)));
  const received: (string | undefined)[] = [];
  for (const s of subs) {
    s.on("message", (_topic, _payload, packet) => {
      const tp = packet.properties?.userProperties?.traceparent;
      received.push(Array.isArray(tp) ? tp.join() : tp);
    });
    await s.subscribeAsync("tr/#", { qos: 1 });
  }
  assert.equal(exporter.getFinishedSpans().length, 0, "ratio 0: connects and subscribes of untraced clients");

  await pub.publishAsync("tr/a", "x", {
    qos: 1,
    properties: { userProperties: { traceparent: `00-${TRACE}-${PARENT}-01`, tracestate: "vendor=1" } },
  });
  await until(() => received.length === 2 && exporter.getFinishedSpans().length === 5);
  const spans = exporter.getFinishedSpans();
  const byName = (n: string) => spans.filter((s) => s.name === n);
  const [publish] = byName("publish");
  assert.ok(publish);
  const pid = publish.spanContext().spanId;
  assert.equal(publish.spanContext().traceId, TRACE);
  assert.equal(parentOf(publish), PARENT, "child of the publisher's span");
  assert.equal(publish.attributes["messaging.destination.name"], "tr/a");
  assert.equal(publish.attributes["mqtt.qos"], 1);
  assert.deepEqual(
    publish.events.map((e) => [e.name, e.attributes?.["mqtt.reason_code"]]),
    [["PUBACK", 0]],
  );
  for (const name of ["route", "commit"]) {
    const [s] = byName(name);
    assert.equal(parentOf(s!), pid, name);
    assert.equal(s!.spanContext().traceId, TRACE);
  }
  assert.equal(byName("route")[0]!.attributes["mqtt.route.matched"], 2);
  const deliveries = byName("deliver");
  assert.deepEqual(deliveries.map((d) => d.attributes["messaging.client.id"]).sort(), ["tr-s1", "tr-s2"]);
  for (const d of deliveries) assert.equal(parentOf(d), pid);
  // The publish span ends after its children started: route and commit lie within it.
  assert.ok(publish.endTime[0] * 1e9 + publish.endTime[1] >= byName("commit")[0]!.endTime[0] * 1e9);
  // Both subscribers got the publish span's context, sampled.
  assert.deepEqual(received, [`00-${TRACE}-${pid}-01`, `00-${TRACE}-${pid}-01`]);

  // Unsampled publisher traceparent (flag 00) and no traceparent at all: no spans, the message goes on as it came.
  received.length = 0;
  await pub.publishAsync("tr/b", "y", {
    qos: 1,
    properties: { userProperties: { traceparent: `00-${TRACE}-${PARENT}-00` } },
  });
  await pub.publishAsync("tr/c", "z", { qos: 0 });
  await until(() => received.length === 4);
  // (Two subscribers: their messages may interleave, so compare as a multiset.)
  assert.deepEqual(received.map((r) => r ?? "none").sort(), [
    `00-${TRACE}-${PARENT}-00`,
    `00-${TRACE}-${PARENT}-00`,
    "none",
    "none",
  ]);
  assert.equal(exporter.getFinishedSpans().length, 5);

  // OTLP/JSON: the same spans as an ExportTraceServiceRequest.
  const body = otlpRequest(spans, "wharf-test") as {
    resourceSpans: {
      resource: { attributes: { key: string }[] };
      scopeSpans: { spans: Record<string, unknown>[] }[];
    }[];
  };
  const encoded = body.resourceSpans[0]!.scopeSpans[0]!.spans;
  assert.equal(encoded.length, 5);
  const p = encoded.find((s) => s.name === "publish")!;
  assert.equal(p.traceId, TRACE);
  assert.equal(p.parentSpanId, PARENT);
  assert.equal(p.kind, 2); // SERVER
  assert.match(String(p.startTimeUnixNano), /^\d{19}$/);
  assert.deepEqual(body.resourceSpans[0]!.resource.attributes[0], {
    key: "service.name",
    value: { stringValue: "wharf-test" },
  });
});

test("tracing: ratio 1 samples root traces — connect span (CONNECT traceparent as parent), QoS 0 publish without commit", async (t) => {
  const { server, exporter } = await start(t, 1);
  const c = await client(server, "tr-one", {
    properties: { userProperties: { traceparent: `00-${TRACE}-${PARENT}-01` } },
  });
  t.after(() => c.end(true));
  const got = new Promise((resolve) => c.once("message", resolve));
  await c.subscribeAsync("solo", { qos: 0 });
  await c.publishAsync("solo", "q0", { qos: 0 });
  await got;
  await until(() => exporter.getFinishedSpans().length === 4);
  const spans = exporter.getFinishedSpans();
  const connect = spans.find((s) => s.name === "connect")!;
  assert.equal(connect.spanContext().traceId, TRACE);
  assert.equal(parentOf(connect), PARENT);
  assert.equal(connect.attributes["mqtt.connack.reason_code"], 0);
  const publish = spans.find((s) => s.name === "publish")!;
  assert.notEqual(publish.spanContext().traceId, TRACE, "a new root trace");
  assert.equal(parentOf(publish), undefined);
  assert.deepEqual(spans.map((s) => s.name).sort(), ["connect", "deliver", "publish", "route"]);
  assert.deepEqual(publish.events, []);
});

test("traceparent parsing: malformed or all-zero ids are ignored", () => {
  assert.equal(parseTraceparent(`00-${TRACE}-${PARENT}-01`)?.traceFlags, 1);
  assert.equal(parseTraceparent(`00-${"0".repeat(32)}-${PARENT}-01`), undefined);
  assert.equal(parseTraceparent(`00-${TRACE}-${"0".repeat(16)}-01`), undefined);
  assert.equal(parseTraceparent(`ff-${TRACE}-${PARENT}-01`), undefined);
  assert.equal(parseTraceparent(`00-${TRACE}-${PARENT}-01-extra`), undefined);
  assert.equal(parseTraceparent(`01-${TRACE}-${PARENT}-01-future`)?.spanId, PARENT);
  assert.equal(parseTraceparent("garbage"), undefined);
});

test("tracing.exporter otlp: spans are POSTed as OTLP/HTTP JSON (flushed at shutdown)", async (t) => {
  const posts: { path: string; type: string; body: string }[] = [];
  const { createServer } = await import("node:http");
  const rx = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8").on("data", (c: string) => (body += c));
    req.on("end", () => {
      posts.push({ path: req.url ?? "", type: String(req.headers["content-type"]), body });
      res.end("{}");
    });
  });
  await new Promise<void>((resolve) => rx.listen(0, "127.0.0.1", resolve));
  t.after(() => rx.close());
  const port = (rx.address() as { port: number }).port;
  const config = validateConfig({
    listeners: [{ host: "127.0.0.1", port: 0 }],
    storage: { type: "memory" },
    management: { enabled: false },
    sys: { interval: 0 },
    tracing: { enabled: true, sampleRatio: 1, endpoint: `http://127.0.0.1:${port}/v1/traces`, serviceName: "edge-7" },
  });
  const server = await startServer(config, { logger: recordingLogger() });
  const c = await client(server, "otlp-pub");
  await c.publishAsync("o/t", "1", { qos: 1 });
  await c.endAsync();
  await server.close();
  assert.ok(posts.length >= 1);
  assert.equal(posts[0]!.path, "/v1/traces");
  assert.equal(posts[0]!.type, "application/json");
  const names = posts.flatMap((p) =>
    (JSON.parse(p.body) as { resourceSpans: { scopeSpans: { spans: { name: string }[] }[] }[] }).resourceSpans.flatMap(
      (r) => r.scopeSpans.flatMap((s) => s.spans.map((x) => x.name)),
    ),
  );
  assert.deepEqual(names.sort(), ["commit", "connect", "publish", "route"]);
  assert.match(posts[0]!.body, /"service\.name","value":\{"stringValue":"edge-7"\}/);
});

test("sampling: a root trace is recorded when random() < sampleRatio, before any span exists; a traceparent's flag decides otherwise", async () => {
  const { BasicTracerProvider, SimpleSpanProcessor, ParentBasedSampler, AlwaysOnSampler } =
    await import("@opentelemetry/sdk-trace-base");
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const draws = [0.5, 0.009, 0.01, 0.0, 0.99];
  const tracer = new OtelBrokerTracer(provider.getTracer("t"), 0.01, () => draws.shift()!);
  const info = { clientId: "c", topic: "t", qos: 0, retain: false, payloadBytes: 1, properties: undefined };
  const sampled = [0, 1, 2, 3, 4].map(() => tracer.publish(info) !== undefined);
  assert.deepEqual(sampled, [false, true, false, true, false]);
  // With a traceparent no random number is drawn: its sampled flag decides.
  const withParent = (flags: string) => ({
    ...info,
    properties: { userProperties: [["traceparent", `00-${TRACE}-${PARENT}-${flags}`] as const] },
  });
  assert.notEqual(tracer.publish(withParent("01")), undefined);
  assert.equal(tracer.publish(withParent("00")), undefined);
  await provider.shutdown();
});

test("a traced message gets deliver spans for its first 10 subscribers; the publish span counts them all", async () => {
  const { BasicTracerProvider, SimpleSpanProcessor } = await import("@opentelemetry/sdk-trace-base");
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracer = new OtelBrokerTracer(provider.getTracer("t"), 1);
  const trace = tracer.publish({
    clientId: "p",
    topic: "t",
    qos: 0,
    retain: false,
    payloadBytes: 1,
    properties: undefined,
  })!;
  trace.routed(12, 0);
  for (let i = 0; i < 12; i++) trace.ref.delivered(`s${i}`, "t", 0, undefined);
  trace.acked(0);
  const spans = exporter.getFinishedSpans();
  assert.equal(spans.filter((s) => s.name === "deliver").length, 10);
  assert.equal(spans.find((s) => s.name === "publish")!.attributes["mqtt.deliveries"], 12);
  await provider.shutdown();
});

test("the exporter's OTLP/JSON string is the JSON of the OTLP request object (escaping, events, arrays, status, parents)", async () => {
  const { BasicTracerProvider, SimpleSpanProcessor } = await import("@opentelemetry/sdk-trace-base");
  const { SpanStatusCode, ROOT_CONTEXT, trace } = await import("@opentelemetry/api");
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracer = provider.getTracer("t");
  const root = tracer.startSpan("publish", {
    startTime: [1_700_000_000, 5], // nanoseconds below 1e8: padded
    attributes: {
      "messaging.destination.name": 'a/"quoted"\\topic/\u00e9\n',
      "mqtt.qos": 1,
      ratio: 0.25,
      big: 2 ** 40,
      flag: false,
      list: ["x", 'y"z'],
      nums: [1, 2.5],
    },
  });
  root.addEvent("PUBACK", { "mqtt.reason_code": 0x87 });
  root.setStatus({ code: SpanStatusCode.ERROR, message: 'no "way"' });
  const child = tracer.startSpan("deliver", {}, trace.setSpan(ROOT_CONTEXT, root));
  child.end();
  root.end();
  const spans = exporter.getFinishedSpans();
  assert.equal(spans.length, 2);
  const text = otlpRequestJson(spans, 'svc "x"');
  assert.deepEqual(JSON.parse(text), otlpRequest(spans, 'svc "x"'));
  assert.match(text, /"startTimeUnixNano":"1700000000000000005"/);
  await provider.shutdown();
});
