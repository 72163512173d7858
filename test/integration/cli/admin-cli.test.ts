// `wharf status`, `wharf clients ls`, `wharf retained ls|rm`, `wharf token` against a running server.
import { test } from "node:test";
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { start, token } from "../../helpers/admin-api.ts";
import { runWharf } from "../../helpers/spawn-wharf.ts";

test("admin CLI: status, clients ls, retained ls and rm; a wrong token exits 1 with the API's error", async (t) => {
  const server = await start(t);
  const port = server.listeners[0]!.port;
  const c = await mqtt.connectAsync({ host: "127.0.0.1", port, clientId: "cli-client", reconnectPeriod: 0 });
  t.after(() => c.end(true));
  await c.publishAsync("a/b", "hello", { retain: true, qos: 1 });
  const env = { WHARF_URL: `http://127.0.0.1:${server.management!.http.port}`, WHARF_TOKEN: token };

  const status = await runWharf(t, ["status"], { env });
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /clients: 1 connected/);
  const ls = await runWharf(t, ["clients", "ls"], { env });
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, /^cli-client +- +4 /m);
  const rls = await runWharf(t, ["retained", "ls", "--filter", "a/#"], { env });
  assert.match(rls.stdout, /^a\/b +1 +5 +hello$/m);
  const rm = await runWharf(t, ["retained", "rm", "a/b"], { env });
  assert.equal(rm.code, 0, rm.stderr);
  const again = await runWharf(t, ["retained", "rm", "a/b"], { env });
  assert.equal(again.code, 1);
  assert.match(again.stderr, /404 NOT_FOUND/);
  const bad = await runWharf(t, ["status", "--token", "nope"], { env });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /401 UNAUTHORIZED/);
  const tok = await runWharf(t, ["token"]);
  assert.match(tok.stdout, /^token: wharf_\S{43}\nhash: +sha256:[0-9a-f]{64}\n/);
});

test("wharf queues over the management API (--url/--token or WHARF_URL/WHARF_TOKEN): ls, stats, redrive, purge; 401 and 404 exit 1", async (t) => {
  const server = await start(t, undefined, { queues: [{ name: "jobs", retry: { maxRetries: 0 } }] });
  const q = server.broker.queues;
  for (const m of ["a", "b"]) assert.ok(q.publish("jobs", { payload: Buffer.from(m) }).ok);
  // One dead letter, made in process (the MQTT path to the DLQ is tested in test/unit/admin/queues-api.test.ts).
  const consumer = q.join("jobs", undefined, { id: "w", send: (d) => void q.reject("jobs", undefined, d.messageId) });
  q.leave(consumer);
  assert.equal(q.info("dlq/jobs")?.depth, 2);
  const url = `http://127.0.0.1:${server.management!.http.port}`;
  const env = { WHARF_URL: url, WHARF_TOKEN: token };

  const ls = await runWharf(t, ["queues", "ls"], { env });
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, /^QUEUE\s+TYPE\s+DEPTH/);
  assert.match(ls.stdout, /\njobs\s+classic\s+0\s+0\s+2\s/);
  const redrive = await runWharf(t, ["queues", "redrive", "jobs", "--limit", "1", "--url", url, "--token", token]);
  assert.equal(redrive.code, 0, redrive.stderr);
  assert.equal(redrive.stdout, "moved 1 dead letters back (jobs)\n");
  const stats = await runWharf(t, ["queues", "stats", "dlq/jobs"], { env });
  assert.equal((JSON.parse(stats.stdout) as { depth: number }).depth, 1);
  const purge = await runWharf(t, ["queues", "purge", "jobs"], { env });
  assert.equal(purge.stdout, "purged 1 messages from jobs\n");
  assert.equal(q.info("jobs")?.depth, 0);
  const missing = await runWharf(t, ["queues", "stats", "nope"], { env });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /not found \(NOT_FOUND\)/);
  const denied = await runWharf(t, ["queues", "ls", "--token", "nope"], { env });
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /UNAUTHORIZED/);
});
