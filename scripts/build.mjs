#!/usr/bin/env node
// `npm run build` (also run by `npm pack` / `npm publish` through prepack): compiles src/ into dist/ as ESM
// JavaScript and .d.ts files (tsconfig.build.json), then copies the non-TypeScript modules the code loads at
// runtime. dist/ is git-ignored; a consumer of the package needs neither TypeScript nor tsx.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const src = join(root, "src");
const dist = join(root, "dist");

rmSync(dist, { recursive: true, force: true }); // no stale modules from renamed or deleted sources
const tsc = spawnSync(
  process.execPath,
  // --no-check (npm test, which typechecks the same sources beside the build): emit without checking again, 6 s of
  // CPU instead of 11. `npm run build` and `npm pack` check.
  [
    join(root, "node_modules", "typescript", "bin", "tsc"),
    "-p",
    "tsconfig.build.json",
    ...(process.argv.includes("--no-check") ? ["--noCheck"] : []),
  ],
  {
    cwd: root,
    stdio: "inherit",
  },
);
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

// Modules that are plain JavaScript already (e.g. src/storage/lmdb-probe.mjs, run in a child process).
for (const file of walk(src).filter((f) => f.endsWith(".mjs"))) copyFileSync(file, join(dist, relative(src, file)));
// The dashboard's static files (src/admin/dashboard.ts reads them next to itself at startup).
mkdirSync(join(dist, "admin", "dashboard"), { recursive: true });
for (const file of walk(join(src, "admin", "dashboard"))) copyFileSync(file, join(dist, relative(src, file)));

// rewriteRelativeImportExtensions rewrites `./x.ts` to `./x.js` in the JavaScript but leaves the .d.ts files'
// specifiers as written. A consumer's compiler (without allowImportingTsExtensions) must see `.js` there too.
const tsSpecifier = /(\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)(["'])(\.{1,2}\/[^"']*?)\.ts\2/g;
let declarations = 0;
for (const file of walk(dist).filter((f) => f.endsWith(".d.ts"))) {
  const text = readFileSync(file, "utf8");
  const fixed = text.replace(tsSpecifier, (_m, head, q, path) => `${head}${q}${path}.js${q}`);
  if (fixed !== text) writeFileSync(file, fixed);
  declarations++;
}
console.error(`[build] dist/: ${declarations} declaration files`);
