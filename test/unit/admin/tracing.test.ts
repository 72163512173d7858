// OpenTelemetry tracing end to end: a real server with `tracing.enabled`, spans exported to an InMemorySpanExporter,
// MQTT.js 5.0 clients carrying W3C `traceparent` user properties. Checks the parent chain publisher → publish →
// deliver, the routed / PUBACK events, the traceparent subscribers receive, the PUBACK event, parent-based sampling, the
// connect span, and the OTLP/JSON encoding of the spans.
import { test } from "node:test";
import assert from "node:assert/strict";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import type { IPublishPacket } from "mqtt";
import { otlpRequest, otlpRequestJson } from "../../../src/admin/otlp.ts";
import { OtelBrokerTracer } from "../../../src/admin/tracing.ts";
import { spanOutput } from "../../../src/admin/tracing-sdk.ts";
import { parseTraceparent } from "../../../src/admin/traceparent.ts";
import { startServer, validateConfig } from "../../../src/server/index.ts";
import { recordingLogger } from "../broker/harness.ts";
import { startTraced, client, parentOf, TRACE, PARENT } from "./tracing-harness.ts";
import { until } from "../../helpers/webhook-receiver.ts";

test("tracing: publisher traceparent → publish span (events routed, PUBACK) → one deliver span per subscriber; subscribers get the publish span as parent", async (t) => {
  const { server, exporter } = await startTraced(t, 0); // nothing sampled at the root: only the publisher's sampled trace
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
  await until(() => received.length === 2 && exporter.getFinishedSpans().length === 3);
  const spans = exporter.getFinishedSpans();
  const byName = (n: string) => spans.filter((s) => s.name === n);
  const [publish] = byName("publish");
  assert.ok(publish);
  const pid = publish.spanContext().spanId;
  assert.equal(publish.spanContext().traceId, TRACE);
  assert.equal(parentOf(publish), PARENT, "child of the publisher's span");
  assert.equal(publish.attributes["messaging.destination.name"], "tr/a");
  assert.equal(publish.attributes["mqtt.qos"], 1);
  // Routing, then the PUBACK written after the commit: events of the publish span, in that order.
  assert.deepEqual(
    publish.events.map((e) => [e.name, e.attributes?.["mqtt.reason_code"]]),
    [
      ["routed", undefined],
      ["PUBACK", 0],
    ],
  );
  const at = (e: { time: [number, number] }) => e.time[0] * 1e9 + e.time[1];
  assert.ok(at(publish.events[0]!) <= at(publish.events[1]!));
  assert.equal(publish.attributes["mqtt.route.matched"], 2);
  assert.equal(publish.attributes["mqtt.route.refused"], 0);
  assert.deepEqual(
    spans.map((s) => s.name).sort(),
    ["deliver", "deliver", "publish"],
    "no spans of their own for routing and the commit",
  );
  const deliveries = byName("deliver");
  assert.deepEqual(deliveries.map((d) => d.attributes["messaging.client.id"]).sort(), ["tr-s1", "tr-s2"]);
  for (const d of deliveries) assert.equal(parentOf(d), pid);
  // The publish span ends with the PUBACK: after the deliveries written while routing.
  for (const d of deliveries) assert.ok(at({ time: publish.endTime }) >= at({ time: d.startTime }));
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
  assert.equal(exporter.getFinishedSpans().length, 3);

  // OTLP/JSON: the same spans as an ExportTraceServiceRequest.
  const body = otlpRequest(spans, "wharf-test") as {
    resourceSpans: {
      resource: { attributes: { key: string }[] };
      scopeSpans: { spans: Record<string, unknown>[] }[];
    }[];
  };
  const encoded = body.resourceSpans[0]!.scopeSpans[0]!.spans;
  assert.equal(encoded.length, 3);
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
  const { server, exporter } = await startTraced(t, 1);
  const c = await client(server, "tr-one", {
    properties: { userProperties: { traceparent: `00-${TRACE}-${PARENT}-01` } },
  });
  t.after(() => c.end(true));
  const got = new Promise<IPublishPacket>((resolve) => c.once("message", (_t, _p, packet) => resolve(packet)));
  await c.subscribeAsync("solo", { qos: 0 });
  await c.publishAsync("solo", "q0", { qos: 0 });
  const received = await got;
  await until(() => exporter.getFinishedSpans().length === 4);
  const spans = exporter.getFinishedSpans();
  const connect = spans.find((s) => s.name === "connect")!;
  assert.equal(connect.spanContext().traceId, TRACE);
  assert.equal(parentOf(connect), PARENT);
  assert.equal(connect.attributes["mqtt.connack.reason_code"], 0);
  const publish = spans.find((s) => s.name === "publish")!;
  assert.notEqual(publish.spanContext().traceId, TRACE, "a new root trace");
  assert.equal(parentOf(publish), undefined);
  // The root trace's one property, written from its encoding made with the ids (MessageTrace.encodedProperties).
  assert.equal(
    received.properties?.userProperties?.["traceparent"],
    `00-${publish.spanContext().traceId}-${publish.spanContext().spanId}-01`,
  );
  assert.deepEqual(Object.keys(received.properties.userProperties), ["traceparent"]);
  assert.deepEqual(spans.map((s) => s.name).sort(), ["connect", "deliver", "publish", "subscribe"]);
  assert.deepEqual(
    publish.events.map((e) => e.name),
    ["routed"],
    "QoS 0: no acknowledgement event",
  );
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

test("tracing.exporter otlp, protocol http/json: spans are POSTed as OTLP/HTTP JSON (flushed at shutdown)", async (t) => {
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
    tracing: {
      enabled: true,
      sampleRatio: 1,
      endpoint: `http://127.0.0.1:${port}/v1/traces`,
      serviceName: "edge-7",
      protocol: "http/json",
    },
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
  assert.deepEqual(names.sort(), ["connect", "publish"]);
  assert.match(posts[0]!.body, /"service\.name","value":\{"stringValue":"edge-7"\}/);
});

test("sampling: the first root publish recorded, then root publishes by a geometric countdown drawn before any span exists; a CONNECT by random() < sampleRatio; a traceparent's flag decides otherwise", async () => {
  const { SimpleSpanProcessor } = await import("@opentelemetry/sdk-trace-base");
  const exporter = new InMemorySpanExporter();
  const processor = new SimpleSpanProcessor(exporter);
  // The first root publish is recorded without a draw; then gaps: 1 + floor(ln(1 − U) / ln(1 − 0.01)).
  // U = 0.5 → 69; U = 0.02 → 3.
  const draws = [0.5, 0.02, 0.5];
  const tracer = new OtelBrokerTracer(await spanOutput(processor), 0.01, () => draws.shift()!);
  const packet = { qos: 0, retain: false, payload: Buffer.from("x"), properties: undefined };
  const sampledAt: number[] = [];
  for (let i = 1; i <= 73; i++) if (tracer.publish("c", "t", packet) !== undefined) sampledAt.push(i);
  assert.deepEqual(sampledAt, [1, 70, 73]);
  assert.equal(draws.length, 0, "one random number per sampled message, none for the others");
  // With a traceparent no random number is drawn and the countdown does not move: its sampled flag decides.
  const withParent = (flags: string) => ({
    ...packet,
    properties: { userProperties: [["traceparent", `00-${TRACE}-${PARENT}-${flags}`] as const] },
  });
  assert.notEqual(tracer.publish("c", "t", withParent("01")), undefined);
  assert.equal(tracer.publish("c", "t", withParent("00")), undefined);
  // A CONNECT without a traceparent: one draw, recorded when below the ratio.
  const info = { clientId: "c", protocolVersion: 5, transport: "tcp", remoteAddress: "x", properties: undefined };
  draws.push(0.009, 0.01);
  assert.notEqual(tracer.connect(info), undefined);
  assert.equal(tracer.connect(info), undefined);
  await processor.shutdown();
});

test("sampling: the countdown records sampleRatio of root publishes (100,000 publishes at 0.1: within 5 standard deviations)", async () => {
  const out = await spanOutput({ onEnd: () => {} });
  const counting = new OtelBrokerTracer(out, 0.1);
  const packet = { qos: 0, retain: false, payload: Buffer.from("x") };
  let started = 0;
  for (let i = 0; i < 100_000; i++) {
    if (counting.publish("c", "t", packet) !== undefined) started++;
  }
  assert.ok(Math.abs(started - 10_000) < 5 * Math.sqrt(100_000 * 0.1 * 0.9), `sampled ${started}`);
  const never = new OtelBrokerTracer(
    {
      ...out,
      onEnd: () => {
        throw new Error("ratio 0 records nothing");
      },
    },
    0,
  );
  for (let i = 0; i < 1000; i++) assert.equal(never.publish("c", "t", packet), undefined);
});

test("a traced message gets deliver spans for its first 10 subscribers; the publish span counts them all", async () => {
  const { SimpleSpanProcessor } = await import("@opentelemetry/sdk-trace-base");
  const exporter = new InMemorySpanExporter();
  const processor = new SimpleSpanProcessor(exporter);
  const tracer = new OtelBrokerTracer(await spanOutput(processor), 1);
  const trace = tracer.publish("p", "t", { qos: 0, retain: false, payload: Buffer.from("x") })!;
  trace.routed(12, 0);
  for (let i = 0; i < 12; i++) trace.ref.delivered(`s${i}`, "t", 0, undefined);
  trace.acked(0);
  const spans = exporter.getFinishedSpans();
  assert.equal(spans.filter((s) => s.name === "deliver").length, 10);
  assert.equal(spans.find((s) => s.name === "publish")!.attributes["mqtt.deliveries"], 12);
  await processor.shutdown();
});

test("a routed QoS 0 client publish ends at its routed event; an in-process one when it is acknowledged, later", async () => {
  const { SimpleSpanProcessor } = await import("@opentelemetry/sdk-trace-base");
  const exporter = new InMemorySpanExporter();
  const processor = new SimpleSpanProcessor(exporter);
  const tracer = new OtelBrokerTracer(await spanOutput(processor), 1);
  const packet = { qos: 0, retain: false, payload: Buffer.from("x") };
  const client = tracer.publish("p", "t", packet)!;
  const local = tracer.publishLocal("in", "t", packet)!;
  client.routed(1, 0);
  local.routed(1, 0);
  const until = performance.now() + 2;
  while (performance.now() < until); // the acknowledgements come 2 ms after routing
  client.acked(0);
  local.acked(0);
  const [c, l] = ["p", "in"].map((id) =>
    exporter.getFinishedSpans().find((s) => s.attributes["messaging.client.id"] === id)!,
  );
  assert.deepEqual(c!.endTime, c!.events[0]!.time);
  assert.equal(c!.events[0]!.name, "routed");
  const ms = ([s, ns]: readonly [number, number]) => s * 1000 + ns / 1e6;
  assert.ok(ms(l!.endTime) - ms(l!.events[0]!.time) >= 1.9, "the in-process span ends when acknowledged");
  await processor.shutdown();
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

test("the broker's span records encode to the same OTLP/JSON as the request object (times from ms numbers, events, error status)", async () => {
  const { SimpleSpanProcessor } = await import("@opentelemetry/sdk-trace-base");
  const exporter = new InMemorySpanExporter();
  const tracer = new OtelBrokerTracer(await spanOutput(new SimpleSpanProcessor(exporter)), 1);
  const payload = Buffer.from("x");
  const props = { userProperties: [["traceparent", `00-${TRACE}-${PARENT}-01`] as [string, string]] };
  const trace = tracer.publish('c"1', 'a/"q"/\u00e9', { qos: 1, retain: false, payload, properties: props })!;
  trace.routed(1, 0);
  trace.ref.delivered("s", "a/t", 1, 7);
  trace.acked(0x97);
  const spans = exporter.getFinishedSpans();
  assert.equal(spans.length, 2);
  assert.deepEqual(JSON.parse(otlpRequestJson(spans, "svc")), otlpRequest(spans, "svc"));
  const publish = spans.find((s) => s.name === "publish")!;
  assert.equal(publish.status.code, 2);
  assert.equal(publish.spanContext().traceId, TRACE);
  assert.match(publish.spanContext().spanId, /^[0-9a-f]{16}$/);
  assert.notEqual(publish.spanContext().spanId, spans.find((s) => s.name === "deliver")!.spanContext().spanId);
  const ns = (t: [number, number]) => BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]);
  assert.ok(ns(publish.endTime) >= ns(publish.startTime));
  assert.equal(ns(publish.duration), ns(publish.endTime) - ns(publish.startTime));
});

test("tracing: SUBSCRIBE / UNSUBSCRIBE spans (filters, reason codes, traceparent parent, refusals as errors); none when not sampled", async (t) => {
  const { server, exporter } = await startTraced(t, 0); // only the sampled traceparent records
  const c = await client(server, "tr-sub");
  t.after(() => c.end(true));
  const traced = { properties: { userProperties: { traceparent: `00-${TRACE}-${PARENT}-01` } } };
  // `$queue/…` with a wildcard is refused (0xA2) in the same SUBSCRIBE as a granted filter.
  // (MQTT.js reports the refusal as an error: the SUBACK is what matters here.)
  await new Promise<void>((resolve) =>
    c.subscribe({ "s/a": { qos: 1 }, "$queue/q/#": { qos: 1 } }, traced, () => resolve()),
  );
  await c.subscribeAsync("s/untraced", { qos: 0 }); // ratio 0, no traceparent: no span
  await c.unsubscribeAsync(["s/a", "s/none"], traced);
  await until(() => exporter.getFinishedSpans().length === 2);
  const spans = exporter.getFinishedSpans();
  const sub = spans.find((s) => s.name === "subscribe")!;
  assert.equal(sub.spanContext().traceId, TRACE);
  assert.equal(parentOf(sub), PARENT);
  assert.deepEqual(sub.attributes["mqtt.topic_filters"], ["s/a", "$queue/q/#"]);
  assert.deepEqual(sub.attributes["mqtt.reason_codes"], [1, 0xa2]);
  assert.equal(sub.status.code, 2, "a refused filter: error status"); // SpanStatusCode.ERROR
  assert.equal(sub.attributes["messaging.client.id"], "tr-sub");
  const unsub = spans.find((s) => s.name === "unsubscribe")!;
  assert.deepEqual(unsub.attributes["mqtt.topic_filters"], ["s/a", "s/none"]);
  assert.deepEqual(unsub.attributes["mqtt.reason_codes"], [0x00, 0x11]);
  assert.equal(unsub.status.code, 0, "0x11 No subscription existed is not an error");
});

test("tracing: an in-process publish (LocalBroker) gets a publish span marked mqtt.in_process, its MQTT deliveries deliver spans, settled after the commit", async (t) => {
  const { LocalBroker } = await import("../../../src/inproc/index.ts");
  const { server, exporter } = await startTraced(t, 1);
  const sub = await client(server, "tr-local-sub");
  t.after(() => sub.end(true));
  const got = new Promise<string | undefined>((resolve) =>
    sub.once("message", (_t, _p, packet) => {
      const tp = packet.properties?.userProperties?.traceparent;
      resolve(Array.isArray(tp) ? tp.join() : tp);
    }),
  );
  await sub.subscribeAsync("local/#", { qos: 1 });
  await until(() => exporter.getFinishedSpans().length === 2); // connect, subscribe (ratio 1)
  exporter.reset();
  const local = new LocalBroker(server.broker);
  await local.publish("local/x", "hi", { qos: 1 });
  const tp = await got;
  await until(() => exporter.getFinishedSpans().length === 2);
  const spans = exporter.getFinishedSpans();
  const publish = spans.find((s) => s.name === "publish")!;
  assert.equal(publish.attributes["mqtt.in_process"], true);
  assert.equal(publish.attributes["messaging.destination.name"], "local/x");
  assert.deepEqual(
    publish.events.map((e) => e.name),
    ["routed", "settled"],
  );
  const deliver = spans.find((s) => s.name === "deliver")!;
  assert.equal(parentOf(deliver), publish.spanContext().spanId);
  assert.equal(deliver.attributes["messaging.client.id"], "tr-local-sub");
  assert.equal(tp, `00-${publish.spanContext().traceId}-${publish.spanContext().spanId}-01`);
});

test("tracing seam: while rootSkip > 1 the core decrements it instead of calling publish() for a PUBLISH without user properties; with user properties, or for a tracer without rootSkip, publish() is called for each", async () => {
  const { harness } = await import("../broker/harness.ts");
  const h = harness();
  const calls: string[] = [];
  const counting = {
    rootSkip: 3,
    connect: () => undefined,
    publish(_clientId: string, topic: string) {
      calls.push(topic);
      if (--this.rootSkip > 0) return undefined;
      this.rootSkip = 3;
      return undefined;
    },
  };
  h.broker.setTracer(counting);
  const { client: pub } = await h.connect({ clientId: "seam-pub", version: 5 });
  for (let i = 1; i <= 7; i++) pub.publish(`t${i}`, "x");
  pub.publish("t8", "x", 0, { properties: { userProperties: [["k", "v"]] } });
  await pub.receive();
  assert.deepEqual(calls, ["t3", "t6", "t8"], "called when the countdown reaches 1, and for user properties");
  assert.equal(counting.rootSkip, 1, "publish() decremented it for t8");
  calls.length = 0;
  h.broker.setTracer({ connect: () => undefined, publish: (_c: string, topic: string) => void calls.push(topic) });
  for (let i = 1; i <= 3; i++) pub.publish(`u${i}`, "x");
  await pub.receive();
  assert.deepEqual(calls, ["u1", "u2", "u3"], "no rootSkip: every PUBLISH");
  await h.broker.close();
});

test("tracing seam: the broker samples the same root publishes as the tracer's own countdown (same random draws)", async () => {
  const { harness } = await import("../broker/harness.ts");
  const { SimpleSpanProcessor } = await import("@opentelemetry/sdk-trace-base");
  const seeded = (): (() => number) => {
    let x = 12345;
    return () => ((x = (x * 1103515245 + 12345) % 2 ** 31) + 1) / 2 ** 31;
  };
  const sampledTopics = async (viaBroker: boolean): Promise<string[]> => {
    const exporter = new InMemorySpanExporter();
    const tracer = new OtelBrokerTracer(await spanOutput(new SimpleSpanProcessor(exporter)), 0.1, seeded());
    const packet = (i: number) => ({
      qos: 0,
      retain: false,
      payload: Buffer.from("x"),
      properties: i % 7 === 0 ? { userProperties: [["k", String(i)]] as [string, string][] } : undefined,
    });
    if (viaBroker) {
      const h = harness();
      h.broker.setTracer(tracer);
      const { client: pub } = await h.connect({ clientId: "seam-pub", version: 5 });
      for (let i = 0; i < 500; i++) pub.publish(`t/${i}`, "x", 0, { properties: packet(i).properties });
      await pub.receive();
      await h.broker.close();
    } else {
      // The broker's CONNECT draws a number of its own first.
      const info = {
        clientId: "seam-pub",
        protocolVersion: 5,
        transport: "tcp",
        remoteAddress: "",
        properties: undefined,
      };
      tracer.connect(info)?.end(0);
      for (let i = 0; i < 500; i++) tracer.publish("seam-pub", `t/${i}`, packet(i))?.acked(0);
    }
    return exporter
      .getFinishedSpans()
      .filter((s) => s.name === "publish")
      .map((s) => String(s.attributes["messaging.destination.name"]));
  };
  const direct = await sampledTopics(false);
  assert.ok(direct.length > 20 && direct.length < 100, `sampled ${direct.length} of 500 at 0.1`);
  assert.deepEqual(await sampledTopics(true), direct);
});
