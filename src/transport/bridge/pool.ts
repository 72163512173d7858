// Publishing connections of a bridge, pooled per credential (the exact Authorization header, or CoAP's u/p
// query): a keep-alive HTTP client or a chatty CoAP device does not pay a CONNECT (or an argon2 verification) per
// request. At most POOL_MAX entries (the oldest is closed to make room); an entry idle for POOL_IDLE_MS is closed,
// so a revoked password stays usable by a pooled connection for at most those 30 s. A refused CONNECT is not
// cached: the next request tries again. The idle timer is armed when an entry goes idle and re-armed for the rest
// of the 30 s if it was used meanwhile, not created and cancelled per request (that was 4 % of the HTTP bridge's
// time at 13k req/s).
import type { ConnectionAcceptor } from "../../broker/index.ts";
import type { Clock, TimerHandle } from "../../util/index.ts";
import { LoopbackClient } from "./loopback-client.ts";

export const POOL_IDLE_MS = 30_000;
export const POOL_MAX = 1024;

export interface BridgeCredentials {
  /** Pool key: "" for anonymous. */
  key: string;
  username?: string;
  password?: Buffer;
}

interface PoolEntry {
  client: Promise<LoopbackClient>;
  timer: TimerHandle | undefined;
  busy: number;
  /** clock.now() of the last release. */
  lastUsed: number;
}

export class PublisherPool {
  readonly #pool = new Map<string, PoolEntry>();

  constructor(
    private readonly broker: ConnectionAcceptor,
    private readonly kind: string,
    private readonly clock: Clock,
  ) {}

  /**
   * Runs `fn` with the pooled client of `creds` (connecting it first if needed); rejects with a BridgeMqttError.
   * `remote` (the peer's address, for the broker's logs) may be a function: only called when a client connects.
   */
  async with<T>(
    creds: BridgeCredentials,
    remote: string | (() => string),
    fn: (c: LoopbackClient) => Promise<T>,
  ): Promise<T> {
    const entry = this.#acquire(creds, remote);
    try {
      return await fn(await entry.client);
    } finally {
      this.#release(creds.key, entry);
    }
  }

  close(): void {
    for (const [k, e] of this.#pool) this.#drop(k, e);
  }

  #drop(key: string, entry: PoolEntry): void {
    if (this.#pool.get(key) === entry) this.#pool.delete(key);
    entry.timer?.cancel();
    entry.client.then(
      (c) => c.disconnect(),
      () => {},
    );
  }

  #acquire(creds: BridgeCredentials, remote: string | (() => string)): PoolEntry {
    const pool = this.#pool;
    const found = pool.get(creds.key);
    if (found !== undefined) {
      found.busy++;
      return found;
    }
    if (pool.size >= POOL_MAX) {
      const [oldKey, old] = pool.entries().next().value as [string, PoolEntry];
      this.#drop(oldKey, old);
    }
    const client = LoopbackClient.connect(this.broker, {
      kind: this.kind,
      remoteAddress: typeof remote === "string" ? remote : remote(),
      ...(creds.username !== undefined ? { username: creds.username } : {}),
      ...(creds.password !== undefined ? { password: creds.password } : {}),
      onClose: () => {
        if (pool.get(creds.key) === e) pool.delete(creds.key);
      },
    });
    const e: PoolEntry = { client, timer: undefined, busy: 1, lastUsed: this.clock.now() };
    client.catch(() => {
      if (pool.get(creds.key) === e) pool.delete(creds.key);
    });
    pool.set(creds.key, e);
    return e;
  }

  #release(key: string, entry: PoolEntry): void {
    entry.busy--;
    entry.lastUsed = this.clock.now();
    if (entry.busy === 0 && entry.timer === undefined && this.#pool.get(key) === entry) {
      this.#armIdle(key, entry, POOL_IDLE_MS);
    }
  }

  /** Closes the entry once it has been idle (busy 0) for POOL_IDLE_MS since its last release. */
  #armIdle(key: string, entry: PoolEntry, ms: number): void {
    entry.timer = this.clock.setTimeout(() => {
      entry.timer = undefined;
      if (this.#pool.get(key) !== entry || entry.busy > 0) return; // in use: re-armed when released
      const idle = this.clock.now() - entry.lastUsed;
      if (idle >= POOL_IDLE_MS) this.#drop(key, entry);
      else this.#armIdle(key, entry, POOL_IDLE_MS - idle);
    }, ms);
  }
}
