// Bearer tokens of the admin API. The config holds only SHA-256 digests (`sha256:<hex>`), so a leaked config file
// does not leak a usable token. A fast hash is the right tool here, unlike for passwords: tokens are 32 random
// bytes (`wharf token` makes them), 2^256 guesses away, so slowing the hash buys nothing and would put
// argon2's ~50 ms on every API call. Digests are compared in constant time.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { AdminError, AdminErrorCode } from "./errors.ts";

export interface TokenEntry {
  readonly name: string;
  /** `sha256:` + 64 lowercase hex digits. */
  readonly hash: string;
}

/** The config form of a token: `sha256:` + its digest in hex. */
export function hashToken(token: string): string {
  return `sha256:${createHash("sha256").update(token, "utf8").digest("hex")}`;
}

/** A new random token (43 base64url characters = 256 bits) and the hash to put in the config. */
export function generateToken(): { token: string; hash: string } {
  const token = `wharf_${randomBytes(32).toString("base64url")}`;
  return { token, hash: hashToken(token) };
}

export const HOW_TO_SET_A_TOKEN =
  "no admin token is configured: run `wharf token` and add the printed hash under management.tokens " +
  '(e.g. `tokens: [{ name: ops, hash: "sha256:…" }]`), then reload (SIGHUP) or restart';

export class TokenStore {
  #entries: { name: string; digest: Buffer }[] = [];

  constructor(entries: readonly TokenEntry[] = []) {
    this.replace(entries);
  }

  /** Swaps the whole set (hot reload): requests after this see only the new tokens. */
  replace(entries: readonly TokenEntry[]): void {
    this.#entries = entries.map((e) => ({ name: e.name, digest: Buffer.from(e.hash.slice("sha256:".length), "hex") }));
  }

  get size(): number {
    return this.#entries.length;
  }

  /**
   * The name of the token in an `Authorization: Bearer …` header; throws NO_ADMIN_TOKENS when none is
   * configured, UNAUTHORIZED when the header is missing or the token unknown.
   */
  authenticate(authorization: string | undefined): string {
    if (this.#entries.length === 0) throw new AdminError(AdminErrorCode.NoTokensConfigured, HOW_TO_SET_A_TOKEN);
    const m = /^Bearer +([\x21-\x7e]{1,512})\s*$/i.exec(authorization ?? "");
    if (m === null) throw new AdminError(AdminErrorCode.Unauthorized, "missing bearer token (Authorization: Bearer …)");
    const digest = createHash("sha256").update(m[1]!, "utf8").digest();
    let found: string | undefined;
    // Compare against every entry (no early exit) so timing says nothing about which one matched.
    for (const e of this.#entries) if (timingSafeEqual(e.digest, digest) && found === undefined) found = e.name;
    if (found === undefined) throw new AdminError(AdminErrorCode.Unauthorized, "invalid token");
    return found;
  }
}
