// Processes for the cluster benchmarks: a real etcd and `wharf start` nodes (single or clustered), each on free
// loopback ports with its own temporary directory; all killed (and the directories removed) when the process exits.
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { BenchClient } from "../lib/client.ts";
import { freePort } from "../lib/children.ts";
import { PROTOCOL } from "../lib/mqtt-packets.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

const children: ChildProcess[] = [];
/** Process id by MQTT port (nodes) and of etcd: for CPU readings. */
const pids = new Map<number, number>();
let etcdPidValue = -1;

export function pidOf(port: number): number {
  return pids.get(port) ?? -1;
}

export function etcdPid(): number {
  return etcdPidValue;
}
const dirs: string[] = [];
function cleanup(): void {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
process.on("exit", cleanup);
process.on("SIGINT", () => process.exit(130));

export async function startEtcd(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "wharf-bench-etcd-"));
  dirs.push(dir);
  const [client, peer] = [await freePort(), await freePort()];
  const c = `http://127.0.0.1:${client}`;
  const p = `http://127.0.0.1:${peer}`;
  const child = spawn(
    "etcd",
    [
      "--name=b",
      `--data-dir=${dir}/data`,
      `--listen-client-urls=${c}`,
      `--advertise-client-urls=${c}`,
      `--listen-peer-urls=${p}`,
      `--initial-advertise-peer-urls=${p}`,
      `--initial-cluster=b=${p}`,
      "--log-level=error",
    ],
    { stdio: "ignore" },
  );
  children.push(child);
  etcdPidValue = child.pid ?? -1;
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`${c}/health`)).ok) return c;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("etcd did not start");
}

/** Starts `wharf start` with a config; resolves with its MQTT port once it logs "listening". */
export async function startWharf(name: string, cluster: object | undefined): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), `wharf-bench-${name}-`));
  dirs.push(dir);
  const port = await freePort();
  const config = {
    listeners: [{ type: "tcp", host: "127.0.0.1", port }],
    storage: { type: "memory" },
    sys: { interval: 0 },
    log: { level: process.env.BENCH_LOG ?? "warn", format: "json" },
    management: { enabled: false },
    ...(cluster === undefined ? {} : { cluster }),
  };
  const file = join(dir, "wharf.json.yaml");
  writeFileSync(file, JSON.stringify(config)); // JSON is YAML
  const child = spawn(
    process.execPath,
    [...nodeArgs(name), "--import", "tsx", "src/cli/main.ts", "start", "--config", file],
    {
      cwd: root,
      stdio: ["ignore", process.env.BENCH_LOG === undefined ? "ignore" : "inherit", "inherit"],
    },
  );
  children.push(child);
  pids.set(port, child.pid ?? -1);
  for (let i = 0; i < 600; i++) {
    try {
      const c = await BenchClient.connect({ port, clientId: `probe-${name}`, protocol: PROTOCOL.v311 });
      await c.close();
      return port;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${name} did not start`);
}

/** BENCH_CPU_PROF=<dir>: every node runs with --cpu-prof into <dir>/<name> (written when it stops cleanly). */
function nodeArgs(name: string): string[] {
  const dir = process.env.BENCH_CPU_PROF;
  return dir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${join(dir, name)}`];
}

/** The `cluster` config of node `id` of a benchmark cluster on `etcd`. */
export function clusterConfig(id: string, etcd: string): object {
  return {
    enabled: true,
    nodeId: id,
    name: "bench",
    etcd: { endpoints: [etcd] },
    listen: { host: "127.0.0.1", port: 0 },
  };
}

/** Kills the most recently started process (the single node, before the cluster starts). */
export function killLast(): void {
  children.at(-1)?.kill("SIGKILL");
}

/** Stops every process with SIGTERM and waits for the exits (a node run with --cpu-prof writes its profile then). */
export async function stopAll(): Promise<void> {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once("exit", () => resolve());
          c.kill("SIGTERM");
        }),
    ),
  );
}
