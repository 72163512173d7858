// One webhook endpoint: a bounded buffer of events, sent as JSON batches, one request at a time (so a receiver
// sees events in order), with a timeout, retries with exponential backoff and jitter, and a circuit breaker.
// The broker never waits for it: enqueue() is synchronous and O(1); when the buffer is full new events are
// dropped and counted (wharf_webhook_events_total{outcome="dropped_overflow"}), so a dead endpoint costs at most
// bufferSize events of memory. Every timer runs on the injectable clock.
import { createHmac } from "node:crypto";
import { topicMatches } from "../../topics/index.ts";
import type { Clock, Logger, TimerHandle } from "../../util/index.ts";
import type { WebhookDropReason, WebhookMetrics } from "../metrics.ts";
import { postFromWorker } from "../http-worker.ts";
import { BreakerState, CircuitBreaker, type BreakerStateValue } from "./breaker.ts";
import { MESSAGE_EVENTS, WEBHOOK_SCHEMA_VERSION, type WebhookEvent, type WebhookEventType } from "./events.ts";

export interface WebhookOptions {
  name: string;
  url: string;
  /** Empty = every event type. */
  events: readonly WebhookEventType[];
  /** Message events only for topics matching one of these. */
  topics: readonly string[];
  /** HMAC-SHA256 key; "" = unsigned. */
  secret: string;
  batchSize: number;
  batchDelayMs: number;
  timeoutMs: number;
  maxRetries: number;
  backoffMs: number;
  backoffMaxMs: number;
  bufferSize: number;
  breakerThreshold: number;
  breakerResetMs: number;
}

/** One POST: resolves with the HTTP status, rejects on a network error or when `signal` aborts (timeout). */
export type WebhookSender = (req: {
  url: string;
  body: string;
  headers: Record<string, string>;
  signal: AbortSignal;
}) => Promise<number>;

/**
 * The real sender: undici's request() on the HTTP worker thread (../http-worker.ts: undici's sockets on the main
 * thread made the broker's own socket writes polymorphic); the reply body is read there and discarded.
 */
export const httpSender: WebhookSender = ({ url, body, headers, signal }) =>
  postFromWorker({ url, body, headers, signal });

export interface EndpointDeps {
  clock: Clock;
  logger: Logger;
  metrics: WebhookMetrics;
  sender?: WebhookSender;
  /** [0, 1): jitter source (tests pass a constant). */
  random?: () => number;
}

export interface WebhookStatus {
  name: string;
  url: string;
  buffered: number;
  breaker: BreakerStateValue;
  consecutiveFailures: number;
  delivered: number;
  dropped: Record<WebhookDropReason, number>;
}

