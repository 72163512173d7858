// startServer with `cluster.enabled` against a real etcd: the node registers, /readyz reports the membership, a
// clean close leaves at once, and an unreachable etcd fails the start with a clear error.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Membership, clusterKeys, connectEtcd, ClusterErrorCode } from "../../../src/cluster/index.ts";
import { startServer, validateConfig } from "../../../src/server/index.ts";
import { silentLogger, systemClock } from "../../../src/util/index.ts";
import { startEtcd, waitFor } from "../../helpers/etcd.ts";

const base = (endpoint: string, nodeId: string): object => ({
  listeners: [{ type: "tcp", host: "127.0.0.1", port: 0 }],
  storage: { type: "memory" },
  sys: { interval: 0 },
  log: { level: "silent" },
  management: { enabled: true, port: 0 },
  cluster: { enabled: true, nodeId, name: "srv", leaseTtl: 2, etcd: { endpoints: [endpoint] }, listen: { port: 0 } },
});

test("a clustered server registers in etcd, reports membership in /readyz and leaves on close", async (t) => {
  const etcd = await startEtcd(t);
  const client = connectEtcd({
    endpoints: [etcd.endpoint],
    timeoutMs: 5000,
    tls: { enabled: false, caFile: "", certFile: "", keyFile: "" },
  });
  t.after(() => client.close());
  const watcher = await Membership.join({
    etcd: client,
    keys: clusterKeys("srv"),
    nodeId: "observer",
    host: "127.0.0.1",
    port: 1,
    leaseTtl: 2,
    clock: systemClock,
    logger: silentLogger,
  });
  t.after(() => watcher.leave());
  const left: string[] = [];
  watcher.on("leave", (n) => left.push(n.id));

  const server = await startServer(validateConfig(base(etcd.endpoint, "n1")));
  let closed = false;
  t.after(() => (closed ? undefined : server.close()));
  assert.equal(server.cluster?.id, "n1");
  await waitFor(() => watcher.get("n1") !== undefined, "n1 registered");

  const mgmt = server.management!.http;
  const res = await fetch(`http://127.0.0.1:${mgmt.port}/readyz`);
  const body = (await res.json()) as { checks: { name: string; ok: boolean }[] };
  assert.equal(res.status, 200);
  assert.deepEqual(
    body.checks.find((c) => c.name === "cluster"),
    { name: "cluster", ok: true },
  );

  await server.close();
  closed = true;
  await waitFor(() => left.includes("n1"), "n1 to leave at once on close", 5_000);
});

test("a clustered server whose etcd is unreachable does not start", async () => {
  const cfg = base("http://127.0.0.1:9", "n2") as { cluster: { etcd: object } };
  cfg.cluster.etcd = { endpoints: ["http://127.0.0.1:9"], timeoutMs: 300 };
  await assert.rejects(
    startServer(validateConfig({ ...cfg, management: { enabled: false } })),
    (err: Error & { code?: string }) => err.code === ClusterErrorCode.EtcdUnavailable,
  );
});
