// Per-topic routing plans (router.ts): for a topic published again, the merged per-session targets and the shared
// groups its match produced, so routing it is one Map lookup and a loop instead of a trie walk, a Map of targets
// and a Target object per session. Aedes does the same with qlobber's match cache.
//
// Correctness: a plan is valid while the subscription index is unchanged. The index counts its mutations
// (SubscriptionIndex.version: every add, replace, remove, removeKey); a lookup that sees another version clears the
// cache first. Shared groups are cached as objects and pick their member per message, so joins and leaves of an
// existing group need no invalidation. Sessions are cached as objects: a session that ends is removed from the
// index (a version change), and a resumed session keeps its object and reads its current link per message.
// Topics whose match includes a No Local subscription are not cached (the result depends on the publisher).
//
// Cost control (measured in match-cache.ts: a cache costs 3-6x a walk when topics are mostly distinct or
// subscriptions churn, in misses and in GC of the stored results): the cache watches its hit rate over windows of
// WINDOW lookups (each judged at its first miss after that: hits need no judging) and, when fewer than half hit, stops looking up and storing for BYPASS_WINDOWS windows, then tries
// again (its first window fills the cache and is not judged). A workload of distinct topics or constant
// subscription churn thus pays the miss cost (0.5-0.9 µs: hashing a fresh topic string, storing, evicting) on about
// 2 lookups in 66 (bench:inproc --only=router: +8% CPU per route on distinct topics; 64 windows rather than 16,
// which cost +32%); a stable hot set hits.
import type { QoS } from "../codec/index.ts";
import type { DirectListener } from "./listener.ts";
import type { Session } from "./session.ts";
import type { SharedGroup } from "./shared.ts";

/** One session's merged matching subscriptions (the router's Target, frozen for reuse). */
export interface PlanTarget {
  readonly session: Session;
  readonly qos: QoS;
  readonly retainAsPublished: boolean;
  /** Frozen: shared by every Delivery routed with this plan. */
  readonly ids: readonly number[] | undefined;
}

export interface RoutePlan {
  readonly targets: readonly PlanTarget[];
  /** Shared subscription groups matching the topic, undefined when none. */
  readonly groups: readonly SharedGroup[] | undefined;
  /** Synchronous in-process listeners matching the topic, undefined when none. */
  readonly listeners: readonly DirectListener[] | undefined;
}

/** Topics cached at most (FIFO eviction: hot topics survive as long as the hot set fits). */
export const ROUTE_CACHE_SIZE = 1024;
const WINDOW = 1024;
const BYPASS_WINDOWS = 64;

export class RouteCache {
  readonly #map = new Map<string, RoutePlan>();
  readonly #ring: (string | undefined)[];
  #pos = 0;
  #version = -1;
  #lookups = 0;
  #hits = 0;
  /** Lookups left to skip while bypassing (a poor hit rate). */
  #bypass = 0;
  /** The current window fills the cache (the first one, or the first after a bypass): it is not judged. */
  #warmup = true;
  /**
   * The last topic found and its plan: a publisher mostly repeats its topic, and a string comparison (the same
   * string object, usually) is cheaper than the Map lookup. Forgotten when the topic leaves the map.
   */
  #lastTopic: string | undefined = undefined;
  #lastPlan: RoutePlan | undefined = undefined;

  /** `capacity` 0: no cache (every lookup answers null, "do not store"). */
  constructor(readonly capacity = ROUTE_CACHE_SIZE) {
    if (!Number.isSafeInteger(capacity) || capacity < 0) throw new RangeError(`route cache size ${capacity}`);
    this.#ring = new Array<string | undefined>(capacity).fill(undefined);
    if (capacity === 0) this.#bypass = Number.POSITIVE_INFINITY;
  }

  get size(): number {
    return this.#map.size;
  }

  /** Whether the cache is currently skipped because its hit rate was poor. */
  get bypassing(): boolean {
    return this.#bypass > 0;
  }

  /**
   * The plan for `topic` under index version `version`, undefined on a miss; null when the cache is bypassed (do
   * not store the result either).
   */
  get(topic: string, version: number): RoutePlan | undefined | null {
    if (this.#bypass > 0) {
      if (--this.#bypass === 0) this.#warmup = true;
      return null;
    }
    if (version !== this.#version) this.#renew(version);
    let plan: RoutePlan | undefined;
    if (topic === this.#lastTopic) plan = this.#lastPlan;
    else {
      plan = this.#map.get(topic);
      if (plan !== undefined) {
        this.#lastTopic = topic;
        this.#lastPlan = plan;
      }
    }
    this.#lookups++;
    if (plan !== undefined) this.#hits++;
    else if (this.#lookups >= WINDOW) this.#judge();
    return plan;
  }

  /**
   * The end of a window (at least WINDOW lookups, ended by its first miss after that): bypass the cache for a while
   * if fewer than half of its lookups hit. Judged at a miss, not at the WINDOW-th lookup: a stretch of hits needs no
   * judging, and that call would be the one site of get() that a hot topic's lookups never run before V8 optimises
   * the router's callers (get() is inlined into accept()), so it deoptimised accept() at the 1,024th message of every
   * broker, and which callees accept() had after its second compile was a race (docs/benchmarks.md, stop 22). The
   * misses' branch runs from the first lookup of a topic.
   */
  #judge(): void {
    if (this.#warmup) this.#warmup = false;
    else if (this.#hits * 2 < this.#lookups) {
      this.#bypass = WINDOW * BYPASS_WINDOWS;
      this.#clear(); // release the stored plans to the GC while bypassing
    }
    this.#lookups = 0;
    this.#hits = 0;
  }

  /** Stores the plan of a topic that missed, evicting the oldest one when full. */
  store(topic: string, plan: RoutePlan): void {
    if (this.#bypass > 0) return;
    const old = this.#ring[this.#pos];
    if (old !== undefined) {
      this.#map.delete(old);
      if (old === this.#lastTopic) this.#forgetLast();
    }
    this.#ring[this.#pos] = topic;
    this.#pos = (this.#pos + 1) % this.capacity;
    this.#map.set(topic, plan);
  }

  /** The subscription index changed since the plans were made: none of them holds. */
  #renew(version: number): void {
    this.#clear();
    this.#version = version;
  }

  #forgetLast(): void {
    this.#lastTopic = undefined;
    this.#lastPlan = undefined;
  }

  #clear(): void {
    this.#forgetLast();
    if (this.#map.size === 0) return;
    this.#map.clear();
    this.#ring.fill(undefined);
    this.#pos = 0;
  }
}
