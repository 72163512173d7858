// Per-client publish rate limits (BrokerOptions.publishRate / publishByteRate) and the per-IP connection rate
// (connectionRatePerIp), as token buckets on the broker's clock. The per-client buckets live in a WeakMap keyed
// by the client context, so nothing is added to the connection and nothing leaks when it goes.
import { KeyedTokenBuckets, TokenBucket } from "../util/index.ts";
import type { Clock } from "../util/index.ts";
import type { RateLimit } from "./security-options.ts";

interface ClientBuckets {
  readonly messages: TokenBucket | undefined;
  readonly bytes: TokenBucket | undefined;
}

const enabled = (r: RateLimit | undefined): r is RateLimit => r !== undefined && r.perSecond > 0;

export class PublishLimiter {
  readonly #clients = new WeakMap<object, ClientBuckets>();
  readonly #now: () => number;

  constructor(
    private readonly messages: RateLimit | undefined,
    private readonly bytes: RateLimit | undefined,
    clock: Pick<Clock, "now">,
  ) {
    this.#now = () => clock.now();
  }

  static create(messages: RateLimit, bytes: RateLimit, clock: Pick<Clock, "now">): PublishLimiter | undefined {
    if (!enabled(messages) && !enabled(bytes)) return undefined;
    return new PublishLimiter(enabled(messages) ? messages : undefined, enabled(bytes) ? bytes : undefined, clock);
  }

  /** Charges one PUBLISH of `size` payload bytes to `client`; false when it is over either limit. */
  allow(client: object, size: number): boolean {
    let b = this.#clients.get(client);
    if (b === undefined) {
      const m = this.messages;
      const y = this.bytes;
      b = {
        messages: m === undefined ? undefined : new TokenBucket({ burst: m.burst, rate: m.perSecond }, this.#now),
        bytes: y === undefined ? undefined : new TokenBucket({ burst: y.burst, rate: y.perSecond }, this.#now),
      };
      this.#clients.set(client, b);
    }
    const okMessages = b.messages === undefined || b.messages.take(1);
    // Bytes are charged even into debt: one message larger than the burst is allowed once, then the client waits.
    const okBytes = b.bytes === undefined || b.bytes.charge(size);
    return okMessages && okBytes;
  }
}

/** "1.2.3.4:5678" -> "1.2.3.4", "::1:5678" -> "::1", "[::1]:5678" -> "::1". */
export function ipOf(remoteAddress: string): string {
  const colon = remoteAddress.lastIndexOf(":");
  const host = colon > 0 ? remoteAddress.slice(0, colon) : remoteAddress;
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

export function connectionLimiter(r: RateLimit, clock: Pick<Clock, "now">): KeyedTokenBuckets | undefined {
  return enabled(r) ? new KeyedTokenBuckets({ burst: r.burst, rate: r.perSecond }, clock) : undefined;
}

const publishLimiters = new WeakMap<object, PublishLimiter | null>();
const connectionLimiters = new WeakMap<object, KeyedTokenBuckets | null>();

interface LimitHost {
  readonly clock: Clock;
  readonly options: {
    readonly publishRate: RateLimit;
    readonly publishByteRate: RateLimit;
    readonly connectionRatePerIp: RateLimit;
  };
}

/** The broker's publish limiter (created from its options on first use), or undefined when none is configured. */
export function publishLimiterOf(broker: LimitHost): PublishLimiter | undefined {
  let l = publishLimiters.get(broker);
  if (l === undefined) {
    l = PublishLimiter.create(broker.options.publishRate, broker.options.publishByteRate, broker.clock) ?? null;
    publishLimiters.set(broker, l);
  }
  return l ?? undefined;
}

/** Forgets the broker's limiters: the next use builds them from its (changed) options, with full buckets. */
export function resetRateLimits(broker: LimitHost): void {
  publishLimiters.delete(broker);
  connectionLimiters.delete(broker);
}

/**
 * True when a new connection from `peer.remoteAddress` is within connectionRatePerIp. The address is read only
 * when a limit is set (a TCP transport reads it with a getpeername syscall on first use).
 */
export function connectionAllowed(broker: LimitHost, peer: { readonly remoteAddress: string }): boolean {
  let l = connectionLimiters.get(broker);
  if (l === undefined) {
    l = connectionLimiter(broker.options.connectionRatePerIp, broker.clock) ?? null;
    connectionLimiters.set(broker, l);
  }
  return l === null || l.take(ipOf(peer.remoteAddress));
}
