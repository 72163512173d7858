#!/usr/bin/env node
// Runs test files with node:test's run(), in the order given (scripts/test.mjs starts it as
// `node --import tsx scripts/run-tests.mjs <files>`; each file runs in a child process that inherits --import tsx).
// Why not `node --test <files>`: Node 20's command line sorts the files by path, whatever order they are given in,
// so the two unit shards (the longest test processes, ~20 s each of mostly waiting on child processes) started
// last and ran alone at the end of `npm test` with one core idle, while the order scripts/test.mjs chose (the
// package test and the unit shards first) was silently ignored.
import { run } from "node:test";
import { spec, tap } from "node:test/reporters";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node --import tsx scripts/run-tests.mjs <test files…>");
  process.exit(2);
}
const stream = run({
  files,
  concurrency: Number(process.env["WHARF_TEST_CONCURRENCY"] ?? "4"),
  // Node 20 applies this to every test and to each file as a whole: a shard runs a dozen files' tests (15-40 s
  // quiet), the package test ~30 s quiet and minutes on a loaded machine. 300 s still catches a hang well inside
  // CI's limit.
  timeout: Number(process.env["WHARF_TEST_FILE_TIMEOUT_MS"] ?? "300000"),
});
// What `node --test` does: a failing test (not a todo one) fails the run; a file that cannot run is a failure too.
stream.on("test:fail", (data) => {
  if (data.todo === undefined || data.todo === false) process.exitCode = 1;
});
stream.compose(process.stdout.isTTY ? spec : tap).pipe(process.stdout);
