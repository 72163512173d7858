#!/usr/bin/env node
// `npm test`: Debian peers, format check, lint, typecheck, then every test file under test/.
// Node 20 does not expand globs for --test, so the files are listed here.
import { fork, spawn } from "node:child_process";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { cpuByTestFile, watchCpu } from "./cpu-use.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
// NODE_EXTRA_CA_CERTS (set where outbound TLS goes through an inspecting proxy, as on this project's CI machine) makes
// every Node process read and parse that certificate bundle as it starts, whether or not it ever opens a TLS
// connection: `node -e 0` took 0.06 s of CPU with the 144 certificates of /etc/ssl/certs/ca-certificates.crt against
// 0.02 s without, a `wharf start` to "listening" 0.30 s against 0.25 (medians of 9), three CLI test files (cli-usage,
// cli-storage, cli-server) 9.2 s of CPU and 10.3 s of wall time against 7.4 s and 8.3 s (2026-12-07, load 5-9), and the
// suite starts over 250 Node processes (test files, the CLI, storage probes, npm, tsc). Nothing started from here
// connects beyond 127.0.0.1 (the package test installs with `npm install --offline`; the TLS tests bring their own
// CA), so the variable is dropped for them. `npm ci` in scripts/ensure-deps.mjs, which may need the proxy, runs before this
// script and keeps it.
delete process.env["NODE_EXTRA_CA_CERTS"];
const testsOnly = process.argv.includes("--tests-only");
const filters = process.argv.slice(2).filter((a) => !a.startsWith("--"));

function listTests(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listTests(p));
    else if (name.endsWith(".test.ts")) out.push(relative(root, p));
  }
  return out;
}

const started = Date.now();
const cpu = watchCpu();
/**
 * Starts a command; `buffered` collects its output and prints it as one block when it ends; `env` is added to this
 * process's environment for it.
 */
function start(label, cmd, args, buffered, env = {}) {
  const t0 = Date.now();
  console.log(`\n[wharf] ${label}: ${cmd} ${args.length > 8 ? args.slice(0, 8).join(" ") + " …" : args.join(" ")}`);
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: buffered ? ["ignore", "pipe", "pipe"] : "inherit",
    });
    const out = [];
    if (buffered) {
      child.stdout.on("data", (c) => out.push(c));
      child.stderr.on("data", (c) => out.push(c));
    }
    child.on("close", (status) => {
      if (buffered) process.stdout.write(Buffer.concat(out));
      const secs = ((Date.now() - t0) / 1000).toFixed(1);
      console.log(`[wharf] ${label}: ${status === 0 ? "ok" : "FAILED"} in ${secs} s`);
      resolve({ label, status: status ?? 1 });
    });
  });
}

