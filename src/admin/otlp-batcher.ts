// The span processor of `tracing.exporter: otlp` with `protocol: http/protobuf` (the default): each span is encoded
// into the current OTLP request when it ends, and the request is POSTed once it holds MAX_BATCH spans or
// FLUSH_MS have passed. Why not the SDK's BatchSpanProcessor and an exporter: it keeps up to 2048 span objects until
// their batch is exported (~25 ms at 20,000 spans/s), long enough for the young-generation GC to move them to the old
// generation, which then has to be collected too (the broker's GC share went from 6.4 to 9.3 % of its CPU with
// tracing at 1 % in the fan-in profile); encoded at once, a span and its attributes die young.
// Bounded like the SDK's processor: at most MAX_IN_FLIGHT requests outstanding; a full batch with no room is
// dropped and counted (a collector that is down never makes the broker grow or wait).
import type { Context } from "@opentelemetry/api";
import type { ReadableSpan, Span, SpanProcessor } from "@opentelemetry/sdk-trace-base";
import { PROTOBUF, postOtlp } from "./otlp.ts";
import { httpWorker } from "./http-worker.ts";
import { ProtoRequest, sharedBuffer } from "./otlp-proto.ts";
import { encodeDeliver, encodePublish } from "./otlp-templates.ts";
import type { PublishRecord, PublishSink } from "./trace-record.ts";

/**
 * Spans per request. 8192, not the SDK's maxExportBatchSize of 512: each POST costs the broker CPU independent of its
 * size, in the HTTP worker (undici's request object, headers, response parser, body stream) and on V8's platform
 * threads (the worker's compiles and GC). 512-span requests made that 3.4-3.7 % of the broker's busy time at 1 % of
 * ~500k msg/s in fan-in QoS 0 (stop 13); 2048-span requests still cost ~1.2 µs per traced message on those threads
 * at 10 % sampling, 8192 ~0.6 (other threads 0.221 -> 0.102 µs per message, 5 rounds; docs/benchmarks.md, stop 20).
 * 8192 spans are ~2.6 MB of protobuf, under the OpenTelemetry Collector's default request limit (20 MiB).
 */
export const MAX_BATCH = 8192;
/** A request holding fewer spans goes out after this long (the SDK waits 5 s; a second keeps traces current). */
export const FLUSH_MS = 1000;
/**
 * Requests outstanding at most: 4 × 8192 spans (~10.5 MB, outside the JavaScript heap) while a collector is slow;
 * beyond, spans are dropped.
 */
export const MAX_IN_FLIGHT = 4;
/** The first request's buffer, and the least any request starts with (bytes). */
const MIN_REQUEST_BYTES = 64 * 1024;

export class OtlpProtoBatcher implements SpanProcessor, PublishSink {
  #req: ProtoRequest | undefined;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #timer: NodeJS.Timeout;
  #stopped = false;
  /** Bytes to allocate for the next request (from the previous one's size). */
  #size = MIN_REQUEST_BYTES;
  /**
   * Request buffers whose POST has settled, to write the next requests into (at most MAX_IN_FLIGHT): shared with the
   * HTTP worker, which sends the bytes from where they are. A fresh ~700 KB buffer per request, moved to the worker,
   * cost a large allocation, its pages' first-touch faults and its release per request. Not ordinary memory moved
   * to the worker and moved back with the reply, although the templates write into it faster (~650 against ~800
   * ns per traced message, `npm run bench:ops-encode`): each ~2.7 MB buffer moved back counts as new external
   * memory of the broker's heap, and V8 answered with mark-compacts, 1-3 per 2-s window in tracing brokers (11 in
   * one 4-s QoS 1 window at 10 %) against none with these (docs/benchmarks.md, stop 22).
   */
  readonly #spare: Buffer[] = [];
  /** The buffer size the next request starts with (tests). */
  get nextRequestBytes(): number {
    return this.#size;
  }
  /** Spans dropped because MAX_IN_FLIGHT requests were outstanding (or after shutdown). */
  dropped = 0;
  /** Spans sent (2xx). */
  sent = 0;

