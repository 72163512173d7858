// Retained messages [MQTT-3.3.1-5]: one per topic, replaced by each retained PUBLISH, deleted by a retained
// PUBLISH with an empty payload [MQTT-3.3.1-10] (which is never stored itself [MQTT-3.3.1-11]). Retained messages
// are not session state and survive sessions ending [MQTT-3.1.2.7].
//
// RetainedStore is the seam for other stores (BrokerDeps.retained); the in-memory store below is the default. With
// storage configured, retained-persist.ts wraps whichever store is used and mirrors every change into storage.
import { hasWildcard, topicMatches } from "../topics/index.ts";
import type { Message } from "./message.ts";

export interface RetainedStore {
  readonly size: number;
  get(topic: string): Message | undefined;
  set(msg: Message): void;
  delete(topic: string): boolean;
  /** Calls visit for each retained message whose topic matches the filter ($-rule included [MQTT-4.7.2-1]). */
  match(filter: string, visit: (msg: Message) => void): void;
}

/** The filter's leading literal levels, e.g. "a/b/" for "a/b/+/c": topics not starting with it cannot match. */
function literalPrefix(filter: string): string {
  const plus = filter.indexOf("+");
  const hash = filter.indexOf("#");
  let end = plus === -1 ? hash : hash === -1 ? plus : Math.min(plus, hash);
  if (end === -1) end = filter.length;
  return filter.slice(0, end);
}

export class MemoryRetainedStore implements RetainedStore {
  readonly #byTopic = new Map<string, Message>();

  get size(): number {
    return this.#byTopic.size;
  }

  get(topic: string): Message | undefined {
    return this.#byTopic.get(topic);
  }

  set(msg: Message): void {
    this.#byTopic.set(msg.topic, msg);
  }

  delete(topic: string): boolean {
    return this.#byTopic.delete(topic);
  }

  match(filter: string, visit: (msg: Message) => void): void {
    if (!hasWildcard(filter)) {
      const msg = this.#byTopic.get(filter);
      if (msg !== undefined) visit(msg);
      return;
    }
    // A linear scan with a cheap prefix test. Fine for thousands of retained topics; a topic trie can replace it
    // behind this interface if subscribe-time cost with very many retained messages ever matters.
    const prefix = literalPrefix(filter);
    for (const [topic, msg] of this.#byTopic) {
      if (topic.startsWith(prefix) && topicMatches(filter, topic)) visit(msg);
    }
  }
}
