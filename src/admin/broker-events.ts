// Attaches metrics and webhooks to the broker's typed event seam (node:diagnostics_channel, src/broker/events.ts).
// Channels are process-wide, so every listener first checks the event's broker id. A channel is subscribed only
// while someone needs it: the per-message channels (publish-in, delivery, settlement) cost the broker an event
// object per message once subscribed, so only a webhook asking for a message event takes them; the metrics count
// messages by QoS from broker counters, and the latency of every Nth message goes to the histogram without an event
// (Broker.setDeliveryLatency; docs/operations.md has the measured cost).
import { BrokerChannel, onBrokerEvent, type BrokerChannelName, type BrokerEventMap } from "../broker/index.ts";
import type { EventMetrics } from "./metrics.ts";
import type { WebhookDispatcher, WebhookEventType } from "./webhooks/index.ts";

/** Which webhook event types each channel feeds. */
const CHANNEL_EVENTS: Partial<Record<BrokerChannelName, readonly WebhookEventType[]>> = {
  [BrokerChannel.Connect]: ["client.connected"],
  [BrokerChannel.Disconnect]: ["client.disconnected"],
  [BrokerChannel.AuthResult]: ["client.connect_refused"],
  [BrokerChannel.SessionCreated]: ["session.created"],
  [BrokerChannel.SessionEnded]: ["session.expired"],
  [BrokerChannel.Subscribe]: ["subscription.created"],
  [BrokerChannel.Unsubscribe]: ["subscription.removed"],
  [BrokerChannel.PublishIn]: ["message.published"],
  [BrokerChannel.Delivery]: ["message.delivered"],
  [BrokerChannel.Settlement]: ["message.acknowledged"],
  [BrokerChannel.Drop]: ["message.dropped"],
  [BrokerChannel.DeadLettered]: ["message.dead_lettered"],
};

/**
 * Channels the metrics always need. Connects, disconnects and refused CONNECTs are not among them: the metrics read
 * those from the broker's counters at scrape time, so a connection costs no event unless a webhook wants one.
 */
const METRIC_CHANNELS: readonly BrokerChannelName[] = [BrokerChannel.Drop, BrokerChannel.DeadLettered];

export interface EventBridgeOptions {
  /** Broker.id: events of other brokers in the process are ignored. */
  brokerId: string;
  metrics?: EventMetrics | undefined;
  webhooks?: WebhookDispatcher | undefined;
}

export class BrokerEventBridge {
  readonly #subs = new Map<BrokerChannelName, () => void>();

  constructor(private readonly opts: EventBridgeOptions) {
    this.refresh();
  }

