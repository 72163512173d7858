#!/bin/sh
":" /*- Until this comment closes, a POSIX sh launcher: node reads these lines as a string and a comment.
# The `wharf` command starts node with the V8 flags below (a server choosing its runtime settings, as a JVM's
# options): heap sizes must be set when the process starts (v8.setFlagsFromString cannot resize a heap), so they
# go on node's command line, and `exec` keeps one process (same pid, signals straight to the broker).
# WHARF_NODE_FLAGS replaces the whole list (WHARF_NODE_FLAGS= runs node without any); `node bin/wharf.js …` skips
# this launcher and its flags. One flag per `flags=` line, with why and the figures (bench/lib/wharf-launcher.ts
# reads these lines for the benchmarks; docs/operations.md "Node flags"):
flags=""
# --interrupt-budget=8192 (V8's default 67,584 bytes of bytecode): a function is optimised after ~1/8 of the calls.
#   Each connect runs ~130 functions once or twice; with the default they stay unoptimised for the first ~2,000
#   connects, so a fresh broker's first storm cost ~2x a warm one. Fresh broker, 5,000 held connects (with the flag
#   below), 3 interleaved rounds at load 4-5: 90-94 vs 116-132 us of broker CPU per connect without either flag.
flags="$flags --interrupt-budget=8192"
# --no-allocation-site-pretenuring: V8 otherwise decides mid-storm that the per-connection objects (all survive)
#   be allocated in old space, and deoptimises at once every optimised function that allocates them (Socket,
#   Connection, Session, Decoder...), which are then compiled again: ~10 us per connect of a fresh broker's storm.
flags="$flags --no-allocation-site-pretenuring"
# --no-parallel-scavenge, only when this process may run on a single CPU (taskset, a cpuset of one: `nproc` counts
#   the CPUs of its affinity mask). V8 otherwise splits every young-generation GC between the main thread and up to
#   4 helper threads, which then share that one CPU: the pause cannot get shorter, it gains the helpers' wake-ups and
#   context switches, and on a shared machine the CPU may go to another process while the main thread waits for
#   its helpers. Scavenge pauses of a broker on one CPU at 10,000 QoS 1 msg/s (7 interleaved 5 s runs, load 5-12):
#   lowest 0.26-0.32 vs 0.34-0.44 ms, lower quartile ~0.33 vs ~0.8 ms. Like a JVM choosing its serial collector
#   on one CPU. With more CPUs the helpers run beside the main thread and shorten the pause: kept.
if [ "$(nproc 2>/dev/null)" = 1 ]; then flags="$flags --no-parallel-scavenge"; fi
exec node ${WHARF_NODE_FLAGS-$flags} "$0" "$@"
*/

// Command-line entry. Installed from the registry (no src/ in the package) it runs the CLI bundle,
// dist/bundle/wharf.mjs (scripts/bundle-cli.mjs: our code and its pure-JavaScript dependencies in one file, compiled
// through V8's code cache, a `wharf start` ~0.1 s of CPU against ~0.35 s from tsc's ~390 modules); in a checkout it
// runs the TypeScript sources through tsx, so `npm start` needs no build step and runs what was just edited.
import { existsSync } from "node:fs";

const source = new URL("../src/cli/main.ts", import.meta.url);
if (existsSync(source)) {
  const { register } = await import("tsx/esm/api");
  register();
  await import(source.href);
} else {
  await import("../dist/bundle/wharf.mjs");
}
