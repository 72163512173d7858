// The real `wharf start` serving real MQTT.js clients, and its graceful shutdown.
import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer } from "node:net";
import mqtt from "mqtt";
import { runWharf, spawnWharf, writeTempFile } from "../../helpers/spawn-wharf.ts";

type Client = Awaited<ReturnType<typeof mqtt.connectAsync>>;

async function connect(t: { after(fn: () => unknown): void }, port: number, clientId: string): Promise<Client> {
  const client = await mqtt.connectAsync({
    host: "127.0.0.1",
    port,
    clientId,
    reconnectPeriod: 0,
    connectTimeout: 20_000,
  });
  t.after(() => client.end(true));
  return client;
}

test("the example config starts; the listening line has the real port; MQTT.js connects and gets its messages", async (t) => {
  const wharf = await spawnWharf(t, { args: ["--config", "config/wharf.example.yaml"] });
  assert.equal(wharf.host, "127.0.0.1");
  assert.ok(wharf.port > 0 && wharf.port !== 1883, `port ${wharf.port}`);
  assert.deepEqual(wharf.listeners, [{ type: "tcp", host: "127.0.0.1", port: wharf.port }]);

  const sub = await connect(t, wharf.port, "cli-sub");
  const pub = await connect(t, wharf.port, "cli-pub");
  await sub.subscribeAsync("cli/test/#", { qos: 1 });
  const received = new Promise<[string, Buffer]>((resolve) => sub.once("message", (tp, p) => resolve([tp, p])));
  await pub.publishAsync("cli/test/a", "hello", { qos: 1 });
  const [topic, payload] = await received;
  assert.equal(topic, "cli/test/a");
  assert.equal(payload.toString(), "hello");
});

test("SIGTERM: clients see the connection closed, the process logs its shutdown and exits 0", async (t) => {
  const wharf = await spawnWharf(t);
  const client = await connect(t, wharf.port, "cli-sigterm");
  const closed = new Promise<void>((resolve) => client.once("close", () => resolve()));
  const exit = await wharf.kill("SIGTERM");
  await closed;
  assert.equal(client.connected, false);
  assert.deepEqual(exit, { code: 0, signal: null }, wharf.stderr());
  const msgs = wharf.logs.map((l) => l.msg);
  assert.ok(msgs.includes("shutting down (send the signal again to force)"), JSON.stringify(msgs));
  assert.ok(msgs.includes("stopped"), JSON.stringify(msgs));
});

test("SIGINT shuts down gracefully too (exit 0)", async (t) => {
  const wharf = await spawnWharf(t);
  const exit = await wharf.kill("SIGINT");
  assert.deepEqual(exit, { code: 0, signal: null }, wharf.stderr());
});

test("several listeners: each gets its own port, all in the listening line, all serve MQTT", async (t) => {
  const file = writeTempFile(
    t,
    "two.yaml",
    "listeners:\n  - { host: 127.0.0.1, port: 0 }\n  - { host: 127.0.0.1, port: 0 }\n",
  );
  const wharf = await spawnWharf(t, { args: ["--config", file] });
  assert.equal(wharf.listeners.length, 2);
  const [a, b] = wharf.listeners;
  assert.notEqual(a!.port, b!.port);
  for (const l of wharf.listeners) {
    const c = await connect(t, l.port, `cli-multi-${l.port}`);
    assert.equal(c.connected, true);
  }
});

test("a port already in use: logs the error and exits 1", async (t) => {
  const blocker = createServer();
  blocker.listen(0, "127.0.0.1");
  await once(blocker, "listening");
  t.after(() => blocker.close());
  const address = blocker.address();
  assert.ok(address !== null && typeof address === "object");
  const r = await runWharf(t, ["start", "--host", "127.0.0.1", "--port", String(address.port), "--log-format", "json"]);
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stdout
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l));
  const failure = lines.find((l) => l.msg === "could not start");
  assert.ok(failure, r.stdout);
  assert.match(JSON.stringify(failure.err), /EADDRINUSE/);
  assert.ok(!lines.some((l) => l.msg === "listening"));
});
