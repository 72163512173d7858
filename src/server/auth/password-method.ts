// The password-file method: User Name + Password checked against argon2id hashes (password-file.ts), with the
// verified-credential cache (credential-cache.ts) in front.
import type { AuthenticateContext } from "../../broker/index.ts";
import type { CredentialCache } from "./credential-cache.ts";
import { PASS, type AuthMethod, type MethodOutcome } from "./method.ts";
import type { PasswordFile } from "./password-file.ts";

export class PasswordFileMethod implements AuthMethod {
  readonly name = "password-file";

  constructor(
    readonly file: PasswordFile,
    private readonly cache: CredentialCache,
  ) {}

  /** The cached verification, if any: no hash, no rate-limit token. */
  cached(ctx: AuthenticateContext): MethodOutcome | undefined {
    if (ctx.username === undefined || ctx.password === undefined) return undefined;
    const as = this.cache.get(this.name, this.file.generation, ctx.username, ctx.password);
    return as === undefined ? undefined : { kind: "accept", username: as };
  }

  async authenticate(ctx: AuthenticateContext): Promise<MethodOutcome> {
    const { username, password } = ctx;
    if (username === undefined || !this.file.has(username)) return PASS;
    if (password === undefined) return { kind: "reject", reason: "no password" };
    const generation = this.file.generation;
    const result = await this.file.check(username, password);
    if (result === "unknown-user") return PASS; // deleted while waiting
    if (result === "wrong") return { kind: "reject", reason: "wrong password" };
    this.cache.set(this.name, generation, username, password);
    return { kind: "accept", username };
  }

  close(): void {
    this.file.close();
  }
}
