// Checks an LMDB data directory before it is opened, so that a broken one gives a StorageError naming the path
// and what to do, instead of a crash (LMDB segfaults on damaged files) or a silent start with an empty store.
import { spawn } from "node:child_process";
import { constants, accessSync, lstatSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { StorageError, StorageErrorCode, corruptError } from "./errors.ts";

export const DATA_FILE = "data.mdb";
const PROBE = fileURLToPath(new URL("./lmdb-probe.mjs", import.meta.url));

function errnoOf(e: unknown): string | undefined {
  return typeof e === "object" && e !== null && "code" in e && typeof e.code === "string" ? e.code : undefined;
}

function unreadable(path: string, what: string, cause?: unknown): StorageError {
  return new StorageError(
    StorageErrorCode.Unreadable,
    `storage: cannot use data directory ${path}: ${what}. Fix the path or its permissions (storage.dataDir in the config, or --data-dir) and start again.`,
    { path, cause },
  );
}

/**
 * Makes sure `path` is a usable directory. Returns true when it already holds a data file (which must then be
 * probed), false for a new store (directory created if missing).
 */
export function prepareDirectory(path: string): boolean {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (e) {
    if (errnoOf(e) !== "ENOENT") throw unreadable(path, `stat failed (${errnoOf(e) ?? String(e)})`, e);
    try {
      mkdirSync(path, { recursive: true });
    } catch (e2) {
      throw unreadable(path, `it does not exist and cannot be created (${errnoOf(e2) ?? String(e2)})`, e2);
    }
    return false;
  }
  if (!isDir) throw unreadable(path, "it exists but is not a directory");
  try {
    accessSync(path, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (e) {
    throw unreadable(path, "no read/write permission on the directory", e);
  }
  const file = join(path, DATA_FILE);
  let st;
  try {
    st = lstatSync(file);
  } catch (e) {
    if (errnoOf(e) === "ENOENT") return false;
    throw unreadable(path, `cannot stat ${DATA_FILE} (${errnoOf(e) ?? String(e)})`, e);
  }
  if (!st.isFile()) throw unreadable(path, `${file} is not a regular file`);
  if (st.size === 0) throw corruptError(path, `${file} is empty (a store always has its header pages)`);
  try {
    accessSync(file, constants.R_OK | constants.W_OK);
  } catch (e) {
    throw unreadable(path, `no read/write permission on ${file}`, e);
  }
  return true;
}

export interface ProbeResult {
  /** Named databases found in the file and their entry counts. */
  databases: Record<string, number>;
}

/** Opens the directory in a child process and reads every entry (see lmdb-probe.mjs). */
export function probeDirectory(path: string, maxDbs: number): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [PROBE, path, String(maxDbs)], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (out += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (err += s));
    child.on("error", (e) => reject(unreadable(path, `cannot start the check process (${e.message})`, e)));
    child.on("close", (code, signal) => {
      const detail = err.trim().split("\n").slice(0, 3).join(" / ");
      if (signal !== null) {
        reject(corruptError(path, `LMDB crashed (${signal}) reading ${DATA_FILE}${detail ? ` (${detail})` : ""}`));
        return;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(out.trim().split("\n").pop() ?? "");
      } catch {
        reject(corruptError(path, `the check process exited with code ${code ?? "?"}${detail ? ` (${detail})` : ""}`));
        return;
      }
      const r = parsed as { ok: boolean; databases?: Record<string, number>; message?: string; code?: unknown };
      if (r.ok && r.databases) resolve({ databases: r.databases });
      else if (typeof r.code === "string" && /^E[A-Z]+$/.test(r.code)) {
        reject(unreadable(path, r.message ?? r.code));
      } else reject(corruptError(path, r.message ?? "unknown error"));
    });
  });
}

/** Maps an error thrown by lmdb-js while opening to a StorageError. */
export function openError(path: string, e: unknown): StorageError {
  if (e instanceof StorageError) return e;
  const message = e instanceof Error ? e.message : String(e);
  const code = typeof e === "object" && e !== null && "code" in e ? e.code : undefined;
  if (typeof code === "number" && code > 0) return unreadable(path, message, e);
  return corruptError(path, message, e);
}
