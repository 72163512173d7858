// Subscription interest: which filters (and shared groups) have subscribers on which node. Each node counts its own
// (LocalInterest: a filter is announced when its first local session subscribes and withdrawn when its last one
// goes) and indexes the others' (RemoteInterest, by the same subscription index the broker routes with), so a
// publish is forwarded only to nodes with a matching subscription, once per node, never broadcast.
import { SubscriptionIndex } from "../../topics/index.ts";
import type { InterestSnapshot } from "./frame-types.ts";

/** `$share/<group>/<filter>` -> `<filter>`, or undefined when not a shared filter. */
export function shareFilterTopic(shareFilter: string): string | undefined {
  if (!shareFilter.startsWith("$share/")) return undefined;
  const slash = shareFilter.indexOf("/", 7);
  return slash === -1 ? undefined : shareFilter.slice(slash + 1);
}

export class LocalInterest {
  readonly #filters = new Map<string, Set<string>>();
  readonly #shared = new Map<string, Set<string>>();

  /** True when `filter` had no subscriber here before. */
  add(shared: boolean, filter: string, clientId: string): boolean {
    const map = shared ? this.#shared : this.#filters;
    let set = map.get(filter);
    if (set === undefined) map.set(filter, (set = new Set()));
    const first = set.size === 0;
    set.add(clientId);
    return first;
  }

  /** True when `filter` has no subscriber here any more. */
  remove(shared: boolean, filter: string, clientId: string): boolean {
    const map = shared ? this.#shared : this.#filters;
    const set = map.get(filter);
    if (set === undefined || !set.delete(clientId)) return false;
    if (set.size > 0) return false;
    map.delete(filter);
    return true;
  }

  snapshot(): InterestSnapshot {
    return { f: [...this.#filters.keys()], s: [...this.#shared.keys()] };
  }
}

const NO_NODES: ReadonlySet<string> = new Set();
const NO_GROUPS: ReadonlyMap<string, string[]> = new Map();
const NODES_CACHE_SIZE = 1024;

export class RemoteInterest {
  /** Ordinary filters, key = node id. */
  readonly #filters = new SubscriptionIndex<string>();
  /** Shared groups by their topic filter, key = node id + "\n" + `$share/<g>/<filter>`. */
  readonly #shared = new SubscriptionIndex<{ node: string; group: string }>();
  readonly #sharedOf = new Map<string, Set<string>>();
  /**
   * nodesFor() answers per topic while the filters are unchanged (the index's version): a publisher sends to the
   * same topics again and again, and the walk plus a new Set per message was 10 % of a forwarding node's CPU.
   * Cleared when the filters change or when it holds NODES_CACHE_SIZE topics.
   */
  readonly #nodesCache = new Map<string, ReadonlySet<string>>();
  #nodesVersion = -1;

  get empty(): boolean {
    return this.#filters.size === 0 && this.#shared.size === 0;
  }

  get filterCount(): number {
    return this.#filters.size;
  }

  get sharedCount(): number {
    return this.#shared.size;
  }

  /** Replaces everything known about `node`. Invalid filters (a newer peer's syntax) are skipped. */
  sync(node: string, snap: InterestSnapshot): void {
    this.dropNode(node);
    for (const f of snap.f) this.add(node, false, f);
    for (const s of snap.s) this.add(node, true, s);
  }

  add(node: string, shared: boolean, filter: string): void {
    try {
      if (!shared) {
        this.#filters.add(filter, node, node);
        return;
      }
      const topic = shareFilterTopic(filter);
      if (topic === undefined) return;
      this.#shared.add(topic, `${node}\n${filter}`, { node, group: filter });
      let set = this.#sharedOf.get(node);
      if (set === undefined) this.#sharedOf.set(node, (set = new Set()));
      set.add(filter);
    } catch {
      // not a filter this version understands: no route
    }
  }

  remove(node: string, shared: boolean, filter: string): void {
    if (!shared) {
      this.#filters.remove(filter, node);
      return;
    }
    const topic = shareFilterTopic(filter);
    if (topic === undefined) return;
    this.#shared.remove(topic, `${node}\n${filter}`);
    this.#sharedOf.get(node)?.delete(filter);
  }

  dropNode(node: string): void {
    this.#filters.removeKey(node);
    for (const g of this.#sharedOf.get(node) ?? []) {
      const topic = shareFilterTopic(g);
      if (topic !== undefined) this.#shared.remove(topic, `${node}\n${g}`);
    }
    this.#sharedOf.delete(node);
  }

  /** Nodes with an ordinary subscription matching `topic` (each once). Shared: do not modify. */
  nodesFor(topic: string): ReadonlySet<string> {
    if (this.#filters.size === 0) return NO_NODES;
    if (this.#nodesVersion !== this.#filters.version) {
      this.#nodesCache.clear();
      this.#nodesVersion = this.#filters.version;
    }
    const cached = this.#nodesCache.get(topic);
    if (cached !== undefined) return cached;
    const out = new Set<string>();
    this.#filters.match(topic, (node) => void out.add(node));
    if (this.#nodesCache.size >= NODES_CACHE_SIZE) this.#nodesCache.clear();
    this.#nodesCache.set(topic, out);
    return out;
  }

  /** Shared groups matching `topic` -> the nodes with members of each. Shared when empty: do not modify. */
  sharedFor(topic: string): ReadonlyMap<string, string[]> {
    if (this.#shared.size === 0) return NO_GROUPS;
    const out = new Map<string, string[]>();
    this.#shared.match(topic, (_key, v) => {
      const nodes = out.get(v.group);
      if (nodes === undefined) out.set(v.group, [v.node]);
      else nodes.push(v.node);
    });
    return out;
  }

  /** What is known of `node` (admin, tests). */
  of(node: string): InterestSnapshot {
    return { f: this.#filters.filtersOf(node), s: [...(this.#sharedOf.get(node) ?? [])] };
  }
}
