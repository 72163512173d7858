// A RetainedStore that writes through to storage: the wrapped store answers every read (retained messages stay
// in memory for matching), and each set/delete is mirrored into the storage batch (persist.ts). Recovery fills
// the wrapped store directly (restore), without writing.
import type { Message } from "./message.ts";
import type { Persistence } from "./persist.ts";
import type { RetainedStore } from "./retained.ts";

export class PersistentRetainedStore implements RetainedStore {
  constructor(
    private readonly inner: RetainedStore,
    private readonly persistence: Persistence,
  ) {}

  get size(): number {
    return this.inner.size;
  }

  get(topic: string): Message | undefined {
    return this.inner.get(topic);
  }

  set(msg: Message): void {
    const previous = this.inner.get(msg.topic);
    this.inner.set(msg);
    this.persistence.retainedSet(msg, previous);
  }

  delete(topic: string): boolean {
    const previous = this.inner.get(topic);
    if (!this.inner.delete(topic)) return false;
    if (previous !== undefined) this.persistence.retainedDeleted(topic, previous);
    return true;
  }

  match(filter: string, visit: (msg: Message) => void): void {
    this.inner.match(filter, visit);
  }

  /** A retained message loaded from storage. */
  restore(msg: Message): void {
    this.inner.set(msg);
  }
}
