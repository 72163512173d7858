// Queue engine test kit: a fake clock, a recording consumer link, a memory store that survives "restarts".
import { FakeClock } from "../../../src/util/clock.ts";
import { MemoryQueueStore, QueueEngine } from "../../../src/queues/index.ts";
import type { ConsumerLink, QueueConfigEntry, QueueDelivery } from "../../../src/queues/index.ts";

export class Link implements ConsumerLink {
  readonly got: QueueDelivery[] = [];
  constructor(readonly id: string) {}
  send(d: QueueDelivery): void {
    this.got.push(d);
  }
  /** Payloads received, as strings. */
  get texts(): string[] {
    return this.got.map((d) => d.payload.toString());
  }
  take(): QueueDelivery[] {
    return this.got.splice(0);
  }
}

export function engine(config: QueueConfigEntry[] = [], store = new MemoryQueueStore(), clock = new FakeClock(0)) {
  const e = new QueueEngine({ store, clock, config, random: () => 0 });
  return { e, store, clock };
}

export function pub(e: QueueEngine, queue: string, text: string, partitionKey?: string) {
  const r = e.publish(queue, { payload: Buffer.from(text), partitionKey });
  if (!r.ok) throw new Error(`publish refused: ${r.reason}`);
  return r;
}
