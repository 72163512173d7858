// In-memory backend: nested maps, nothing survives the process. A MemoryKv outlives the storage instances opened
// on it, so tests can close and reopen a store "on the same disk".
import type { Key, KeyId, SpaceName } from "./keys.ts";
import { compareIds, isRemove } from "./kv.ts";
import type { KvBackend, KvEntry, KvOp } from "./kv.ts";

interface Group {
  readonly ids: Map<KeyId, unknown>;
  /** Insertion order is id order as long as every new id was the largest so far (appends: queues, logs). */
  sorted: boolean;
  max: KeyId | undefined;
}

/** Copy of a stored value, so readers cannot change the store. Buffers are shared: stored bytes are immutable. */
function copy(v: unknown): unknown {
  if (typeof v !== "object" || v === null || Buffer.isBuffer(v)) return v;
  if (Array.isArray(v)) return v.map(copy);
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = copy(x);
  return out;
}

export class MemoryKv implements KvBackend {
  readonly kind = "memory";
  readonly #spaces = new Map<SpaceName, Map<string, Group>>();
  #generation = 0;

  write(ops: readonly KvOp[]): Promise<void> {
    this.#generation++;
    for (const op of ops) {
      if (isRemove(op)) this.#remove(op.space, op.key);
      else this.#put(op.space, op.key, op.value);
    }
    return Promise.resolve();
  }

  sync(): Promise<void> {
    return Promise.resolve();
  }

  get(space: SpaceName, key: Key): unknown {
    return copy(this.#spaces.get(space)?.get(key[0])?.ids.get(key[1]));
  }

  range(space: SpaceName, group: string, from: number, limit = Infinity): KvEntry[] {
    const g = this.#spaces.get(space)?.get(group);
    const out: KvEntry[] = [];
    if (g === undefined || limit <= 0) return out;
    let ids: Iterable<KeyId> = g.ids.keys();
    if (!g.sorted) ids = [...g.ids.keys()].sort(compareIds);
    for (const id of ids) {
      if (typeof id !== "number" || id < from) continue;
      out.push({ key: [group, id], value: copy(g.ids.get(id)) });
      if (out.length >= limit) break;
    }
    return out;
  }

  *group(space: SpaceName, group: string): Iterable<KvEntry> {
    const g = this.#spaces.get(space)?.get(group);
    if (g === undefined) return;
    const ids = g.sorted ? [...g.ids.keys()] : [...g.ids.keys()].sort(compareIds);
    for (const id of ids) yield { key: [group, id], value: copy(g.ids.get(id)) };
  }

  lastId(space: SpaceName, group: string): number | undefined {
    let last: number | undefined;
    for (const id of this.#spaces.get(space)?.get(group)?.ids.keys() ?? []) {
      if (typeof id === "number" && (last === undefined || id > last)) last = id;
    }
    return last;
  }

  *entries(space: SpaceName): Iterable<KvEntry> {
    for (const key of this.keys(space)) yield { key, value: this.get(space, key) };
  }

  *keys(space: SpaceName): Iterable<Key> {
    for (const [group, g] of this.#spaces.get(space) ?? []) {
      const ids = g.sorted ? [...g.ids.keys()] : [...g.ids.keys()].sort(compareIds);
      for (const id of ids) yield [group, id];
    }
  }

  count(space: SpaceName): number {
    let n = 0;
    for (const g of this.#spaces.get(space)?.values() ?? []) n += g.ids.size;
    return n;
  }

  generation(): number {
    return this.#generation;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  #put(space: SpaceName, [group, id]: Key, value: unknown): void {
    let groups = this.#spaces.get(space);
    if (groups === undefined) this.#spaces.set(space, (groups = new Map<string, Group>()));
    let g = groups.get(group);
    if (g === undefined) groups.set(group, (g = { ids: new Map<KeyId, unknown>(), sorted: true, max: undefined }));
    if (!g.ids.has(id)) {
      if (g.max !== undefined && compareIds(id, g.max) < 0) g.sorted = false;
      else g.max = id;
    }
    g.ids.set(id, value);
  }

  #remove(space: SpaceName, [group, id]: Key): void {
    const groups = this.#spaces.get(space);
    const g = groups?.get(group);
    if (g === undefined || !g.ids.delete(id)) return;
    if (g.ids.size === 0) groups?.delete(group);
  }
}
