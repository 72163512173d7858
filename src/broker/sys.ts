// $SYS topics [MQTT-4.7.2-1 makes them invisible to "#" and "+/..." subscribers]: broker statistics published as
// retained QoS 0 messages every options.sysInterval seconds on the injectable clock, with Mosquitto's names so
// existing dashboards work. Clients cannot publish under $SYS/ (inbound.ts refuses it like an ACL deny).
import type { Clock, TimerHandle } from "../util/index.ts";
import type { BrokerStats } from "./stats.ts";
import { BROKER_NAME, BROKER_VERSION } from "./version.ts";

export const SYS_PREFIX = "$SYS/";

export function sysTopics(stats: BrokerStats): [topic: string, value: string][] {
  return [
    ["$SYS/broker/version", `${BROKER_NAME} version ${BROKER_VERSION}`],
    ["$SYS/broker/uptime", `${stats.uptime} seconds`],
    ["$SYS/broker/clients/connected", String(stats.clientsConnected)],
    ["$SYS/broker/clients/total", String(stats.clientsTotal)],
    ["$SYS/broker/clients/maximum", String(stats.clientsMaximum)],
    ["$SYS/broker/messages/received", String(stats.messagesReceived)],
    ["$SYS/broker/messages/sent", String(stats.messagesSent)],
    ["$SYS/broker/bytes/received", String(stats.bytesReceived)],
    ["$SYS/broker/bytes/sent", String(stats.bytesSent)],
    ["$SYS/broker/subscriptions/count", String(stats.subscriptions)],
    ["$SYS/broker/retained messages/count", String(stats.retained)],
    ["$SYS/broker/messages/dropped", String(stats.droppedQos0 + stats.queueRejected)],
    // Wharf's own (not Mosquitto's): the slow-consumer part of the drops, episodes, and publisher holds.
    ["$SYS/broker/messages/dropped/slow", String(stats.droppedSlow)],
    ["$SYS/broker/clients/slow", String(stats.slowConsumers)],
    ["$SYS/broker/backpressure/holds", String(stats.backpressureHolds)],
    ["$SYS/broker/store/messages/count", String(stats.queued + stats.inflight)],
  ];
}

export class SysPublisher {
  #timer: TimerHandle | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly intervalSeconds: number,
    private readonly stats: () => BrokerStats,
    private readonly publish: (topic: string, value: string) => void,
    /** More topics published with the statistics (durable queues: queue-bridge.ts queueSysTopics). */
    private readonly extra?: () => [topic: string, value: string][],
  ) {}

  /** Publishes once now (so the retained values exist from the start), then every interval. */
  start(): void {
    if (this.intervalSeconds <= 0 || this.#timer !== undefined) return;
    this.publishNow();
    this.#timer = this.clock.setInterval(() => this.publishNow(), this.intervalSeconds * 1000);
  }

  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /** Sources of more topics added later (the server's listeners: listenerSysTopics in src/server). */
  readonly #sources: (() => [topic: string, value: string][])[] = [];

  /** Adds a source; when publishing is on, its topics go out at once too (not only from the next interval). */
  addSource(source: () => [topic: string, value: string][]): void {
    this.#sources.push(source);
    if (this.#timer !== undefined) for (const [topic, value] of source()) this.publish(topic, value);
  }

  publishNow(): void {
    for (const [topic, value] of sysTopics(this.stats())) this.publish(topic, value);
    if (this.extra !== undefined) for (const [topic, value] of this.extra()) this.publish(topic, value);
    for (const source of this.#sources) for (const [topic, value] of source()) this.publish(topic, value);
  }
}
