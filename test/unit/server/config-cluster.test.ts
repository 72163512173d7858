// The `cluster` config section: defaults (off, lease TTL <= 3 s) and path-named errors for every bad value.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, defaultConfig, validateConfig } from "../../../src/server/index.ts";

function issues(raw: unknown): { path: string; message: string }[] {
  try {
    validateConfig(raw);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.errors.map((e) => ({ path: e.path, message: e.message }));
  }
  assert.fail("expected the config to be refused");
}

test("cluster defaults: off, lease TTL 3 s, etcd on localhost, inter-node port 7946", () => {
  const c = defaultConfig().cluster;
  assert.equal(c.enabled, false);
  assert.ok(c.leaseTtl <= 3);
  assert.deepEqual(c.etcd.endpoints, ["http://127.0.0.1:2379"]);
  assert.deepEqual(c.listen, { host: "127.0.0.1", port: 7946 });
});

test("cluster config: a valid clustered node", () => {
  const c = validateConfig({
    cluster: { enabled: true, nodeId: "n1", etcd: { endpoints: ["http://10.0.0.1:2379"] }, listen: { port: 0 } },
  }).cluster;
  assert.equal(c.nodeId, "n1");
  assert.equal(c.listen.port, 0);
});

test("cluster config: every bad value is named by its path", () => {
  const found = issues({
    cluster: {
      enabled: true,
      nodeId: "bad id",
      leaseTtl: 1,
      etcd: { endpoints: ["127.0.0.1:2379", "https://e:2379"], tls: { enabled: false } },
      listen: { host: "0.0.0.0", port: 70000 },
      tls: { enabled: true, certFile: "c.pem" },
      nodeid: "typo",
    },
  });
  const paths = found.map((f) => f.path).sort();
  assert.deepEqual(paths, ["cluster.etcd.endpoints[0]", "cluster.leaseTtl", "cluster.listen.port", "cluster.nodeid"]);
  assert.match(found.find((f) => f.path === "cluster.nodeid")!.message, /did you mean "nodeId"/);
  // The cross-field checks run once the values themselves are valid.
  const second = issues({
    cluster: {
      enabled: true,
      nodeId: "bad id",
      etcd: { endpoints: ["https://e:2379"] },
      listen: { host: "0.0.0.0" },
      tls: { enabled: true, certFile: "c.pem" },
    },
  });
  assert.deepEqual(second.map((f) => f.path).sort(), [
    "cluster.advertiseHost",
    "cluster.etcd.endpoints[0]",
    "cluster.nodeId",
    "cluster.tls.caFile",
    "cluster.tls.keyFile",
  ]);
  assert.match(second.find((f) => f.path === "cluster.etcd.endpoints[0]")!.message, /needs etcd\.tls\.enabled/);
});

test("cluster config: a node id is only required when enabled", () => {
  assert.equal(validateConfig({ cluster: { enabled: false } }).cluster.nodeId, "");
  assert.deepEqual(
    issues({ cluster: { enabled: true } }).map((f) => f.path),
    ["cluster.nodeId"],
  );
});
