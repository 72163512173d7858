// OpenTelemetry tracing of the broker (config `tracing`, docs/operations.md "Tracing"), on the broker's tracing
// seam (src/broker/tracing.ts) and its delivery events:
//   connect  (SERVER)    CONNECT received → CONNACK sent; child of a 5.0 CONNECT's `traceparent` user property
//   publish  (SERVER)    a client PUBLISH accepted for routing → its PUBACK/PUBREC written (QoS 0: routed);
//                        child of the PUBLISH's `traceparent` user property, whose value subscribers receive
//                        replaced by the publish span's own (W3C Trace Context). Events on it: `routed`
//                        (subscriptions matched, deliveries queued or written; `mqtt.route.matched/refused` are span
//                        attributes), then `PUBACK`/`PUBREC` once the storage commit let it go (QoS 1/2). Also for
//                        wills (`mqtt.will`) and in-process publishes, batches and transactions (`mqtt.in_process`,
//                        `mqtt.batch`).
//   deliver  (PRODUCER)  one first delivery (PUBLISH) written to one subscriber; child of the publish span
//   queue.append / queue.settle (SERVER), queue.deliver (PRODUCER): durable queues; the append span's traceparent is
//                        stored with the message, so deliveries are its children (also after a restart)
// Routing and the commit wait are events of the publish span rather than child spans of their own. A traced publish
// is one PublishRecord (trace-record.ts: facts, no span object), whose publish and deliver spans the built-in OTLP
// batcher encodes from templates and any other exporter gets as LightSpans; the other spans are LightSpans
// (light-span.ts: ~1 µs each instead of ~2.5 µs through the SDK's tracer), handed to an SDK span processor. Only
// `@opentelemetry/api` is loaded here; the SDK is loaded by startTracing() only when tracing is enabled.
import { SpanKind, TraceFlags, type Attributes, type SpanContext } from "@opentelemetry/api";
import {
  type BrokerTracer,
  type ConnectTrace,
  type PublishTrace,
  type TraceConnectInfo,
  type SubscriptionTrace,
  type TracedPublish,
  type TracedBatch,
  type QueueTrace,
  type TracedQueueDelivery,
} from "../broker/index.ts";
import type { Properties } from "../codec/index.ts";
import { LightSpan, spanClock, type SpanOutput } from "./light-span.ts";
import { SpanRecordSink } from "./record-spans.ts";
import { BATCH, CLIENT, IN_PROCESS, PublishRecord, WILL, hex, type Origin, type PublishSink } from "./trace-record.ts";
import { parseTraceparent, traceparentOf, withTraceparent } from "./traceparent.ts";

/** #sampled(): record as a new trace. */
const ROOT = null;

const QUEUE_PREFIX_LENGTH = "$queue/".length;

export class OtelBrokerTracer implements BrokerTracer {
  readonly #out: SpanOutput;
  /** Where publish records' spans go (the built-in OTLP batcher's templates, or LightSpans to `out`). */
  readonly #records: PublishSink;
  readonly #ratio: number;
  /** ln(1 − sampleRatio), for #gap(): a constant, not computed per sampled message. */
  readonly #logMiss: number;
  readonly #random: () => number;
  /**
   * Root publishes still to pass before the next sampled one (1 = the next). Public as BrokerTracer.rootSkip: the
   * broker core decrements it itself for a PUBLISH without user properties while it is above 1 (no call).
   */
  rootSkip: number;

  /**
   * `out`: where finished spans go (an SDK SpanProcessor, with the provider's resource and scope: tracing-sdk.ts).
   * `sampleRatio`: share of root traces (no `traceparent`) recorded. The decision is taken here, before any span
   * object exists; a `traceparent` decides by its sampled flag as ParentBased sampling would.
   * Root publishes are sampled by a countdown whose length is drawn from the geometric distribution of the gap
   * between two successes of independent `sampleRatio` trials: the same distribution as one random draw per
   * message, but the unsampled majority (99 of 100 at 1 %) costs a decrement, not a random number (~3 % of the
   * broker's CPU at 600k messages/s when it drew one per message). A CONNECT draws its own number.
   * The first root publish is recorded (with any sampleRatio above 0), the countdown drawn from there: the broker's
   * publish path (inbound.ts accept()) then runs its traced branch with its first message, before V8 optimises it.
   * With the first trace ~100 messages in (at 1 %), accept() was often optimised already and was deoptimised at
   * that trace for its branch's missing type feedback: in 2 of 3 tracing brokers before, 0 of 4 after (--trace-deopt,
   * fan-in QoS 1; docs/benchmarks.md, stop 19). The share recorded is sampleRatio plus this one publish.
   */
  constructor(
    out: SpanOutput,
    sampleRatio: number,
    random: () => number = Math.random,
    /** The built-in OTLP batcher (otlp-batcher.ts): publish and deliver spans encoded from its templates. */
    records: PublishSink = new SpanRecordSink(out),
  ) {
    this.#out = out;
    this.#records = records;
    this.#ratio = sampleRatio;
    this.#logMiss = Math.log1p(-sampleRatio);
    this.#random = random;
    this.rootSkip = sampleRatio > 0 ? 1 : Infinity;
  }

