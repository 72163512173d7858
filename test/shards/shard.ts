// Runs every unit test file, or one group of integration test files, in this process.
// Why: `node --test` starts one process per file, and each start (node + tsx + the modules under test) costs about
// 1 s of CPU. The 80 unit files cost 101 s of CPU as separate processes and 37 s in one (measured 2026-12-06),
// which on this 2-core machine is about half a minute of `npm test` wall time. Unit tests are in-process and
// ephemeral-port only, so they can share a process; integration tests (real child processes, signals) keep their own.
// One process for all unit files, not two shards: each shard loaded most of src/ and the packages again. The unit
// tests (129 files, 1,311 tests) cost 28.9-31.7 s of CPU in one process (median 30.3) against 31.2-35.2 s (median
// 33.0) as two shards, lower in 5 of 5 alternating pairs (load 2.5-5.3, 2026-12-07). The process waits on its
// children and timers for about half of its wall time (36-38 s alone at load 3-5), so it is not the suite's tail.
// `npm run test:only -- <substring>` still runs matching unit files one by one (scripts/test.mjs).
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL("./", import.meta.url));
const unitRoot = fileURLToPath(new URL("../unit/", import.meta.url));
const integrationRoot = fileURLToPath(new URL("../integration/", import.meta.url));

function list(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) return list(p);
      return name.endsWith(".test.ts") ? [p] : [];
    });
}

/**
 * Imports a test file by a specifier relative to this module: through tsx that is the source file; in the compiled
 * tests of `npm test` (.build/, scripts/test-build.mjs) the emit rewrites the computed `./x.ts` specifier to
 * `./x.js`, the compiled file of the same source. (The files are listed from the sources: import.meta.url is the
 * source file's in both.)
 */
async function importTestFile(file: string): Promise<void> {
  const spec = relative(here, file).split(sep).join("/");
  if (!spec.startsWith("../") || !spec.endsWith(".test.ts"))
    throw new Error(`${file}: not a test file beside test/shards`);
  await import(spec);
}

/** Imports every unit test file, in sorted order, so `node:test` runs their tests here. */
export async function runUnitTests(): Promise<void> {
  const files = list(unitRoot);
  if (files.length === 0) throw new Error("test/unit has no test file");
  for (const file of files) await importTestFile(file);
}

/**
 * Imports the integration test files of one group of test/shards/integration.json, in the listed order. Each file's
 * top-level before/after hooks then belong to this process's root test: they run before the first and after the last
 * test of the group, which only keeps each file's own broker up a little longer (every file keeps its state in its
 * own module scope and starts its brokers on ephemeral ports).
 */
export async function runIntegrationGroup(group: string): Promise<void> {
  const groups = JSON.parse(readFileSync(new URL("./integration.json", import.meta.url), "utf8")) as Record<
    string,
    unknown
  >;
  const files = groups[group];
  if (!Array.isArray(files) || files.length === 0)
    throw new Error(`test/shards/integration.json has no group ${group}`);
  for (const file of files) {
    if (typeof file !== "string") throw new Error(`test/shards/integration.json: ${group} lists a non-string`);
    await importTestFile(join(integrationRoot, file));
  }
}
