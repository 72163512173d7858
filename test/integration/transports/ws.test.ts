// MQTT over WebSocket (ws and wss) with MQTT.js from Node and a raw `ws` client for the framing rules: several
// packets in one message, one packet across messages, subprotocols, text frames, oversize messages, origins,
// ping/pong and close codes.
import { test } from "node:test";
import assert from "node:assert/strict";
import mqttPacket from "mqtt-packet";
import WebSocket from "ws";
import { makePki } from "../../helpers/certs.ts";
import { configServer } from "../../helpers/config-server.ts";
import { mqttjs, waitUntil } from "../../helpers/clients.ts";

type T = { after(fn: () => unknown): void };

const server = configServer;

const gen = (p: object): Buffer => mqttPacket.generate(p as mqttPacket.Packet, { protocolVersion: 4 });
const CONNECT = (clientId: string) =>
  gen({ cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clean: true, clientId, keepalive: 0 });

/** A raw WebSocket client that parses the MQTT packets it receives (with mqtt-packet). */
async function rawClient(t: T, url: string, protocols: string[] = ["mqtt"], headers: Record<string, string> = {}) {
  const ws = new WebSocket(url, protocols, { headers });
  t.after(() => ws.terminate());
  const packets: mqttPacket.Packet[] = [];
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  parser.on("packet", (p) => packets.push(p));
  ws.on("message", (data: Buffer) => parser.parse(data));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  return { ws, packets, closed };
}

/** Resolves with the HTTP status an upgrade attempt is refused with (or 101). */
function upgradeStatus(
  url: string,
  protocols: string[],
  headers: Record<string, string> = {},
  opts: WebSocket.ClientOptions = {},
): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, protocols, { headers, ...opts });
    ws.on("unexpected-response", (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on("open", () => {
      resolve(101);
      ws.terminate();
    });
    ws.on("error", () => resolve(-1)); // e.g. the TLS handshake failed
  });
}

test("ws: MQTT.js over ws:// (3.1.1 and 5.0) reaches a TCP subscriber and back; the listener reports type ws", async (t) => {
  const s = await server(t, [
    { host: "127.0.0.1", port: 0 },
    { type: "ws", host: "127.0.0.1", port: 0 },
  ]);
  const [tcp, ws] = s.listeners;
  assert.equal(ws!.type, "ws");
  const url = `ws://127.0.0.1:${ws!.port}/mqtt`;
  const tcpSub = await mqttjs(t, `mqtt://127.0.0.1:${tcp!.port}`);
  await tcpSub.client.subscribeAsync("ws/#", { qos: 1 });
  const wsSub = await mqttjs(t, url, { protocolVersion: 5 });
  await wsSub.client.subscribeAsync("tcp/#", { qos: 1 });
  const wsPub = await mqttjs(t, url, { protocolVersion: 4 });
  await wsPub.client.publishAsync("ws/a", "from ws", { qos: 1 });
  const tcpPub = await mqttjs(t, `mqtt://127.0.0.1:${tcp!.port}`);
  const big = Buffer.alloc(200_000, 7); // written as one message made of several frames
  await tcpPub.client.publishAsync("tcp/b", "from tcp", { qos: 1 });
  await tcpPub.client.publishAsync("tcp/big", big, { qos: 0 });
  assert.equal((await tcpSub.waitFor(1))[0]!.payload, "from ws");
  const got = await wsSub.waitFor(2);
  assert.equal(got[0]!.payload, "from tcp");
  assert.ok(got[1]!.bytes.equals(big));
  assert.equal(ws!.connections, 2);
});

test("ws: several MQTT packets in one message and one packet across several messages [MQTT-6.0.0-2]", async (t) => {
  const s = await server(t, [{ type: "ws", host: "127.0.0.1", port: 0 }]);
  const url = `ws://127.0.0.1:${s.listeners[0]!.port}/mqtt`;
  const sub = await mqttjs(t, url);
  await sub.client.subscribeAsync("frag/#", { qos: 0 });
  const raw = await rawClient(t, url);
  // CONNECT + SUBSCRIBE + PUBLISH coalesced in one WebSocket message.
  raw.ws.send(
    Buffer.concat([
      CONNECT("raw1"),
      gen({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "back", qos: 0 }] }),
      gen({ cmd: "publish", topic: "frag/one", payload: "coalesced", qos: 0, retain: false, dup: false }),
    ]),
  );
  // One PUBLISH split across three messages (byte-wise, inside the header and the payload).
  const pub = gen({
    cmd: "publish",
    topic: "frag/two",
    payload: "spanning three messages",
    qos: 1,
    messageId: 7,
    retain: false,
    dup: false,
  });
  raw.ws.send(pub.subarray(0, 1));
  raw.ws.send(pub.subarray(1, 9));
  raw.ws.send(pub.subarray(9));
  const msgs = await sub.waitFor(2);
  assert.deepEqual(
    msgs.map((m) => `${m.topic}=${m.payload}`),
    ["frag/one=coalesced", "frag/two=spanning three messages"],
  );
  await waitUntil(() => raw.packets.length >= 3, 5000, "CONNACK, SUBACK, PUBACK");
  assert.deepEqual(
    raw.packets.map((p) => p.cmd),
    ["connack", "suback", "puback"],
  );
});

