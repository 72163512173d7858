// Clean restart end to end (issue #5): the server on an LMDB data directory, real sockets, MQTT.js clients, a
// FakeClock so that time can pass while the broker is down. Messages queued for an offline persistent session,
// retained messages, a will waiting for its delay and session expiry deadlines all survive close() and a new
// startServer() on the same directory.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import mqtt from "mqtt";
import type { IClientOptions, IConnackPacket, MqttClient } from "mqtt";
import { startServer, validateConfig } from "../../../src/server/index.ts";
import type { WharfServer } from "../../../src/server/index.ts";
import { FakeClock } from "../../../src/util/index.ts";
import { recordingLogger } from "../../unit/broker/harness.ts";
import { brokerInternals } from "../../../src/broker/internal.ts";

interface Received {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
}

/** Connects and records every message from the first packet on (queued ones may share a read with CONNACK). */
async function connect(
  port: number,
  o: IClientOptions,
): Promise<{ client: MqttClient; got: Received[]; wire: string[]; sessionPresent: boolean }> {
  const client = mqtt.connect({ host: "127.0.0.1", port, reconnectPeriod: 0, ...o });
  const got: Received[] = [];
  client.on("message", (topic, payload, packet) =>
    got.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain }),
  );
  // PUBLISH payloads in wire order (MQTT.js emits QoS 2 messages only at PUBREL, so "message" order differs).
  const wire: string[] = [];
  client.on("packetreceive", (packet) => {
    if (packet.cmd === "publish") wire.push(packet.payload.toString());
  });
  const connack = await new Promise<IConnackPacket>((resolve, reject) => {
    client.once("connect", resolve);
    client.once("error", reject);
  });
  return { client, got, wire, sessionPresent: connack.sessionPresent };
}

async function until(pred: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test("clean restart: queued messages, retained messages, a delayed will and session expiry survive", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "wharf-restart-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = validateConfig({ listeners: [{ host: "127.0.0.1", port: 0 }], storage: { dataDir: dir } });
  let clock = new FakeClock();
  const servers: WharfServer[] = [];
  t.after(() => Promise.all(servers.map((s) => s.close())));
  const start = async (): Promise<number> => {
    const server = await startServer(config, { clock, logger: recordingLogger() });
    servers.push(server);
    return server.listeners[0]!.port;
  };
  const v5 = (clientId: string, expiry: number): IClientOptions => ({
    clientId,
    protocolVersion: 5,
    clean: false,
    properties: { sessionExpiryInterval: expiry },
  });

  let port = await start();
  const sub = await connect(port, v5("sub", 3600));
  await sub.client.subscribeAsync({ "q1/#": { qos: 1 }, "q2/#": { qos: 2 }, "will/#": { qos: 1 } });
  await sub.client.endAsync();
  const short = await connect(port, v5("short", 60));
  await short.client.subscribeAsync("q1/#", { qos: 1 });
  await short.client.endAsync();
  // A client whose connection dies: its will waits 30 s (session expiry 3600 s).
  const mortal = await connect(port, {
    ...v5("mortal", 3600),
    will: {
      topic: "will/mortal",
      payload: Buffer.from("gone"),
      qos: 1,
      retain: false,
      properties: { willDelayInterval: 30 },
    },
  });
  mortal.client.stream.destroy();
  const pub = await connect(port, { clientId: "pub", clean: true });
  const sent: string[] = [];
  for (let i = 0; i < 10; i++) {
    const qos = i % 2 === 0 ? 1 : 2;
    sent.push(`m${i}`);
    await pub.client.publishAsync(`q${qos}/x`, `m${i}`, { qos });
  }
  await pub.client.publishAsync("status", "retained!", { qos: 1, retain: true });
  await pub.client.endAsync();
  await until(
    () => brokerInternals(servers[0]!.broker).sessions.get("mortal")?.link === undefined,
    "the will to be pending",
  );
  await servers[0]!.close();

  clock = new FakeClock(clock.now() + 45_000); // down for 45 s: the will's delay passed, "short" (60 s) not expired
  port = await start();
  const recovery = servers[1]!.broker.recovery!;
  assert.equal(recovery.willsPublished, 1);
  assert.equal(recovery.expired, 0);

  const back = await connect(port, v5("sub", 3600));
  t.after(() => back.client.end(true));
  assert.equal(back.sessionPresent, true);
  await until(() => back.got.length === 11, "the queued messages");
  assert.deepEqual(back.wire, [...sent, "gone"], "in publish order, then the will published at startup");
  // Each at the QoS it was published with (MQTT.js emits QoS 2 messages at PUBREL: compare by payload).
  assert.deepEqual(
    new Map(back.got.map((m) => [m.payload, m.qos])),
    new Map([...sent.map((m, i): [string, number] => [m, i % 2 === 0 ? 1 : 2]), ["gone", 1]]),
  );

  const late = await connect(port, { clientId: "late", clean: true });
  t.after(() => late.client.end(true));
  await late.client.subscribeAsync("status", { qos: 1 });
  await until(() => late.got.length === 1, "the retained message");
  assert.deepEqual(late.got[0], { topic: "status", payload: "retained!", qos: 1, retain: true });

  // "short" disconnected 45 s before the restart with a 60 s expiry: 15 s left, re-armed from the deadline.
  clock.advance(14_000);
  assert.ok(brokerInternals(servers[1]!.broker).sessions.has("short"));
  clock.advance(1_000);
  assert.ok(!brokerInternals(servers[1]!.broker).sessions.has("short"));
  const again = await connect(port, v5("short", 60));
  t.after(() => again.client.end(true));
  assert.equal(again.sessionPresent, false, "expired: a new session [MQTT-3.2.2-2]");
});
