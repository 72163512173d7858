// The `retained` concern: topic → reference to a stored body, one entry per topic.
import type { EngineHost } from "./engine-state.ts";
import { corruptError } from "./errors.ts";
import { Space, keyText } from "./keys.ts";
import { CorruptRecordError, decodeRetained } from "./records.ts";
import type { MessageRefs } from "./refs.ts";
import type { RetainedStorage } from "./storage.ts";
import type { MessageId, RetainedEntry } from "./types.ts";

export class EngineRetained implements RetainedStorage {
  readonly #h: EngineHost;
  readonly #refs: MessageRefs;
  /** keyText(topic) → body. */
  readonly #topics: Map<string, MessageId>;

  constructor(host: EngineHost, refs: MessageRefs, topics: Map<string, MessageId>) {
    this.#h = host;
    this.#refs = refs;
    this.#topics = topics;
  }

  get size(): number {
    return this.#topics.size;
  }

  set(topic: string, messageId: MessageId): void {
    this.#h.check();
    const k = keyText(topic);
    const old = this.#topics.get(k);
    this.#refs.incref(messageId); // first: throws for an unknown message before anything changes
    if (old !== undefined) this.#refs.decref(old);
    this.#topics.set(k, messageId);
    this.#h.put(Space.Retained, ["", k], { t: topic, m: messageId });
  }

  delete(topic: string): boolean {
    this.#h.check();
    const k = keyText(topic);
    const old = this.#topics.get(k);
    if (old === undefined) return false;
    this.#topics.delete(k);
    this.#h.remove(Space.Retained, ["", k]);
    this.#refs.decref(old);
    return true;
  }

  *entries(): Generator<RetainedEntry, void, undefined> {
    this.#h.check();
    // A lazy range scan: one entry decoded at a time.
    for (const { value } of this.#h.kv.group(Space.Retained, "")) {
      let entry: RetainedEntry;
      try {
        entry = decodeRetained(value);
      } catch (err) {
        if (err instanceof CorruptRecordError) throw corruptError(this.#h.path, err.message, err);
        throw err;
      }
      yield entry;
    }
  }
}
