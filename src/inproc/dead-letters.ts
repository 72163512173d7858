// Dead letters: messages an in-process subscriber rejected, or that kept failing past maxDeliveries. Each is
// published (QoS 1, not retained) on `$DLQ/<original topic>` with its payload and properties plus user properties
// saying what happened, so in-process and MQTT subscribers of `$DLQ/#` receive them (a `$` topic is never matched
// by a filter starting with a wildcard [MQTT-4.7.2-1], so `#` subscribers do not see them).
import type { BrokerCore } from "../broker/core.ts";
import { createMessage } from "../broker/message.ts";
import type { Held } from "./received.ts";

export const DEAD_LETTER_PREFIX = "$DLQ/";
/** User properties of a dead letter. */
export const DeadLetterProperty = {
  Topic: "dlq-topic",
  Reason: "dlq-reason",
  DeliveryCount: "dlq-delivery-count",
  Time: "dlq-time",
} as const;

export interface DeadLetterStats {
  /** Dead letters since start. */
  total: number;
  /** Counts by original topic. */
  byTopic: Record<string, number>;
  /** Counts by reason (the text before the first ";"). */
  byReason: Record<string, number>;
  /** Broker-clock time of the last one (ms), or undefined. */
  lastAt: number | undefined;
}

export class DeadLetters {
  #total = 0;
  readonly #byTopic = new Map<string, number>();
  readonly #byReason = new Map<string, number>();
  #lastAt: number | undefined = undefined;

  constructor(private readonly core: BrokerCore) {}

  /** The topic a dead letter of `topic` is published on. */
  topicFor(topic: string): string {
    return `${DEAD_LETTER_PREFIX}${topic}`;
  }

  add(r: Held, reason: string): void {
    const now = this.core.clock.now();
    const original = r.msg;
    const ups = [
      ...(original.properties?.userProperties ?? []),
      [DeadLetterProperty.Topic, original.topic],
      [DeadLetterProperty.Reason, reason],
      [DeadLetterProperty.DeliveryCount, String(r.deliveryCount)],
      [DeadLetterProperty.Time, new Date(now).toISOString()],
    ] as const;
    const msg = createMessage(
      {
        topic: this.topicFor(original.topic),
        payload: original.payload,
        qos: 1,
        retain: false,
        properties: { ...original.properties, userProperties: [...ups] },
      },
      now,
    );
    this.#total++;
    this.#lastAt = now;
    this.#byTopic.set(original.topic, (this.#byTopic.get(original.topic) ?? 0) + 1);
    const key = reason.split(";")[0]!;
    this.#byReason.set(key, (this.#byReason.get(key) ?? 0) + 1);
    this.core.publishMessage(msg);
  }

  stats(): DeadLetterStats {
    return {
      total: this.#total,
      byTopic: Object.fromEntries(this.#byTopic),
      byReason: Object.fromEntries(this.#byReason),
      lastAt: this.#lastAt,
    };
  }
}
