#!/usr/bin/env node
// `npm run build` (also run by `npm pack` / `npm publish` through prepack): compiles src/ into dist/ as ESM
// JavaScript and .d.ts files (tsconfig.build.json), the library entry points, then copies the non-TypeScript
// modules the code loads at runtime, then bundles the `wharf` command into dist/bundle/ (scripts/bundle-cli.mjs:
// what bin/wharf.js runs in the installed package). dist/ is git-ignored; a consumer of the package needs neither
// TypeScript nor tsx. (`npm test` builds the same dist/ from the program it also typechecks, scripts/checks.mjs,
// and the bundle in scripts/test.mjs.)
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { finishDist } from "./dist-files.mjs";
import { BUNDLE_DIR, bundleCli } from "./bundle-cli.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const src = join(root, "src");
const dist = join(root, "dist");

rmSync(dist, { recursive: true, force: true }); // no stale modules from renamed or deleted sources
const tsc = spawnSync(
  process.execPath,
  [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"],
  {
    cwd: root,
    stdio: "inherit",
  },
);
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

const declarations = finishDist(src, dist);
console.error(`[build] dist/: ${declarations} declaration files`);
const bundle = await bundleCli(root);
for (const line of [...bundle.errors, ...bundle.warnings]) console.error(`[bundle] ${line}`);
if (bundle.errors.length > 0) process.exit(1);
console.error(`[build] ${BUNDLE_DIR}/: the wharf command, ${bundle.written} files`);
