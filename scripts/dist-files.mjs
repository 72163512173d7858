// The steps of the build that follow the TypeScript emit, shared by scripts/build.mjs (`npm run build`, prepack)
// and scripts/checks.mjs (`npm test`, which emits from the program it also typechecks and lints).
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

/**
 * Copies the non-TypeScript modules the code loads at runtime into `dist` and fixes the declarations' import
 * specifiers; returns the number of declaration files.
 */
export function finishDist(src, dist) {
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
  return declarations;
}
