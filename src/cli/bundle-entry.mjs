// dist/bundle/wharf.mjs, the entry of the `wharf` command as the package ships it (scripts/bundle-cli.mjs copies
// this file there and fills in BUILD). It runs the CLI bundle, dist/bundle/wharf.cjs, through V8's code cache.
// Why: compiling the bundle (parsing it, then each function's bytecode as it is first called) was ~30 % of a
// `wharf start`'s CPU to "listening" (perf, 2026-12-07: 0.15 s for a memory start), and the test suite starts the
// CLI ~95 times (~75 commands, ~20 clustered nodes). With the bytecode of the previous run's functions read from a
// cache, a memory start cost 0.103 s (0.087-0.112) against 0.146 s (0.132-0.152) for the ES-module bundle, an LMDB
// start 0.124 s against 0.183 s (8 and 6 alternating runs, load ~2).
//
// Node 20 has no module.enableCompileCache(), and V8's code cache reaches only scripts compiled through node:vm:
// so the bundle is one CommonJS file (no ES modules to link), compiled here as Node compiles a CommonJS module (the
// same wrapper, `require` from its own path). The cache is written by the first run that has none, 1 s after the
// start or at its exit, whichever is first: by then the functions the command ran are compiled and are in it.
//
// The cache is trusted code, so it lives where the bundle does (dist/bundle/v8-cache/, not packed: package.json
// `files`), writable by whoever can already change the bundle, and is named by:
// - the build (BUILD, the bundle's content hash): V8 checks only the source's length before it uses a cache;
// - the node binary and this process's V8 flags (execArgv): V8 rejects a cache made under other flags, and the
//   launcher (bin/wharf.js) passes some, the tests' direct `node dist/bundle/wharf.mjs` none;
// - what the run will compile: the command (a `wharf status` compiles little, and a `start` reading its cache would
//   compile the rest each time), and for `start` its --storage and whether a config file is given (a clustered node,
//   configured by a file, runs the cluster layer; a memory start never compiles LMDB's code). Only how much a
//   run finds in its cache depends on this, never what it runs.
// A cache V8 rejects anyway is written again. Where it cannot be read or written (a read-only install), the bundle
// runs without it. WHARF_CODE_CACHE=0 turns it off (benchmarks of the compile cost).
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import Module, { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Script } from "node:vm";

const BUILD = "@BUILD@";
const COMMANDS = new Set(["start", "check-config", "passwd", "queues", "retained", "status", "clients", "token"]);

const dir = dirname(fileURLToPath(import.meta.url));
const file = join(dir, "wharf.cjs");
const source = readFileSync(file, "utf8");
const useCache = process.env["WHARF_CODE_CACHE"] !== "0";
/** The name of this run's cache: see above. */
function variant(args) {
  const command = args[0] ?? "";
  if (!COMMANDS.has(command)) return "other";
  if (command !== "start") return command;
  const at = args.findIndex((a) => a === "--storage" || a.startsWith("--storage="));
  const storage = at < 0 ? "default" : (args[at].split("=")[1] ?? args[at + 1] ?? "");
  const config = args.some((a) => a === "-c" || a.startsWith("--config")) || process.env["WHARF_CONFIG"] !== undefined;
  return `start-${/^[a-z]+$/.test(storage) ? storage : "other"}${config ? "-config" : ""}`;
}
const key = createHash("sha256")
  .update([BUILD, process.version, process.arch, ...process.execArgv].join("\0"))
  .digest("hex")
  .slice(0, 16);
const cacheFile = join(dir, "v8-cache", `${variant(process.argv.slice(2))}-${key}.bin`);

let cached;
if (useCache) {
  try {
    cached = readFileSync(cacheFile);
  } catch {
    // No cache yet (or none readable): compiled from the source, and written below.
  }
}
const script = new Script(Module.wrap(source), { filename: file, cachedData: cached });
const run = script.runInThisContext();
const bundle = new Module(file);
bundle.filename = file;
run.call(bundle.exports, bundle.exports, createRequire(file), bundle, file, dir);

if (useCache && (cached === undefined || script.cachedDataRejected === true)) {
  let written = false;
  const write = () => {
    if (written) return;
    written = true;
    try {
      const data = script.createCachedData();
      mkdirSync(dirname(cacheFile), { recursive: true });
      // Renamed into place: a start running at the same moment reads a whole cache or none.
      const tmp = `${cacheFile}.${process.pid}.tmp`;
      writeFileSync(tmp, data);
      renameSync(tmp, cacheFile);
    } catch {
      // A read-only install: every run compiles, as without the cache.
    }
  };
  setTimeout(write, 1000).unref();
  process.once("exit", write);
}
