#!/usr/bin/env node
// `npm test`'s build and typecheck, on one TypeScript program instead of two.
// Why: `tsc -p tsconfig.build.json` and `tsc --noEmit` each parsed and checked the same ~580 files (about 6 and 15 s of
// CPU on this machine). Here one program emits src/ into dist/ (the files and output of `npm run build`) and reports
// every diagnostic `tsc --noEmit -p .` would. `npm run build` and `npm run typecheck` still run tsc themselves. The
// lint runs beside this in its own process (scripts/lint.mjs: oxlint, whose type-aware rules build their own
// typescript-go program).
//
// scripts/test.mjs forks this file: each step reports { step, ok, output, secs } over IPC as soon as it ends. The
// tests do not wait for it: they run the CLI bundle and the compiled tests (.build/), which scripts/test.mjs builds
// with esbuild before it starts them; only the package test, which packs dist/ and typechecks a consumer against its
// .d.ts files, starts when the build step here has reported. Run alone, it prints each step's result and exits
// non-zero if any failed.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import ts, { parseTsconfig } from "./typescript.mjs";
import { finishDist } from "./dist-files.mjs";
import { BUNDLE_DIR } from "./bundle-cli.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const src = join(root, "src");
const dist = join(root, "dist");

let cpuBefore = process.cpuUsage();
function report(step, ok, output, t0) {
  const secs = (performance.now() - t0) / 1000;
  // CPU seconds of this step (this process's threads, GC included): the suite is CPU-bound on two cores.
  const used = process.cpuUsage(cpuBefore);
  cpuBefore = process.cpuUsage();
  const cpu = (used.user + used.system) / 1e6;
  if (process.send) process.send({ step, ok, output, secs, cpu });
  else {
    process.stdout.write(output);
    console.log(`[checks] ${step}: ${ok ? "ok" : "FAILED"} in ${secs.toFixed(1)} s, ${cpu.toFixed(1)} s of CPU`);
  }
  if (!ok) process.exitCode = 1;
}

const formatHost = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => "\n" };
const formatDiagnostics = (list) => ts.formatDiagnosticsWithColorAndContext(list, formatHost);

let t0 = performance.now();
// The files and options of `tsc --noEmit -p .` (tsconfig.json), plus the emit options of tsconfig.build.json. Those
// only decide what is written (and, for rewriteRelativeImportExtensions, flag imports it could not rewrite): any other
// difference between the two files would make this typecheck differ from tsc's, so it is refused.
const check = parseTsconfig(join(root, "tsconfig.json"));
const build = parseTsconfig(join(root, "tsconfig.build.json"));
const emitOnly = new Set([
  "noEmit",
  "rootDir",
  "outDir",
  "declaration",
  "rewriteRelativeImportExtensions",
  "sourceMap",
  "removeComments",
  "configFilePath",
]);
for (const key of new Set([...Object.keys(check.options), ...Object.keys(build.options)])) {
  if (emitOnly.has(key)) continue;
  if (JSON.stringify(check.options[key]) !== JSON.stringify(build.options[key])) {
    throw new Error(`tsconfig.build.json changes ${key}, which is not an emit option: scripts/checks.mjs cannot share
the typecheck's program with the build. Move the option to tsconfig.json or teach this script the difference.`);
  }
}
// rootDir is the repository (the program holds test/ and bench/ too), so src/x.ts would be written to dist/src/x.js:
// the emit below writes it to dist/x.js, as tsconfig.build.json (rootDir "src") does.
const options = { ...build.options, rootDir: root, outDir: dist };
const program = ts.createProgram({
  rootNames: check.fileNames,
  options,
  projectReferences: check.projectReferences,
  configFileParsingDiagnostics: ts.getConfigFileParsingDiagnostics(check),
});

// 1. Build dist/: emit the files of tsconfig.build.json only. Emitting a file also checks it (its declarations need
// its types), so the package test starts after about half of the typecheck's work.
const built = new Set(build.fileNames);
const checked = new Set(check.fileNames);
if (
  check.fileNames.some((f) => f.startsWith(src + sep) !== built.has(f)) ||
  build.fileNames.some((f) => !checked.has(f))
) {
  throw new Error("tsconfig.json and tsconfig.build.json disagree on the files of src/");
}
// No stale modules from renamed or deleted sources. The CLI bundle (scripts/bundle-cli.mjs) stays: scripts/test.mjs
// built it a moment ago and the tests are running it.
const bundleDir = relative(dist, join(root, BUNDLE_DIR));
mkdirSync(dist, { recursive: true });
for (const name of readdirSync(dist)) {
  if (name !== bundleDir) rmSync(join(dist, name), { recursive: true, force: true });
}
const emittedTo = join(dist, "src");
const buildDiagnostics = [];
let emitted = 0;
for (const file of program.getSourceFiles()) {
  if (!built.has(file.fileName)) continue;
  const result = program.emit(file, (name, text) => {
    const rel = relative(emittedTo, name);
    if (rel.startsWith("..")) throw new Error(`the emit of ${file.fileName} wrote ${name}, outside src/'s output`);
    const out = join(dist, rel);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, text);
    emitted++;
  });
  buildDiagnostics.push(...result.diagnostics);
}
const declarations = finishDist(src, dist);
report(
  "build",
  buildDiagnostics.length === 0 && emitted > 0,
  (buildDiagnostics.length > 0 ? formatDiagnostics(buildDiagnostics) : "") +
    `[build] dist/: ${declarations} declaration files (${relative(root, dist)}/)\n`,
  t0,
);

// 2. Typecheck: what `tsc --noEmit -p .` reports, for every file of tsconfig.json.
t0 = performance.now();
const diagnostics = [
  ...program.getConfigFileParsingDiagnostics(),
  ...program.getOptionsDiagnostics(),
  ...program.getGlobalDiagnostics(),
  ...program.getSyntacticDiagnostics(),
  ...program.getSemanticDiagnostics(),
];
report("typecheck", diagnostics.length === 0, formatDiagnostics(diagnostics), t0);
