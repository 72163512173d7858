#!/usr/bin/env node
// `npm test`'s build of dist/: what `npm run build` writes (tsc -p tsconfig.build.json, then scripts/dist-files.mjs),
// from a TypeScript program in this process, so that scripts/test.mjs hears when dist/ is written and starts the
// package test then. It does not typecheck: `npm test`'s typecheck is the lint step's (scripts/lint.mjs with
// `--type-check`: oxlint-tsgolint reports TypeScript's diagnostics from the typescript-go program its type-aware rules
// build anyway). Until stop 23 this program was the typecheck too (every file of tsconfig.json, 15.5 + 6.2 s of CPU for
// the two steps alone, 2026-12-07); see the noCheck comment below. `npm run typecheck` still runs tsc.
//
// scripts/test.mjs forks this file: the step reports { step, ok, output, secs, cpu } over IPC as soon as it ends. The
// tests do not wait for it: they run the CLI bundle and the compiled tests (.build/), which scripts/test.mjs builds
// with esbuild before it starts them; only the package test, which packs dist/ and typechecks a consumer against its
// .d.ts files, starts when the build step here has reported. Run alone, it prints the step's result and exits
// non-zero if it failed.
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

const t0 = performance.now();
// The files and options of `tsc -p tsconfig.build.json` (`npm run build`), with noCheck (below). tsconfig.build.json
// may differ from tsconfig.json (which the typecheck of scripts/lint.mjs reads) only in what is written: any other
// difference would make the package built here differ from the code that was typechecked, so it is refused.
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
    throw new Error(`tsconfig.build.json changes ${key}, which is not an emit option: the build would compile src/
differently from the typecheck. Move the option to tsconfig.json or teach this script the difference.`);
  }
}
// noCheck (tsc's --noCheck): the emit asks the checker only for what the JavaScript and the declarations need (the
// types of exports written without an annotation), not for every diagnostic of every file. 7.8 s of CPU against
// 15.5 + 6.2 s for the checked emit and the typecheck of every file; `--type-check` adds ~1.5 s to the lint (alone,
// 2026-12-07). scripts/build.mjs emits with --noCheck too, so dist/ here is the file-for-file same as `npm run
// build`'s (checked: `diff -r`): a checked emit orders the members of a few inferred unions and object types
// differently (4 declaration files of src/server/config/), the same types.
const options = { ...build.options, noCheck: true };
const program = ts.createProgram({
  rootNames: build.fileNames,
  options,
  projectReferences: build.projectReferences,
  configFileParsingDiagnostics: ts.getConfigFileParsingDiagnostics(build),
});

// Build dist/: emit the files of tsconfig.build.json (src/ only; the typecheck covers test/, bench/ and scripts/ too).
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
// What tsc reports with noCheck: the configuration, options and syntax of the built files, and the emit's own
// diagnostics (the declarations' errors, e.g. an exported type that cannot be named).
const buildDiagnostics = [
  ...program.getConfigFileParsingDiagnostics(),
  ...program.getOptionsDiagnostics(),
  ...program.getGlobalDiagnostics(),
  ...program.getSyntacticDiagnostics(),
];
let emitted = 0;
for (const file of program.getSourceFiles()) {
  if (!built.has(file.fileName)) continue;
  const result = program.emit(file, (name, text) => {
    const rel = relative(dist, name);
    if (rel.startsWith("..")) throw new Error(`the emit of ${file.fileName} wrote ${name}, outside dist/`);
    mkdirSync(dirname(name), { recursive: true });
    writeFileSync(name, text);
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
