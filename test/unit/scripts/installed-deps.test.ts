// scripts/installed-deps.mjs, behind scripts/ensure-deps.mjs: node_modules counts as installed only when npm's record
// of the tree (node_modules/.package-lock.json) and the installed package.json files match package-lock.json.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
// @ts-expect-error: a plain .mjs script without type declarations
import { installedMatchesLock } from "../../../scripts/installed-deps.mjs";

const matches = installedMatchesLock as (root: string) => boolean;

type Entry = Record<string, unknown>;
const direct = { dependencies: { a: "1.0.0" }, devDependencies: { b: "2.0.0" } };
const lockPackages = (): Record<string, Entry> => ({
  "": { name: "p", version: "0.1.0", ...direct },
  "node_modules/a": { version: "1.0.0", resolved: "https://r/a-1.0.0.tgz", integrity: "sha512-a" },
  "node_modules/b": { version: "2.0.0", resolved: "https://r/b-2.0.0.tgz", integrity: "sha512-b", dev: true },
  "node_modules/@x/other-os": { version: "3.0.0", optional: true, dev: true, os: ["darwin"] },
});

/** A package root as `npm ci` leaves it: the lockfile, npm's record of what it installed, each package.json. */
function project(
  t: TestContext,
  change: (tree: { lock: Record<string, Entry>; hidden: Record<string, Entry> }) => void,
) {
  const root = mkdtempSync(join(tmpdir(), "wharf-deps-"));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const lock = lockPackages();
  const hidden = lockPackages();
  delete hidden[""];
  delete hidden["node_modules/@x/other-os"]; // an optional package of another platform is not installed
  change({ lock, hidden });
  writeFileSync(join(root, "package.json"), JSON.stringify({ name: "p", version: "0.1.0", ...direct }));
  writeFileSync(join(root, "package-lock.json"), JSON.stringify({ lockfileVersion: 3, packages: lock }));
  mkdirSync(join(root, "node_modules"));
  writeFileSync(
    join(root, "node_modules", ".package-lock.json"),
    JSON.stringify({ lockfileVersion: 3, packages: hidden }),
  );
  for (const [path, entry] of Object.entries(hidden)) {
    mkdirSync(join(root, path), { recursive: true });
    writeFileSync(join(root, path, "package.json"), JSON.stringify({ version: entry["version"] }));
  }
  return root;
}

test("the tree npm installed from the lockfile is installed (another platform's optional package may be missing)", (t) => {
  assert.equal(matches(project(t, () => {})), true);
});

test("a required package missing from npm's record needs an install", (t) => {
  assert.equal(
    matches(
      project(t, ({ hidden }) => {
        delete hidden["node_modules/b"];
      }),
    ),
    false,
  );
});

test("a package recorded at another version or with another integrity needs an install", (t) => {
  const root = project(t, ({ hidden }) => {
    hidden["node_modules/a"] = { ...hidden["node_modules/a"], version: "1.0.1" };
  });
  assert.equal(matches(root), false);
  const other = project(t, ({ hidden }) => {
    hidden["node_modules/a"] = { ...hidden["node_modules/a"], integrity: "sha512-other" };
  });
  assert.equal(matches(other), false);
});

test("a package the lockfile does not pin needs an install", (t) => {
  const root = project(t, ({ hidden }) => {
    hidden["node_modules/c"] = { version: "1.0.0" };
  });
  assert.equal(matches(root), false);
});

test("a package replaced or deleted after the install needs an install", (t) => {
  const root = project(t, () => {});
  writeFileSync(join(root, "node_modules", "a", "package.json"), JSON.stringify({ version: "9.9.9" }));
  assert.equal(matches(root), false);
  rmSync(join(root, "node_modules", "a"), { recursive: true });
  assert.equal(matches(root), false);
});

test("package.json's direct dependencies differing from the lockfile's need npm ci (which refuses them)", (t) => {
  const root = project(t, ({ lock }) => {
    lock[""] = { ...lock[""], devDependencies: { b: "2.1.0" } };
  });
  assert.equal(matches(root), false);
});

test("without npm's record of the tree (no install finished) nothing counts as installed", (t) => {
  const root = project(t, () => {});
  rmSync(join(root, "node_modules", ".package-lock.json"));
  assert.equal(matches(root), false);
});
