#!/usr/bin/env node
// Runs test files with node:test's run(), in the order given (scripts/test.mjs starts it as
// `node --enable-source-maps scripts/run-tests.mjs <compiled files in .build/>` for `npm test`, or with
// `--import tsx` and the .ts files for `npm run test:only`; each file runs in a child process that inherits the flag).
// Why not `node --test <files>`: Node 20's command line sorts the files by path, whatever order they are given in,
// so the two unit shards (the longest test processes, ~20 s each of mostly waiting on child processes) started
// last and ran alone at the end of `npm test` with one core idle, while the order scripts/test.mjs chose (the
// package test and the unit shards first) was silently ignored.
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { Transform } from "node:stream";
import { run } from "node:test";
import { spec, tap } from "node:test/reporters";
import { fileURLToPath } from "node:url";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node [--import tsx | --enable-source-maps] scripts/run-tests.mjs <test files…>");
  process.exit(2);
}
const stream = run({
  files,
  // Test files at once. 6 was tried (stop 15) to keep both cores busy while the last group shards run, but on the
  // quiet machine a clean-clone CI took 130 s and 248 CPU-s with 6 (the lint, starved, ended last) against 116.6 s
  // and 207 CPU-s with 4, a rerun of `npm test` in that clone 116 s / 202 CPU-s with 4, and one with 6 left a test
  // waiting past its 300 s timeout: the run is CPU-bound, and more processes at once only add contention.
  concurrency: Number(process.env["WHARF_TEST_CONCURRENCY"] ?? "4"),
  // Node 20 applies this to every test and to each file as a whole: a shard runs a dozen files' tests (15-40 s
  // quiet), the package test ~30 s quiet and minutes on a loaded machine. 300 s still catches a hang well inside
  // CI's limit.
  timeout: Number(process.env["WHARF_TEST_FILE_TIMEOUT_MS"] ?? "300000"),
});
// The compiled tests (.build/, scripts/test-build.mjs) report under their sources' names: test locations are
// source-mapped already (--enable-source-maps), the files themselves (a file's own result, e.g. one that crashed)
// are renamed here from .build/<path>.js to <path>.ts, so every failure names the .ts file to open.
const build = join(dirname(dirname(fileURLToPath(import.meta.url))), ".build") + sep;
const sourceName = (name) => {
  if (typeof name !== "string" || !name.endsWith(".js")) return name;
  const path = resolve(name);
  if (!path.startsWith(build)) return name;
  const source = join(dirname(build), path.slice(build.length, -".js".length) + ".ts");
  return isAbsolute(name) ? source : relative(process.cwd(), source);
};
const renamed = new Transform({
  objectMode: true,
  transform(event, _enc, done) {
    const data = event.data;
    if (data !== null && typeof data === "object" && (typeof data.file === "string" || typeof data.name === "string"))
      done(null, { ...event, data: { ...data, file: sourceName(data.file), name: sourceName(data.name) } });
    else done(null, event);
  },
});
// What `node --test` does: a failing test (not a todo one) fails the run; a file that cannot run is a failure too.
stream.on("test:fail", (data) => {
  if (data.todo === undefined || data.todo === false) process.exitCode = 1;
});
stream
  .pipe(renamed)
  .compose(process.stdout.isTTY ? spec : tap)
  .pipe(process.stdout);