test("ws: subprotocol mqtt or mqttv3.1 is selected; other subprotocols, a wrong path and a foreign origin are refused", async (t) => {
  const s = await server(t, [
    { type: "ws", host: "127.0.0.1", port: 0, ws: { path: "/broker", origins: ["https://app.example.com"] } },
  ]);
  const base = `ws://127.0.0.1:${s.listeners[0]!.port}`;
  const okOrigin = { origin: "https://app.example.com" };
  const a = await rawClient(t, `${base}/broker`, ["mqtt"], okOrigin);
  assert.equal(a.ws.protocol, "mqtt");
  const b = await rawClient(t, `${base}/broker`, ["mqttv3.1"], okOrigin);
  assert.equal(b.ws.protocol, "mqttv3.1");
  const c = await rawClient(t, `${base}/broker?x=1`, ["foo", "mqtt"], okOrigin);
  assert.equal(c.ws.protocol, "mqtt");
  assert.equal(await upgradeStatus(`${base}/broker`, ["foo"], okOrigin), 400);
  assert.equal(await upgradeStatus(`${base}/mqtt`, ["mqtt"], okOrigin), 404);
  assert.equal(await upgradeStatus(`${base}/broker`, ["mqtt"], { origin: "https://evil.example" }), 403);
  assert.equal(await upgradeStatus(`${base}/broker`, ["mqtt"]), 403); // no Origin at all
  // A plain GET of the endpoint: JSON 404 (no HTTP bridge on this listener).
  const res = await fetch(`http://127.0.0.1:${s.listeners[0]!.port}/broker`);
  assert.equal(res.status, 404);
  assert.match(res.headers.get("content-type") ?? "", /json/);
});

test("ws: text frames close with 1003, messages over maxPacketSize with 1009, DISCONNECT with 1000; ping gets pong", async (t) => {
  const s = await server(t, [{ type: "ws", host: "127.0.0.1", port: 0, maxPacketSize: 1024 }]);
  const url = `ws://127.0.0.1:${s.listeners[0]!.port}/mqtt`;
  const live = await mqttjs(t, url);

  const text = await rawClient(t, url);
  text.ws.send(CONNECT("text").toString("latin1")); // a text frame [MQTT-6.0.0-1]
  assert.equal((await text.closed).code, 1003);

  const big = await rawClient(t, url);
  big.ws.send(CONNECT("big"));
  big.ws.send(Buffer.alloc(2000, 0x30)); // one 2000-byte message
  assert.equal((await big.closed).code, 1009);

  const pinger = await rawClient(t, url);
  const pong = new Promise<Buffer>((resolve) => pinger.ws.once("pong", resolve));
  pinger.ws.ping(Buffer.from("hi"));
  assert.equal((await pong).toString(), "hi");
  pinger.ws.send(CONNECT("bye"));
  await waitUntil(() => pinger.packets.length === 1, 5000, "CONNACK");
  pinger.ws.send(gen({ cmd: "disconnect" }));
  assert.equal((await pinger.closed).code, 1000);

  // Garbage (not MQTT) in a binary message: the broker closes that connection only.
  const junk = await rawClient(t, url);
  junk.ws.send(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]));
  assert.equal((await junk.closed).code, 1000);

  await live.client.subscribeAsync("still", { qos: 1 });
  await live.client.publishAsync("still", "alive", { qos: 1 });
  assert.equal((await live.waitFor(1))[0]!.payload, "alive");
});

test("ws: server shutdown closes WebSocket clients with 1000", async (t) => {
  const s = await server(t, [{ type: "ws", host: "127.0.0.1", port: 0 }]);
  const raw = await rawClient(t, `ws://127.0.0.1:${s.listeners[0]!.port}/mqtt`);
  raw.ws.send(CONNECT("shut"));
  await waitUntil(() => raw.packets.length === 1, 5000, "CONNACK");
  await s.close();
  assert.equal((await raw.closed).code, 1000);
});

test("wss: MQTT.js over wss:// with the tls section; mTLS user name mapping works on wss too", async (t) => {
  const pki = makePki(t);
  const cert = pki.issue("server", { san: "DNS:localhost,IP:127.0.0.1" });
  const s = await server(
    t,
    [
      { type: "wss", host: "127.0.0.1", port: 0, tls: { cert: cert.cert, key: cert.key } },
      {
        type: "wss",
        host: "127.0.0.1",
        port: 0,
        tls: { cert: cert.cert, key: cert.key, ca: pki.ca, requireClientCert: true, usernameFrom: "cn" },
      },
    ],
    { acl: [{ permission: "deny", action: "publish", topic: "#", username: "reader" }] },
  );
  assert.equal(s.listeners[0]!.type, "wss");
  const ca = pki.read(pki.ca);
  const url = `wss://127.0.0.1:${s.listeners[0]!.port}/mqtt`;
  const sub = await mqttjs(t, url, { ca, servername: "localhost", protocolVersion: 5 });
  await sub.client.subscribeAsync("s/#", { qos: 1 });
  const mtls = `wss://127.0.0.1:${s.listeners[1]!.port}/mqtt`;
  const writer = pki.issue("writer");
  const reader = pki.issue("reader");
  const w = await mqttjs(t, mtls, {
    ...pki.client(writer),
    protocolVersion: 5,
  });
  await w.client.publishAsync("s/1", "secure", { qos: 1 });
  const r = await mqttjs(t, mtls, {
    ...pki.client(reader),
    protocolVersion: 5,
  });
  await assert.rejects(r.client.publishAsync("s/2", "denied", { qos: 1 }), /135|Not authorized/i);
  assert.equal((await sub.waitFor(1))[0]!.payload, "secure");
  // Without a client certificate the mTLS wss listener refuses the handshake.
  assert.equal(await upgradeStatus(mtls, ["mqtt"], {}, { ca, servername: "localhost" } as WebSocket.ClientOptions), -1);
});
