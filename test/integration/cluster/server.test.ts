// startServer with `cluster.enabled` against a real etcd: the node registers, /readyz reports the membership, a
// clean close leaves at once, and an unreachable etcd fails the start with a clear error.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Membership, clusterKeys, connectEtcd, ClusterErrorCode } from "../../../src/cluster/index.ts";
import { startServer, validateConfig } from "../../../src/server/index.ts";
import { silentLogger, systemClock } from "../../../src/util/index.ts";
import { startEtcd, waitFor } from "../../helpers/etcd.ts";
import type { EtcdProcess } from "../../helpers/etcd.ts";

const base = (endpoint: string, nodeId: string): object => ({
  listeners: [{ type: "tcp", host: "127.0.0.1", port: 0 }],
  storage: { type: "memory" },
  sys: { interval: 0 },
  log: { level: "silent" },
  management: { enabled: true, port: 0 },
  cluster: { enabled: true, nodeId, name: "srv", leaseTtl: 2, etcd: { endpoints: [endpoint] }, listen: { port: 0 } },
});

let etcd: EtcdProcess;
const cleanup: (() => void | Promise<void>)[] = [];
before(async () => {
  etcd = await startEtcd({ after: (fn) => cleanup.push(fn) });
});
after(async () => {
  for (const fn of cleanup) await fn();
});

test("a clustered server registers in etcd, reports membership in /readyz and leaves on close", async (t) => {
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

test("clustered servers link up through etcd: frames flow, one leader is elected (again when it leaves), a leave drops the link", async (t) => {
  const servers = await Promise.all(
    ["x1", "x2", "x3"].map((id) =>
      startServer(validateConfig({ ...base(etcd.endpoint, id), management: { enabled: false } })),
    ),
  );
  const open = new Set(servers);
  t.after(() => Promise.all([...open].map((s) => s.close())));
  const [x1, x2, x3] = servers.map((s) => s.cluster!);
  const got: string[] = [];
  for (const n of [x1!, x2!, x3!])
    n.transport.handle(40, (from, body) => got.push(`${from}>${n.id}:${body.toString()}`));
  await waitFor(
    () => [x1!, x2!, x3!].every((n) => n.membership.peers().length === 2 && n.transport.peers().length === 2),
    "every node linked to the two others",
  );
  for (const from of [x1!, x2!, x3!]) {
    for (const to of ["x1", "x2", "x3"])
      if (to !== from.id) assert.equal(from.transport.send(to, 40, Buffer.from("hi")), true);
  }
  await waitFor(() => got.length === 6, "six frames");
  assert.deepEqual(got.sort(), ["x1>x2:hi", "x1>x3:hi", "x2>x1:hi", "x2>x3:hi", "x3>x1:hi", "x3>x2:hi"]);
  // The registered address is the transport's real port (listen.port 0).
  assert.equal(x1!.membership.get("x2")!.port, x2!.transport.port);
  // Exactly one leader, known to all.
  const all = [x1!, x2!, x3!];
  await waitFor(
    () => all.every((n) => n.leader.leader !== undefined && n.leader.leader === x1!.leader.leader),
    "a leader",
  );
  assert.equal(all.filter((n) => n.leader.isLeader).length, 1);
  // The leader stops: another node is elected (at once: its lease is revoked).
  const leaderIndex = all.findIndex((n) => n.leader.isLeader);
  const rest = servers.filter((_, i) => i !== leaderIndex);
  const restNodes = rest.map((s) => s.cluster!);
  await servers[leaderIndex]!.close();
  open.delete(servers[leaderIndex]!);
  await waitFor(() => restNodes.filter((n) => n.leader.isLeader).length === 1, "a new leader", 10_000);
  await waitFor(
    () => !restNodes[0]!.transport.peers().includes(all[leaderIndex]!.id),
    "link to the old leader dropped",
  );
  assert.equal(restNodes[0]!.transport.send(all[leaderIndex]!.id, 40, Buffer.from("gone")), false);
});

test("a clustered server whose etcd is unreachable does not start", async () => {
  const cfg = base("http://127.0.0.1:9", "n2") as { cluster: { etcd: object } };
  cfg.cluster.etcd = { endpoints: ["http://127.0.0.1:9"], timeoutMs: 300 };
  await assert.rejects(
    startServer(validateConfig({ ...cfg, management: { enabled: false } })),
    (err: Error & { code?: string }) => err.code === ClusterErrorCode.EtcdUnavailable,
  );
});
