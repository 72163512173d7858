// Non-Node children of a test (etcd, mosquitto) die with the test process, however it ends. The test's hooks kill
// them on a normal end, and a process "exit" hook covers process.exit(); but a test file that node --test kills at
// its timeout (SIGTERM), or a runner killed with SIGKILL, runs neither, and its etcd or mosquitto stayed behind
// (two etcds and a mosquitto were found running for 50 minutes on 2026-12-06). exit-with-parent.mjs does this for
// Node children; these binaries cannot preload it, so a watchdog shell does it for them: it polls once a second
// while both the test process and the child live, and SIGKILLs the child (after SIGCONT: it may be paused) once
// the test process is gone. It checks the child's command line before the kill, so a recycled pid is never hit.
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";

const WATCH = [
  'p="$1"; c="$2"; name="$3"',
  'while kill -0 "$p" 2>/dev/null && kill -0 "$c" 2>/dev/null; do sleep 1; done',
  'if ! kill -0 "$p" 2>/dev/null && grep -q "$name" "/proc/$c/cmdline" 2>/dev/null; then',
  '  kill -CONT "$c" 2>/dev/null; kill -KILL "$c" 2>/dev/null',
  "fi",
].join("\n");

/**
 * Kills `child` (whose command line contains `name`) when this process dies. Returns a function that stops the
 * watchdog, for a child that was stopped on purpose; the watchdog also ends by itself once the child is gone.
 */
export function dieWithTestProcess(child: ChildProcess, name: string): () => void {
  if (child.pid === undefined) return () => undefined;
  const dog = spawn("sh", ["-c", WATCH, "reaper", String(process.pid), String(child.pid), name], {
    stdio: "ignore",
    detached: true, // its own process group: a Ctrl-C to the test's group must not take the watchdog first
  });
  dog.unref();
  return () => {
    if (dog.exitCode === null && dog.signalCode === null) dog.kill("SIGKILL");
  };
}
