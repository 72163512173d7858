// Broker child processes: spawn, wait until the port accepts connections, stop, and make sure none
// outlives the harness (process 'exit', SIGINT/SIGTERM and uncaught errors all kill them).

import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import { basename } from "node:path";
import { dieWithTestProcess } from "../../test/helpers/reaper.ts";

const live = new Set<ChildProcess>();
const exitHooks: (() => void)[] = [];
let installed = false;

/** Registers a synchronous clean-up step to run when the harness exits (temp dirs and the like). */
export function onHarnessExit(fn: () => void): void {
  installExitHandler();
  exitHooks.push(fn);
}

export function killAllChildren(): void {
  for (const child of live) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  live.clear();
}

function cleanup(): void {
  killAllChildren();
  for (const fn of exitHooks.splice(0)) {
    try {
      fn();
    } catch {
      // best effort
    }
  }
}

/** Kills the brokers however this process ends: normal exit always; signals and crashes once the harness asks. */
function installExitHandler(): void {
  if (installed) return;
  installed = true;
  process.on("exit", cleanup);
}

/** For the harness's entry point (not for tests, whose runner owns signals and errors). */
export function installSignalHandlers(): void {
  installExitHandler();
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}, stopping brokers\n`);
      cleanup();
      process.exit(130);
    });
  }
  process.on("uncaughtException", (err) => {
    process.stderr.write(`\nbench: uncaught error: ${err.stack ?? err.message}\n`);
    cleanup();
    process.exit(1);
  });
}

export interface ManagedProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  /** Set once the process has exited (code or signal). */
  exit: string | null;
  /** Last few KB of stdout + stderr, for error messages. */
  output(): string;
  stop(): Promise<void>;
}

export function spawnManaged(
  cmd: string,
  args: readonly string[],
  cwd: string,
  env: Readonly<Record<string, string>> = {},
): ManagedProcess {
  installExitHandler();
  const child = spawn(cmd, args, { cwd, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  live.add(child);
  // The exit hooks above cover a harness that exits or is signalled; a harness SIGKILLed (bench.sh's timeout -k, an
  // OOM kill) runs none, and its Mosquitto stayed behind on 2026-12-06. The watchdog shell kills the child then.
  // taskset execs the pinned program, so that program's name is what the child's command line shows.
  dieWithTestProcess(child, basename(cmd === "taskset" ? (args[2] ?? cmd) : cmd));
  let tail = "";
  const keep = (d: Buffer): void => {
    tail = (tail + d.toString("utf8")).slice(-4000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const managed: ManagedProcess = {
    pid: child.pid ?? -1,
    child,
    exit: null,
    output: () => tail.trim(),
    stop: async () => {
      if (managed.exit !== null) return;
      const done = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3_000);
      await done;
      clearTimeout(timer);
    },
  };
  child.on("exit", (code, signal) => {
    managed.exit = signal !== null ? `signal ${signal}` : `exit code ${code}`;
    live.delete(child);
  });
  child.on("error", (err) => {
    managed.exit = `spawn failed: ${err.message}`;
    live.delete(child);
  });
  return managed;
}

/** A free loopback port (never 1883: the kernel hands out ephemeral ports). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function tryConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: "127.0.0.1" });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** Resolves when the port accepts TCP connections; rejects if the process exits or time runs out. */
export async function waitForPort(proc: ManagedProcess, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exit !== null) throw new Error(`exited before listening (${proc.exit}): ${lastLines(proc.output())}`);
    if (await tryConnect(port)) return;
    if (Date.now() > deadline) {
      throw new Error(`not listening on ${port} after ${timeoutMs} ms: ${lastLines(proc.output())}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function lastLines(text: string, n = 3): string {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  return lines.length === 0 ? "(no output)" : lines.slice(-n).join(" | ").slice(0, 600);
}
