// MQTT 5.0 acceptance (issue #4): server-sent DISCONNECT reason codes (0x8B shutdown, 0x8E session taken over,
// 0x8D keep alive timeout) and server redirection (CONNACK 0x9C / 0x9D with Server Reference; DISCONNECT 0x9C / 0x9D
// to connected clients through Wharf's broker.redirect()). 0x93, 0x94 and 0x95 are covered in flow-control.test.ts
// and topic-alias.test.ts; the client's DISCONNECT 0x04 in will.test.ts.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import mqtt from "mqtt";
import type { Broker } from "../../../src/broker/index.ts";
import { PacketType, ReasonCode } from "../../../src/codec/index.ts";
import { startTarget } from "../../helpers/target.ts";
import type { Target } from "../../helpers/target.ts";
import { mqttjs, raw, uid, useTarget, wharfOnly } from "./harness.ts";
import { wharfOptions } from "./wharf-options.ts";

let target: Target;
before(async () => {
  target = await startTarget();
});
after(() => target?.close());

test(
  "[MQTT-3.1.4-3] [MQTT-3.14.2-2] a second connection with the same Client Identifier: the first gets DISCONNECT 0x8E and is closed",
  {
    skip: wharfOnly("closes the old connection without sending DISCONNECT 0x8E"),
  },
  async (t) => {
    const id = `takeover-${uid()}`;
    const first = await raw(t, target, { clientId: id });
    const second = await raw(t, target, { clientId: id });
    assert.equal(second.connack!.reasonCode, ReasonCode.Success);
    const closed = await first.waitClosed();
    assert.equal(closed.disconnect?.reasonCode, ReasonCode.SessionTakenOver);
    assert.equal(closed.disconnect?.properties?.sessionExpiryInterval, undefined);
    assert.equal(second.isClosed, false);
    // MQTT.js reports the same reason to its application.
    const js = await mqttjs(t, target, { clientId: `takeover-js-${uid()}` });
    const reason = new Promise<number | undefined>((resolve) => js.once("disconnect", (p) => resolve(p.reasonCode)));
    await raw(t, target, { clientId: js.options.clientId });
    assert.equal(await reason, ReasonCode.SessionTakenOver);
  },
);

test(
  "(§4.13) [MQTT-3.14.2-2] broker shutdown: connected MQTT 5 clients get DISCONNECT 0x8B before the connection closes",
  {
    skip: wharfOnly("closes connections on shutdown without DISCONNECT 0x8B"),
  },
  async (t) => {
    const s = await startTarget();
    t.after(() => s.close());
    const a = await raw(t, s, {});
    const js = await mqttjs(t, s);
    const jsReason = new Promise<number | undefined>((resolve) => js.once("disconnect", (p) => resolve(p.reasonCode)));
    await s.close();
    const closed = await a.waitClosed();
    assert.equal(closed.disconnect?.reasonCode, ReasonCode.ServerShuttingDown);
    assert.equal(closed.disconnect?.properties?.sessionExpiryInterval, undefined);
    assert.equal(await jsReason, ReasonCode.ServerShuttingDown);
  },
);

test("[MQTT-3.1.2-22] a client that keeps sending PINGREQ within its Keep Alive stays connected", async (t) => {
  const tg = await useTarget(t, { fakeClock: true }); // Wharf: keep alive time passes by advancing the clock
  const c = await raw(t, tg, { keepAlive: 1 });
  for (let i = 0; i < 5; i++) {
    await tg.advance(500);
    c.send({ type: PacketType.PINGREQ });
    await c.next(PacketType.PINGRESP);
  }
  assert.equal(c.isClosed, false);
});

test(
  "[MQTT-3.1.2-22] (§4.13) Keep Alive timeout: silent for 1.5 x Keep Alive, the client gets DISCONNECT 0x8D and is closed",
  {
    skip: wharfOnly("closes the connection without DISCONNECT 0x8D (and only on its periodic keepalive sweep)"),
  },
  async (t) => {
    const tg = await useTarget(t, { fakeClock: true });
    const c = await raw(t, tg, { keepAlive: 1 });
    await tg.advance(800);
    assert.equal(c.isClosed, false, "not closed before the Keep Alive has even passed");
    await tg.advance(800); // 1.6 s of silence > 1.5 x Keep Alive
    const closed = await c.waitClosed(2500);
    assert.equal(closed.disconnect?.reasonCode, ReasonCode.KeepAliveTimeout);
    assert.equal(closed.disconnect?.properties?.sessionExpiryInterval, undefined);
  },
);

for (const [code, name] of [
  [ReasonCode.UseAnotherServer, "Use another server"],
  [ReasonCode.ServerMoved, "Server moved"],
] as const) {
  test(
    `(§4.11) server redirection configured: CONNACK 0x${code.toString(16)} ${name} with a Server Reference, then close`,
    {
      skip: wharfOnly("has no server redirection"),
    },
    async (t) => {
      const reference = "other.example:1883";
      const s = await useTarget(t, { wharf: wharfOptions.redirect(code, reference) });
      const c = await raw(t, s, {});
      assert.equal(c.connack!.reasonCode, code);
      assert.equal(c.connack!.sessionPresent, false);
      assert.equal(c.connack!.properties?.serverReference, reference);
      await c.waitClosed();
      // An MQTT.js application sees the refusal with its reason code.
      const js = mqtt.connect(s.url, { protocolVersion: 5, clientId: `redir-${uid()}`, reconnectPeriod: 0 });
      t.after(() => js.endAsync(true).catch(() => undefined));
      const err = await new Promise<{ code?: unknown }>((resolve) =>
        js.once("error", (e) => resolve(e as { code?: unknown })),
      );
      assert.equal(err.code, code);
    },
  );
}

test(
  "(§4.11) [MQTT-3.14.2-2] runtime redirection (broker.redirect): connected MQTT.js and raw v5 clients get DISCONNECT 0x9d with the Server Reference; new ones CONNACK 0x9d until cleared",
  {
    skip: wharfOnly("has no runtime trigger for server redirection (Wharf: broker.redirect())"),
  },
  async (t) => {
    const reference = "moved.example:1883";
    const s = await useTarget(t);
    const broker = s.broker as Broker;
    const js = await mqttjs(t, s);
    const rawClient = await raw(t, s, {});
    const seen = new Promise<{ reasonCode?: number; reference?: string }>((resolve) =>
      js.once("disconnect", (p) => resolve({ reasonCode: p.reasonCode, reference: p.properties?.serverReference })),
    );
    assert.equal(
      broker.redirect({ reasonCode: ReasonCode.ServerMoved, serverReference: reference }, { disconnectExisting: true }),
      2,
    );
    assert.deepEqual(await seen, { reasonCode: ReasonCode.ServerMoved, reference });
    const closed = await rawClient.waitClosed();
    assert.equal(closed.disconnect?.reasonCode, ReasonCode.ServerMoved);
    assert.equal(closed.disconnect?.properties?.serverReference, reference);
    assert.equal(closed.disconnect?.properties?.sessionExpiryInterval, undefined);
    const late = await raw(t, s, {});
    assert.equal(late.connack!.reasonCode, ReasonCode.ServerMoved);
    assert.equal(late.connack!.properties?.serverReference, reference);
    broker.redirect(undefined);
    const back = await raw(t, s, {});
    assert.equal(back.connack!.reasonCode, ReasonCode.Success);
  },
);
