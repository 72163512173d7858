// Every transport to every transport: one broker with tcp, tls, ws, wss, http and coap listeners; a subscriber on
// each (MQTT.js over tcp, tls, ws and wss, an SSE reader, a CoAP observer) and one message published over each
// (MQTT.js over the four MQTT transports, an HTTP POST, a CoAP POST). Every subscriber gets all six.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Agent, request, type ObserveReadStream } from "coap";
import { makePki } from "../../helpers/certs.ts";
import { configServer } from "../../helpers/config-server.ts";
import { mqttjs, waitUntil } from "../../helpers/clients.ts";

/** The agent closes its own socket once nothing is pending; closing it again throws. */
function closeAgent(a: Agent): void {
  try {
    a.close();
  } catch {
    // already closed
  }
}

const TRANSPORTS = ["tcp", "tls", "ws", "wss", "http", "coap"] as const;

test("mixed: a message published over each transport reaches the subscribers on every transport", async (t) => {
  const pki = makePki(t);
  const cert = pki.issue("server", { san: "DNS:localhost,IP:127.0.0.1" });
  const tls = { cert: cert.cert, key: cert.key };
  const s = await configServer(t, [
    { type: "tcp", host: "127.0.0.1", port: 0 },
    { type: "tls", host: "127.0.0.1", port: 0, tls },
    { type: "ws", host: "127.0.0.1", port: 0 },
    { type: "wss", host: "127.0.0.1", port: 0, tls },
    { type: "http", host: "127.0.0.1", port: 0 },
    { type: "coap", host: "127.0.0.1", port: 0 },
  ]);
  const port = Object.fromEntries(s.listeners.map((l) => [l.type, l.port])) as Record<string, number>;
  const ca = pki.read(pki.ca);
  const urls: Record<string, string> = {
    tcp: `mqtt://127.0.0.1:${port.tcp}`,
    tls: `mqtts://localhost:${port.tls}`,
    ws: `ws://127.0.0.1:${port.ws}/mqtt`,
    wss: `wss://localhost:${port.wss}/mqtt`,
  };
  const received: Record<string, string[]> = Object.fromEntries(TRANSPORTS.map((x) => [x, []]));

  // Subscribers.
  const mqttClients: Record<string, Awaited<ReturnType<typeof mqttjs>>> = {};
  for (const [kind, url] of Object.entries(urls)) {
    const c = await mqttjs(t, url, { ca });
    await c.client.subscribeAsync("mix/#", { qos: 1 });
    c.client.on("message", (_topic, payload) => received[kind]!.push(payload.toString()));
    mqttClients[kind] = c;
  }
  const ac = new AbortController();
  t.after(() => ac.abort());
  const sse = await fetch(`http://127.0.0.1:${port.http}/topics/mix/%23?qos=1`, { signal: ac.signal });
  assert.equal(sse.status, 200);
  void (async () => {
    const reader = sse.body!.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return;
      buf += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buf.indexOf("\n\n")) >= 0) {
        const data = buf
          .slice(0, end)
          .split("\n")
          .find((l) => l.startsWith("data: "));
        buf = buf.slice(end + 2);
        if (data !== undefined) received.http!.push((JSON.parse(data.slice(6)) as { payload: string }).payload);
      }
    }
  })();
  const agent = new Agent({ type: "udp4" });
  const observation = await new Promise<ObserveReadStream>((resolve, reject) => {
    const req = request({ hostname: "127.0.0.1", port: port.coap, pathname: "/ps/mix/#", observe: true, agent });
    req.on("response", resolve);
    req.on("error", reject);
    req.end();
  });
  observation.on("data", (d: Buffer) => {
    if (d.length > 0) received.coap!.push(d.toString()); // the first, empty notification: no retained value
  });
  t.after(() => {
    observation.close();
    closeAgent(agent);
  });
  await waitUntil(() => s.listeners.find((l) => l.type === "coap")!.connections === 1, 5000, "coap observer");

  // Publishers.
  for (const kind of ["tcp", "tls", "ws", "wss"]) {
    await mqttClients[kind]!.client.publishAsync(`mix/${kind}`, `from-${kind}`, { qos: 1 });
  }
  const posted = await fetch(`http://127.0.0.1:${port.http}/topics/mix/http`, { method: "POST", body: "from-http" });
  assert.equal(posted.status, 200);
  const coapRes = await new Promise<{ code: string }>((resolve, reject) => {
    const req = request({ hostname: "127.0.0.1", port: port.coap, method: "POST", pathname: "/ps/mix/coap", agent });
    req.on("response", resolve);
    req.on("error", reject);
    req.end("from-coap");
  });
  assert.equal(coapRes.code, "2.04");

  const expected = TRANSPORTS.map((x) => `from-${x}`).sort();
  await waitUntil(
    () => TRANSPORTS.every((x) => received[x]!.length >= expected.length),
    10_000,
    "six messages on every transport",
  );
  for (const x of TRANSPORTS) assert.deepEqual([...received[x]!].sort(), expected, `subscriber over ${x}`);
});
