// A real etcd (the Debian etcd-server binary) on free loopback ports in a temporary directory, for the cluster tests
// and benches; never the system etcd on 2379. Killed (and its directory removed) by `stop()`/`close()`, in `t.after`
// when a test context is given, and in any case when the test process exits. A start that lost its ports to another
// process meanwhile (free port taken between probe and bind) is retried on new ones.
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dieWithTestProcess } from "./reaper.ts";

interface AfterHook {
  after(fn: () => void | Promise<void>): void;
}

export interface EtcdProcess {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** etcd's own output so far (the last few KB). */
  log(): string;
  /** Stops (SIGSTOP) / resumes (SIGCONT) the process: a frozen etcd answers nothing. */
  pause(): void;
  resume(): void;
  /** SIGKILL and remove the data directory. Idempotent. */
  stop(): Promise<void>;
  /** The same as stop(). */
  close(): Promise<void>;
}

/** A free loopback port (bound then released; etcd takes it a moment later). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

const running = new Map<ChildProcess, string>();
let hooked = false;

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

async function startOnce(timeoutMs: number): Promise<EtcdProcess | undefined> {
  const dir = mkdtempSync(join(tmpdir(), "wharf-etcd-"));
  const [client, peer] = [await freePort(), await freePort()];
  const endpoint = `http://127.0.0.1:${client}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const child = spawn(
    "etcd",
    [
      "--name=test",
      `--data-dir=${join(dir, "data")}`,
      `--listen-client-urls=${endpoint}`,
      `--advertise-client-urls=${endpoint}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=test=${peerUrl}`,
      "--log-level=warn",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  running.set(child, dir);
  const unwatch = dieWithTestProcess(child, "etcd");
  if (!hooked) {
    hooked = true;
    process.once("exit", () => {
      for (const [c, d] of running) {
        c.kill("SIGCONT");
        c.kill("SIGKILL");
        rmSync(d, { recursive: true, force: true });
      }
    });
  }
  let log = "";
  const keep = (b: Buffer): void => void (log = (log + b.toString()).slice(-8000));
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const stop = async (): Promise<void> => {
    if (!running.has(child)) return;
    child.kill("SIGCONT");
    child.kill("SIGKILL");
    await exited(child);
    unwatch();
    running.delete(child);
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && child.exitCode === null) {
    try {
      const r = await fetch(`${endpoint}/health`);
      if (r.ok && ((await r.json()) as { health?: string }).health === "true") {
        return {
          endpoint,
          pid: child.pid!,
          child,
          log: () => log,
          pause: () => void child.kill("SIGSTOP"),
          resume: () => void child.kill("SIGCONT"),
          stop,
          close: stop,
        };
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  if (/address already in use/.test(log)) return undefined;
  throw new Error(`etcd not healthy after ${timeoutMs} ms: ${log.slice(-2000)}`);
}

/** Starts a single-member etcd; with `t`, stopped in `t.after`. */
export async function startEtcd(t?: AfterHook, timeoutMs = 30_000): Promise<EtcdProcess> {
  for (let i = 0; i < 3; i++) {
    const p = await startOnce(timeoutMs);
    if (p === undefined) continue;
    t?.after(() => p.stop());
    return p;
  }
  throw new Error("etcd: no free ports after 3 attempts");
}

/** Waits until `cond()` is true, polling every 20 ms; fails naming `what` after `timeoutMs` (the machine is shared). */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
