// The webhook dispatcher: turns broker events into WebhookEvents and hands each to the endpoints that want it.
// emit() is cheap when nobody listens to a type (one Set lookup, no object built), which is the common case on
// the per-message path.
import { randomBytes } from "node:crypto";
import type { WebhookMetrics } from "../metrics.ts";
import { WebhookEndpoint, type EndpointDeps, type WebhookOptions, type WebhookStatus } from "./endpoint.ts";
import { WEBHOOK_EVENTS, type WebhookEvent, type WebhookEventType } from "./events.ts";
import { httpWorker } from "../http-worker.ts";

export * from "./events.ts";
export { WebhookEndpoint, httpSender, signBody } from "./endpoint.ts";
export type { EndpointDeps, WebhookOptions, WebhookSender, WebhookStatus } from "./endpoint.ts";
export { BreakerState, CircuitBreaker } from "./breaker.ts";

export class WebhookDispatcher {
  #endpoints: WebhookEndpoint[] = [];
  #wanted = new Set<WebhookEventType>();
  #seq = 0;
  readonly #boot = randomBytes(6).toString("hex");

  constructor(
    options: readonly WebhookOptions[],
    private readonly deps: EndpointDeps & { metrics: WebhookMetrics },
  ) {
    this.configure(options);
  }

  /**
   * Applies a new list (hot reload): endpoints whose options did not change keep their buffer and breaker;
   * removed or changed ones are closed (their buffered events counted as dropped "closed").
   */
  configure(options: readonly WebhookOptions[]): void {
    const keep = new Map(this.#endpoints.map((e) => [JSON.stringify(e.options), e]));
    const next: WebhookEndpoint[] = [];
    for (const o of options) {
      const key = JSON.stringify(o);
      const existing = keep.get(key);
      if (existing !== undefined) {
        keep.delete(key);
        next.push(existing);
      } else {
        next.push(new WebhookEndpoint({ ...o }, this.deps));
      }
    }
    for (const e of keep.values()) e.close();
    // The HTTP worker starts now, not at the first event in the middle of traffic (http-worker.ts warm()).
    if (next.length > 0 && this.deps.sender === undefined) void httpWorker.warm();
    this.#endpoints = next;
    this.#wanted = new Set();
    for (const e of next) {
      for (const t of e.options.events.length === 0 ? WEBHOOK_EVENTS : e.options.events) this.#wanted.add(t);
    }
  }

  /** Is any endpoint interested in `type`? (Check before building event data on a hot path.) */
  wants(type: WebhookEventType): boolean {
    return this.#wanted.has(type);
  }

  emit(type: WebhookEventType, data: Record<string, unknown>, topic?: string): void {
    if (!this.#wanted.has(type)) return;
    const event: WebhookEvent = {
      id: `${this.#boot}-${(this.#seq++).toString(36)}`,
      type,
      time: new Date(this.deps.clock.now()).toISOString(),
      ...(topic === undefined ? {} : { topic }),
      data,
    };
    for (const e of this.#endpoints) e.enqueue(event);
  }

  status(): WebhookStatus[] {
    return this.#endpoints.map((e) => e.status());
  }

  /** Resolves when every endpoint has nothing buffered or in flight. */
  async idle(): Promise<void> {
    await Promise.all(this.#endpoints.map((e) => e.idle()));
  }

  close(): void {
    for (const e of this.#endpoints) e.close();
    this.#endpoints = [];
    this.#wanted = new Set();
  }
}
