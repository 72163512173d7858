// `wharf queues` against a running server: the control socket in the data directory (mode 0600) and the CLI command.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import mqtt from "mqtt";
import { queuesCommand } from "../../../src/cli/queues.ts";
import { defaultConfig } from "../../../src/server/config/index.ts";
import { startServer } from "../../../src/server/index.ts";
import { silentLogger } from "../../../src/util/index.ts";

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s: string) => out.push(s), err: (s: string) => err.push(s) }, out, err };
}

test("wharf queues ls | stats | purge | redrive over the data directory's control socket", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "wharf-qctl-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = defaultConfig();
  config.listeners[0]!.host = "127.0.0.1";
  config.listeners[0]!.port = 0;
  config.storage.dataDir = join(dir, "data");
  config.log.level = "silent";
  config.queues = [{ name: "jobs", retry: { maxRetries: 0 } }];
  config.management.enabled = false; // tests never take the default 8080 (shared by every worktree's runs)
  const server = await startServer(config, { logger: silentLogger });
  t.after(() => server.close());
  const socket = join(dir, "data", "control.sock");
  assert.equal(statSync(socket).mode & 0o777, 0o600, "only the broker's user");
  const port = server.listeners[0]!.port;
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, reconnectPeriod: 0 });
  t.after(() => c.endAsync(true));
  for (const m of ["a", "b", "c"]) await c.publishAsync("$queue/jobs", m, { qos: 1 });
  const flags = { dataDir: join(dir, "data") };

  const ls = io();
  assert.equal(await queuesCommand("ls", undefined, flags, ls.io), 0);
  assert.match(ls.out.join(""), /^QUEUE\s+TYPE\s+DEPTH/);
  assert.match(ls.out.join(""), /\njobs\s+classic\s+3\s+0\s+0\s+0/);

  const stats = io();
  assert.equal(await queuesCommand("stats", "jobs", { socket }, stats.io), 0);
  assert.equal((JSON.parse(stats.out.join("")) as { depth: number }).depth, 3);

  // Two messages to the DLQ (a consumer rejects them), then redrive one back.
  await c.subscribeAsync("$queue/jobs", { qos: 1, properties: { userProperties: { prefetch: "2" } } });
  await new Promise((r) => setTimeout(r, 200));
  for (const id of ["1", "2"]) {
    await c.publishAsync("$queue/jobs/$reject", "", { qos: 1, properties: { userProperties: { "message-id": id } } });
  }
  await c.unsubscribeAsync("$queue/jobs");
  const redrive = io();
  assert.equal(await queuesCommand("redrive", "jobs", { ...flags, limit: "1" }, redrive.io), 0);
  assert.equal(redrive.out.join(""), "moved 1 dead letters back (jobs)\n");
  const purge = io();
  assert.equal(await queuesCommand("purge", "jobs", flags, purge.io), 0);
  assert.equal(purge.out.join(""), "purged 2 messages from jobs\n");
  assert.equal(server.broker.queues.info("jobs")!.depth, 0);
  assert.equal(server.broker.queues.info("dlq/jobs")!.depth, 1);

  const missing = io();
  assert.equal(await queuesCommand("stats", "nope", flags, missing.io), 1);
  assert.match(missing.err.join(""), /QUEUE_NOT_FOUND/);
  const bad = io();
  assert.equal(await queuesCommand("explode", undefined, flags, bad.io), 2);
  const nobody = io();
  assert.equal(await queuesCommand("ls", undefined, { dataDir: join(dir, "elsewhere") }, nobody.io), 1);
  assert.match(nobody.err.join(""), /cannot reach the broker's control socket/);
});

test("memory storage: no control socket by default; storage.controlSocket gives one, and a live one is not taken over", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "wharf-qctl-mem-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const start = async (controlSocket?: string) => {
    const config = defaultConfig();
    config.listeners[0]!.host = "127.0.0.1";
    config.listeners[0]!.port = 0;
    config.storage.type = "memory";
    config.storage.dataDir = join(dir, "data");
    if (controlSocket !== undefined) config.storage.controlSocket = controlSocket;
    config.management.enabled = false;
    config.log.level = "silent";
    const server = await startServer(config, { logger: silentLogger });
    t.after(() => server.close());
    return server;
  };
  await start();
  assert.equal(
    existsSync(join(dir, "data", "control.sock")),
    false,
    "auto: memory storage has no directory of its own",
  );

  const socket = join(dir, "mem.sock");
  const a = await start(socket);
  assert.equal(statSync(socket).mode & 0o777, 0o600);
  assert.ok(a.broker.queues.publish("work", { payload: Buffer.from("x") }).ok);
  const ls = io();
  assert.equal(await queuesCommand("ls", undefined, { socket }, ls.io), 0);
  assert.match(ls.out.join(""), /\nwork\s+classic\s+1\s/);

  // A second broker pointed at the same path: the socket answers, so it is not replaced (the first keeps it).
  const b = await start(socket);
  assert.ok(b.broker.queues.publish("other", { payload: Buffer.from("y") }).ok);
  const again = io();
  assert.equal(await queuesCommand("ls", undefined, { socket }, again.io), 0);
  assert.doesNotMatch(again.out.join(""), /other/, "still the first broker");
});
