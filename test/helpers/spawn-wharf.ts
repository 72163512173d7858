// Runs the real `wharf` CLI in a child process, the way users and the benchmark do.
import { spawn, type ChildProcess, type ChildProcessByStdio } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import type { Readable } from "node:stream";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const mainTs = "src/cli/main.ts";
/** The CLI bundle the package ships (scripts/bundle-cli.mjs; bin/wharf.js runs it when installed). */
const bundle = "dist/bundle/wharf.mjs";

/**
 * How node runs the CLI: from source through tsx, or, when the whole suite runs (`npm test` builds the bundle first
 * and sets WHARF_TEST_COMPILED_CLI=1), the bundle the package ships. A tsx start costs about 1.8 s of CPU, one from
 * tsc's dist/ ~0.35 s, the bundle's ~0.2 s, and a whole `npm test` starts it ~75 times
 * (an strace count of execve, 2026-12-07).
 */
export function cliArgs(): string[] {
  const main = process.env["WHARF_TEST_COMPILED_CLI"] === "1" ? [bundle] : ["--import", "tsx", mainTs];
  return [...exitWithParent, ...main];
}

/** Node flags that make a child exit when the test process that started it dies (see exit-with-parent.mjs). */
export const exitWithParent: readonly string[] = ["--import", new URL("./exit-with-parent.mjs", import.meta.url).href];

