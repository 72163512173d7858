// Message bodies and their reference counts (the `messages` concern). A body is stored once and referenced by
// session queue and inflight entries, retained entries and queue log entries; it is written with its first
// reference and deleted with its last, in the same batch — hence the same transaction — as the references.
// Counts live in memory while the store is open and are written once per batch for each body whose count
// changed, so a fan-out to N sessions costs one count write. A count of 1 is not written at all (no `ref` record
// means 1): a durable queue's message (one log entry) or a message queued for one session then costs two puts
// instead of three, and a restart with 1 M queued messages reads no count records.
import type { EngineHost } from "./engine-state.ts";
import type { RefCounts } from "./ref-counts.ts";
import { Space } from "./keys.ts";
import { decodeMessage, encodeMessage } from "./records.ts";
import type { MessageStore } from "./storage.ts";
import type { MessageId, StoredMessage } from "./types.ts";
import { checkQos, invalid } from "./validate.ts";

export class MessageRefs implements MessageStore {
  readonly #h: EngineHost;
  /** Referenced, written bodies → live reference count. */
  readonly #refs: RefCounts;
  /** Stored, not yet referenced bodies (encoded), written with their first reference. */
  readonly #floating = new Map<MessageId, Record<string, unknown>>();
  /** Bodies whose count changed since the last batch was cut. */
  readonly #dirty = new Set<MessageId>();
  /** Bodies stored and released within the batch now pending: no count write either. */
  readonly #vanished = new Set<MessageId>();
  /** Bodies with a stored count record (written or pending): counts other than 1, and records of older stores. */
  readonly #counted: Set<MessageId>;
  #nextId: MessageId;

  constructor(host: EngineHost, refs: RefCounts, nextId: MessageId, counted: Set<MessageId>) {
    this.#h = host;
    this.#refs = refs;
    this.#nextId = nextId;
    this.#counted = counted;
  }

  /** The id the next store() gets (ids are never reused, across restarts too: the snapshot records it). */
  get nextId(): MessageId {
    return this.#nextId;
  }

  store(message: StoredMessage): MessageId {
    this.#h.check();
    checkQos(message.qos, "message");
    const id = this.#nextId++;
    this.#floating.set(id, encodeMessage(message));
    return id;
  }

  get(id: MessageId): StoredMessage | undefined {
    this.#h.check();
    const raw = this.#h.kv.get(Space.Message, ["", id]);
    return raw === undefined ? undefined : decodeMessage(raw);
  }

  /** Adds a reference; throws STORAGE_INVALID_ARGUMENT for a body that is not stored, before any change. */
  incref(id: MessageId): void {
    const n = this.#refs.get(id);
    if (n === undefined) {
      const body = this.#floating.get(id);
      if (body === undefined) {
        throw invalid(
          `message ${id} is not stored (never stored, released at a commit while unreferenced, or deleted)`,
        );
      }
      this.#floating.delete(id);
      this.#h.elider.put(Space.Message, ["", id], body, true); // ids are never reused: a fresh key
      this.#refs.set(id, 1);
    } else this.#refs.set(id, n + 1);
    this.#dirty.add(id);
  }

  decref(id: MessageId): void {
    const n = this.#refs.get(id);
    if (n === undefined) return;
    if (n <= 1) {
      this.#refs.delete(id);
      if (this.#h.elider.remove(Space.Message, ["", id])) this.#vanished.add(id);
    } else this.#refs.set(id, n - 1);
    this.#dirty.add(id);
  }

  /** Bodies stored and never referenced are dropped at a commit (the contract of store()). */
  dropFloating(): void {
    // Called at every commit() (one per acknowledgement): Map.clear() allocates a fresh table even when empty.
    if (this.#floating.size > 0) this.#floating.clear();
  }

  /** Right before a batch is cut: one count write per body whose count changed (none for a count of 1). */
  writeCounts(): void {
    for (const id of this.#dirty) {
      if (this.#vanished.has(id)) continue; // stored and released within this batch: its count was never written
      const n = this.#refs.get(id);
      if (n !== undefined && n > 1) {
        this.#h.put(Space.Refcount, ["", id], n);
        this.#counted.add(id);
      } else if (this.#counted.delete(id)) this.#h.remove(Space.Refcount, ["", id]); // gone, or back to 1
    }
    // clear() allocates a fresh table even when empty (once per batch here).
    if (this.#dirty.size > 0) this.#dirty.clear();
    if (this.#vanished.size > 0) this.#vanished.clear();
  }
}
