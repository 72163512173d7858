// A cluster of real `wharf start` processes on one real etcd (loopback, free ports), for end-to-end tests and the
// cluster benchmarks: each node from a YAML config with management (token auth) so the test can read
// `/api/v1/cluster` and `/api/v1/cluster/queues`. Everything is killed in t.after.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashToken } from "../../src/admin/index.ts";
import { rankNodes } from "../../src/cluster/queues/index.ts";
import { spawnWharf, writeTempFile } from "./spawn-wharf.ts";
import type { WharfProcess } from "./spawn-wharf.ts";

export const CLUSTER_TOKEN = "cluster-test-token";

interface AfterHook {
  after(fn: () => void | Promise<void>): void;
}

export interface SlotView {
  slot: number;
  owner: string | undefined;
  epoch: number | undefined;
  replicas?: { node: string; acked: number; lag: number; inSync: boolean }[];
  messages?: number;
}

export interface ClusterQueuesView {
  started: boolean;
  node: string;
  slots: SlotView[];
}

export interface ClusterNodeProcess {
  readonly id: string;
  readonly proc: WharfProcess;
  /** `mqtt://127.0.0.1:<port>` of its MQTT listener. */
  readonly url: string;
  readonly mgmt: string;
  readonly dataDir: string;
  get<T>(path: string): Promise<T>;
  queues(): Promise<ClusterQueuesView>;
}

export interface ClusterNodeConfig {
  /** etcd endpoint. */
  endpoint: string;
  /** cluster.name (default e2e). */
  name?: string;
  leaseTtl?: number;
  /** Extra YAML lines under `cluster:` (two-space indented), e.g. `  queues: { replication: async }`. */
  clusterYaml?: string[];
  /** Extra top-level YAML lines. */
  yaml?: string[];
  /** A data directory to reuse (a restart); default a new temporary one. */
  dataDir?: string;
}

export function clusterYaml(id: string, c: ClusterNodeConfig, dataDir: string): string {
  return [
    "log: { level: info, format: json }",
    "sys: { interval: 0 }",
    `storage: { dataDir: "${dataDir}" }`,
    `management: { tokens: [{ name: test, hash: "${hashToken(CLUSTER_TOKEN)}" }] }`,
    ...(c.yaml ?? []),
    "cluster:",
    "  enabled: true",
    `  nodeId: ${id}`,
    `  name: ${c.name ?? "e2e"}`,
    `  leaseTtl: ${c.leaseTtl ?? 2}`,
    `  etcd: { endpoints: ["${c.endpoint}"] }`,
    "  listen: { host: 127.0.0.1, port: 0 }",
    ...(c.clusterYaml ?? []),
    "",
  ].join("\n");
}

/** A temporary directory removed in t.after. */
export function tempDir(t: AfterHook, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts one node (`wharf start --config`) and waits for its "listening" line. */
export async function startClusterNode(
  t: AfterHook,
  id: string,
  c: ClusterNodeConfig,
  args: string[] = [],
): Promise<ClusterNodeProcess> {
  const dataDir = c.dataDir ?? tempDir(t, `wharf-${id}-`);
  const file = writeTempFile(t, `${id}.yaml`, clusterYaml(id, c, dataDir));
  const proc = await spawnWharf(t, { args: ["--config", file, ...args], timeoutMs: 90_000 });
  const listening = await proc.waitForLog((l) => l.msg === "listening");
  const mgmt = `http://127.0.0.1:${(listening.management as { port: number }).port}`;
  const get = async <T>(path: string): Promise<T> => {
    const r = await fetch(`${mgmt}${path}`, { headers: { authorization: `Bearer ${CLUSTER_TOKEN}` } });
    assert.equal(r.status, 200, `${id} ${path}: ${r.status}`);
    return (await r.json()) as T;
  };
  return {
    id,
    proc,
    url: `mqtt://127.0.0.1:${proc.port}`,
    mgmt,
    dataDir,
    get,
    queues: () => get<ClusterQueuesView>("/api/v1/cluster/queues"),
  };
}

/** Polls `check` (async) until it returns true. */
export async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  let ok = false;
  const deadline = Date.now() + timeoutMs;
  while (!(ok = await check().catch(() => false)) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 100));
  assert.ok(ok, `timed out waiting for ${what}`);
}

/**
 * Ownership has settled as `from` sees it: every slot is owned by the node that ranks first for it among `owners`
 * (so no handoff is pending) — and, when `all` views are given, each owner reports its replicas in sync.
 */
export async function slotsSettled(
  from: ClusterNodeProcess,
  owners: readonly string[],
  all: readonly ClusterNodeProcess[] = [],
): Promise<boolean> {
  const v = await from.queues();
  if (!v.started || !v.slots.every((s) => s.owner === rankNodes(owners, s.slot)[0])) return false;
  for (const n of all) {
    const mine = (await n.queues()).slots.filter((s) => s.owner === n.id);
    if (!mine.every((s) => s.replicas !== undefined && s.replicas.length > 0 && s.replicas.every((r) => r.inSync)))
      return false;
  }
  return true;
}
