// Subscription index: which (filter, subscriber key) pairs match a topic, in time independent of the number of
// unrelated subscriptions.
import { MatchCache, type CachedMatch } from "./match-cache.ts";
import { TombstoneMap } from "./tombstone-map.ts";
import { validateTopicFilter } from "./validate.ts";

/**
 * One trie node per filter level. A node's path from the root spells a filter; the entries of that filter (one per
 * subscriber key) live on the node in parallel arrays so that match() iterates them without allocating, with a
 * key -> slot map for O(1) replace and swap-remove.
 */
class TrieNode<V> {
  /** Literal child levels ("" for an empty level). Created on first use: most nodes are leaves. */
  children: TombstoneMap<string, TrieNode<V>> | undefined = undefined;
  /** The '+' child. */
  plus: TrieNode<V> | undefined = undefined;
  /** The '#' child: always a leaf. */
  hash: TrieNode<V> | undefined = undefined;
  /** The filter this node spells; "" until the node first holds entries. */
  filter = "";
  keys: string[] = [];
  values: V[] = [];
  slots: TombstoneMap<string, number> | undefined = undefined;

  constructor(
    readonly parent: TrieNode<V> | undefined,
    /** This node's level in its parent: a literal level, "+" or "#" (filters are validated, so never ambiguous). */
    readonly level: string,
  ) {}

  isEmpty(): boolean {
    return this.keys.length === 0 && this.children === undefined && this.plus === undefined && this.hash === undefined;
  }
}

export interface SubscriptionIndexOptions {
  /**
   * Number of topics whose match results are cached (0, the default, disables the cache). Every add/remove clears
   * it. It pays only for a small stable set of hot topics and costs several times more otherwise: see the numbers
   * in match-cache.ts before enabling it.
   */
  readonly cacheSize?: number;
}

export type MatchVisitor<V> = (key: string, value: V, filter: string) => void;

/**
 * Filter -> (subscriber key -> value). Filters are plain topic filters (the broker strips `$share/<group>/` and
 * uses a key such as "$share/<group>" for the group); values are opaque to the index.
 *
 * The index is a trie by topic level with separate '+' and '#' children. match() walks only the nodes whose path
 * can match the topic, i.e. at most (number of topic levels + 1) nodes per distinct '+'/literal path, so its cost
 * does not grow with unrelated subscriptions. Empty nodes are removed on remove, so churn does not leak memory.
 */