  constructor(
    private readonly endpoint: string,
    private readonly serviceName: string,
    private readonly onError: (err: Error) => void,
    private readonly timeoutMs = 10_000,
  ) {
    this.#timer = setInterval(() => this.#flush(), FLUSH_MS).unref();
    void httpWorker.warm(); // its start paid now rather than at the first request (http-worker.ts)
  }

  onStart(_span: Span, _parentContext: Context): void {}

  onEnd(span: ReadableSpan): void {
    const req = this.#request();
    if (req === undefined) return;
    req.add(span);
    this.#added(req);
  }

  /** A publish record's span, from its template (otlp-templates.ts): no span object. */
  publishEnded(r: PublishRecord): void {
    const req = this.#request();
    if (req === undefined) return;
    encodePublish(req.writer, r);
    req.count++;
    this.#added(req);
  }

  delivered(
    ids: Buffer,
    at: number,
    subscriber: string,
    topic: string,
    qos: number,
    packetId: number | undefined,
    ms: number,
  ): void {
    const req = this.#request();
    if (req === undefined) return;
    encodeDeliver(req.writer, ids, at, subscriber, topic, qos, packetId, ms);
    req.count++;
    this.#added(req);
  }

  /** The request to add a span to; undefined (the span dropped and counted) after shutdown. */
  #request(): ProtoRequest | undefined {
    if (this.#stopped) {
      this.dropped++;
      return undefined;
    }
    return (this.#req ??= new ProtoRequest(
      this.serviceName,
      this.#size,
      this.#spare.pop() ?? sharedBuffer(this.#size),
    ));
  }

  #added(req: ProtoRequest): void {
    if (req.count >= MAX_BATCH) this.#flush();
  }

  #flush(): void {
    const req = this.#req;
    if (req === undefined || req.count === 0) return;
    this.#req = undefined;
    if (this.#inFlight.size >= MAX_IN_FLIGHT) {
      this.#recycle(req.buffer);
      this.dropped += req.count;
      this.onError(new Error(`${MAX_IN_FLIGHT} OTLP requests outstanding: ${req.count} spans dropped`));
      return;
    }
    const n = req.count;
    const body = req.finish();
    // The next request's buffer starts at the largest request's size so far (+1/8): a full request (~2.6 MB) no
    // longer starts small and grows, copying and allocating MBs outside the heap on the broker's thread. Not this
    // one's size: at 1 % sampling the 1-s timer sends part-filled requests between full ones, and the full one after
    // a small one grew its buffer while traced messages were being routed (a deoptimisation of the span encoders
    // there, `--log-deopt`; docs/benchmarks.md, stop 23). Bounded by MAX_BATCH spans.
    this.#size = Math.max(this.#size, body.length + (body.length >> 3));
    // Shared with the worker (not copied); written again only once the POST has settled.
    const buf = req.buffer;
    const p = postOtlp(this.endpoint, body, PROTOBUF, this.timeoutMs)
      .then(
        () => {
          this.sent += n;
        },
        (err: unknown) => {
          this.dropped += n;
          this.onError(err instanceof Error ? err : new Error(String(err)));
        },
      )
      .finally(() => {
        this.#inFlight.delete(p);
        this.#recycle(buf);
      });
    this.#inFlight.add(p);
  }

  #recycle(buf: Buffer): void {
    if (this.#spare.length < MAX_IN_FLIGHT && buf.length >= this.#size) this.#spare.push(buf);
  }

  async forceFlush(): Promise<void> {
    this.#flush();
    await Promise.all(this.#inFlight);
  }

  async shutdown(): Promise<void> {
    clearInterval(this.#timer);
    await this.forceFlush();
    this.#stopped = true;
  }
}
