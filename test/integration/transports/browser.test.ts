// MQTT.js's browser bundle in a real headless Chromium (Debian's, driven by playwright-core) publishing and
// subscribing over WebSocket against Wharf, with the origin allow-list set to the page's origin; a Node MQTT.js
// client on the TCP listener is the other side.
import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import { launchChromium } from "../../helpers/chromium.ts";
import { startServer, validateConfig } from "../../../src/server/index.ts";
import { mqttjs } from "../../helpers/clients.ts";
import { repoRoot } from "../../helpers/spawn-wharf.ts";
import { recordingLogger } from "../../unit/broker/harness.ts";

/** The page's globals (PAGE below), as seen from page.evaluate(). */
interface PageGlobals {
  received: string[];
  start(url: string): Promise<string>;
}
declare const window: PageGlobals;

const BUNDLE = join(repoRoot, "node_modules/mqtt/dist/mqtt.min.js");

const PAGE = `<!doctype html><meta charset="utf-8"><title>wharf</title>
<script src="/mqtt.min.js"></script>
<script>
  window.received = [];
  window.start = (url) => new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { protocolVersion: 5, reconnectPeriod: 0, clientId: "chromium-page" });
    window.client = client;
    client.on("message", (topic, payload) => window.received.push(topic + "=" + new TextDecoder().decode(payload)));
    client.on("error", (e) => reject(String(e)));
    client.on("connect", () => {
      client.subscribe("to-browser/#", { qos: 1 }, (err) => {
        if (err) return reject(String(err));
        client.publish("from-browser/hello", "hello from chromium", { qos: 1 }, (e) => (e ? reject(String(e)) : resolve(client.stream.socket ? client.stream.socket.protocol : "?")));
      });
    });
  });
</script>`;

test("Chromium: MQTT.js (browser bundle) over ws:// publishes to and receives from a TCP client", async (t) => {
  // The page's own HTTP server.
  const site = http.createServer((req, res) => {
    if (req.url === "/mqtt.min.js") {
      res.writeHead(200, { "content-type": "text/javascript" });
      res.end(readFileSync(BUNDLE));
    } else {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(PAGE);
    }
  });
  site.listen(0, "127.0.0.1");
  await once(site, "listening");
  t.after(() => site.close());
  const origin = `http://127.0.0.1:${(site.address() as { port: number }).port}`;

  const s = await startServer(
    validateConfig({
      listeners: [
        { host: "127.0.0.1", port: 0 },
        { type: "ws", host: "127.0.0.1", port: 0, ws: { origins: [origin] } },
      ],
      storage: { type: "memory" },
      management: { enabled: false },
      sys: { interval: 0 },
    }),
    { logger: recordingLogger() },
  );
  t.after(() => s.close());
  const [tcp, ws] = s.listeners;
  const node = await mqttjs(t, `mqtt://127.0.0.1:${tcp!.port}`);
  await node.client.subscribeAsync("from-browser/#", { qos: 1 });

  const browser = await launchChromium(t);
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(origin);
  const url = `ws://127.0.0.1:${ws!.port}/mqtt`;
  await page.evaluate((u) => window.start(u), url);

  const fromBrowser = await node.waitFor(1);
  assert.equal(fromBrowser[0]!.topic, "from-browser/hello");
  assert.equal(fromBrowser[0]!.payload, "hello from chromium");

  // Node -> browser, including a payload large enough to span several TCP segments and WebSocket frames.
  const big = "x".repeat(100_000);
  await node.client.publishAsync("to-browser/small", "hi page", { qos: 1 });
  await node.client.publishAsync("to-browser/big", big, { qos: 0 });
  await page.waitForFunction(() => window.received.length >= 2, null, {
    timeout: 10_000,
  });
  const received = await page.evaluate(() => window.received);
  assert.deepEqual(received, ["to-browser/small=hi page", `to-browser/big=${big}`]);
  assert.deepEqual(errors, []);

  // A page from another origin is refused by the allow-list (the browser reports a failed connection).
  const other = await browser.newPage();
  await other.goto(origin.replace("127.0.0.1", "localhost"));
  const refused = await other.evaluate(
    (u) =>
      new Promise<string>((resolve) => {
        const w = new WebSocket(u, ["mqtt"]);
        w.onopen = () => resolve("open");
        w.onerror = () => resolve("error");
      }),
    url,
  );
  assert.equal(refused, "error");
});
