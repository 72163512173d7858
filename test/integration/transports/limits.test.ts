// Per-listener limits on every listener type (maxConnections, maxPacketSize) with real clients, and what every
// listener reports: its type, address and connections in $SYS and in the Prometheus metrics.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import net from "node:net";
import { promisify } from "node:util";
import mqtt from "mqtt";
import { makePki } from "../../helpers/certs.ts";
import { configServer } from "../../helpers/config-server.ts";
import { mqttjs, waitUntil } from "../../helpers/clients.ts";

const run = promisify(execFile);

/** Connects MQTT.js once (no reconnect): "connected", or "refused" when the socket closes before CONNACK. */
function tryConnect(t: TestContext, url: string, ca: Buffer): Promise<"connected" | "refused"> {
  const client = mqtt.connect(url, { ca, reconnectPeriod: 0, connectTimeout: 5000 });
  t.after(() => client.endAsync(true));
  return new Promise((resolve) => {
    client.once("connect", () => resolve("connected"));
    client.once("close", () => resolve("refused"));
    client.once("error", () => resolve("refused"));
  });
}

test("maxConnections works on tls, ws, wss and http listeners: the socket beyond the limit is closed, a freed slot is reused", async (t) => {
  const pki = makePki(t);
  const cert = pki.issue("server", { san: "DNS:localhost,IP:127.0.0.1" });
  const tls = { cert: cert.cert, key: cert.key };
  const s = await configServer(t, [
    { type: "tls", host: "127.0.0.1", port: 0, maxConnections: 1, tls },
    { type: "ws", host: "127.0.0.1", port: 0, maxConnections: 1 },
    { type: "wss", host: "127.0.0.1", port: 0, maxConnections: 1, tls },
    { type: "http", host: "127.0.0.1", port: 0, maxConnections: 1 },
  ]);
  const ca = pki.read(pki.ca);
  const [tlsL, wsL, wssL, httpL] = s.listeners;
  const urls: [string, string, { connections: number }][] = [
    ["tls", `mqtts://localhost:${tlsL!.port}`, tlsL!],
    ["ws", `ws://127.0.0.1:${wsL!.port}/mqtt`, wsL!],
    ["wss", `wss://localhost:${wssL!.port}/mqtt`, wssL!],
  ];
  for (const [kind, url, listener] of urls) {
    const first = await mqttjs(t, url, { ca });
    assert.equal(listener.connections, 1, kind);
    assert.equal(await tryConnect(t, url, ca), "refused", `${kind}: a second connection is refused`);
    assert.ok(first.client.connected, `${kind}: the first connection is not affected`);
    await first.client.endAsync();
    await waitUntil(() => listener.connections === 0, 5000, `${kind} slot freed`);
    assert.equal(await tryConnect(t, url, ca), "connected", `${kind}: the freed slot is usable`);
  }
  // http: a keep-alive socket holds the only slot; curl's request is cut off, then succeeds once it is released.
  const holder = net.connect(httpL!.port, "127.0.0.1");
  await new Promise((r) => holder.once("connect", r));
  await waitUntil(() => httpL!.connections === 1, 5000, "http slot taken");
  const url = `http://127.0.0.1:${httpL!.port}/topics/limits/x`;
  await assert.rejects(run("curl", ["-s", "-S", "-f", "-X", "POST", "-d", "x", url]), "curl refused");
  holder.destroy();
  await waitUntil(() => httpL!.connections === 0, 5000, "http slot freed");
  const { stdout } = await run("curl", ["-s", "-S", "-f", "-X", "POST", "-d", "x", url]);
  assert.match(stdout, /"topic":"limits\/x"/);
});

test("maxPacketSize works on tls and wss listeners: an oversize PUBLISH ends only that connection", async (t) => {
  const pki = makePki(t);
  const cert = pki.issue("server", { san: "DNS:localhost,IP:127.0.0.1" });
  const tls = { cert: cert.cert, key: cert.key };
  const s = await configServer(t, [
    { type: "tls", host: "127.0.0.1", port: 0, maxPacketSize: 1024, tls },
    { type: "wss", host: "127.0.0.1", port: 0, maxPacketSize: 1024, tls },
  ]);
  const ca = pki.read(pki.ca);
  for (const url of [`mqtts://localhost:${s.listeners[0]!.port}`, `wss://localhost:${s.listeners[1]!.port}/mqtt`]) {
    const bystander = await mqttjs(t, url, { ca });
    await bystander.client.subscribeAsync("size/#", { qos: 1 });
    const big = await mqttjs(t, url, { ca });
    const closed = new Promise<void>((r) => big.client.once("close", () => r()));
    big.client.publish("size/big", Buffer.alloc(2048), { qos: 0 });
    await closed;
    await bystander.client.publishAsync("size/ok", Buffer.alloc(512), { qos: 1 });
    await bystander.waitFor(1);
    assert.deepEqual(
      bystander.messages.map((m) => [m.topic, m.bytes.length]),
      [["size/ok", 512]],
      `${url}: only the oversize message's sender was cut off`,
    );
  }
});

test("every listener reports its type and address with its connections in $SYS and in the Prometheus gauge", async (t) => {
  const s = await configServer(
    t,
    [
      { type: "tcp", host: "127.0.0.1", port: 0 },
      { type: "ws", host: "127.0.0.1", port: 0 },
      { type: "http", host: "127.0.0.1", port: 0 },
      { type: "coap", host: "127.0.0.1", port: 0 },
    ],
    { sys: { interval: 1 } },
  );
  const [tcp, ws] = s.listeners;
  const sub = await mqttjs(t, `mqtt://127.0.0.1:${tcp!.port}`);
  await mqttjs(t, `ws://127.0.0.1:${ws!.port}/mqtt`);
  await sub.client.subscribeAsync("$SYS/broker/listeners/#", { qos: 0 });
  const want = s.listeners.map((l) => `$SYS/broker/listeners/${l.type}/127.0.0.1:${l.port}/connections`);
  const latest = (topic: string): string | undefined => sub.messages.filter((m) => m.topic === topic).at(-1)?.payload;
  await waitUntil(() => want.every((w) => latest(w) !== undefined), 5000, "one $SYS topic per listener");
  await waitUntil(() => latest(want[0]!) === "1" && latest(want[1]!) === "1", 5000, "tcp and ws count one each");
  assert.equal(latest(want[3]!), "0", "coap: no observations");
  const text = await s.metrics.scrape();
  assert.match(text, new RegExp(`wharf_listener_connections\\{type="ws",address="127.0.0.1:${ws!.port}"\\} 1`));
  assert.match(
    text,
    new RegExp(`wharf_listener_connections\\{type="coap",address="127.0.0.1:${s.listeners[3]!.port}"\\} 0`),
  );
});
