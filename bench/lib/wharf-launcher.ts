// How the benchmarks start Wharf: through bin/wharf.js, the launcher users run (`wharf start`, `npm start`), so
// the broker gets the node flags that launcher chooses (its `flags=` lines), exactly as in production.
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import { delimiter, dirname, join } from "node:path";

const LAUNCHER = "bin/wharf.js";

/**
 * The node flags bin/wharf.js starts node with by default: the words of its `flags="…"` / `flags="$flags …"` lines
 * (test/unit/bench/wharf-launcher.test.ts checks them against a started broker's /proc/<pid>/cmdline), and of its
 * `if [ "$(nproc 2>/dev/null)" = 1 ]; then flags="$flags …"; fi` lines when `oneCpu` (the launcher runs on one
 * CPU: by default when this process may use only one, as a broker it starts unpinned would; the harness pins
 * itself and the broker to one CPU each). Empty for a checkout whose launcher has none (older than the launcher).
 */
export function launcherNodeFlags(root: string, oneCpu = os.availableParallelism() === 1): string[] {
  const file = join(root, LAUNCHER);
  if (!existsSync(file)) return [];
  const out: string[] = [];
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const m = /^flags="(?:\$flags)?([^"$`\\]*)"/.exec(line) ?? (oneCpu ? ONE_CPU_LINE.exec(line) : null);
    if (m !== null) out.push(...m[1]!.split(/\s+/).filter((w) => w !== ""));
    if (line.startsWith("exec ")) break;
  }
  return out;
}

/** A launcher line adding flags only on one CPU. */
const ONE_CPU_LINE = /^if \[ "\$\(nproc 2>\/dev\/null\)" = 1 \]; then flags="\$flags([^"$`\\]*)"; fi$/;

/** True when `root`'s bin/wharf.js is the sh launcher (checkouts before it ran node directly). */
function hasLauncher(root: string): boolean {
  const file = join(root, LAUNCHER);
  return existsSync(file) && readFileSync(file, "utf8").startsWith("#!/bin/sh");
}

export interface WharfCommand {
  cmd: string;
  args: string[];
  /** Environment additions for the child. */
  env: Record<string, string>;
}

/**
 * `wharf <args>` as users run it, from checkout `root`: `/bin/sh bin/wharf.js <args>` (the launcher execs node with
 * its flags: the pid stays the broker's). A WHARF_NODE_FLAGS of the harness's environment reaches the launcher as
 * it would from a user's shell (replacing its list: how to A/B flag sets). `extraNodeArgs` (profiling: --cpu-prof,
 * --trace-gc…) are appended to the flags in force through WHARF_NODE_FLAGS. The node on PATH is this process's node, so the broker runs the
 * same binary as the harness. A checkout without the launcher runs `node [extra] --import tsx src/cli/main.ts`.
 */
export function wharfCommand(
  root: string,
  args: readonly string[],
  extraNodeArgs: readonly string[] = [],
): WharfCommand {
  if (!hasLauncher(root)) {
    return {
      cmd: process.execPath,
      args: [...extraNodeArgs, "--import", "tsx", join(root, "src/cli/main.ts"), ...args],
      env: {},
    };
  }
  const env: Record<string, string> = {
    PATH: [dirname(process.execPath), process.env["PATH"] ?? ""].join(delimiter),
  };
  if (extraNodeArgs.length > 0) {
    const own = process.env["WHARF_NODE_FLAGS"];
    const base = own !== undefined ? own.split(/\s+/).filter((w) => w !== "") : launcherNodeFlags(root);
    env["WHARF_NODE_FLAGS"] = [...base, ...extraNodeArgs].join(" ");
  }
  return { cmd: "/bin/sh", args: [join(root, LAUNCHER), ...args], env };
}
