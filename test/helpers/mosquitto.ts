// Runs the Debian Mosquitto broker (/usr/sbin/mosquitto) on a free loopback port with a generated config, so the
// MQTT 5.0 acceptance suite can be validated against a real reference broker before Wharf implements a feature.
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dieWithTestProcess } from "./reaper.ts";

export const MOSQUITTO_BIN = "/usr/sbin/mosquitto";

export interface MosquittoOptions {
  /** Global config lines (e.g. "max_keepalive 10"), written before the listener. */
  global?: string[];
  /** Per-listener config lines (e.g. "max_topic_alias 3"), written after "listener PORT 127.0.0.1". */
  listener?: string[];
  /** Content of an ACL file (Mosquitto acl_file syntax); written next to the config and referenced from it. */
  aclFile?: string;
  /** How long to wait for the broker to report it is running. */
  startTimeoutMs?: number;
}

export interface MosquittoProcess {
  readonly host: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** Everything the broker logged so far (stderr). */
  log(): string;
  /** SIGTERM, then SIGKILL after 3 s; removes the config directory. Idempotent. */
  close(): Promise<void>;
}

/** A port that was free a moment ago (bind to 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Brokers still running: killed if the test process exits without closing them (a crash, a cancelled run). */
const running = new Map<ChildProcess, string>();
let exitHookInstalled = false;

function track(child: ChildProcess, dir: string): void {
  running.set(child, dir);
  dieWithTestProcess(child, "mosquitto"); // its watchdog ends by itself once this mosquitto is gone
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once("exit", () => {
      for (const [c, d] of running) {
        c.kill("SIGKILL");
        rmSync(d, { recursive: true, force: true });
      }
    });
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

async function startOnce(port: number, opts: MosquittoOptions): Promise<MosquittoProcess | "port-in-use"> {
  const dir = mkdtempSync(join(tmpdir(), "wharf-mosquitto-"));
  const conf = join(dir, "mosquitto.conf");
  const lines = [
    // Running as root, Mosquitto would switch to the "mosquitto" user, which cannot read our 0700 temp dir.
    ...(process.getuid?.() === 0 ? ["user root"] : []),
    "per_listener_settings false",
    "allow_anonymous true",
    "persistence false",
    "log_dest stderr",
    "log_type error",
    "log_type warning",
    "log_type notice",
    "log_type information",
    ...(opts.global ?? []),
    ...(opts.aclFile !== undefined ? [`acl_file ${join(dir, "acl")}`] : []),
    `listener ${port} 127.0.0.1`,
    ...(opts.listener ?? []),
  ];
  if (opts.aclFile !== undefined) writeFileSync(join(dir, "acl"), opts.aclFile);
  writeFileSync(conf, lines.join("\n") + "\n");
  const child = spawn(MOSQUITTO_BIN, ["-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
  track(child, dir);
  let log = "";
  const ready = new Promise<"ok" | "port-in-use" | Error>((resolve) => {
    const timer = setTimeout(
      () => resolve(new Error(`mosquitto did not start within ${opts.startTimeoutMs ?? 5000} ms:\n${log}`)),
      opts.startTimeoutMs ?? 5000,
    );
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (s: string) => {
      log += s;
      if (/running/.test(log)) {
        clearTimeout(timer);
        resolve("ok");
      } else if (/Address already in use/i.test(log)) {
        clearTimeout(timer);
        resolve("port-in-use");
      }
    });
    child.once("error", (e) => {
      clearTimeout(timer);
      resolve(e);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      resolve(
        /Address already in use/i.test(log)
          ? "port-in-use"
          : new Error(`mosquitto exited (${code ?? signal}):\n${log}`),
      );
    });
  });
  const outcome = await ready;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const killer = setTimeout(() => child.kill("SIGKILL"), 3000);
        await exited(child);
        clearTimeout(killer);
      }
      rmSync(dir, { recursive: true, force: true });
      running.delete(child);
    })());
  if (outcome !== "ok") {
    await close();
    if (outcome === "port-in-use") return outcome;
    throw outcome;
  }
  return { host: "127.0.0.1", port, child, log: () => log, close };
}

/** Starts Mosquitto with `opts`; retries on a port race. The caller must close() it. */
export async function startMosquitto(opts: MosquittoOptions = {}): Promise<MosquittoProcess> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const r = await startOnce(await freePort(), opts);
    if (r !== "port-in-use") return r;
  }
  throw new Error("mosquitto: could not find a free port after 5 attempts");
}
