#!/usr/bin/env node
// `npm test`: Debian peers, format check, lint, typecheck, then every test file under test/.
// Node 20 does not expand globs for --test, so the files are listed here.
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const testsOnly = process.argv.includes("--tests-only");
const filters = process.argv.slice(2).filter((a) => !a.startsWith("--"));

function run(label, cmd, args) {
  const t0 = Date.now();
  console.log(`\n[wharf] ${label}: ${cmd} ${args.length > 8 ? args.slice(0, 8).join(" ") + " …" : args.join(" ")}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit" });
  console.log(`[wharf] ${label}: ${r.status === 0 ? "ok" : "FAILED"} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  if (r.status !== 0) process.exit(r.status ?? 1);
}

function listTests(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listTests(p));
    else if (name.endsWith(".test.ts")) out.push(relative(root, p));
  }
  return out;
}

const bin = (name) => join(root, "node_modules", ".bin", name);
run("peers", process.execPath, [join(root, "scripts", "ensure-peers.mjs")]);
// The three static checks are independent: run them side by side (about 37 s of CPU, 20 s of it eslint) and print
// each one's output when it ends, so a failure still reads as one block.
function runAll(jobs) {
  const t0 = Date.now();
  console.log(`\n[wharf] ${jobs.map((j) => j.label).join(" + ")}: side by side`);
  return Promise.all(
    jobs.map(
      ({ label, cmd, args }) =>
        new Promise((resolve) => {
          const child = spawn(cmd, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
          const out = [];
          child.stdout.on("data", (c) => out.push(c));
          child.stderr.on("data", (c) => out.push(c));
          child.on("close", (status) => {
            process.stdout.write(Buffer.concat(out));
            const secs = ((Date.now() - t0) / 1000).toFixed(1);
            console.log(`[wharf] ${label}: ${status === 0 ? "ok" : "FAILED"} in ${secs} s`);
            resolve(status ?? 1);
          });
        }),
    ),
  ).then((codes) => {
    const bad = codes.find((c) => c !== 0);
    if (bad !== undefined) process.exit(bad);
  });
}

if (!testsOnly) {
  await runAll([
    // --cache (node_modules/.cache/prettier): a second run checks only the files that changed, 14 s of CPU -> ~1 s.
    // The cache keys on each file's content and prettier's options, so it cannot hide a badly formatted file.
    { label: "format", cmd: bin("prettier"), args: ["--check", "--cache", "--log-level", "warn", "."] },
    { label: "lint", cmd: bin("eslint"), args: ["--max-warnings", "0", "."] },
    { label: "typecheck", cmd: bin("tsc"), args: ["--noEmit", "-p", "."] },
    // dist/ as the package ships it: the tests below start the compiled CLI (0.7 s of CPU per start instead of
    // 1.8 s through tsx, over a hundred starts) and pack it without building it again.
    { label: "build", cmd: process.execPath, args: [join(root, "scripts", "build.mjs"), "--no-check"] },
  ]);
  process.env["WHARF_TEST_COMPILED_CLI"] = "1";
  process.env["WHARF_TEST_DIST_BUILT"] = "1";
}
const all = listTests(join(root, "test"));
const isShard = (f) => f.startsWith(join("test", "shards") + "/");
const isUnit = (f) => f.startsWith(join("test", "unit") + "/");
// Integration files listed in test/shards/integration.json run inside their group's shard process.
const groups = JSON.parse(readFileSync(join(root, "test", "shards", "integration.json"), "utf8"));
const grouped = new Set(
  Object.entries(groups)
    .filter(([name]) => name !== "//")
    .flatMap(([, list]) => list.map((f) => join("test", "integration", f))),
);
for (const f of grouped) {
  if (!all.includes(f)) {
    console.error(`[wharf] test/shards/integration.json lists ${f}, which does not exist`);
    process.exit(1);
  }
}
// The whole suite runs the unit files and the grouped integration files through the shards in test/shards (one
// process per shard, see shard.ts); a filtered run (`npm run test:only -- <substring>`) runs the matching files
// themselves. Order: the unit shards and the long stand-alone integration files first, the groups after them, so
// that no long file starts last and becomes the tail of the run.
const isGroupShard = (f) => isShard(f) && f.includes("integration-");
let files = filters.length
  ? all.filter((f) => !isShard(f) && filters.some((x) => f.includes(x)))
  : [
      ...all.filter((f) => isShard(f) && !isGroupShard(f)),
      ...all.filter((f) => !isUnit(f) && !isShard(f) && !grouped.has(f)),
      ...all.filter(isGroupShard),
    ];
// The package test (npm pack, an offline install, tsc) is CPU-heavy and its wall time depends on the machine's load;
// it runs on its own afterwards with a longer file timeout than the 120 s every other test file gets.
const isPackageTest = (f) => f.startsWith(join("test", "integration", "package") + "/");
if (files.length === 0) {
  console.error(`[wharf] no test file matches ${filters.join(", ")}`);
  process.exit(1);
}
const mainTests = files.filter((f) => !isPackageTest(f));
// Only with files: `node --test` without any searches the whole tree and would run scripts/test.mjs itself.
if (mainTests.length > 0) {
  run("tests", process.execPath, [
    "--import",
    "tsx",
    "--test",
    "--test-concurrency=4",
    // 120 s per file catches a hang; a run sharing a loaded machine (the merge queue's) may give files more time.
    `--test-timeout=${process.env["WHARF_TEST_FILE_TIMEOUT_MS"] ?? "120000"}`,
    ...mainTests,
  ]);
}
const packageTests = files.filter(isPackageTest);
if (packageTests.length > 0) {
  run("package tests", process.execPath, ["--import", "tsx", "--test", "--test-timeout=600000", ...packageTests]);
}
