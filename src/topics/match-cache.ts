/**
 * Optional cache of topic -> match result for SubscriptionIndex (`cacheSize` option, off by default).
 *
 * Measured with bench/topics/index.ts and an interleaved A/B run (Node 20.20, 2 shared cores, IoT-shaped filters,
 * topics decoded fresh from a Buffer on every match as the broker does; ns per match, median of 7):
 *
 *   subscriptions / workload                    no cache   cache=1024
 *   100k, ~1 match, 100 hot topics                 1424          537   cache 2.6x faster
 *   100k, ~1 match, 50k distinct topics            2785         8033   cache 2.9x slower (misses + GC)
 *   100k, ~1 match, hot, 1 sub+unsub / 100 msgs    1345         8303   cache 6x slower (invalidation)
 *   100k, ~1 match, hot, 1 sub+unsub / 1000 msgs   1131         1037   even
 *   10k, ~30 matches, 100 hot topics               2310         1074   cache 2.2x faster
 *   10k, ~30 matches, 50k distinct topics          4832        13935   cache 2.9x slower
 *
 * So it pays only for a small, stable set of hot topics with rare subscription changes; with many distinct topics
 * or ordinary subscribe/unsubscribe churn (every add/remove clears it) it costs several times what it saves,
 * mostly in GC of the cached results. That is why it is off by default; enable it only for such workloads.
 *
 * Eviction is FIFO through a ring of the cached topics, not LRU: refreshing recency means deleting and re-adding
 * the topic on every hit, which is the Map churn that TombstoneMap explains, and hot topics survive FIFO anyway
 * as long as they fit.
 */
export interface CachedMatch<V> {
  readonly keys: string[];
  readonly values: V[];
  readonly filters: string[];
}

export class MatchCache<V> {
  readonly #map = new Map<string, CachedMatch<V>>();
  readonly #ring: (string | undefined)[];
  #pos = 0;

  constructor(readonly capacity: number) {
    this.#ring = new Array<string | undefined>(capacity).fill(undefined);
  }

  get size(): number {
    return this.#map.size;
  }

  get(topic: string): CachedMatch<V> | undefined {
    return this.#map.get(topic);
  }

  /** Caches a result for a topic not in the cache, evicting the oldest entry when full. */
  store(topic: string, result: CachedMatch<V>): void {
    const old = this.#ring[this.#pos];
    if (old !== undefined) this.#map.delete(old);
    this.#ring[this.#pos] = topic;
    this.#pos = (this.#pos + 1) % this.capacity;
    this.#map.set(topic, result);
  }

  clear(): void {
    if (this.#map.size === 0) return;
    this.#map.clear();
    this.#ring.fill(undefined);
    this.#pos = 0;
  }
}
