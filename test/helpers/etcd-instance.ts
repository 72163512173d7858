// Runs the Debian etcd (/usr/bin/etcd) on free loopback ports in a temp dir, for tests that need a real etcd.
// Killed with the test process if a test forgets to close it.
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./mosquitto.ts";

export const ETCD_BIN = "/usr/bin/etcd";

export interface EtcdProcess {
  /** `http://127.0.0.1:<client port>` */
  readonly endpoint: string;
  readonly child: ChildProcess;
  log(): string;
  /** SIGKILL and remove the data directory. Idempotent. */
  close(): Promise<void>;
}

const running = new Map<ChildProcess, string>();
let hooked = false;

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

async function startOnce(): Promise<EtcdProcess | undefined> {
  const dir = mkdtempSync(join(tmpdir(), "wharf-etcd-"));
  const client = await freePort();
  const peer = await freePort();
  const endpoint = `http://127.0.0.1:${client}`;
  const child = spawn(
    ETCD_BIN,
    [
      "--name",
      "wharf-test",
      "--data-dir",
      join(dir, "data"),
      "--listen-client-urls",
      endpoint,
      "--advertise-client-urls",
      endpoint,
      "--listen-peer-urls",
      `http://127.0.0.1:${peer}`,
      "--initial-advertise-peer-urls",
      `http://127.0.0.1:${peer}`,
      "--initial-cluster",
      `wharf-test=http://127.0.0.1:${peer}`,
      "--log-level",
      "warn",
      "--logger",
      "zap",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  running.set(child, dir);
  if (!hooked) {
    hooked = true;
    process.once("exit", () => {
      for (const [c, d] of running) {
        c.kill("SIGKILL");
        rmSync(d, { recursive: true, force: true });
      }
    });
  }
  let log = "";
  child.stdout.on("data", (b: Buffer) => (log += b.toString()));
  child.stderr.on("data", (b: Buffer) => (log += b.toString()));
  const close = async (): Promise<void> => {
    if (!running.has(child)) return;
    child.kill("SIGKILL");
    await exited(child);
    running.delete(child);
    rmSync(dir, { recursive: true, force: true });
  };
  // Ready when /health answers (etcd's own readiness endpoint), within 20 s on a loaded machine.
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try {
      const r = await fetch(`${endpoint}/health`);
      if (r.ok) return { endpoint, child, log: () => log, close };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await close();
  if (/address already in use/.test(log)) return undefined;
  throw new Error(`etcd did not start: ${log.slice(-2000)}`);
}

/** Starts a single-member etcd on free loopback ports (retried when a port was taken meanwhile). */
export async function startEtcd(): Promise<EtcdProcess> {
  for (let i = 0; i < 3; i++) {
    const p = await startOnce();
    if (p !== undefined) return p;
  }
  throw new Error("etcd: no free ports after 3 attempts");
}

/** Polls `cond` every 20 ms until it is true (or throws after `ms`, naming `what`). */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
