// Connections, disconnections and refused CONNECTs in /metrics come from the broker's counters, read at scrape
// time: the metrics alone subscribe none of the per-connection event channels (a connection storm then builds no
// event object and publishes on no channel for them; issue #10), and each scrape adds only what happened since the
// previous one.
import { test } from "node:test";
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { request } from "undici";
import { BrokerEventBridge } from "../../../src/admin/index.ts";
import type { EventMetrics } from "../../../src/admin/index.ts";
import { BrokerChannel } from "../../../src/broker/index.ts";
import { configServer } from "../../helpers/config-server.ts";
import { parsePrometheusText, sampleValue } from "../../helpers/prom-text.ts";

const noMetrics: EventMetrics = {
  dropped: () => {},
  deadLettered: () => {},
};

test("the metrics subscribe no connect, disconnect or auth-result channel (counted by the broker instead)", () => {
  const bridge = new BrokerEventBridge({ brokerId: "b", metrics: noMetrics });
  try {
    const channels = bridge.channels;
    for (const c of [BrokerChannel.Connect, BrokerChannel.Disconnect, BrokerChannel.AuthResult]) {
      assert.ok(!channels.includes(c), `${c} subscribed`);
    }
    assert.ok(channels.includes(BrokerChannel.Drop)); // still an event: not a per-connection count
  } finally {
    bridge.close();
  }
});

test("connections, disconnections and auth failures accumulate across scrapes without counting twice", async (t) => {
  const server = await configServer(t, [{ host: "127.0.0.1", port: 0 }], {
    management: { port: 0 },
    mqtt: { allowAnonymous: true },
  });
  const port = server.listeners[0]!.port;
  const scrape = async () => {
    const res = await request(`http://127.0.0.1:${server.management!.http.port}/metrics`);
    return parsePrometheusText(await res.body.text());
  };
  const connectAndEnd = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const c = await mqtt.connectAsync({ host: "127.0.0.1", port, reconnectPeriod: 0 });
      await c.endAsync();
    }
  };
  await connectAndEnd(2);
  let exp = await scrape();
  assert.equal(sampleValue(exp, "wharf_connections_total", { transport: "tcp" }), 2);
  await connectAndEnd(3);
  // The client's DISCONNECT is handled by the broker after endAsync() resolves: wait for the count.
  for (let i = 0; i < 100; i++) {
    exp = await scrape();
    if (sampleValue(exp, "wharf_disconnections_total", { initiator: "client" }) === 5) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(sampleValue(exp, "wharf_connections_total", { transport: "tcp" }), 5);
  assert.equal(sampleValue(exp, "wharf_disconnections_total", { initiator: "client" }), 5);
  assert.equal(sampleValue(exp, "wharf_disconnections_total", { initiator: "server" }), 0);
  exp = await scrape(); // nothing new: the same totals
  assert.equal(sampleValue(exp, "wharf_connections_total", { transport: "tcp" }), 5);
});