/** scripts/checks.mjs in a child process: one promise per step (build, typecheck), settled as each step ends. */
function runChecks() {
  const names = ["build", "typecheck"];
  const t0 = Date.now();
  console.log(`\n[wharf] ${names.join(" + ")}: node scripts/checks.mjs (one TypeScript program)`);
  // V8's default young generation: the 64 MB one it had while the typed ESLint ran here (49-52 s of CPU against 54-62,
  // 2026-12-06) gains nothing for the build and typecheck alone: 19.7-21.0 s against 19.4-20.1 s (5 and 3 runs, load
  // 2-5, 2026-12-07), and 0.70 against 0.61 GB of memory.
  const child = fork(join(root, "scripts", "checks.mjs"), [], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  const out = [];
  child.stdout.on("data", (c) => out.push(c));
  child.stderr.on("data", (c) => out.push(c));
  const settle = new Map();
  const steps = names.map((label) => new Promise((resolve) => settle.set(label, resolve)));
  const finish = (label, ok, output, cpu) => {
    const resolve = settle.get(label);
    if (resolve === undefined) return;
    settle.delete(label);
    if (output) process.stdout.write(output);
    const secs = ((Date.now() - t0) / 1000).toFixed(1);
    const used = cpu === undefined ? "" : `, ${cpu.toFixed(1)} s of CPU`;
    console.log(`[wharf] ${label}: ${ok ? "ok" : "FAILED"} at ${secs} s${used}`);
    resolve({ label, status: ok ? 0 : 1 });
  };
  child.on("message", (m) => finish(m.step, m.ok, m.output, m.cpu));
  const closed = new Promise((resolve) => child.on("close", resolve));
  child.on("close", (status) => {
    // Anything the script printed outside a step (e.g. a crash), then every step it did not report fails.
    if (out.length > 0) process.stdout.write(Buffer.concat(out));
    for (const label of [...settle.keys()])
      finish(label, false, `[wharf] scripts/checks.mjs exited (${status}) before ${label} ended\n`);
  });
  return { steps, closed };
}

/**
 * What the tests run, built by esbuild side by side: the CLI bundle (scripts/bundle-cli.mjs) and the compiled tests
 * (scripts/test-build.mjs). Prints their result as a step does; a failure's messages name the files.
 */
async function buildForTests() {
  const label = "bundle + test build";
  const t0 = Date.now();
  console.log(`\n[wharf] ${label}: esbuild (scripts/bundle-cli.mjs, scripts/test-build.mjs)`);
  const [{ bundleCli, BUNDLE_DIR }, { emitTestBuild, TEST_BUILD_DIR }, { stop }] = await Promise.all([
    import("./bundle-cli.mjs"),
    import("./test-build.mjs"),
    import("esbuild"),
  ]);
  const lines = [];
  let ok = false;
  try {
    const [bundle, tests] = await Promise.all([bundleCli(root), emitTestBuild(root)]);
    lines.push(...bundle.errors, ...bundle.warnings, ...tests.errors, ...tests.warnings);
    ok = bundle.errors.length === 0 && bundle.written > 0 && tests.errors.length === 0 && tests.written > 0;
    lines.push(
      `${BUNDLE_DIR}/: ${bundle.written} files (the CLI); ${TEST_BUILD_DIR}/: ${tests.written} files (the tests)`,
    );
  } catch (err) {
    lines.push(String(err?.stack ?? err));
  } finally {
    // esbuild's service is a child of this process: stopped, it is reaped here and its CPU is counted in the summary.
    await stop();
  }
  for (const line of lines) console.log(`[build] ${line}`);
  console.log(`[wharf] ${label}: ${ok ? "ok" : "FAILED"} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return { label, status: ok ? 0 : 1 };
}

const peers = await start("peers", process.execPath, [join(root, "scripts", "ensure-peers.mjs")]);
if (peers.status !== 0) process.exit(peers.status);

// The checks and the tests run side by side so that both cores are busy from the start to the end: the lint (oxlint,
// scripts/lint.mjs) and the format check each in their own processes, the build of dist/ and the typecheck on one
// TypeScript program in another (scripts/checks.mjs), and the tests as soon as esbuild has built what they run
// (the CLI bundle and .build/: 3.2-3.6 s into the run in clean-clone runs at load ~2-3, 2026-12-07). They used to
// wait for the program's dist/ (12-16 s into the run, the cores 93-96 % busy until then): the package test, which
// packs dist/, is now the only file that does. Each check prints its output as one block when it ends; `npm test`
// fails if any of them fails.
const pending = [];
/** Settled with the checks' build step (dist/ written), for the package test; ok without the checks. */
let distBuilt = Promise.resolve({ label: "build", status: 0 });
/** Settled when the checks' process has exited (its CPU is counted in the summary only once it is reaped). */
let checksClosed = Promise.resolve();
if (!testsOnly) {
  console.log("\n[wharf] build + typecheck, then lint + format beside the tests once esbuild has built them");
  // The TypeScript program first: the package test waits for its dist/ (~15 s of CPU in).
  const checks = runChecks();
  checksClosed = checks.closed;
  pending.push(...checks.steps);
  distBuilt = checks.steps[0];
  // What the tests run, built by esbuild in this process beside the checks' program: the CLI bundle the package
  // ships (dist/bundle/, scripts/bundle-cli.mjs: the tests start it ~75 times) and the compiled tests
  // (.build/, scripts/test-build.mjs). The lint and the format check start after it: with all four started at once
  // this took 12.0 s of wall time (landing run of a5cc256, 2026-12-07 13:39, other helpers' load), the tests waiting.
  const built = await buildForTests();
  // The lint: it needs nothing the others make (its type-aware rules build their own program), and it prints its CPU
  // seconds at its end.
  pending.push(start("lint", process.execPath, [join(root, "scripts", "lint.mjs")], true));
  // oxfmt (.oxfmtrc.json) checks every file it knows, TypeScript, JavaScript, JSON, CSS, YAML and HTML, in prettier's
  // style (it runs prettier's own printers for the languages it does not format natively): 0.35-0.41 s of CPU for
  // ~680 files (3 runs, load ~5, 2026-12-07). Biome (stop 20) took 0.73 s, its binary made 96 of the 277 MB that
  // `npm ci` writes (npm ci 3-4 s longer with it, 3 alternating pairs at load 5, 2026-12-07), and it needed prettier
  // beside it for YAML and HTML.
  const oxfmt = join(root, "node_modules", "oxfmt", "bin", "oxfmt");
  pending.push(start("format", process.execPath, [oxfmt, "--check"], true));
  if (built.status !== 0) {
    await Promise.all(pending);
    process.exit(built.status);
  }
  process.env["WHARF_TEST_COMPILED_CLI"] = "1";
  // The tests run compiled (.build/); a test that starts a TypeScript file in a child runs its compiled file too
  // (test/helpers/ts-child.ts).
  process.env["WHARF_TEST_COMPILED"] = "1";
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
// themselves. The order they start in is set below (longest first).
const isGroupShard = (f) => isShard(f) && f.includes("integration-");
let files = filters.length
  ? all.filter((f) => !isShard(f) && filters.some((x) => f.includes(x)))
  : [
      ...all.filter((f) => isShard(f) && !isGroupShard(f)),
      ...all.filter((f) => !isUnit(f) && !isShard(f) && !grouped.has(f)),
      ...all.filter(isGroupShard),
    ];
if (files.length === 0) {
  console.error(`[wharf] no test file matches ${filters.join(", ")}`);
  process.exit(1);
}
// Files start longest first, by their wall time in a quiet run (test/shards/durations.json): with 4 files at a time
// the short ones fill the slots at the end instead of a 15 s group starting last (the last 20 s of a 97 s run had the
// cores 85 % and 55 % busy, 2026-12-07). So the two longest start at once: the unit process and the cluster group
// (~40 s, mostly waiting on etcd leases: started after the other groups it ran alone for the last ~20 s of the run,
// 2026-12-06). The package test (npm pack, an offline install, tsc: mostly waiting on npm and tsc; its slow steps
// carry their own 600 s timeouts) starts in a runner of its own once dist/ is built (below). Files not in the table
// (new ones) go first; a stable sort keeps the order above among equals.
const durations = JSON.parse(readFileSync(join(root, "test", "shards", "durations.json"), "utf8"));
const wallOf = (f) => (typeof durations[f] === "number" ? durations[f] : Infinity);
const ordered = [...files].sort((a, b) => wallOf(b) - wallOf(a));
console.log(`\n[wharf] tests: ${ordered.length} files (${ordered.filter(isShard).length} of them shards)`);
// In this order: scripts/run-tests.mjs (`node --test` would sort the files by path). `npm test` runs the files
// compiled into .build/ by the build step (scripts/test-build.mjs; no tsx in any test process), `npm run test:only`
// the sources through tsx (nothing to build first).
/** .build/<path>.js, the compiled file of the test file <path>.ts (scripts/test-build.mjs writes them). */
const compiled = (f) => join(root, ".build", f.replace(/\.ts$/, ".js"));
// Every test process reports its CPU and its children's at exit (scripts/cpu-report.mjs, inherited from the runner's
// flags by node:test's child processes), for the per-file lines printed at the end.
const cpuLog = join(tmpdir(), `wharf-test-cpu-${process.pid}.jsonl`);
process.env["WHARF_CPU_LOG"] = cpuLog;
const report = ["--import", pathToFileURL(join(root, "scripts", "cpu-report.mjs")).href];
const runner = (list) =>
  testsOnly
    ? ["--import", "tsx", ...report, join(root, "scripts", "run-tests.mjs"), ...list]
    : ["--enable-source-maps", ...report, join(root, "scripts", "run-tests.mjs"), ...list.map(compiled)];
// The package test packs dist/ and typechecks a consumer against its .d.ts files: in `npm test` it starts once
// scripts/checks.mjs has written dist/ (and packs it without building it again: WHARF_TEST_DIST_BUILT=1), in a
// runner of its own beside the first one's four files, its output printed as one block when it ends.
const packTest = join("test", "integration", "package", "pack.test.ts");
const afterDist = testsOnly ? [] : ordered.filter((f) => f === packTest);
const now = ordered.filter((f) => !afterDist.includes(f));
const runs = [];
if (now.length > 0) runs.push(start("tests", process.execPath, runner(now)));
if (afterDist.length > 0) {
  runs.push(
    distBuilt.then((build) =>
      build.status === 0
        ? start("package test", process.execPath, runner(afterDist), true, { WHARF_TEST_DIST_BUILT: "1" })
        : { label: "package test (not run: dist/ was not built)", status: 1 },
    ),
  );
}
const results = await Promise.all([...pending, ...runs]);
// The typecheck reports over IPC just before its process exits: wait for the exit, or a run whose typecheck ends last
// would leave the checks' CPU out of the figure below (it counts only reaped children: 160 s printed against 236 s
// polled from /proc when the typed lint still ran there, 2026-12-06).
await checksClosed;
const failed = results.filter((r) => r.status !== 0);
console.log(
  `\n[wharf] ${failed.length === 0 ? "all passed" : `FAILED: ${failed.map((r) => r.label).join(", ")}`} (${((Date.now() - started) / 1000).toFixed(1)} s)`,
);
for (const line of [...cpu.summary(), ...cpuByTestFile(cpuLog, root)]) console.log(line);
process.exit(failed.length === 0 ? 0 : 1);
