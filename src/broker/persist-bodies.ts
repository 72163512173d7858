// The broker's side of message reference counts. A body is stored once, however many sessions and retained
// entries hold it: each routed Message maps to its storage id and the number of references this mirror created
// (queue, inflight, retained), which mirrors the storage layer's own count — so a body is stored again, never
// re-referenced, after its last reference went away (storage deletes it then).
import type { MessageId, Storage } from "../storage/index.ts";
import type { Message } from "./message.ts";
import { messageToStored } from "./stored.ts";

interface StoredRef {
  readonly id: MessageId;
  refs: number;
}

export class BodyRefs {
  readonly #messages = new Map<Message, StoredRef>();

  constructor(private readonly storage: Storage) {}

  /** Bodies currently referenced (tests, stats). */
  get size(): number {
    return this.#messages.size;
  }

  /** The body's storage id for one more reference: stored now if it has none (store and reference in one step). */
  ref(msg: Message): MessageId {
    let ref = this.#messages.get(msg);
    if (ref === undefined) {
      ref = { id: this.storage.messages.store(messageToStored(msg)), refs: 0 };
      this.#messages.set(msg, ref);
    }
    ref.refs++;
    return ref.id;
  }

  /** The storage id of a body that is referenced already (a queue entry becoming an inflight entry). */
  idOf(msg: Message): MessageId | undefined {
    return this.#messages.get(msg)?.id;
  }

  /** A reference went away (storage released it in the same call). */
  unref(msg: Message): void {
    const ref = this.#messages.get(msg);
    if (ref !== undefined && --ref.refs <= 0) this.#messages.delete(msg);
  }

  /** Recovery: a body loaded from storage gained one reference held in memory. */
  adopt(msg: Message, id: MessageId): void {
    const ref = this.#messages.get(msg);
    if (ref === undefined) this.#messages.set(msg, { id, refs: 1 });
    else ref.refs++;
  }
}
