// The verified-credential cache: after one successful argon2id verification, the same (user name, password) pair
// is accepted without hashing again for `ttlMs`. A reconnect storm of N known users then costs N hashes, not one
// per connection (issue #14 target: >= 5,000 authenticated reconnects/s once cached).
//
// Why it cannot be turned into an oracle:
//  - Only successes are stored. A failed attempt is never cached, so every wrong guess pays the full verification
//    (and unknown users pay it too, against a dummy hash): the time of a refusal is the same whether the user
//    exists, was recently verified, or not.
//  - The key is HMAC-SHA-256(per-process random secret, method, generation, user, password) over the exact pair.
//    A lookup can only hit with the exact right password; there is no per-user entry a wrong password could
//    detect ("is alice cached?" is unobservable), and no partial match. The fast path therefore only reveals to
//    someone that a password is right when they already sent the right password.
//  - The raw password is never kept: only its HMAC, with a secret that lives in this process only, so a memory
//    dump of the cache cannot be brute-forced offline without the secret.
//  - `generation` is the password file's reload counter: a changed or deleted user invalidates every entry at
//    once; entries also die after `ttlMs` (default 120 s) and the cache holds at most `maxEntries` (LRU).
//  - Only legitimate logins insert entries, so an attacker cannot flush it to force hashing for everyone.
import { createHmac, randomBytes } from "node:crypto";
import type { Clock } from "../../util/index.ts";

interface Entry {
  readonly expiresAt: number;
  readonly username: string;
}

export class CredentialCache {
  readonly #secret = randomBytes(32);
  readonly #entries = new Map<string, Entry>();

  constructor(
    private readonly clock: Pick<Clock, "now">,
    readonly ttlMs: number,
    readonly maxEntries: number,
  ) {}

  get size(): number {
    return this.#entries.size;
  }

  #key(method: string, generation: number, username: string, password: Buffer): string {
    const h = createHmac("sha256", this.#secret);
    // Length-prefixed fields: ("ab","c") and ("a","bc") must never collide.
    for (const part of [method, String(generation), username]) {
      const b = Buffer.from(part);
      h.update(`${b.length}:`).update(b);
    }
    h.update(`${password.length}:`).update(password);
    return h.digest("base64");
  }

  /** The user name the pair was verified as, if it was within the TTL (and the same generation). */
  get(method: string, generation: number, username: string, password: Buffer): string | undefined {
    if (this.ttlMs <= 0) return undefined;
    const key = this.#key(method, generation, username, password);
    const e = this.#entries.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt <= this.clock.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    this.#entries.delete(key); // LRU: re-insert as newest
    this.#entries.set(key, e);
    return e.username;
  }

  set(method: string, generation: number, username: string, password: Buffer, as: string = username): void {
    if (this.ttlMs <= 0 || this.maxEntries <= 0) return;
    const key = this.#key(method, generation, username, password);
    this.#entries.delete(key);
    while (this.#entries.size >= this.maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { expiresAt: this.clock.now() + this.ttlMs, username: as });
  }

  clear(): void {
    this.#entries.clear();
  }
}
