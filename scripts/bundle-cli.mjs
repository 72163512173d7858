// The `wharf` command as the package ships it: src/cli/main.ts bundled by esbuild straight from the TypeScript
// (no tsc output needed) into one CommonJS file, dist/bundle/wharf.cjs, which dist/bundle/wharf.mjs (a copy of
// src/cli/bundle-entry.mjs) compiles through V8's code cache.
// Why a bundle: a `wharf start` from tsc's dist/ spent nearly all of its ~0.35 s of CPU loading ~390 ES modules, ~250
// of them ours (the lead's profile, 2026-12-07 13:20); one file for our code and its pure-JavaScript dependencies
// starts in 0.18-0.20 s (the prototype, 6 alternating runs), and `npm test` starts the CLI ~75 times (an strace count
// of execve, 2026-12-07).
// Why one CommonJS file (until stop 23: ES modules, a chunk per lazily loaded command): V8's code cache reaches only
// code compiled through node:vm, which Node 20 offers for scripts, not for ES modules without a flag (see
// bundle-entry.mjs for the figures). The commands' modules are still initialised when the command runs (esbuild
// turns the dynamic imports of src/cli/main.ts into calls); a function nobody calls is only pre-parsed.
//
// Layout: every output file sits in dist/bundle/, so the files the code finds next to itself by `import.meta.url`
// (here the bundle's own file URL) resolve as they do from src/ and tsc's dist/: `./dashboard/*`
// (src/admin/dashboard.ts), `./lmdb-probe.mjs` (src/storage/lmdb-check.ts) and `../../package.json`
// (src/cli/program.ts). They are copied here.
//
// Used by scripts/build.mjs (`npm run build`, prepack) and scripts/test.mjs (before the tests, beside the tsc
// program of scripts/checks.mjs). Run alone: `node scripts/bundle-cli.mjs`.
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

/** Where the bundle goes, relative to the repository (bin/wharf.js runs `<this>/wharf.mjs`, which runs wharf.cjs). */
export const BUNDLE_DIR = join("dist", "bundle");

/**
 * Dependencies left to Node's resolver (loaded from node_modules at runtime) instead of bundled, each for a reason
 * the bundle cannot meet or where bundling buys nothing:
 * - native addons and their loaders: lmdb (also loaded by lmdb-probe.mjs in a child), @node-rs/argon2 (its path is
 *   resolved for a worker thread: src/server/auth/argon2-verifier.ts);
 * - packages that start worker threads or files by path: pino and thread-stream (pino's transports), pino-pretty
 *   (a transport target), undici (resolved for src/admin/http-worker.ts's worker);
 * - the OpenTelemetry SDK (@opentelemetry/sdk-trace-base, loaded only with tracing on, by createRequire:
 *   src/admin/tracing-sdk.ts) and with it the API copy it uses from node_modules. The API itself is bundled: our
 *   code takes only its constant enums from it (SpanKind, TraceFlags, SpanStatusCode: plain numbers, the same in
 *   every copy) and never its global registry (no trace/context/propagation calls), so the bundled copy and the
 *   SDK's cannot disagree; test/integration/cli/tracing-cli.test.ts exports spans through the CLI. Its 48 files
 *   were loaded at every start while prom-client's index required it: bundled, a memory `wharf start` cost
 *   0.13-0.16 s of CPU against 0.16-0.18 s with the API external (6 alternating runs, load ~8, 2026-12-07 13:35).
 *   Since src/admin/prom.ts takes prom-client's classes from its `lib/` files, a start with tracing off loads no
 *   OpenTelemetry at all;
 * - packages loaded only by features that are off unless configured, already on first use (src/util/lazy.ts or a
 *   dynamic import): etcd3 (clustering, with gRPC), coap, ws, yaml, jose. Bundling them would only grow the chunks
 *   the commands load.
 * Bundled: commander and whatever else `wharf start` imports statically. prom-client's `lib/` files (24) are
 * required by path at runtime (src/admin/prom.ts, createRequire), which esbuild leaves alone, so they load from
 * node_modules: bundling them too made no difference (0.135 against 0.134 s of CPU per memory start, 14 rounds,
 * docs/benchmarks.md "Stop 21: work a start does that was not asked for").
 */
