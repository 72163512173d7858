// Whether node_modules already holds what package-lock.json pins, for scripts/ensure-deps.mjs.
// Why: `npm ci` deletes node_modules, and with it ensure-deps' stamp, so on a fresh clone `npm ci && npm test` ran a
// second, identical `npm ci` before the tests: 14.9 s of CPU (7.9 user + 7.0 system) and 16.7 s of wall time at load
// 6 (2026-12-07). npm records the tree it installed in node_modules/.package-lock.json (its "hidden lockfile",
// written when an install finishes): if that record and every installed package.json agree with the lockfile, there
// is nothing to install.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

const readJson = (file) => JSON.parse(readFileSync(file, "utf8"));
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
/** The fields of package.json that npm copies into the lockfile's root entry; `npm ci` refuses if they differ. */
export const DIRECT = ["dependencies", "devDependencies", "optionalDependencies", "peerDependencies"];

/**
 * True if `root`'s node_modules is the tree `npm ci` would install from its package-lock.json: package.json's direct
 * dependencies are the lockfile's, npm's record of the installed tree (node_modules/.package-lock.json) has every
 * package of the lockfile with the same entry (only optional ones may be missing: other platforms' binaries) and no
 * other, and each recorded package's own package.json has the recorded version (a package deleted or replaced
 * after the install is noticed). False when any file is missing or unreadable.
 */
export function installedMatchesLock(root) {
  let pkg, lock, hidden;
  try {
    pkg = readJson(join(root, "package.json"));
    lock = readJson(join(root, "package-lock.json"));
    hidden = readJson(join(root, "node_modules", ".package-lock.json"));
  } catch {
    return false;
  }
  const want = lock.packages;
  const have = hidden.packages;
  if (want === null || typeof want !== "object" || have === null || typeof have !== "object") return false;
  const top = want[""] ?? {};
  if (DIRECT.some((field) => !same(pkg[field] ?? {}, top[field] ?? {}))) return false;
  for (const [path, entry] of Object.entries(want)) {
    if (path === "") continue;
    if (!(path in have)) {
      if (entry.optional === true) continue;
      return false;
    }
    if (!same(entry, have[path])) return false;
  }
  for (const [path, entry] of Object.entries(have)) {
    if (!(path in want)) return false;
    if (entry.link === true) continue;
    const manifest = join(root, path, "package.json");
    if (!existsSync(manifest)) return false;
    try {
      if (readJson(manifest).version !== entry.version) return false;
    } catch {
      return false;
    }
  }
  return true;
}
