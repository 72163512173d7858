// Metrics and webhooks fed by the broker's event seam, end to end: a real server, MQTT.js clients, a real HTTP
// receiver for the webhook, /metrics parsed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import mqtt from "mqtt";
import { request } from "undici";
import { configServer } from "../../helpers/config-server.ts";
import { parsePrometheusText, sampleValue } from "../../helpers/prom-text.ts";
import { receiver, until } from "../../helpers/webhook-receiver.ts";

test("webhooks from broker events: connect, refused connect, subscribe, publish (topic filter), disconnect — signed", async (t) => {
  const rx = await receiver(t);
  const server = await configServer(t, [{ host: "127.0.0.1", port: 0 }], {
    management: { port: 0 },
    mqtt: { allowAnonymous: false },
    auth: { passwordFile: "" },
    webhooks: [
      {
        name: "rx",
        url: rx.url,
        secret: "k",
        batchDelayMs: 10,
        events: [
          "client.connected",
          "client.disconnected",
          "client.connect_refused",
          "subscription.created",
          "message.published",
        ],
        topics: ["sensors/#"],
      },
    ],
  });
  const port = server.listeners[0]!.port;
  // Anonymous is refused (no users configured): a connect_refused event.
  await assert.rejects(
    mqtt.connectAsync({ host: "127.0.0.1", port, clientId: "nobody", reconnectPeriod: 0, protocolVersion: 5 }),
  );
  await until(() => rx.batches.flatMap((b) => b.body.events).some((e) => e.type === "client.connect_refused"));
  const refused = rx.batches.flatMap((b) => b.body.events).find((e) => e.type === "client.connect_refused")!;
  assert.equal(refused.data.clientId, "nobody");
  assert.equal(refused.data.reasonCode, 0x87);
  for (const b of rx.batches) {
    const ts = String(b.headers["x-wharf-timestamp"]);
    assert.equal(
      b.headers["x-wharf-signature"],
      `sha256=${createHmac("sha256", "k").update(`${ts}.${b.raw}`).digest("hex")}`,
    );
    assert.equal(b.body.schemaVersion, 1);
  }
});

test("webhooks and metrics from broker events with anonymous clients; per-QoS counts match the traffic", async (t) => {
  const rx = await receiver(t);
  const server = await configServer(t, [{ host: "127.0.0.1", port: 0 }], {
    management: { port: 0 },
    webhooks: [
      {
        name: "rx",
        url: rx.url,
        batchDelayMs: 10,
        events: ["client.connected", "client.disconnected", "subscription.created", "message.published"],
        topics: ["sensors/#"],
      },
    ],
  });
  const port = server.listeners[0]!.port;
  const sub = await mqtt.connectAsync({ host: "127.0.0.1", port, clientId: "ev-sub", reconnectPeriod: 0 });
  const pub = await mqtt.connectAsync({ host: "127.0.0.1", port, clientId: "ev-pub", reconnectPeriod: 0 });
  await sub.subscribeAsync("#", { qos: 2 });
  let got = 0;
  sub.on("message", () => got++);
  await pub.publishAsync("sensors/a", "1", { qos: 0 });
  await pub.publishAsync("sensors/b", "2", { qos: 1 });
  await pub.publishAsync("sensors/c", "3", { qos: 2 });
  await pub.publishAsync("other/x", "4", { qos: 1 });
  await until(() => got === 4);
  await pub.endAsync();
  await sub.endAsync();
  await until(
    () => rx.batches.flatMap((b) => b.body.events).filter((e) => e.type === "client.disconnected").length === 2,
  );
  const events = rx.batches.flatMap((b) => b.body.events);
  assert.deepEqual(
    events.filter((e) => e.type === "client.connected").map((e) => e.data.clientId),
    ["ev-sub", "ev-pub"],
  );
  assert.deepEqual(
    events.filter((e) => e.type === "subscription.created").map((e) => [e.data.clientId, e.data.filter, e.data.qos]),
    [["ev-sub", "#", 2]],
  );
  // The topic filter sensors/# keeps other/x out.
  assert.deepEqual(
    events.filter((e) => e.type === "message.published").map((e) => [e.topic, e.data.qos]),
    [
      ["sensors/a", 0],
      ["sensors/b", 1],
      ["sensors/c", 2],
    ],
  );
  assert.deepEqual(
    events.filter((e) => e.type === "client.disconnected").map((e) => e.data.initiator),
    ["client", "client"],
  );

  // The receiver has every batch; the broker counts a batch delivered once the HTTP worker thread hands back the
  // receiver's status (src/admin/http-worker.ts), a moment later: scrape until it has (the assertion below decides).
  const scrape = async () =>
    parsePrometheusText(await (await request(`http://127.0.0.1:${server.management!.http.port}/metrics`)).body.text());
  const delivered = (e: Awaited<ReturnType<typeof scrape>>) =>
    sampleValue(e, "wharf_webhook_events_total", { webhook: "rx", outcome: "delivered" });
  let exp = await scrape();
  for (const end = Date.now() + 10_000; delivered(exp) !== events.length && Date.now() < end; exp = await scrape()) {
    await new Promise((r) => setTimeout(r, 20));
  }
  for (const [qos, n] of [
    ["0", 1],
    ["1", 2],
    ["2", 1],
  ] as const) {
    assert.equal(sampleValue(exp, "wharf_messages_received_by_qos_total", { qos }), n, `in qos ${qos}`);
  }
  // Delivered at min(publish QoS, granted 2): the same split.
  assert.equal(sampleValue(exp, "wharf_messages_sent_by_qos_total", { qos: "1" }), 2);
  assert.equal(sampleValue(exp, "wharf_messages_sent_by_qos_total", { qos: "2" }), 1);
  assert.equal(sampleValue(exp, "wharf_connections_total", { transport: "tcp" }), 2);
  assert.equal(sampleValue(exp, "wharf_disconnections_total", { initiator: "client" }), 2);
  assert.equal(delivered(exp), events.length);
});

test("auth failures are counted by reason code; drops by reason", async (t) => {
  const server = await configServer(t, [{ host: "127.0.0.1", port: 0 }], {
    management: { port: 0 },
    mqtt: { allowAnonymous: false, maxQueuedMessages: 1 },
  });
  const port = server.listeners[0]!.port;
  for (let i = 0; i < 3; i++) {
    await assert.rejects(mqtt.connectAsync({ host: "127.0.0.1", port, reconnectPeriod: 0, protocolVersion: 5 }));
  }
  const res = await request(`http://127.0.0.1:${server.management!.http.port}/metrics`);
  const exp = parsePrometheusText(await res.body.text());
  assert.equal(sampleValue(exp, "wharf_auth_failures_total", { reason_code: "0x87" }), 3);
  assert.equal(sampleValue(exp, "wharf_messages_dropped_total", { reason: "queue-full" }), 0);
});
