// The password file (config `auth.passwordFile`, managed with `wharf passwd`): one `user:hash` line per user,
// argon2id hashes in the PHC string format (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), `#` comments and
// blank lines ignored. Like Mosquitto's password file, but argon2id only: no fast hash is ever accepted.
//
// Verification runs on argon2-verifier.ts's worker threads at nice 19: the event loop never waits for a hash, nor
// competes with one for the CPU. The verifier bounds how many run at once and how many wait (each ~19 MiB).
import { readFileSync, writeFileSync, renameSync, watch, type FSWatcher } from "node:fs";
import { basename, dirname, join } from "node:path";
import { availableParallelism } from "node:os";
import { lazyRequire, WharfError } from "../../util/index.ts";
import type { Logger } from "../../util/index.ts";
import { Argon2Verifier, type HashPriority, type WorkerScheduling } from "./argon2-verifier.ts";

/**
 * OWASP's argon2id baseline (m=19 MiB, t=2, p=1). The algorithm is @node-rs/argon2's default, Argon2id (its
 * `const enum` cannot be imported under isolatedModules); parsePasswordFile refuses anything else.
 */
export const ARGON2ID_PARAMS = { memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export class PasswordFileError extends WharfError<"AUTH_PASSWORD_FILE_INVALID"> {
  override readonly name = "PasswordFileError";
  constructor(
    readonly file: string,
    message: string,
  ) {
    super("AUTH_PASSWORD_FILE_INVALID", `${file}: ${message}`);
  }
}

/** User names may hold anything but ':' (the separator) and line breaks; passwords are hashed, never stored. */
export function checkUsername(username: string): string | undefined {
  if (username.length === 0) return "user name is empty";
  if (/[:\r\n]/.test(username)) return "user name contains ':' or a line break";
  if (Buffer.byteLength(username) > 65_535) return "user name is longer than MQTT allows (65,535 bytes)";
  return undefined;
}

/** Parses the file's text; throws PasswordFileError naming the line of the first bad entry. */
export function parsePasswordFile(text: string, file = "<password file>"): Map<string, string> {
  const users = new Map<string, string>();
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/\r$/, "");
    if (line.trim() === "" || line.trimStart().startsWith("#")) return;
    const colon = line.indexOf(":");
    const where = `line ${i + 1}`;
    if (colon <= 0) throw new PasswordFileError(file, `${where}: expected user:hash`);
    const user = line.slice(0, colon);
    const h = line.slice(colon + 1);
    if (!h.startsWith("$argon2id$")) {
      throw new PasswordFileError(file, `${where}: user ${JSON.stringify(user)}: not an argon2id hash`);
    }
    if (users.has(user)) throw new PasswordFileError(file, `${where}: user ${JSON.stringify(user)} is listed twice`);
    users.set(user, h);
  });
  return users;
}

export function formatPasswordFile(users: ReadonlyMap<string, string>): string {
  return [...users].map(([u, h]) => `${u}:${h}\n`).join("");
}

/** The argon2 binding, loaded with the first hash (`wharf passwd`, tests): the broker verifies on worker threads. */
const argon2 = lazyRequire<typeof import("@node-rs/argon2")>("@node-rs/argon2");

export function hashPassword(password: string | Buffer): Promise<string> {
  return argon2().hash(password, ARGON2ID_PARAMS);
}

/** Adds or replaces (`hashed` set) or deletes (`hashed` undefined) one user; writes atomically (rename). */
export function updatePasswordFile(file: string, username: string, hashed: string | undefined): boolean {
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const users = parsePasswordFile(text, file);
  const existed = users.has(username);
  if (hashed === undefined) users.delete(username);
  else users.set(username, hashed);
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  writeFileSync(tmp, formatPasswordFile(users), { mode: 0o600 });
  renameSync(tmp, file);
  return existed;
}

export type PasswordCheck = "ok" | "wrong" | "unknown-user";

export interface PasswordFileOptions {
  logger: Logger;
  /**
   * Argon2 verifications running at once (default 2), capped at the CPUs this process may run on: each is a worker
   * thread, and more of them than cores would only queue in the kernel instead of in our bounded queue.
   */
  maxConcurrent?: number;
  /** Verifications waiting for a slot; more are refused as "server busy" (default 256). */
  maxWaiting?: number;
  /** The hash workers' scheduling (default "idle": SCHED_IDLE, else nice 19). */
  priority?: HashPriority;
  /** Reload when the file changes (default true). */
  watch?: boolean;
}

/**
 * A loaded password file. `generation` increases on every successful reload (the verified-credential cache keys on
 * it, so a changed or deleted password stops working at once). A reload that fails keeps the previous users and
 * logs the error: a half-written file never locks everybody out nor lets anybody in.
 */
