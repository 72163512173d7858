// Retained messages written behind. PersistentRetainedStore is a RetainedStore that writes through: the wrapped
// store answers every read (retained messages stay in memory for matching), and each set/delete is mirrored into
// the storage batch by RetainedMirror (one reference to the body per topic). Recovery fills the wrapped store
// directly (restore), without writing. $SYS/ topics are never written: they are regenerated every sysInterval.
import type { Storage } from "../storage/index.ts";
import type { Message } from "./message.ts";
import type { AckGate } from "./persist-acks.ts";
import type { BodyRefs } from "./persist-bodies.ts";
import type { RetainedStore } from "./retained.ts";

const SYS_RETAINED = "$SYS/";

export class RetainedMirror {
  constructor(
    private readonly storage: Storage,
    private readonly gate: AckGate,
    private readonly bodies: BodyRefs,
  ) {}

  set(msg: Message, previous: Message | undefined): void {
    if (msg.topic.startsWith(SYS_RETAINED)) return;
    try {
      this.storage.retained.set(msg.topic, this.bodies.ref(msg));
      if (previous !== undefined) this.bodies.unref(previous);
      this.gate.wrote();
    } catch (e) {
      this.gate.failed(e, "retained");
    }
  }

  deleted(topic: string, previous: Message): void {
    if (topic.startsWith(SYS_RETAINED)) return;
    try {
      if (this.storage.retained.delete(topic)) this.bodies.unref(previous);
      this.gate.wrote();
    } catch (e) {
      this.gate.failed(e, "retained");
    }
  }
}

export class PersistentRetainedStore implements RetainedStore {
  readonly #mirror: RetainedMirror;

  /** `persistence`: the Persistence (persist.ts) whose retained mirror this store writes through. */
  constructor(
    private readonly inner: RetainedStore,
    persistence: { readonly retained: RetainedMirror },
  ) {
    this.#mirror = persistence.retained;
  }

  get size(): number {
    return this.inner.size;
  }

  get(topic: string): Message | undefined {
    return this.inner.get(topic);
  }

  set(msg: Message): void {
    const previous = this.inner.get(msg.topic);
    this.inner.set(msg);
    this.#mirror.set(msg, previous);
  }

  delete(topic: string): boolean {
    const previous = this.inner.get(topic);
    if (!this.inner.delete(topic)) return false;
    if (previous !== undefined) this.#mirror.deleted(topic, previous);
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
