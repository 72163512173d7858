// A broker started by a test exits when the test process dies without running its hooks (a killed runner), so
// no `wharf start` is left behind holding ports (exit-with-parent.mjs, preloaded through cliArgs()).
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { it } from "node:test";
import type { TestContext } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { cliArgs, repoRoot } from "../../helpers/spawn-wharf.ts";
import { childModuleUrl, nodeArgsForInline } from "../../helpers/ts-child.ts";

/** Running, not a zombie: an orphan's exit status waits for init to reap it, and this machine's init may not. */
const alive = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
};

/**
 * Starts `args` as the "runner" (a stand-in for a test process), which prints the pid of the child it started;
 * checks the child runs, SIGKILLs the runner and returns whether the orphaned child is gone within 20 s (its
 * watchdog polls every 0.5-1 s; the margin is for a loaded machine, where the child may still be starting).
 */
async function orphanGone(t: TestContext, args: string[], what: string): Promise<boolean> {
  const runner = spawn(process.execPath, args, { cwd: repoRoot, stdio: ["ignore", "pipe", "inherit"] });
  let childPid = 0;
  t.after(() => {
    if (alive(runner.pid!)) runner.kill("SIGKILL");
    if (childPid !== 0 && alive(childPid)) process.kill(childPid, "SIGKILL");
  });
  const [line] = (await once(runner.stdout, "data")) as [Buffer];
  childPid = Number(line.toString().trim());
  assert.ok(childPid > 0 && alive(childPid), `the ${what} runs while its runner does`);
  runner.kill("SIGKILL");
  await once(runner, "exit");
  for (const deadline = Date.now() + 20_000; alive(childPid) && Date.now() < deadline;)
    await new Promise((r) => setTimeout(r, 100));
  return !alive(childPid);
}

it("a wharf child exits once the process that started it is killed with SIGKILL", async (t) => {
  // The runner starts wharf, prints its pid once wharf logs (it is up), then waits forever.
  const argv = [...cliArgs(), "start", "--host", "127.0.0.1", "--port", "0", "--storage", "memory"];
  const script = `const c = require("node:child_process").spawn(process.execPath, ${JSON.stringify(argv)}, { stdio: ["ignore", "pipe", "ignore"] });
c.stdout.once("data", () => process.stdout.write(c.pid + "\\n")); c.stdout.resume(); setInterval(() => {}, 1000);`;
  assert.equal(await orphanGone(t, ["-e", script], "broker"), true, "the orphaned broker exited");
});

it("a non-Node child (etcd, mosquitto) is killed by its watchdog once the test process is killed with SIGKILL", async (t) => {
  // The runner starts a long-lived binary under dieWithTestProcess (reaper.ts), as test/helpers/etcd.ts and
  // mosquitto.ts do, prints its pid, then waits forever.
  const reaper = JSON.stringify(childModuleUrl(fileURLToPath(new URL("../../helpers/reaper.ts", import.meta.url))));
  const script = `import { spawn } from "node:child_process"; import { dieWithTestProcess } from ${reaper};
const c = spawn("sleep", ["600"], { stdio: "ignore" }); dieWithTestProcess(c, "sleep");
process.stdout.write(c.pid + "\\n"); setInterval(() => {}, 1000);`;
  const args = [...nodeArgsForInline(), "--input-type=module", "-e", script];
  assert.equal(await orphanGone(t, args, "child"), true, "the orphaned child was killed by its watchdog");
});