export class PasswordFile {
  #users: Map<string, string>;
  #generation = 0;
  #watcher: FSWatcher | undefined;
  #reloadTimer: NodeJS.Timeout | undefined;
  readonly #verifier: Argon2Verifier;
  readonly #logger: Logger;
  /** A hash of a random password, verified for unknown users so that they cost the same time as known ones. */
  #dummy: Promise<string> | undefined;
  /** argon2id verifications run so far (dummy ones included): tests and metrics. */
  verifications = 0;

  constructor(
    readonly file: string,
    opts: PasswordFileOptions,
  ) {
    this.#logger = opts.logger;
    this.#users = this.#read();
    this.#verifier = new Argon2Verifier({
      threads: Math.min(opts.maxConcurrent ?? 2, availableParallelism()),
      maxWaiting: opts.maxWaiting ?? 256,
      priority: opts.priority,
    });
    if (opts.watch !== false) this.#watch();
  }

  get generation(): number {
    return this.#generation;
  }

  get size(): number {
    return this.#users.size;
  }

  has(username: string): boolean {
    return this.#users.has(username);
  }

  #read(): Map<string, string> {
    let text: string;
    try {
      text = readFileSync(this.file, "utf8");
    } catch (err) {
      throw new PasswordFileError(this.file, `cannot read: ${err instanceof Error ? err.message : String(err)}`);
    }
    return parsePasswordFile(text, this.file);
  }

  /** Re-reads the file now; returns false (keeping the old users) when it cannot be read or parsed. */
  reload(): boolean {
    try {
      const users = this.#read();
      this.#users = users;
      this.#generation++;
      this.#logger.info({ file: this.file, users: users.size }, "password file reloaded");
      return true;
    } catch (err) {
      this.#logger.error({ err: err instanceof Error ? err.message : String(err) }, "password file reload failed");
      return false;
    }
  }

  #watch(): void {
    // Watch the directory: editors and `wharf passwd` replace the file by renaming, which a file watch loses.
    const name = basename(this.file);
    try {
      this.#watcher = watch(dirname(this.file), (_event, changed) => {
        if (changed !== null && changed !== name) return;
        // Debounce: one write can fire several events; 50 ms later the file is complete.
        if (this.#reloadTimer !== undefined) clearTimeout(this.#reloadTimer);
        this.#reloadTimer = setTimeout(() => {
          this.#reloadTimer = undefined;
          this.reload();
        }, 50);
        this.#reloadTimer.unref();
      });
      this.#watcher.unref();
      this.#watcher.on("error", (err) => this.#logger.warn({ err: err.message }, "password file watch failed"));
    } catch (err) {
      this.#logger.warn({ err: err instanceof Error ? err.message : String(err) }, "cannot watch the password file");
    }
  }

  /**
   * Verifies off the event loop. An unknown user answers at once: the chain decides whether another method takes
   * the credentials, and if none does it calls burn() so that the refusal takes as long as for a known user.
   * Rejects with SemaphoreFullError when too many verifications are waiting.
   */
  async check(username: string, password: Buffer): Promise<PasswordCheck> {
    const stored = this.#users.get(username);
    if (stored === undefined) return "unknown-user";
    // A malformed hash (only possible if edited by hand past the parser) verifies as wrong, never throws.
    const ok = await this.#verifier.verify(stored, password);
    this.verifications++;
    return ok ? "ok" : "wrong";
  }

  /** Spends the time of one verification without a user (the chain's timing equaliser). */
  async burn(password: Buffer): Promise<void> {
    await this.#verifier.verify(await this.#dummyHash(), password);
    this.verifications++;
  }

  #dummyHash(): Promise<string> {
    return (this.#dummy ??= hashPassword(Buffer.from(crypto.getRandomValues(new Uint8Array(16)))));
  }

  /** The verifier's worker threads' nice value (null if the platform refused): tests and diagnostics. */
  verifierNice(): Promise<number | null> {
    return this.#verifier.workerNice();
  }

  /** The verifier's worker threads' nice value and policy: tests and the startup log. */
  verifierScheduling(): Promise<WorkerScheduling> {
    return this.#verifier.workerScheduling();
  }

  /** Verifications answered at normal priority (escalated or all workers busy): metrics and diagnostics. */
  get escalated(): number {
    return this.#verifier.escalated;
  }

  close(): void {
    this.#verifier.close();
    this.#watcher?.close();
    if (this.#reloadTimer !== undefined) clearTimeout(this.#reloadTimer);
  }
}
