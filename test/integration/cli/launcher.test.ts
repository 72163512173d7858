// bin/wharf.js is a POSIX sh launcher that execs node with the broker's node flags (issue #10): the flags reach
// the broker process, WHARF_NODE_FLAGS replaces them, and the benchmark harness reads the same list.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { launcherNodeFlags } from "../../../bench/lib/wharf-launcher.ts";
import { repoRoot, spawnWharf } from "../../helpers/spawn-wharf.ts";

const linux = existsSync("/proc/self/cmdline");

/** The node flags of process `pid`: its argv between the node binary and the script (bin/wharf.js). */
function nodeFlagsOf(pid: number): { exe: string; flags: string[]; script: string } {
  const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").slice(0, -1);
  const at = argv.findIndex((a) => a.endsWith("bin/wharf.js"));
  assert.ok(at > 0, `no bin/wharf.js in ${JSON.stringify(argv)}`);
  return { exe: argv[0]!, flags: argv.slice(1, at), script: argv[at]! };
}

test(
  "launcher: `wharf start` runs node itself (exec, same pid) with the launcher's node flags",
  {
    skip: !linux,
  },
  async (t) => {
    const w = await spawnWharf(t, { launcher: true });
    const got = nodeFlagsOf(w.child.pid!);
    assert.match(got.exe, /node/); // the spawned pid is node: sh exec'd it, no shell stays in between
    assert.deepEqual(got.flags, launcherNodeFlags(repoRoot)); // the bench's reading of the list is the real one
    const exit = await w.kill("SIGTERM"); // signals reach the broker directly: a graceful exit
    assert.equal(exit.code, 0);
  },
);

const taskset = spawnSync("taskset", ["-c", "0", "true"]).status === 0;

test(
  "launcher: on one CPU (taskset) it adds --no-parallel-scavenge; the bench's reading of the list agrees",
  {
    skip: !linux || !taskset,
  },
  async (t) => {
    const w = await spawnWharf(t, { launcher: true, via: ["taskset", "-c", "0"] });
    const got = nodeFlagsOf(w.child.pid!).flags;
    assert.ok(got.includes("--no-parallel-scavenge"), JSON.stringify(got));
    assert.deepEqual(got, launcherNodeFlags(repoRoot, true));
    await w.kill();
    if (os.availableParallelism() > 1)
      assert.ok(!launcherNodeFlags(repoRoot, false).includes("--no-parallel-scavenge"));
  },
);

test("launcher: WHARF_NODE_FLAGS replaces the list; empty runs node without flags", { skip: !linux }, async (t) => {
  const custom = await spawnWharf(t, { launcher: true, env: { WHARF_NODE_FLAGS: "--stack-trace-limit=17" } });
  assert.deepEqual(nodeFlagsOf(custom.child.pid!).flags, ["--stack-trace-limit=17"]);
  await custom.kill();
  const none = await spawnWharf(t, { launcher: true, env: { WHARF_NODE_FLAGS: "" } });
  assert.deepEqual(nodeFlagsOf(none.child.pid!).flags, []);
  await none.kill();
});

test("launcher: every flag it sets is accepted by this node and has a comment saying why", () => {
  const lines = readFileSync(join(repoRoot, "bin/wharf.js"), "utf8").split("\n");
  const flags = launcherNodeFlags(repoRoot, true); // with the flags it adds on one CPU only
  for (const flag of flags) {
    assert.match(flag, /^--[a-z0-9-]+(=\S+)?$/, flag);
    const at = lines.findIndex((l) => /^(if .*; then )?flags="\$flags /.test(l) && l.includes(flag));
    const name = flag.split("=")[0]!;
    // The comment block right above its line names it.
    let i = at - 1;
    let comment = "";
    while (i >= 0 && lines[i]!.startsWith("#")) comment = lines[i--]! + comment;
    assert.ok(comment.includes(name), `${flag}: no comment naming it above its line`);
  }
  // node refuses an unknown V8 flag ("bad option", exit 9): the list must start on this node.
  const r = spawnSync(process.execPath, [...flags, "-e", "0"], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
});
