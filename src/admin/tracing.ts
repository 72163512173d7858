// OpenTelemetry tracing of the broker (config `tracing`, docs/operations.md "Tracing"), on the broker's tracing
// seam (src/broker/tracing.ts) and its delivery events:
//   connect  (SERVER)    CONNECT received → CONNACK sent; child of a 5.0 CONNECT's `traceparent` user property
//   publish  (SERVER)    a client PUBLISH accepted for routing → its PUBACK/PUBREC written (QoS 0: routed);
//                        child of the PUBLISH's `traceparent` user property, whose value subscribers receive
//                        replaced by the publish span's own (W3C Trace Context)
//     route  (INTERNAL)  matching subscriptions and queueing the deliveries
//     commit (INTERNAL)  QoS 1/2: routed → the storage commit that lets the acknowledgement go
//   deliver  (PRODUCER)  one first delivery (PUBLISH) written to one subscriber; child of the publish span
// Only `@opentelemetry/api` is used here; the SDK (provider, sampler, exporter) is loaded by startTracing() only
// when tracing is enabled.
import {
  SpanKind,
  SpanStatusCode,
  ROOT_CONTEXT,
  TraceFlags,
  trace,
  type Context,
  type Span,
  type Tracer,
} from "@opentelemetry/api";
import {
  type BrokerTracer,
  type ConnectTrace,
  type MessageTrace,
  type PublishTrace,
  type TraceConnectInfo,
  type TracePublishInfo,
} from "../broker/index.ts";
import type { Properties } from "../codec/index.ts";
import { formatTraceparent, parseTraceparent, traceparentOf, withTraceparent } from "./traceparent.ts";

export class OtelBrokerTracer implements BrokerTracer {
  readonly #tracer: Tracer;
  readonly #ratio: number;
  readonly #random: () => number;

  /**
   * `sampleRatio`: share of root traces (no `traceparent`) recorded. The decision is taken here, before any span
   * object exists, so that the unsampled majority costs one random number (at 1 %, 99 of 100 publishes); the
   * provider's sampler then only sees what is to be recorded (ParentBased(AlwaysOn)), and a `traceparent` decides
   * by its sampled flag as ParentBased would.
   */
  constructor(tracer: Tracer, sampleRatio: number, random: () => number = Math.random) {
    this.#tracer = tracer;
    this.#ratio = sampleRatio;
    this.#random = random;
  }

  /** The parent context to record under, or undefined when this trace is not sampled. */
  #sampled(properties: Properties | undefined): Context | undefined {
    const tp = traceparentOf(properties);
    const sc = tp === undefined ? undefined : parseTraceparent(tp);
    if (sc === undefined) return this.#random() < this.#ratio ? ROOT_CONTEXT : undefined;
    return (sc.traceFlags & TraceFlags.SAMPLED) !== 0 ? trace.setSpanContext(ROOT_CONTEXT, sc) : undefined;
  }

  connect(info: TraceConnectInfo): ConnectTrace | undefined {
    const parent = this.#sampled(info.properties);
    if (parent === undefined) return undefined;
    const span = this.#tracer.startSpan(
      "connect",
      {
        kind: SpanKind.SERVER,
        attributes: {
          "messaging.system": "mqtt",
          "messaging.client.id": info.clientId,
          "mqtt.protocol_version": info.protocolVersion,
          "network.transport": info.transport,
          "client.address": info.remoteAddress,
        },
      },
      parent,
    );
    if (!span.isRecording()) return undefined; // dropped by the provider's sampler after all
    return {
      end: (reasonCode) => {
        span.setAttribute("mqtt.connack.reason_code", reasonCode);
        if (reasonCode >= 0x80) span.setStatus({ code: SpanStatusCode.ERROR, message: `CONNACK 0x${hex(reasonCode)}` });
        span.end();
      },
    };
  }

  publish(info: TracePublishInfo): PublishTrace | undefined {
    // Not sampled: the message goes on untouched (a publisher's own traceparent is forwarded as it came).
    const parent = this.#sampled(info.properties);
    if (parent === undefined) return undefined;
    const span = this.#tracer.startSpan(
      "publish",
      {
        kind: SpanKind.SERVER,
        attributes: {
          "messaging.system": "mqtt",
          "messaging.operation.type": "receive",
          "messaging.destination.name": info.topic,
          "messaging.client.id": info.clientId,
          "messaging.message.body.size": info.payloadBytes,
          "mqtt.qos": info.qos,
          "mqtt.retain": info.retain,
        },
      },
      parent,
    );
    if (!span.isRecording()) return undefined;
    const ctx = trace.setSpan(parent, span);
    const tracer = this.#tracer;
    const route = tracer.startSpan("route", { kind: SpanKind.INTERNAL }, ctx);
    let commit: Span | undefined;
    let deliveries = 0;
    const ref: MessageTrace = {
      // One span per first delivery, child of the publish span (called by the session: nothing per untraced one),
      // for the first DELIVERY_SPANS subscribers; a larger fan-out is counted on the publish span instead (a
      // sampled message to 50 subscribers would otherwise cost 50 spans: most of the tracing overhead measured).
      delivered(clientId, topic, qos, packetId) {
        if (++deliveries > DELIVERY_SPANS) return;
        tracer
          .startSpan(
            "deliver",
            {
              kind: SpanKind.PRODUCER,
              attributes: {
                "messaging.system": "mqtt",
                "messaging.operation.type": "send",
                "messaging.destination.name": topic,
                "messaging.client.id": clientId,
                "mqtt.qos": qos,
                ...(packetId === undefined ? {} : { "mqtt.packet_id": packetId }),
              },
            },
            ctx,
          )
          .end();
      },
    };
    return {
      properties: withTraceparent(info.properties, formatTraceparent(span.spanContext())),
      ref,
      routed(matched, refused) {
        route.setAttributes({ "mqtt.route.matched": matched, "mqtt.route.refused": refused });
        route.end();
        if (info.qos > 0) commit = tracer.startSpan("commit", { kind: SpanKind.INTERNAL }, ctx);
      },
      acked(reasonCode) {
        commit?.end();
        span.setAttribute("mqtt.deliveries", deliveries); // those written while routing (later ones: their spans)
        if (info.qos > 0) span.addEvent(info.qos === 1 ? "PUBACK" : "PUBREC", { "mqtt.reason_code": reasonCode });
        span.setAttribute("mqtt.reason_code", reasonCode);
        if (reasonCode >= 0x80) span.setStatus({ code: SpanStatusCode.ERROR, message: `0x${hex(reasonCode)}` });
        span.end();
      },
    };
  }
}

/** Delivery spans per traced message at most (docs/operations.md "Tracing"). */
export const DELIVERY_SPANS = 10;

function hex(n: number): string {
  return n.toString(16).padStart(2, "0");
}