/** `sha256=` + hex HMAC-SHA256 of `<timestamp>.<body>` (the timestamp is sent as X-Wharf-Timestamp). */
export function signBody(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

export class WebhookEndpoint {
  readonly #buffer: WebhookEvent[] = [];
  #head = 0;
  /** The batch being sent or waiting for its retry. */
  #batch: WebhookEvent[] | undefined;
  #attempts = 0;
  #inFlight = false;
  #timer: TimerHandle | undefined;
  /** The armed timer only waits for a batch to fill (a full batch may cut it short). */
  #timerIsDelay = false;
  #abort: AbortController | undefined;
  #closed = false;
  readonly #types: ReadonlySet<WebhookEventType> | undefined;
  readonly #breaker: CircuitBreaker;
  readonly #send: WebhookSender;
  readonly #random: () => number;
  #delivered = 0;
  readonly #dropped: Record<WebhookDropReason, number> = {
    overflow: 0,
    retries_exhausted: 0,
    rejected: 0,
    closed: 0,
  };
  /** Settles when the endpoint is idle (tests and shutdown). */
  #idleWaiters: (() => void)[] = [];

  constructor(
    readonly options: WebhookOptions,
    private readonly deps: EndpointDeps,
  ) {
    this.#types = options.events.length === 0 ? undefined : new Set(options.events);
    this.#send = deps.sender ?? httpSender;
    this.#random = deps.random ?? Math.random;
    let open = false;
    this.#breaker = new CircuitBreaker(options.breakerThreshold, options.breakerResetMs, (state) => {
      if (open !== (state === BreakerState.Open)) deps.metrics.breakerState(options.name, (open = !open));
      deps.logger.warn({ webhook: options.name, breaker: state }, `webhook circuit breaker ${state}`);
    });
    deps.metrics.breakerState(options.name, false);
  }

  wants(type: WebhookEventType): boolean {
    return this.#types === undefined || this.#types.has(type);
  }

  /** Accepts the event if its type (and, for message events, topic) is subscribed; never blocks. */
  enqueue(event: WebhookEvent): void {
    if (this.#closed || !this.wants(event.type)) return;
    if (MESSAGE_EVENTS.has(event.type) && event.topic !== undefined) {
      if (!this.options.topics.some((f) => topicMatches(f, event.topic!))) return;
    }
    if (this.buffered >= this.options.bufferSize) {
      this.#drop("overflow", 1);
      return;
    }
    this.#buffer.push(event);
    this.deps.metrics.queued(this.options.name, 1);
    this.#schedule();
  }

  /** Events waiting (the batch in flight included). */
  get buffered(): number {
    return this.#buffer.length - this.#head + (this.#batch?.length ?? 0);
  }

  status(): WebhookStatus {
    return {
      name: this.options.name,
      url: this.options.url,
      buffered: this.buffered,
      breaker: this.#breaker.state,
      consecutiveFailures: this.#breaker.consecutiveFailures,
      delivered: this.#delivered,
      dropped: { ...this.#dropped },
    };
  }

  /** Resolves once nothing is buffered or in flight. */
  idle(): Promise<void> {
    if (this.buffered === 0 && !this.#inFlight) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Stops sending; what is still buffered is dropped and counted ("closed"). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#timer?.cancel();
    this.#abort?.abort();
    const left = this.buffered;
    this.#buffer.length = 0;
    this.#head = 0;
    this.#batch = undefined;
    if (left > 0) this.#drop("closed", left);
    this.#notifyIdle();
  }

  // ---- sending ----------------------------------------------------------------------------------------------

  /** Arms the next send: now when a batch is full, after batchDelayMs otherwise; nothing while one is pending. */
  #schedule(): void {
    if (this.#closed || this.#inFlight) return;
    if (this.#batch !== undefined) return; // a retry is armed (or will be when the attempt ends)
    const waiting = this.#buffer.length - this.#head;
    if (waiting === 0) {
      this.#notifyIdle();
      return;
    }
    const full = waiting >= this.options.batchSize;
    if (this.#timer !== undefined) {
      if (!(full && this.#timerIsDelay)) return;
      this.#timer.cancel(); // the batch filled up before its delay ran out: send it now
    }
    this.#arm(full ? 0 : this.options.batchDelayMs, true);
  }

  #arm(ms: number, isDelay = false): void {
    this.#timerIsDelay = isDelay;
    this.#timer = this.deps.clock.setTimeout(() => {
      this.#timer = undefined;
      this.#attempt();
    }, ms);
  }

  #takeBatch(): WebhookEvent[] {
    const end = Math.min(this.#buffer.length, this.#head + this.options.batchSize);
    const batch = this.#buffer.slice(this.#head, end);
    this.#head = end;
    if (this.#head === this.#buffer.length) {
      this.#buffer.length = 0;
      this.#head = 0;
    } else if (this.#head > 4096 && this.#head * 2 > this.#buffer.length) {
      this.#buffer.splice(0, this.#head); // compact now and then: O(1) amortized per event
      this.#head = 0;
    }
    return batch;
  }

  #attempt(): void {
    if (this.#closed) return;
    const now = this.deps.clock.now();
    if (!this.#breaker.allow(now)) {
      this.#arm(Math.max(0, this.#breaker.reopensAt() - now));
      return;
    }
    if (this.#batch === undefined) {
      this.#batch = this.#takeBatch();
      this.#attempts = 0;
      if (this.#batch.length === 0) {
        this.#batch = undefined;
        this.#notifyIdle();
        return;
      }
    }
    const batch = this.#batch;
    this.#attempts++;
    this.#inFlight = true;
    const body = JSON.stringify({ schemaVersion: WEBHOOK_SCHEMA_VERSION, webhook: this.options.name, events: batch });
    const timestamp = String(Math.floor(now / 1000));
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "user-agent": "wharf-webhooks",
      "x-wharf-timestamp": timestamp,
      "x-wharf-event-count": String(batch.length),
    };
    if (this.options.secret !== "") headers["x-wharf-signature"] = signBody(this.options.secret, timestamp, body);
    const abort = new AbortController();
    this.#abort = abort;
    let timedOut = false;
    const timeout = this.deps.clock.setTimeout(() => {
      timedOut = true;
      abort.abort();
    }, this.options.timeoutMs);
    this.#send({ url: this.options.url, body, headers, signal: abort.signal }).then(
      (status) => {
        timeout.cancel();
        this.#settled(batch, status >= 200 && status < 300 ? "success" : "http_error", status);
      },
      (err: unknown) => {
        timeout.cancel();
        if (!timedOut && !this.#closed) {
          this.deps.logger.debug({ webhook: this.options.name, err }, "webhook request failed");
        }
        this.#settled(batch, timedOut ? "timeout" : "error", 0);
      },
    );
  }

  #settled(batch: WebhookEvent[], result: "success" | "error" | "timeout" | "http_error", status: number): void {
    this.#inFlight = false;
    this.#abort = undefined;
    if (this.#closed) return;
    this.deps.metrics.request(this.options.name, result);
    const now = this.deps.clock.now();
    if (result === "success") {
      this.#breaker.success();
      this.#delivered += batch.length;
      this.deps.metrics.delivered(this.options.name, batch.length);
      this.#batch = undefined;
      this.#schedule();
      return;
    }
    // 4xx other than 408/429: the receiver refuses this batch; sending it again will not change its mind.
    const permanent = result === "http_error" && status >= 400 && status < 500 && status !== 408 && status !== 429;
    if (!permanent) this.#breaker.failure(now);
    if (permanent || this.#attempts > this.options.maxRetries) {
      this.deps.logger.warn(
        { webhook: this.options.name, events: batch.length, attempts: this.#attempts, status },
        "webhook batch dropped",
      );
      this.#batch = undefined;
      this.#drop(permanent ? "rejected" : "retries_exhausted", batch.length);
      this.#schedule();
      return;
    }
    // Exponential backoff: backoffMs · 2^(attempt-1), capped, ±20 % jitter so many brokers do not retry in step.
    const base = Math.min(this.options.backoffMaxMs, this.options.backoffMs * 2 ** (this.#attempts - 1));
    const delay = Math.round(base * (0.8 + 0.4 * this.#random()));
    const reopen = this.#breaker.reopensAt();
    this.#arm(Math.max(delay, reopen > 0 ? reopen - now : 0));
  }

  #drop(reason: WebhookDropReason, n: number): void {
    this.#dropped[reason] += n;
    this.deps.metrics.dropped(this.options.name, reason, n);
  }

  #notifyIdle(): void {
    if (this.buffered !== 0 || this.#inFlight) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }
}
