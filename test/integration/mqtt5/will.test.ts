// MQTT 5.0 acceptance (issue #4): the Will — Will Delay Interval (delay passes or session ends, whichever first;
// cancelled by a timely reconnect), will properties carried on the will message, DISCONNECT 0x04 / 0x00.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, test } from "node:test";
import { PacketType, ReasonCode } from "../../../src/codec/index.ts";
import type { RawClient } from "../../helpers/raw-client.ts";
import { startTarget } from "../../helpers/target.ts";
import type { Target } from "../../helpers/target.ts";
import { PYTHON, pahoScript, raw, sleep, topicFor, uid, useTarget, wharfOnly } from "./harness.ts";
import type { Ctx } from "./harness.ts";

let target: Target;
before(async () => {
  target = await startTarget();
});
after(() => target?.close());

interface PahoWill {
  /** SIGKILLs the paho process: the broker sees the network connection fail, without DISCONNECT. */
  kill(): Promise<void>;
}

/** Starts test/helpers/python/v5_will_client.py (paho) holding a will; resolves once it is connected. */
async function pahoWillClient(
  t: Ctx,
  o: { clientId: string; willTopic: string; willDelay: number; sessionExpiry: number },
  tg: Target = target,
): Promise<PahoWill> {
  const child = spawn(
    PYTHON,
    [
      pahoScript("v5_will_client.py"),
      "--host",
      tg.host,
      "--port",
      String(tg.port),
      "--client-id",
      o.clientId,
      "--will-topic",
      o.willTopic,
      "--will-delay",
      String(o.willDelay),
      "--session-expiry",
      String(o.sessionExpiry),
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
  });
  let out = "";
  let err = "";
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`paho will client not ready: ${out} ${err}`)), 5000);
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes('"ready": true')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`paho will client exited (${code}): ${out} ${err}`));
    });
  });
  return {
    kill: async () => {
      child.kill("SIGKILL");
      await exited;
    },
  };
}

async function watcher(t: Ctx, topic: string, tg: Target = target): Promise<RawClient> {
  const w = await raw(t, tg, {});
  w.autoAck = true;
  await w.subscribe([{ topicFilter: topic, qos: 1 }]);
  return w;
}

test("[MQTT-3.1.2-8] [MQTT-3.1.3-10] Will Delay Interval: the will is published once the delay has passed, with its properties (paho-mqtt)", async (t) => {
  const willTopic = topicFor("will-delay");
  const w = await watcher(t, willTopic);
  const id = `will-${uid()}`;
  const client = await pahoWillClient(t, { clientId: id, willTopic, willDelay: 1, sessionExpiry: 30 });
  await client.kill();
  assert.equal(await w.arrives(PacketType.PUBLISH, 500), false, "not before the delay");
  const will = await w.next(PacketType.PUBLISH, 3000);
  assert.equal(will.topic, willTopic);
  assert.equal(will.payload.toString(), "gone");
  assert.equal(will.qos, 1);
  const p = will.properties ?? {};
  assert.equal(p.contentType, "text/plain");
  assert.equal(p.responseTopic, `${willTopic}/reply`);
  assert.deepEqual(p.correlationData, Buffer.from("\x00will-corr", "latin1"));
  assert.equal(p.payloadFormatIndicator, 1);
  assert.deepEqual(p.userProperties, [
    ["w", "1"],
    ["v", "2"],
    ["w", "3"],
  ]);
  assert.ok(p.messageExpiryInterval !== undefined && p.messageExpiryInterval <= 120 && p.messageExpiryInterval >= 115);
  assert.equal(p.willDelayInterval, undefined, "the Will Delay Interval is not a PUBLISH property");
  // End the parked session.
  const end = await raw(t, target, { clientId: id, clean: true });
  end.disconnect();
});

