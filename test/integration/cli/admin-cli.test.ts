// `wharf status`, `wharf clients ls`, `wharf retained ls|rm`, `wharf token` against a running server.
import { test } from "node:test";
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { generateToken } from "../../../src/admin/index.ts";
import { startServer, validateConfig } from "../../../src/server/index.ts";
import { recordingLogger } from "../../unit/broker/harness.ts";
import { runWharf } from "../../helpers/spawn-wharf.ts";

test("admin CLI: status, clients ls, retained ls and rm; a wrong token exits 1 with the API's error", async (t) => {
  const { token, hash } = generateToken();
  const config = validateConfig({
    listeners: [{ host: "127.0.0.1", port: 0 }],
    storage: { type: "memory" },
    sys: { interval: 0 },
    management: { port: 0, tokens: [{ name: "cli", hash }] },
  });
  const server = await startServer(config, { logger: recordingLogger() });
  t.after(() => server.close());
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
