// The shipped `wharf` entry (dist/bundle/wharf.mjs, src/cli/bundle-entry.mjs) compiles the CLI bundle through V8's
// code cache, kept in dist/bundle/v8-cache/: the first run of a command writes it, later runs use it, a cache V8
// rejects is written again, a cache of another build is never read, and WHARF_CODE_CACHE=0 neither reads nor
// writes one. Each run here is a copy of the bundle in a temporary package directory, so the checkout's cache is
// not touched.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "../../helpers/spawn-wharf.ts";

const version = (JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string }).version;

/** A package directory holding package.json and a copy of the bundle's entry and code; removed after the test. */
function bundleCopy(t: { after(fn: () => void): void }): string {
  // `npm test` has built the bundle (WHARF_TEST_COMPILED_CLI=1); `npm run test:only` builds it here.
  if (process.env["WHARF_TEST_COMPILED_CLI"] !== "1") {
    const built = spawnSync(process.execPath, ["scripts/bundle-cli.mjs"], { cwd: repoRoot, encoding: "utf8" });
    assert.equal(built.status, 0, built.stderr);
  }
  const dir = mkdtempSync(join(tmpdir(), "wharf-code-cache-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, "dist", "bundle"), { recursive: true });
  copyFileSync(join(repoRoot, "package.json"), join(dir, "package.json"));
  for (const f of ["wharf.mjs", "wharf.cjs"]) {
    copyFileSync(join(repoRoot, "dist", "bundle", f), join(dir, "dist", "bundle", f));
  }
  return dir;
}

/** Runs `wharf <args>` from the copy; asserts it exits 0 and returns its output. */
function wharf(dir: string, args: string[], env: NodeJS.ProcessEnv = {}): string {
  const run = spawnSync(process.execPath, [join(dir, "dist", "bundle", "wharf.mjs"), ...args], {
    encoding: "utf8",
    env: { ...process.env, ...env },
  });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stderr, "");
  return run.stdout;
}

const cacheDir = (dir: string) => join(dir, "dist", "bundle", "v8-cache");
const caches = (dir: string) => (existsSync(cacheDir(dir)) ? readdirSync(cacheDir(dir)).sort() : []);

test("the first run writes the command's code cache, the next one uses it as it is", (t) => {
  const dir = bundleCopy(t);
  assert.equal(wharf(dir, ["--version"]).trim(), version);
  const [first, ...more] = caches(dir);
  assert.ok(first !== undefined && more.length === 0, `one cache: ${caches(dir).join(", ")}`);
  assert.match(first, /^other-[0-9a-f]{16}\.bin$/);
  const path = join(cacheDir(dir), first);
  const before = statSync(path);
  assert.ok(before.size > 1000, `a cache of compiled functions: ${before.size} bytes`);
  assert.equal(wharf(dir, ["--version"]).trim(), version);
  // Accepted: not written again (a rewrite renames a new file into place).
  const after = statSync(path);
  assert.equal(after.ino, before.ino);
  assert.equal(after.mtimeMs, before.mtimeMs);
  assert.deepEqual(caches(dir), [first]);
  // Another command has a cache of its own.
  wharf(dir, ["check-config", "--help"]);
  assert.equal(caches(dir).length, 2);
  assert.ok(caches(dir).some((f) => f.startsWith("check-config-")));
});

test("a cache V8 rejects is written again, and the command runs as without it", (t) => {
  const dir = bundleCopy(t);
  wharf(dir, ["--version"]);
  const [name] = caches(dir);
  assert.ok(name !== undefined);
  const garbage = Buffer.alloc(4096, 7);
  writeFileSync(join(cacheDir(dir), name), garbage);
  assert.equal(wharf(dir, ["--version"]).trim(), version);
  const rewritten = readFileSync(join(cacheDir(dir), name));
  assert.notDeepEqual(rewritten, garbage);
  assert.ok(rewritten.length > 1000);
});

test("a cache of another build is not read: the entry's build id names it", (t) => {
  const dir = bundleCopy(t);
  wharf(dir, ["--version"]);
  const [name] = caches(dir);
  assert.ok(name !== undefined);
  const entry = join(dir, "dist", "bundle", "wharf.mjs");
  const text = readFileSync(entry, "utf8");
  const build = /const BUILD = "([0-9a-f]{16})";/.exec(text);
  assert.ok(build !== null, "scripts/bundle-cli.mjs filled in the build id");
  writeFileSync(entry, text.replace(build[0], `const BUILD = "${"0".repeat(16)}";`));
  wharf(dir, ["--version"]);
  const now = caches(dir);
  assert.equal(now.length, 2, now.join(", "));
  assert.ok(now.includes(name));
});

test("WHARF_CODE_CACHE=0 neither writes nor reads a cache", (t) => {
  const dir = bundleCopy(t);
  assert.equal(wharf(dir, ["--version"], { WHARF_CODE_CACHE: "0" }).trim(), version);
  assert.deepEqual(caches(dir), []);
  wharf(dir, ["--version"]);
  const [name] = caches(dir);
  assert.ok(name !== undefined);
  writeFileSync(join(cacheDir(dir), name), Buffer.alloc(4096, 7));
  wharf(dir, ["--version"], { WHARF_CODE_CACHE: "0" });
  // Not read, so not found rejected and not written again.
  assert.deepEqual(readFileSync(join(cacheDir(dir), name)), Buffer.alloc(4096, 7));
});