  /** Trials up to and including the next success: 1 + floor(ln(U) / ln(1 − p)), U uniform in (0, 1]. */
  #gap(): number {
    const p = this.#ratio;
    if (p >= 1) return 1;
    if (!(p > 0)) return Infinity;
    return 1 + Math.floor(Math.log(1 - this.#random()) / this.#logMiss);
  }

  /** The parent to record under (ROOT: a new trace), or undefined when this trace is not sampled. */
  #sampled(properties: Properties | undefined, root: () => boolean): SpanContext | typeof ROOT | undefined {
    const tp = traceparentOf(properties);
    const sc = tp === undefined ? undefined : parseTraceparent(tp);
    if (sc === undefined) return root() ? ROOT : undefined;
    return (sc.traceFlags & TraceFlags.SAMPLED) !== 0 ? sc : undefined;
  }

  readonly #drawRoot = (): boolean => this.#random() < this.#ratio;
  readonly #countRoot = (): boolean => {
    if (--this.rootSkip > 0) return false;
    this.rootSkip = this.#gap();
    return true;
  };

  #span(name: string, kind: SpanKind, attributes: Attributes, parent: SpanContext | typeof ROOT): LightSpan {
    return new LightSpan(this.#out, name, kind, attributes, parent ?? undefined);
  }

  connect(info: TraceConnectInfo): ConnectTrace | undefined {
    const parent = this.#sampled(info.properties, this.#drawRoot);
    if (parent === undefined) return undefined;
    const span = this.#span(
      "connect",
      SpanKind.SERVER,
      {
        "messaging.system": "mqtt",
        "messaging.client.id": info.clientId,
        "mqtt.protocol_version": info.protocolVersion,
        "network.transport": info.transport,
        "client.address": info.remoteAddress,
      },
      parent,
    );
    return {
      end: (reasonCode) => {
        span.setAttribute("mqtt.connack.reason_code", reasonCode);
        if (reasonCode >= 0x80) span.error(`CONNACK 0x${hex(reasonCode)}`);
        span.end();
      },
    };
  }

  publish(clientId: string, topic: string, packet: TracedPublish): PublishTrace | undefined {
    // The unsampled majority without user properties: one decrement, no further call (called for every client
    // PUBLISH: ~2 % of the broker's CPU at 700k msg/s when it went through #parentOf and #countRoot).
    if (packet.properties?.userProperties === undefined) {
      if (--this.rootSkip > 0) return undefined;
      this.rootSkip = this.#gap();
      return new PublishRecord(this.#records, clientId, topic, packet, CLIENT, undefined, undefined);
    }
    return this.#publish(clientId, topic, packet, CLIENT, undefined);
  }

  /**
   * An in-process publish: the same spans, marked `mqtt.in_process` (and `mqtt.batch` "batch" / "transaction" with
   * `mqtt.batch.size` for publishBatch() and a transaction's commit); acknowledged when its promise settles.
   */
  publishLocal(clientId: string, topic: string, packet: TracedPublish, batch?: TracedBatch): PublishTrace | undefined {
    return batch === undefined
      ? this.#publish(clientId, topic, packet, IN_PROCESS, undefined)
      : this.#publish(clientId, topic, packet, BATCH, batch);
  }

  /** A will: a `publish` span marked `mqtt.will`, ended after routing. */
  will(clientId: string, topic: string, packet: TracedPublish): PublishTrace | undefined {
    return this.#publish(clientId, topic, packet, WILL, undefined);
  }

  /**
   * A PUBLISH to `$queue/<name>` (`queue.append`) or to its settle topic (`queue.settle`): SERVER spans from the
   * PUBLISH to its acknowledgement (after the commit). An append's properties are stored with the message with the
   * append span as their `traceparent`, so its deliveries (queueDelivered) are its children, also after a restart.
   * Sampled like a publish: the PUBLISH's own traceparent decides, else the root countdown.
   */
  queue(op: "append" | "settle", clientId: string, topic: string, packet: TracedPublish): QueueTrace | undefined {
    const parent = this.#parentOf(packet);
    if (parent === undefined) return undefined;
    const i = topic.lastIndexOf("/");
    const attributes: Attributes = {
      "messaging.system": "mqtt",
      "messaging.operation.type": op === "append" ? "send" : "settle",
      "messaging.destination.name":
        op === "append" ? topic.slice(QUEUE_PREFIX_LENGTH) : topic.slice(QUEUE_PREFIX_LENGTH, i),
      "messaging.client.id": clientId,
      "mqtt.qos": packet.qos,
    };
    if (op === "append") attributes["messaging.message.body.size"] = packet.payload.length;
    else attributes["mqtt.queue.action"] = topic.slice(i + 2); // ack, nack, reject
    const span = this.#span(`queue.${op}`, SpanKind.SERVER, attributes, parent);
    return {
      properties: op === "append" ? withTraceparent(packet.properties, span.traceparent) : packet.properties,
      end(reasonCode, reason) {
        span.setAttribute("mqtt.reason_code", reasonCode);
        if (reasonCode >= 0x80) span.error(reason ?? `0x${hex(reasonCode)}`);
        span.end();
      },
    };
  }

  /**
   * One durable queue delivery: a `queue.deliver` PRODUCER span, child of the append span named by the message's
   * stored `traceparent` (when sampled; nothing for a message without one: no new trace starts at a delivery).
   */
  queueDelivered(info: TracedQueueDelivery): void {
    const tp = traceparentOf(info.properties);
    const parent = tp === undefined ? undefined : parseTraceparent(tp);
    if (parent === undefined || (parent.traceFlags & TraceFlags.SAMPLED) === 0) return;
    const at = spanClock();
    new LightSpan(
      this.#out,
      "queue.deliver",
      SpanKind.PRODUCER,
      {
        "messaging.system": "mqtt",
        "messaging.operation.type": "send",
        "messaging.destination.name": info.queue,
        "messaging.consumer.group.name": info.group,
        "messaging.client.id": info.clientId,
        "messaging.message.id": info.messageId,
        "mqtt.queue.delivery_count": info.deliveryCount,
      },
      parent,
      at,
    ).end(at);
  }

  subscription(
    kind: "subscribe" | "unsubscribe",
    clientId: string,
    filters: readonly string[],
    properties: Properties | undefined,
  ): SubscriptionTrace | undefined {
    const parent = this.#sampled(properties, this.#drawRoot);
    if (parent === undefined) return undefined;
    const span = this.#span(
      kind,
      SpanKind.SERVER,
      { "messaging.system": "mqtt", "messaging.client.id": clientId, "mqtt.topic_filters": [...filters] },
      parent,
    );
    return {
      end: (reasonCodes) => {
        span.setAttribute("mqtt.reason_codes", [...reasonCodes]);
        const failed = reasonCodes.filter((rc) => rc >= 0x80);
        if (failed.length > 0 || reasonCodes.length === 0) {
          span.error(reasonCodes.length === 0 ? "no acknowledgement (connection closed)" : failed.map(hex).join(","));
        }
        span.end();
      },
    };
  }

  /**
   * A message's parent: its traceparent decides, else the root countdown. Without user properties there is no
   * traceparent: only the countdown is looked at.
   */
  #parentOf(packet: TracedPublish): SpanContext | typeof ROOT | undefined {
    return packet.properties?.userProperties === undefined
      ? this.#countRoot()
        ? ROOT
        : undefined
      : this.#sampled(packet.properties, this.#countRoot);
  }

  #publish(
    clientId: string,
    topic: string,
    packet: TracedPublish,
    origin: Origin,
    batch: TracedBatch | undefined,
  ): PublishTrace | undefined {
    // Not sampled: the message goes on untouched (a publisher's own traceparent is forwarded as it came).
    const parent = this.#parentOf(packet);
    if (parent === undefined) return undefined;
    return new PublishRecord(this.#records, clientId, topic, packet, origin, batch, parent ?? undefined);
  }
}

export { DELIVERY_SPANS } from "./trace-record.ts";