test("[MQTT-3.1.3-9] [MQTT-3.1.2-8] a reconnect to the session before the Will Delay Interval passes cancels the will (paho-mqtt)", async (t) => {
  // Its own target on a fake clock (Wharf): the delay is made to pass by advancing the clock, not by waiting.
  const tg = await useTarget(t, { fakeClock: true });
  const willTopic = topicFor("will-cancel");
  const w = await watcher(t, willTopic, tg);
  const id = `will-${uid()}`;
  const client = await pahoWillClient(t, { clientId: id, willTopic, willDelay: 2, sessionExpiry: 30 }, tg);
  await client.kill();
  await sleep(200); // the broker notices the killed connection (no DISCONNECT)
  const back = await raw(t, tg, { clientId: id, clean: false, properties: { sessionExpiryInterval: 0 } });
  assert.equal(back.connack!.sessionPresent, true);
  await tg.advance(2500); // past the 2 s delay
  await w.ping();
  assert.deepEqual(w.pending(PacketType.PUBLISH), [], "no will after the delay either");
  back.disconnect();
});

test("[MQTT-3.1.2-8] the session ending before the Will Delay Interval sends the will then (whichever first)", async (t) => {
  const willTopic = topicFor("will-session-end");
  const w = await watcher(t, willTopic);
  const c = await raw(t, target, {
    clientId: `will-${uid()}`,
    properties: { sessionExpiryInterval: 1 },
    will: {
      topic: willTopic,
      payload: Buffer.from("session-ended"),
      qos: 1,
      retain: false,
      properties: { willDelayInterval: 60 },
    },
  });
  c.destroy();
  const will = await w.next(PacketType.PUBLISH, 3000);
  assert.equal(will.payload.toString(), "session-ended");
});

test(
  "[MQTT-3.1.2-8] a new connection with Clean Start 1 ends the old session: its delayed will is sent",
  {
    skip: wharfOnly("discards a pending delayed will when Clean Start 1 replaces the session"),
  },
  async (t) => {
    const willTopic = topicFor("will-clean-start");
    const w = await watcher(t, willTopic);
    const id = `will-${uid()}`;
    const c = await raw(t, target, {
      clientId: id,
      properties: { sessionExpiryInterval: 60 },
      will: {
        topic: willTopic,
        payload: Buffer.from("replaced"),
        qos: 1,
        retain: false,
        properties: { willDelayInterval: 60 },
      },
    });
    c.destroy();
    await c.closed;
    assert.equal(await w.arrives(PacketType.PUBLISH, 300), false);
    const fresh = await raw(t, target, { clientId: id, clean: true });
    assert.equal(fresh.connack!.sessionPresent, false);
    const will = await w.next(PacketType.PUBLISH, 3000);
    assert.equal(will.payload.toString(), "replaced");
  },
);

test("[MQTT-3.1.2-16] [MQTT-3.1.2-17] a will without delay is published on network failure, retained when Will Retain is 1", async (t) => {
  const willTopic = topicFor("will-retain");
  const c = await raw(t, target, {
    will: { topic: willTopic, payload: Buffer.from("last-words"), qos: 1, retain: true },
  });
  c.destroy();
  await sleep(300);
  const late = await raw(t, target, {});
  await late.subscribe([{ topicFilter: willTopic, qos: 1 }]);
  const m = await late.next(PacketType.PUBLISH);
  assert.equal(m.payload.toString(), "last-words");
  assert.equal(m.retain, true, "stored as a retained message");
  late.publish(willTopic, "", { qos: 0, retain: true }); // clean up
});

test("[MQTT-3.14.4-3] [MQTT-3.1.2-10] DISCONNECT 0x00 discards the will; DISCONNECT 0x04 publishes it", async (t) => {
  const base = topicFor("will-disconnect");
  const w = await watcher(t, `${base}/#`);
  const normal = await raw(t, target, {
    will: { topic: `${base}/normal`, payload: Buffer.from("no"), qos: 1, retain: false },
  });
  normal.disconnect(ReasonCode.NormalDisconnection);
  const withWill = await raw(t, target, {
    will: { topic: `${base}/with-will`, payload: Buffer.from("yes"), qos: 1, retain: false },
  });
  withWill.disconnect(ReasonCode.DisconnectWithWillMessage);
  const m = await w.next(PacketType.PUBLISH, 3000);
  assert.equal(m.topic, `${base}/with-will`);
  assert.equal(m.payload.toString(), "yes");
  assert.equal(await w.arrives(PacketType.PUBLISH, 400), false, "the 0x00 will was discarded");
});
