// Durable queue logs over the engine's batch: entries [queue, seq] with dense seqs, so appends are one put,
// reads are one ordered range scan, and deleting an acknowledged prefix is one delete per entry plus the new
// floor, with no scan (the engine knows the range).
import type { LogState } from "./engine-state.ts";
import { Space, keyText } from "./keys.ts";
import type { Key, SpaceName } from "./keys.ts";
import type { KvBackend } from "./kv.ts";
import { decodeLogEntry, encodeMessage } from "./records.ts";
import type { QueueLog } from "./storage.ts";
import type { QueueLogEntry, QueueLogInfo, StoredMessage } from "./types.ts";

export interface QueueLogHost {
  logs(): Map<string, LogState>;
  kv: KvBackend;
  push(space: SpaceName, key: Key, value: unknown): void;
  remove(space: SpaceName, key: Key): void;
  now(): number;
  check(): void;
}

export class EngineQueueLog implements QueueLog {
  readonly #h: QueueLogHost;

  constructor(host: QueueLogHost) {
    this.#h = host;
  }

  #state(queue: string, create: boolean): LogState | undefined {
    this.#h.check();
    const key = keyText(queue);
    const logs = this.#h.logs();
    let st = logs.get(key);
    if (st === undefined && create) {
      logs.set(key, (st = { name: queue, key, floor: 0, next: 1 }));
      this.#writeMeta(st);
    }
    return st;
  }

  #writeMeta(st: LogState): void {
    this.#h.push(Space.QueueMeta, ["", st.key], { n: st.name, f: st.floor });
  }

  append(queue: string, message: StoredMessage): number {
    const st = this.#state(queue, true)!;
    const seq = st.next++;
    this.#h.push(Space.QueueLog, [st.key, seq], { m: encodeMessage(message), at: this.#h.now() });
    return seq;
  }

  read(queue: string, fromSeq: number, limit: number): QueueLogEntry[] {
    this.#h.check();
    return this.#h.kv.range(Space.QueueLog, keyText(queue), fromSeq, limit).map((e) => ({
      seq: Number(e.key[1]),
      ...decodeLogEntry(e.value),
    }));
  }

  deleteUpTo(queue: string, seq: number): void {
    const st = this.#state(queue, false);
    if (st === undefined) return;
    const upTo = Math.min(Math.floor(seq), st.next - 1);
    if (upTo <= st.floor) return;
    for (let s = st.floor + 1; s <= upTo; s++) this.#h.remove(Space.QueueLog, [st.key, s]);
    st.floor = upTo;
    this.#writeMeta(st);
  }

  length(queue: string): number {
    const st = this.#state(queue, false);
    return st === undefined ? 0 : st.next - 1 - st.floor;
  }

  list(): QueueLogInfo[] {
    this.#h.check();
    return [...this.#h.logs().values()].map((st) => ({
      name: st.name,
      firstSeq: st.floor + 1,
      nextSeq: st.next,
      length: st.next - 1 - st.floor,
    }));
  }

  drop(queue: string): void {
    const st = this.#state(queue, false);
    if (st === undefined) return;
    for (let s = st.floor + 1; s < st.next; s++) this.#h.remove(Space.QueueLog, [st.key, s]);
    this.#h.remove(Space.QueueMeta, ["", st.key]);
    this.#h.logs().delete(st.key);
  }
}