export const EXTERNAL = [
  "lmdb",
  "@node-rs/argon2",
  "pino",
  "pino-pretty",
  "thread-stream",
  "undici",
  "@opentelemetry/sdk-trace-base",
  "etcd3",
  "coap",
  "ws",
  "yaml",
  "jose",
];

// `import.meta.url` in the bundled code is the bundle's own file URL (a CommonJS file has no import.meta).
const banner = 'var __wharfBundleUrl = require("node:url").pathToFileURL(__filename).href;';

/**
 * Builds the bundle into `root`/dist/bundle/ (removed first: no chunk left from an earlier build) and copies the
 * files it reads at runtime. Returns esbuild's errors and warnings as lines, and the number of files written.
 */
export async function bundleCli(root) {
  const out = join(root, BUNDLE_DIR);
  rmSync(out, { recursive: true, force: true });
  let result;
  try {
    result = await build({
      absWorkingDir: root,
      entryPoints: { wharf: join(root, "src", "cli", "main.ts") },
      bundle: true,
      format: "cjs",
      platform: "node",
      target: "node20",
      outdir: out,
      outExtension: { ".js": ".cjs" },
      external: EXTERNAL,
      banner: { js: banner },
      define: { "import.meta.url": "__wharfBundleUrl" },
      // The few `import()`s of external packages (undici, the OpenTelemetry SDK: both CommonJS) become `require`:
      // a script compiled by node:vm has no dynamic import without an experimental option (and its warning).
      supported: { "dynamic-import": false },
      // Identifiers keep their names (stack traces, `constructor.name` in log lines and error codes).
      minify: false,
      legalComments: "none",
      logLevel: "silent",
      metafile: true,
    });
  } catch (err) {
    const list = Array.isArray(err?.errors) ? err.errors : [{ text: String(err) }];
    return { errors: list.map(formatMessage), warnings: [], written: 0 };
  }
  const src = join(root, "src");
  // The entry, named by the bundle's content: its code cache must never be taken for another build's.
  const buildId = createHash("sha256")
    .update(readFileSync(join(out, "wharf.cjs")))
    .digest("hex")
    .slice(0, 16);
  const entry = readFileSync(join(src, "cli", "bundle-entry.mjs"), "utf8");
  if (!entry.includes('"@BUILD@"'))
    return { errors: ["src/cli/bundle-entry.mjs has no @BUILD@"], warnings: [], written: 0 };
  writeFileSync(join(out, "wharf.mjs"), entry.replace('"@BUILD@"', JSON.stringify(buildId)));
  copyFileSync(join(src, "storage", "lmdb-probe.mjs"), join(out, "lmdb-probe.mjs"));
  mkdirSync(join(out, "dashboard"), { recursive: true });
  for (const name of readdirSync(join(src, "admin", "dashboard"))) {
    copyFileSync(join(src, "admin", "dashboard", name), join(out, "dashboard", name));
  }
  return {
    errors: result.errors.map(formatMessage),
    warnings: result.warnings.map(formatMessage),
    written: Object.keys(result.metafile.outputs).length + 1,
  };
}

function formatMessage(m) {
  const where = m.location ? `${m.location.file}:${m.location.line}:${m.location.column}: ` : "";
  return `${where}${m.text}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..");
  const { errors, warnings, written } = await bundleCli(root);
  for (const line of [...errors, ...warnings]) console.error(`[bundle] ${line}`);
  if (errors.length > 0) process.exit(1);
  console.error(`[bundle] ${BUNDLE_DIR}/: ${written} files`);
}