interface AfterHook {
  after(fn: () => void | Promise<void>): void;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ListenerAddress {
  type: string;
  host: string;
  port: number;
}

export interface WharfProcess {
  readonly child: ChildProcess;
  /** Port of the first listener (from the "listening" log line). */
  readonly port: number;
  readonly host: string;
  readonly listeners: ListenerAddress[];
  /** Parsed JSON log lines seen on stdout so far. */
  readonly logs: Record<string, unknown>[];
  stderr(): string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<Exit>;
  /** Sends `signal` (default SIGTERM) and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<Exit>;
  /** Resolves with the first log line `pred` accepts (lines already seen included). */
  waitForLog(pred: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
}

export interface SpawnWharfOptions {
  /** Extra `start` arguments (after the defaults, so they win). */
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** How long to wait for the "listening" line. */
  timeoutMs?: number;
  /**
   * Run node through this command line instead of directly, e.g. a shell setting resource limits:
   * `["bash", "-c", 'ulimit -f 4096; exec "$@"', "bash"]` (node and its arguments follow).
   */
  via?: string[];
  /**
   * Start it as users do, through the launcher `/bin/sh bin/wharf.js` (which execs node with its node flags), instead
   * of `node <cliArgs()>`. The exit-with-parent preload then goes in through NODE_OPTIONS.
   */
  launcher?: boolean;
  /** With `launcher`: this launcher (e.g. an installed package's `node_modules/.bin/wharf`) instead of the checkout's. */
  launcherPath?: string;
}

function exitOf(child: ChildProcess): Promise<Exit> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
}

/**
 * The launcher, bin/wharf.js, as `launcher: true` and cli-usage.test.ts run it. In a checkout it runs the TypeScript
 * sources through tsx (1.2-1.5 s of CPU per start); where `npm test` has built the bundle (WHARF_TEST_COMPILED_CLI=1)
 * it runs from a directory shaped like the installed package (its own copy of bin/wharf.js, package.json,
 * dist/bundle/ linked, no src/), so it takes the branch an installed `wharf` takes and starts the bundle (~0.2 s):
 * launcher.test.ts's four starts cost 4.9-5.1 s of CPU through tsx. cli-usage.test.ts's `npm start` still runs the
 * checkout's launcher (the tsx branch). Only dist/bundle/ is linked: `npm test` is still writing the rest of dist/
 * (scripts/checks.mjs) while these tests run, and the installed bin needs nothing else of it.
 */
export function launcherScript(t: AfterHook): string {
  if (process.env["WHARF_TEST_COMPILED_CLI"] !== "1") return "bin/wharf.js";
  const dir = mkdtempSync(join(tmpdir(), "wharf-launcher-"));
  t.after(() => rmSync(dir, { recursive: true, force: true })); // removes the bundle's link, not what it points to
  mkdirSync(join(dir, "bin"));
  mkdirSync(join(dir, "dist"));
  copyFileSync(join(repoRoot, "bin", "wharf.js"), join(dir, "bin", "wharf.js"));
  copyFileSync(join(repoRoot, "package.json"), join(dir, "package.json"));
  symlinkSync(join(repoRoot, dirname(bundle)), join(dir, dirname(bundle)));
  return join(dir, "bin", "wharf.js");
}

/** Spawns `cmd` in the repo root with piped output; SIGKILLed in `t.after` if still running. */
function spawnTracked(
  t: AfterHook,
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv | undefined,
): { child: ChildProcessByStdio<null, Readable, Readable>; exited: Promise<Exit> } {
  const child = spawn(cmd, args, { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const exited = exitOf(child);
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
  });
  return { child, exited };
}

/** Writes `text` to `name` in a fresh temporary directory, removed in `t.after`; returns the path. */
export function writeTempFile(t: AfterHook, name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "wharf-test-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/**
 * `node [--import tsx] src/cli/main.ts|dist/bundle/wharf.mjs start --host 127.0.0.1 --port 0 --log-format json
 * --storage memory --management-port 0 …args`, resolved once the "listening" line is logged. The child is killed
 * (SIGKILL) in `t.after` if still running.
 */
export async function spawnWharf(t: AfterHook, opts: SpawnWharfOptions = {}): Promise<WharfProcess> {
  const args = [
    ...(opts.launcher === true ? [] : cliArgs()),
    "start",
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--log-format",
    "json",
    "--storage",
    "memory",
    "--management-port",
    "0",
    ...(opts.args ?? []),
  ];
  const node = opts.launcher === true ? ["/bin/sh", opts.launcherPath ?? launcherScript(t)] : [process.execPath];
  const [cmd = "", ...cmdArgs] = opts.via === undefined ? node : [...opts.via, ...node];
  const env =
    opts.launcher === true
      ? { NODE_OPTIONS: exitWithParent.map((a) => (a.startsWith("--") ? a : `"${a}"`)).join(" "), ...opts.env }
      : opts.env;
  const { child, exited } = spawnTracked(t, cmd, [...cmdArgs, ...args], env);

  const logs: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  let stderr = "";
  let partial = "";
  child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  child.stdout.setEncoding("utf8").on("data", (s: string) => {
    partial += s;
    const lines = partial.split("\n");
    partial = lines.pop()!;
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ msg: line, unparsed: true });
      }
    }
    for (const w of waiters) w();
  });

  const waitForLog = (pred: (l: Record<string, unknown>) => boolean, timeoutMs = 30_000) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const check = (): boolean => {
        const found = logs.find(pred);
        if (found) {
          done();
          resolve(found);
        }
        return found !== undefined;
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `wharf: no matching log line within ${timeoutMs} ms\nstdout: ${JSON.stringify(logs)}\nstderr: ${stderr}`,
          ),
        );
      }, timeoutMs);
      const onExit = (): void => {
        if (check()) return;
        done();
        reject(new Error(`wharf exited (${child.exitCode ?? child.signalCode}) first\nstderr: ${stderr}`));
      };
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(waiter);
        child.off("exit", onExit);
      };
      const waiter = (): void => void check();
      if (check()) return;
      waiters.add(waiter);
      child.once("exit", onExit);
    });

  const listening = await waitForLog((l) => l.msg === "listening", opts.timeoutMs);
  const listeners = listening.listeners as ListenerAddress[];
  const first = listeners[0]!;
  return {
    child,
    port: first.port,
    host: first.host,
    listeners,
    logs,
    stderr: () => stderr,
    exited,
    kill(signal = "SIGTERM") {
      child.kill(signal);
      return exited;
    },
    waitForLog,
  };
}

export interface RunResult extends Exit {
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to completion (e.g. `wharf --help`) and collects its output. `cmd` defaults to
 * node running the CLI: `run(t, ["--version"])`. Killed in `t.after` if still running.
 */
export async function runWharf(
  t: AfterHook,
  args: string[],
  opts: { cmd?: string; cmdArgs?: string[]; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<RunResult> {
  const cmd = opts.cmd ?? process.execPath;
  const fullArgs = opts.cmd === undefined ? [...cliArgs(), ...args] : [...(opts.cmdArgs ?? []), ...args];
  const { child, exited } = spawnTracked(t, cmd, fullArgs, opts.env);
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
  child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  const timeoutMs = opts.timeoutMs ?? 60_000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${cmd} ${fullArgs.join(" ")}: no exit within ${timeoutMs} ms\nstderr: ${stderr}`));
    }, timeoutMs);
  });
  try {
    const exit = await Promise.race([exited, timeout]);
    // Let the pipes drain: 'exit' can come before the last 'data'.
    await Promise.all([closed(child.stdout), closed(child.stderr)]);
    return { ...exit, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

function closed(stream: Readable): Promise<void> {
  if (stream.readableEnded || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    stream.once("close", () => resolve());
    stream.once("end", () => resolve());
  });
}
