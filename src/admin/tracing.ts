// OpenTelemetry tracing of the broker (config `tracing`, docs/operations.md "Tracing"), on the broker's tracing
// seam (src/broker/tracing.ts) and its delivery events:
//   connect  (SERVER)    CONNECT received → CONNACK sent; child of a 5.0 CONNECT's `traceparent` user property
//   publish  (SERVER)    a client PUBLISH accepted for routing → its PUBACK/PUBREC written (QoS 0: routed);
//                        child of the PUBLISH's `traceparent` user property, whose value subscribers receive
//                        replaced by the publish span's own (W3C Trace Context). Events on it: `routed`
//                        (subscriptions matched, deliveries queued or written; `mqtt.route.matched/refused` are span
//                        attributes), then `PUBACK`/`PUBREC` once the storage commit let it go (QoS 1/2).
//   deliver  (PRODUCER)  one first delivery (PUBLISH) written to one subscriber; child of the publish span
// Routing and the commit wait are events of the publish span rather than child spans of their own: a span costs
// the broker ~2.5 µs to create and ~1 µs to export (`npm run bench:ops-tracer`), an event a fraction of that, and a
// sampled message at 100k messages/s is 1000 traces/s (docs/operations.md "Tracing", measured overhead).
// Only `@opentelemetry/api` is used here; the SDK (provider, sampler, exporter) is loaded by startTracing() only
// when tracing is enabled.
import {
  SpanKind,
  SpanStatusCode,
  ROOT_CONTEXT,
  TraceFlags,
  trace,
  type Attributes,
  type Context,
  type Tracer,
} from "@opentelemetry/api";
import {
  type BrokerTracer,
  type ConnectTrace,
  type MessageTrace,
  type PublishTrace,
  type TraceConnectInfo,
  type SubscriptionTrace,
  type TracedPublish,
} from "../broker/index.ts";
import type { Properties } from "../codec/index.ts";
import { formatTraceparent, parseTraceparent, traceparentOf, withTraceparent } from "./traceparent.ts";

/**
 * One clock for the publish span and its deliver spans. The SDK anchors each span to Date.now() (1 ms steps) when it
 * starts, so two spans' times could disagree by up to 1 ms: a delivery written while routing could appear to start
 * after its publish span ended. Times in ms since the epoch, from the monotonic clock.
 */
const spanClock = (): number => performance.timeOrigin + performance.now();

export class OtelBrokerTracer implements BrokerTracer {
  readonly #tracer: Tracer;
  readonly #ratio: number;
  readonly #random: () => number;
  /** Root publishes still to pass before the next sampled one (1 = the next). */
  #skip: number;

  /**
   * `sampleRatio`: share of root traces (no `traceparent`) recorded. The decision is taken here, before any span
   * object exists; the provider's sampler then only sees what is to be recorded (ParentBased(AlwaysOn)), and a
   * `traceparent` decides by its sampled flag as ParentBased would.
   * Root publishes are sampled by a countdown whose length is drawn from the geometric distribution of the gap
   * between two successes of independent `sampleRatio` trials: the same distribution as one random draw per
   * message, but the unsampled majority (99 of 100 at 1 %) costs a decrement, not a random number (~3 % of the
   * broker's CPU at 600k messages/s when it drew one per message). A CONNECT draws its own number.
   */
  constructor(tracer: Tracer, sampleRatio: number, random: () => number = Math.random) {
    this.#tracer = tracer;
    this.#ratio = sampleRatio;
    this.#random = random;
    this.#skip = this.#gap();
  }

  /** Trials up to and including the next success: 1 + floor(ln(U) / ln(1 − p)), U uniform in (0, 1]. */
  #gap(): number {
    const p = this.#ratio;
    if (p >= 1) return 1;
    if (!(p > 0)) return Infinity;
    return 1 + Math.floor(Math.log(1 - this.#random()) / Math.log1p(-p));
  }

  /** The parent context to record under, or undefined when this trace is not sampled. */
  #sampled(properties: Properties | undefined, root: () => boolean): Context | undefined {
    const tp = traceparentOf(properties);
    const sc = tp === undefined ? undefined : parseTraceparent(tp);
    if (sc === undefined) return root() ? ROOT_CONTEXT : undefined;
    return (sc.traceFlags & TraceFlags.SAMPLED) !== 0 ? trace.setSpanContext(ROOT_CONTEXT, sc) : undefined;
  }

  readonly #drawRoot = (): boolean => this.#random() < this.#ratio;
  readonly #countRoot = (): boolean => {
    if (--this.#skip > 0) return false;
    this.#skip = this.#gap();
    return true;
  };

