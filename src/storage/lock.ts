// One process per data directory. LMDB itself allows several, but the storage engine keeps indexes in memory
// (reference counts, sequence numbers) that a second writer would silently invalidate. A pid file says who
// holds the directory; a holder that no longer runs (crash, kill -9) leaves a stale file, which is taken over.
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { StorageError, StorageErrorCode } from "./errors.ts";

export const LOCK_FILE = "wharf.lock";
/** Directories this process holds (a second open in the same process is refused too). */
const held = new Set<string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return typeof e === "object" && e !== null && "code" in e && e.code === "EPERM";
  }
}

function locked(path: string, holder: string): StorageError {
  return new StorageError(
    StorageErrorCode.Locked,
    `storage: data directory ${path} is in use by ${holder}. Stop it or give this broker another data directory (storage.dataDir, --data-dir); if no such process exists, delete ${join(path, LOCK_FILE)}.`,
    { path },
  );
}

/** Takes the directory for this process; returns the release function. */
export function acquireLock(path: string): () => void {
  if (held.has(path)) throw locked(path, "this process (already open)");
  const file = join(path, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, "wx");
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      held.add(path);
      return () => {
        held.delete(path);
        try {
          unlinkSync(file);
        } catch {
          // already gone: nothing to release
        }
      };
    } catch (e) {
      if (!(typeof e === "object" && e !== null && "code" in e && e.code === "EEXIST")) {
        throw new StorageError(StorageErrorCode.Unreadable, `storage: cannot create ${file}: ${String(e)}`, {
          path,
          cause: e,
        });
      }
    }
    let pid = NaN;
    try {
      pid = Number.parseInt(readFileSync(file, "utf8"), 10);
    } catch {
      // unreadable or vanished: treat as stale
    }
    // Our own pid in a file we do not hold is a leftover of an earlier process that had this pid (containers).
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) throw locked(path, `process ${pid}`);
    try {
      unlinkSync(file); // stale: its holder is gone
    } catch {
      // someone else removed it first; retry the exclusive create
    }
  }
  throw locked(path, "another process (the lock file keeps reappearing)");
}
