#!/usr/bin/env node
// `npm test`: Debian peers, format check, lint, typecheck, then every test file under test/.
// Node 20 does not expand globs for --test, so the files are listed here.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
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
if (!testsOnly) {
  run("format", bin("prettier"), ["--check", "--log-level", "warn", "."]);
  run("lint", bin("eslint"), ["--max-warnings", "0", "."]);
  run("typecheck", bin("tsc"), ["--noEmit", "-p", "."]);
}
let files = listTests(join(root, "test"));
if (filters.length) files = files.filter((f) => filters.some((x) => f.includes(x)));
// The package test (npm pack, an offline install, tsc) is CPU-heavy and its wall time depends on the machine's load;
// it runs on its own afterwards with a longer file timeout than the 120 s every other test file gets.
const isPackageTest = (f) => f.startsWith(join("test", "integration", "package") + "/");
run("tests", process.execPath, [
  "--import",
  "tsx",
  "--test",
  "--test-concurrency=4",
  "--test-timeout=120000",
  ...files.filter((f) => !isPackageTest(f)),
]);
const packageTests = files.filter(isPackageTest);
if (packageTests.length > 0) {
  run("package tests", process.execPath, ["--import", "tsx", "--test", "--test-timeout=600000", ...packageTests]);
}
