#!/usr/bin/env node
// Installs npm dependencies when node_modules is missing or older than the lockfile, so that
// `npm start` and `npm test` work on a fresh clone with nothing typed before them.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DIRECT, installedMatchesLock } from "./installed-deps.mjs";

// Tests that run `npm start` set this: an `npm ci` there would replace node_modules under the
// test files running next to them (npm test has already run this script).
if (process.env.WHARF_SKIP_ENSURE_DEPS === "1") process.exit(0);

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const lock = join(root, "package-lock.json");
const stamp = join(root, "node_modules", ".wharf-deps-stamp");

// Only the fields that decide what gets installed: editing a script in package.json must not cost an `npm ci`.
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const installed = [...DIRECT, "overrides"];
const hash = createHash("sha256")
  .update(JSON.stringify(installed.map((k) => pkg[k] ?? null)))
  .update(existsSync(lock) ? readFileSync(lock) : "")
  .digest("hex");

if (existsSync(stamp) && readFileSync(stamp, "utf8") === hash) process.exit(0);
// No stamp (as after `npm ci`, which deletes node_modules with it) or an old one: install only if the tree npm
// installed differs from the lockfile (scripts/installed-deps.mjs).
if (existsSync(lock) && installedMatchesLock(root)) {
  writeFileSync(stamp, hash);
  process.exit(0);
}

console.error("[wharf] installing npm dependencies (node_modules missing or stale)…");
const args = existsSync(lock) ? ["ci", "--no-audit", "--no-fund"] : ["install", "--no-audit", "--no-fund"];
const r = spawnSync("npm", args, { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
if (r.status !== 0) {
  console.error(`[wharf] 'npm ${args.join(" ")}' failed (exit ${r.status}); fix the error above and retry.`);
  process.exit(r.status ?? 1);
}
writeFileSync(stamp, hash);