  connect(info: TraceConnectInfo): ConnectTrace | undefined {
    const parent = this.#sampled(info.properties, this.#drawRoot);
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

  publish(clientId: string, topic: string, packet: TracedPublish): PublishTrace | undefined {
    return this.#publish(clientId, topic, packet, false);
  }

  /** An in-process publish: the same spans, marked `mqtt.in_process`; acknowledged when its promise settles. */
  publishLocal(clientId: string, topic: string, packet: TracedPublish): PublishTrace | undefined {
    return this.#publish(clientId, topic, packet, true);
  }

  subscription(
    kind: "subscribe" | "unsubscribe",
    clientId: string,
    filters: readonly string[],
    properties: Properties | undefined,
  ): SubscriptionTrace | undefined {
    const parent = this.#sampled(properties, this.#drawRoot);
    if (parent === undefined) return undefined;
    const span = this.#tracer.startSpan(
      kind,
      {
        kind: SpanKind.SERVER,
        attributes: {
          "messaging.system": "mqtt",
          "messaging.client.id": clientId,
          "mqtt.topic_filters": [...filters],
        },
      },
      parent,
    );
    if (!span.isRecording()) return undefined;
    return {
      end: (reasonCodes) => {
        span.setAttribute("mqtt.reason_codes", [...reasonCodes]);
        const failed = reasonCodes.filter((rc) => rc >= 0x80);
        if (failed.length > 0 || reasonCodes.length === 0) {
          const what = reasonCodes.length === 0 ? "no acknowledgement (connection closed)" : failed.map(hex).join(",");
          span.setStatus({ code: SpanStatusCode.ERROR, message: what });
        }
        span.end();
      },
    };
  }

  #publish(clientId: string, topic: string, packet: TracedPublish, local: boolean): PublishTrace | undefined {
    // Not sampled: the message goes on untouched (a publisher's own traceparent is forwarded as it came).
    // Without user properties there is no traceparent: only the countdown is looked at.
    const parent =
      packet.properties?.userProperties === undefined
        ? this.#countRoot()
          ? ROOT_CONTEXT
          : undefined
        : this.#sampled(packet.properties, this.#countRoot);
    if (parent === undefined) return undefined;
    const qos = packet.qos;
    const span = this.#tracer.startSpan(
      "publish",
      {
        kind: SpanKind.SERVER,
        startTime: spanClock(),
        attributes: {
          "messaging.system": "mqtt",
          "messaging.operation.type": "receive",
          "messaging.destination.name": topic,
          "messaging.client.id": clientId,
          "messaging.message.body.size": packet.payload.length,
          "mqtt.qos": qos,
          "mqtt.retain": packet.retain,
          ...(local ? { "mqtt.in_process": true } : {}),
        },
      },
      parent,
    );
    if (!span.isRecording()) return undefined;
    const ctx = trace.setSpan(parent, span);
    const tracer = this.#tracer;
    let deliveries = 0;
    const ref: MessageTrace = {
      // One span per first delivery, child of the publish span (called by the session: nothing per untraced one),
      // for the first DELIVERY_SPANS subscribers; a larger fan-out is counted on the publish span instead (a
      // sampled message to 50 subscribers would otherwise cost 50 spans: most of the tracing overhead measured).
      delivered(subscriber, deliveredTopic, deliveredQos, packetId) {
        if (++deliveries > DELIVERY_SPANS) return;
        const attributes: Attributes = {
          "messaging.system": "mqtt",
          "messaging.operation.type": "send",
          "messaging.destination.name": deliveredTopic,
          "messaging.client.id": subscriber,
          "mqtt.qos": deliveredQos,
        };
        if (packetId !== undefined) attributes["mqtt.packet_id"] = packetId;
        const at = spanClock();
        tracer.startSpan("deliver", { kind: SpanKind.PRODUCER, attributes, startTime: at }, ctx).end(at);
      },
    };
    return {
      properties: withTraceparent(packet.properties, formatTraceparent(span.spanContext())),
      ref,
      routed(matched, refused) {
        span.setAttribute("mqtt.route.matched", matched);
        span.setAttribute("mqtt.route.refused", refused);
        span.addEvent("routed");
      },
      acked(reasonCode) {
        span.setAttribute("mqtt.deliveries", deliveries); // those written while routing (later ones: their spans)
        // In process: the promise settled (after the commit), no packet.
        const event = local ? "settled" : qos === 1 ? "PUBACK" : "PUBREC";
        if (qos > 0) span.addEvent(event, { "mqtt.reason_code": reasonCode });
        span.setAttribute("mqtt.reason_code", reasonCode);
        if (reasonCode >= 0x80) span.setStatus({ code: SpanStatusCode.ERROR, message: `0x${hex(reasonCode)}` });
        span.end(spanClock());
      },
    };
  }
}

/** Delivery spans per traced message at most (docs/operations.md "Tracing"). */
export const DELIVERY_SPANS = 10;

function hex(n: number): string {
  return n.toString(16).padStart(2, "0");
}