export class SubscriptionIndex<V> {
  readonly #root = new TrieNode<V>(undefined, "");
  /** Nodes holding entries, by filter: O(1) add/remove/get without walking the trie. */
  readonly #byFilter = new TombstoneMap<string, TrieNode<V>>();
  /** Filters of each key, for filtersOf/removeKey (session cleanup). */
  readonly #byKey = new TombstoneMap<string, Set<string>>();
  #size = 0;
  #version = 0;
  #nodeCount = 0;
  #visited = 0;
  #matching = 0;
  readonly #cache: MatchCache<V> | undefined;
  /** The match walk's stack, reused across calls (see #walkTopic). */
  readonly #stackNodes: (TrieNode<V> | undefined)[] = [];
  readonly #stackStarts: number[] = [];
  /** Reused by cache misses to collect a result without a closure per call. */
  readonly #scratch: CachedMatch<V> = { keys: [], values: [], filters: [] };
  readonly #collect: MatchVisitor<V> = (key, value, filter) => {
    this.#scratch.keys.push(key);
    this.#scratch.values.push(value);
    this.#scratch.filters.push(filter);
  };

  constructor(options: SubscriptionIndexOptions = {}) {
    const cacheSize = Math.max(0, Math.floor(options.cacheSize ?? 0));
    this.#cache = cacheSize > 0 ? new MatchCache<V>(cacheSize) : undefined;
  }

  /** Number of (filter, key) entries. */
  get size(): number {
    return this.#size;
  }

  /**
   * Changes on every add, replace and remove: a caller caching match results (the broker's route cache) keeps them
   * only while it is unchanged.
   */
  get version(): number {
    return this.#version;
  }

  /** Number of trie nodes, root excluded (0 when empty): lets tests check that removal frees nodes. */
  get nodeCount(): number {
    return this.#nodeCount;
  }

  /**
   * Total trie nodes entered by match() since the index was created (cache hits enter none). For tests and
   * benchmarks: the difference across one match() is the work that match did.
   */
  get visitedNodes(): number {
    return this.#visited;
  }

  /** Number of topics currently in the match cache. */
  get cachedTopics(): number {
    return this.#cache?.size ?? 0;
  }

  /**
   * Adds or replaces the value of (filter, key); returns true if the pair was new. Throws a TopicError for an
   * invalid filter [MQTT-4.7.1-2] [MQTT-4.7.1-3] and an Error if called from inside a match() visitor.
   */
  add(filter: string, key: string, value: V): boolean {
    this.#assertNotMatching("add");
    let node = this.#byFilter.get(filter);
    if (node === undefined) {
      validateTopicFilter(filter);
      node = this.#insertPath(filter);
      node.filter = filter;
      this.#byFilter.set(filter, node);
    }
    this.#invalidate();
    const slots = (node.slots ??= new TombstoneMap<string, number>());
    const slot = slots.get(key);
    if (slot !== undefined) {
      node.values[slot] = value;
      return false;
    }
    slots.set(key, node.keys.length);
    node.keys.push(key);
    node.values.push(value);
    this.#size++;
    let filters = this.#byKey.get(key);
    if (filters === undefined) this.#byKey.set(key, (filters = new Set()));
    filters.add(filter);
    return true;
  }

  /** Removes (filter, key); returns true if it existed. Throws if called from inside a match() visitor. */
  remove(filter: string, key: string): boolean {
    this.#assertNotMatching("remove");
    const node = this.#byFilter.get(filter);
    const slot = node?.slots?.get(key);
    if (node === undefined || slot === undefined) return false;
    this.#invalidate();
    // Swap-remove: move the last entry into the freed slot.
    const slots = node.slots!;
    const last = node.keys.length - 1;
    if (slot !== last) {
      const movedKey = node.keys[last]!;
      node.keys[slot] = movedKey;
      node.values[slot] = node.values[last]!;
      slots.set(movedKey, slot);
    }
    node.keys.pop();
    node.values.pop();
    slots.delete(key);
    this.#size--;
    const filters = this.#byKey.get(key);
    if (filters !== undefined) {
      filters.delete(filter);
      if (filters.size === 0) this.#byKey.delete(key);
    }
    if (node.keys.length === 0) {
      node.slots = undefined;
      node.filter = "";
      this.#byFilter.delete(filter);
      this.#prune(node);
    }
    return true;
  }

  /** The value of (filter, key), if subscribed. */
  get(filter: string, key: string): V | undefined {
    const node = this.#byFilter.get(filter);
    const slot = node?.slots?.get(key);
    return slot === undefined ? undefined : node!.values[slot];
  }

  /** The filters a key is subscribed with (a fresh array). */
  filtersOf(key: string): string[] {
    const filters = this.#byKey.get(key);
    return filters === undefined ? [] : [...filters];
  }

  /** Removes every entry of a key; returns how many there were. */
  removeKey(key: string): number {
    const filters = this.#byKey.get(key);
    if (filters === undefined) return 0;
    let n = 0;
    for (const filter of [...filters]) if (this.remove(filter, key)) n++;
    return n;
  }

  /**
   * Calls `visit` once per (filter, key) whose filter matches `topic` (a valid Topic Name), in no particular order.
   * Allocates only the level strings it looks up in nodes with literal children (nothing on a cache hit).
   *
   * The visitor MUST NOT add or remove entries of this index (it would corrupt the walk): collect what to change
   * and apply it after match() returns. add/remove/removeKey throw if called during a visit. Calling match()
   * again from a visitor is fine.
   */
  match(topic: string, visit: MatchVisitor<V>): void {
    this.#matching++;
    try {
      if (this.#cache !== undefined) {
        this.#matchCached(this.#cache, topic, visit);
      } else {
        this.#walkTopic(topic, visit);
      }
    } finally {
      this.#matching--;
    }
  }

  /** Every matching (filter, key, value), as a fresh array. Convenient for tests and cold paths. */
  matchAll(topic: string): { filter: string; key: string; value: V }[] {
    const out: { filter: string; key: string; value: V }[] = [];
    this.match(topic, (key, value, filter) => out.push({ filter, key, value }));
    return out;
  }

  /**
   * Depth-first walk with an explicit stack, not recursion: a client may subscribe to a filter of thousands of
   * levels ("+/+/+/...", still a valid filter) and a recursive walk of a topic that deep overflows the call stack.
   * Each stack entry is a node and `start`: where the next unconsumed topic level begins, or -1 once every level is
   * consumed (a topic ending in '/' has a last, empty level, so "past the end" and "an empty level" must differ).
   * Levels are sliced only where a node has literal children; no level array is allocated.
   */
  #walkTopic(topic: string, visit: MatchVisitor<V>): void {
    // A visitor may call match() again (it must not mutate): nested walks get their own stack.
    const reentrant = this.#matching > 1;
    const nodes = reentrant ? [] : this.#stackNodes;
    const starts = reentrant ? [] : this.#stackStarts;
    const root = this.#root;
    this.#visited++;
    const end = topic.indexOf("/");
    const next = end === -1 ? -1 : end + 1;
    let sp = 0;
    // [MQTT-4.7.2-1] Filters starting with a wildcard do not match topics starting with '$' (e.g. $SYS/...).
    if (topic.charCodeAt(0) !== 0x24 /* $ */) {
      if (root.hash !== undefined) this.#emit(root.hash, visit);
      if (root.plus !== undefined) {
        nodes[sp] = root.plus;
        starts[sp++] = next;
      }
    }
    if (root.children !== undefined) {
      const child = root.children.get(end === -1 ? topic : topic.slice(0, end));
      if (child !== undefined) {
        nodes[sp] = child;
        starts[sp++] = next;
      }
    }
    while (sp > 0) {
      sp--;
      let node = nodes[sp]!;
      let start = starts[sp]!;
      nodes[sp] = undefined; // do not keep removed nodes alive through the reused stack
      // Follow the literal path in place; only '+' branches go through the stack.
      for (;;) {
        this.#visited++;
        // '#' also matches the parent level: "a/#" matches "a" [MQTT-4.7.1-2].
        if (node.hash !== undefined) this.#emit(node.hash, visit);
        if (start === -1) {
          this.#emitEntries(node, visit);
          break;
        }
        const children = node.children;
        if (children === undefined && node.plus === undefined) break;
        const e = topic.indexOf("/", start);
        const n = e === -1 ? -1 : e + 1;
        if (node.plus !== undefined) {
          nodes[sp] = node.plus;
          starts[sp++] = n;
        }
        if (children === undefined) break;
        const child = children.get(e === -1 ? topic.slice(start) : topic.slice(start, e));
        if (child === undefined) break;
        node = child;
        start = n;
      }
    }
  }

  #emit(hashNode: TrieNode<V>, visit: MatchVisitor<V>): void {
    this.#visited++;
    this.#emitEntries(hashNode, visit);
  }

  #emitEntries(node: TrieNode<V>, visit: MatchVisitor<V>): void {
    const { keys, values, filter } = node;
    for (let j = 0; j < keys.length; j++) visit(keys[j]!, values[j]!, filter);
  }

  #matchCached(cache: MatchCache<V>, topic: string, visit: MatchVisitor<V>): void {
    let hit = cache.get(topic);
    if (hit === undefined) {
      const scratch = this.#scratch;
      scratch.keys.length = 0;
      scratch.values.length = 0;
      scratch.filters.length = 0;
      this.#walkTopic(topic, this.#collect);
      hit = { keys: scratch.keys.slice(), values: scratch.values.slice(), filters: scratch.filters.slice() };
      cache.store(topic, hit);
    }
    const { keys, values, filters } = hit;
    for (let j = 0; j < keys.length; j++) visit(keys[j]!, values[j]!, filters[j]!);
  }

  #invalidate(): void {
    this.#version++;
    this.#cache?.clear();
  }

  #assertNotMatching(op: string): void {
    if (this.#matching > 0) {
      throw new Error(`SubscriptionIndex.${op}() called from inside a match() visitor; apply changes after match()`);
    }
  }

  #insertPath(filter: string): TrieNode<V> {
    let node = this.#root;
    for (const level of filter.split("/")) {
      let next: TrieNode<V> | undefined;
      if (level === "+") {
        next = node.plus ??= this.#newNode(node, level);
      } else if (level === "#") {
        next = node.hash ??= this.#newNode(node, level);
      } else {
        const children = (node.children ??= new TombstoneMap<string, TrieNode<V>>());
        next = children.get(level);
        if (next === undefined) children.set(level, (next = this.#newNode(node, level)));
      }
      node = next;
    }
    return node;
  }

  #newNode(parent: TrieNode<V>, level: string): TrieNode<V> {
    this.#nodeCount++;
    return new TrieNode<V>(parent, level);
  }

  /** Detaches empty nodes from `node` up towards the root. */
  #prune(node: TrieNode<V>): void {
    let n: TrieNode<V> = node;
    while (n.parent !== undefined && n.isEmpty()) {
      const parent = n.parent;
      if (n.level === "+") parent.plus = undefined;
      else if (n.level === "#") parent.hash = undefined;
      else {
        parent.children!.delete(n.level);
        if (parent.children!.size === 0) parent.children = undefined;
      }
      this.#nodeCount--;
      n = parent;
    }
  }
}
