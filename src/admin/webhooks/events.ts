// Webhook event types and the JSON each POST carries. The body is versioned (`schemaVersion`): fields are only
// ever added within a version; docs/operations.md has an example of every event.

export const WEBHOOK_SCHEMA_VERSION = 1;

export const WEBHOOK_EVENTS = [
  "client.connected",
  "client.disconnected",
  "client.connect_refused",
  "session.created",
  "session.expired",
  "subscription.created",
  "subscription.removed",
  "message.published",
  "message.delivered",
  "message.acknowledged",
  "message.dropped",
  "message.dead_lettered",
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];

/**
 * Event types filtered by the webhook's `topics` (they concern one message on one topic). `message.dead_lettered`
 * is not: its queue is a `$queue/…` name, which the default `#` filter would never match [MQTT-4.7.2-1]; its data
 * names the queue.
 */
export const MESSAGE_EVENTS: ReadonlySet<WebhookEventType> = new Set([
  "message.published",
  "message.delivered",
  "message.acknowledged",
  "message.dropped",
]);

export interface WebhookEvent {
  /** Unique per broker process: `<boot id>-<sequence>` (receivers de-duplicate retried batches with it). */
  readonly id: string;
  readonly type: WebhookEventType;
  /** ISO 8601, milliseconds. */
  readonly time: string;
  /** The message's topic, for message events. */
  readonly topic?: string;
  readonly data: Readonly<Record<string, unknown>>;
}

/** The body of one POST. */
export interface WebhookBatch {
  readonly schemaVersion: typeof WEBHOOK_SCHEMA_VERSION;
  readonly webhook: string;
  readonly events: readonly WebhookEvent[];
}