  /** Channels subscribed right now (tests, docs). */
  get channels(): BrokerChannelName[] {
    return [...this.#subs.keys()];
  }

  /** Re-evaluates which channels are needed (after a webhook reload). */
  refresh(): void {
    const want = new Set<BrokerChannelName>();
    if (this.opts.metrics !== undefined) {
      for (const c of METRIC_CHANNELS) want.add(c);
    }
    const hooks = this.opts.webhooks;
    if (hooks !== undefined) {
      for (const [channel, types] of Object.entries(CHANNEL_EVENTS) as [BrokerChannelName, WebhookEventType[]][]) {
        if (types.some((t) => hooks.wants(t))) want.add(channel);
      }
    }
    for (const [c, off] of this.#subs) {
      if (!want.has(c)) {
        off();
        this.#subs.delete(c);
      }
    }
    for (const c of want) if (!this.#subs.has(c)) this.#subs.set(c, this.#subscribe(c));
  }

  close(): void {
    for (const off of this.#subs.values()) off();
    this.#subs.clear();
  }

  #subscribe<K extends BrokerChannelName>(name: K): () => void {
    const handler = this.#handler(name);
    const id = this.opts.brokerId;
    return onBrokerEvent(name, (e) => {
      if (e.broker === id) handler(e);
    });
  }

  #handler<K extends BrokerChannelName>(name: K): (e: BrokerEventMap[K]) => void {
    const m = this.opts.metrics;
    const w = this.opts.webhooks;
    const h = {
      // Subscribed only for webhooks (the metrics count connections from the broker's counters), and the payload is
      // built only when a webhook wants the event.
      [BrokerChannel.Connect]: (e: BrokerEventMap["wharf:broker:connect"]) => {
        if (w?.wants("client.connected") !== true) return;
        w.emit("client.connected", {
          clientId: e.clientId,
          username: e.username ?? null,
          protocolVersion: e.protocolVersion,
          remoteAddress: e.remoteAddress,
          transport: e.transport,
          clean: e.clean,
          sessionPresent: e.sessionPresent,
          keepAlive: e.keepAlive,
        });
      },
      [BrokerChannel.Disconnect]: (e: BrokerEventMap["wharf:broker:disconnect"]) => {
        if (w?.wants("client.disconnected") !== true) return;
        w.emit("client.disconnected", {
          clientId: e.clientId,
          initiator: e.initiator,
          reasonCode: e.reasonCode ?? null,
          will: e.will,
        });
      },
      [BrokerChannel.AuthResult]: (e: BrokerEventMap["wharf:broker:auth-result"]) => {
        if (e.ok) return;
        w?.emit("client.connect_refused", {
          clientId: e.clientId,
          username: e.username ?? null,
          remoteAddress: e.remoteAddress,
          reasonCode: e.reasonCode,
          method: e.method ?? null,
        });
      },
      [BrokerChannel.SessionCreated]: (e: BrokerEventMap["wharf:broker:session-created"]) => {
        w?.emit("session.created", { clientId: e.clientId, expiryInterval: e.expiryInterval, restored: e.restored });
      },
      [BrokerChannel.SessionEnded]: (e: BrokerEventMap["wharf:broker:session-ended"]) => {
        if (e.reason === "expired") w?.emit("session.expired", { clientId: e.clientId });
      },
      [BrokerChannel.Subscribe]: (e: BrokerEventMap["wharf:broker:subscribe"]) => {
        if (e.reasonCode >= 0x80) return;
        w?.emit("subscription.created", { clientId: e.clientId, filter: e.filter, qos: e.reasonCode });
      },
      [BrokerChannel.Unsubscribe]: (e: BrokerEventMap["wharf:broker:unsubscribe"]) => {
        if (e.reasonCode !== 0) return;
        w?.emit("subscription.removed", { clientId: e.clientId, filter: e.filter });
      },
      [BrokerChannel.PublishIn]: (e: BrokerEventMap["wharf:broker:publish-in"]) => {
        if (w?.wants("message.published")) {
          w.emit(
            "message.published",
            {
              clientId: e.clientId ?? null,
              qos: e.qos,
              retain: e.retain,
              payloadBytes: e.payloadBytes,
              matched: e.matched,
              refused: e.refused,
            },
            e.topic,
          );
        }
      },
      [BrokerChannel.Delivery]: (e: BrokerEventMap["wharf:broker:delivery"]) => {
        if (w?.wants("message.delivered")) {
          w.emit("message.delivered", { clientId: e.clientId, qos: e.qos, dup: e.dup }, e.topic);
        }
      },
      [BrokerChannel.Settlement]: (e: BrokerEventMap["wharf:broker:settlement"]) => {
        if (e.settlement.kind !== "acknowledged" || w?.wants("message.acknowledged") !== true) return;
        w.emit(
          "message.acknowledged",
          { clientId: e.clientId, qos: e.qos, reasonCode: e.settlement.reasonCode },
          e.topic,
        );
      },
      [BrokerChannel.Drop]: (e: BrokerEventMap["wharf:broker:drop"]) => {
        m?.dropped(e.reason);
        if (w?.wants("message.dropped")) {
          w.emit("message.dropped", { clientId: e.clientId ?? null, qos: e.qos, reason: e.reason }, e.topic);
        }
      },
      [BrokerChannel.DeadLettered]: (e: BrokerEventMap["wharf:broker:dead-lettered"]) => {
        m?.deadLettered(e.reason);
        w?.emit("message.dead_lettered", {
          queue: e.queue,
          dlq: e.dlq,
          reason: e.reason,
          deliveryCount: e.deliveryCount,
          group: e.group,
          messageId: e.messageId,
          payloadBytes: e.payloadBytes,
        });
      },
    } as const;
    return h[name] as (e: BrokerEventMap[K]) => void;
  }
}
