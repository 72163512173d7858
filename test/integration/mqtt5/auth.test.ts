// MQTT 5.0 acceptance (issue #4): enhanced authentication (§4.12) — the AUTH exchange at CONNECT and
// re-authentication during a session, with SCRAM-SHA-256 (credentials from config) driven by a client-side SCRAM
// implementation (test/helpers/scram-client.ts) that is independent of the server's.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import mqtt from "mqtt";
import type { IAuthPacket, IConnackPacket } from "mqtt-packet";
import { PacketType, ReasonCode } from "../../../src/codec/index.ts";
import type { AuthPacket } from "../../../src/codec/index.ts";
import type { RawClient } from "../../helpers/raw-client.ts";
import { ScramClient } from "../../helpers/scram-client.ts";
import { startTarget } from "../../helpers/target.ts";
import type { Target } from "../../helpers/target.ts";
import { raw, rawOpen, topicFor, uid, wharfOnly } from "./harness.ts";
import type { Ctx } from "./harness.ts";
import { wharfOptions } from "./wharf-options.ts";

const METHOD = "SCRAM-SHA-256";
const USERS = [
  { username: "alice", password: "correct horse" },
  { username: "bob", password: "s3cr\u00e9t" },
];
const NO_SCRAM = wharfOnly("has no built-in enhanced authentication (needs an auth plugin)");

let target: Target;
before(async () => {
  target = await startTarget({ wharf: wharfOptions.scram(USERS) });
});
after(() => target?.close());

/** Runs the CONNECT exchange; returns the client (CONNACK received, success or not) and its SCRAM state. */
async function scramConnect(
  t: Ctx,
  username: string,
  password: string,
  o: { clientId?: string; connectUsername?: string } = {},
): Promise<{ c: RawClient; scram: ScramClient; challenge: AuthPacket | undefined }> {
  const scram = new ScramClient(username, password);
  const c = await rawOpen(t, target);
  c.sendConnect({
    clientId: o.clientId ?? `scram-${uid()}`,
    username: o.connectUsername,
    properties: { authenticationMethod: METHOD, authenticationData: scram.first() },
  });
  // One CONNACK waiter for the whole exchange: a second next(CONNACK) would wait for a packet the first one took.
  const connack = c.next(PacketType.CONNACK);
  const first = await Promise.race([c.next(PacketType.AUTH), connack]);
  if (first.type === PacketType.CONNACK) {
    c.connack = first;
    return { c, scram, challenge: undefined };
  }
  c.send({
    type: PacketType.AUTH,
    reasonCode: ReasonCode.ContinueAuthentication,
    properties: {
      authenticationMethod: METHOD,
      authenticationData: scram.final(first.properties!.authenticationData!),
    },
  });
  c.connack = await connack;
  return { c, scram, challenge: first };
}

test(
  "[MQTT-4.12.0-2] [MQTT-4.12.0-3] [MQTT-4.12.0-5] SCRAM-SHA-256 at CONNECT: AUTH 0x18 both ways, then CONNACK 0x00 with a server-final the client verifies",
  {
    skip: NO_SCRAM,
  },
  async (t) => {
    const { c, scram, challenge } = await scramConnect(t, "alice", "correct horse");
    assert.ok(challenge !== undefined, "the server challenged with AUTH");
    assert.equal(challenge.reasonCode, ReasonCode.ContinueAuthentication);
    assert.equal(challenge.properties?.authenticationMethod, METHOD);
    assert.match(
      challenge.properties.authenticationData!.toString(),
      new RegExp(`^r=${scram.nonce.replace(/[+/]/g, "\\$&")}`),
    );
    const connack = c.connack!;
    assert.equal(connack.reasonCode, ReasonCode.Success);
    assert.equal(connack.properties?.authenticationMethod, METHOD);
    assert.ok(scram.verifyServerFinal(connack.properties.authenticationData!), "server proved it holds the credential");
    // The session works.
    const topic = topicFor("scram");
    await c.subscribe([{ topicFilter: topic, qos: 1 }]);
    c.publish(topic, "authenticated", { qos: 1 });
    assert.equal((await c.next(PacketType.PUBLISH)).payload.toString(), "authenticated");
  },
);

test(
  "[MQTT-4.12.0-4] a wrong password or an unknown user is refused with CONNACK 0x87 and the connection closed",
  {
    skip: NO_SCRAM,
  },
  async (t) => {
    for (const [user, pass] of [
      ["alice", "wrong"],
      ["mallory", "whatever"],
    ] as const) {
      const { c, challenge } = await scramConnect(t, user, pass);
      assert.ok(challenge !== undefined, `${user}: an unknown user is not revealed before the proof step`);
      assert.equal(c.connack!.reasonCode, ReasonCode.NotAuthorized, user);
      assert.equal(c.connack!.sessionPresent, false);
      await c.waitClosed();
    }
  },
);

test("[MQTT-4.12.0-1] an unsupported Authentication Method is refused with CONNACK 0x8C and the connection closed", async (t) => {
  const c = await rawOpen(t, target);
  c.sendConnect({
    clientId: `m-${uid()}`,
    properties: { authenticationMethod: "X-WHARF-NOPE", authenticationData: Buffer.from("x") },
  });
  const connack = await c.next(PacketType.CONNACK);
  assert.equal(connack.reasonCode, ReasonCode.BadAuthenticationMethod);
  await c.waitClosed();
});

test("[MQTT-4.12.0-6] without an Authentication Method in CONNECT the server sends no AUTH and no Authentication Method", async (t) => {
  const c = await raw(t, target, {});
  assert.equal(c.connack!.properties?.authenticationMethod, undefined);
  assert.equal(c.connack!.properties?.authenticationData, undefined);
  assert.equal(c.received.filter((p) => p.type === PacketType.AUTH).length, 0);
});

test(
  "[MQTT-4.12.0-7] (§3.15) AUTH from a client that did not use enhanced authentication is a Protocol Error: DISCONNECT 0x82",
  {
    skip: wharfOnly("ignores an unexpected AUTH packet"),
  },
  async (t) => {
    const c = await raw(t, target, {});
    c.send({
      type: PacketType.AUTH,
      reasonCode: ReasonCode.ReAuthenticate,
      properties: { authenticationMethod: METHOD },
    });
    const closed = await c.waitClosed();
    assert.equal(closed.disconnect?.reasonCode, ReasonCode.ProtocolError);
  },
);

async function reauth(c: RawClient, scram: ScramClient, method = METHOD): Promise<AuthPacket> {
  c.send({
    type: PacketType.AUTH,
    reasonCode: ReasonCode.ReAuthenticate,
    properties: { authenticationMethod: method, authenticationData: scram.first() },
  });
  const challenge = await c.next(PacketType.AUTH);
  assert.equal(challenge.reasonCode, ReasonCode.ContinueAuthentication);
  c.send({
    type: PacketType.AUTH,
    reasonCode: ReasonCode.ContinueAuthentication,
    properties: {
      authenticationMethod: method,
      authenticationData: scram.final(challenge.properties!.authenticationData!),
    },
  });
  return c.next(PacketType.AUTH);
}

test(
  "[MQTT-4.12.1-1] re-authentication: AUTH 0x19, 0x18 exchange, AUTH 0x00 with server-final; the session carries on",
  {
    skip: NO_SCRAM,
  },
  async (t) => {
    const id = `reauth-${uid()}`;
    const { c } = await scramConnect(t, "bob", "s3cr\u00e9t", { clientId: id });
    assert.equal(c.connack!.reasonCode, ReasonCode.Success);
    const topic = topicFor("reauth");
    await c.subscribe([{ topicFilter: topic, qos: 1 }]);
    const again = new ScramClient("bob", "s3cr\u00e9t");
    const done = await reauth(c, again);
    assert.equal(done.reasonCode ?? ReasonCode.Success, ReasonCode.Success);
    assert.equal(done.properties?.authenticationMethod, METHOD);
    assert.ok(again.verifyServerFinal(done.properties.authenticationData!));
    c.publish(topic, "still-here", { qos: 1 });
    assert.equal((await c.next(PacketType.PUBLISH)).payload.toString(), "still-here");
    assert.equal(c.isClosed, false);
  },
);

test(
  "[MQTT-4.12.1-2] a failed re-authentication ends the connection with DISCONNECT 0x87",
  {
    skip: NO_SCRAM,
  },
  async (t) => {
    const { c } = await scramConnect(t, "alice", "correct horse");
    assert.equal(c.connack!.reasonCode, ReasonCode.Success);
    const wrong = new ScramClient("alice", "nope");
    c.send({
      type: PacketType.AUTH,
      reasonCode: ReasonCode.ReAuthenticate,
      properties: { authenticationMethod: METHOD, authenticationData: wrong.first() },
    });
    const challenge = await c.next(PacketType.AUTH);
    c.send({
      type: PacketType.AUTH,
      reasonCode: ReasonCode.ContinueAuthentication,
      properties: {
        authenticationMethod: METHOD,
        authenticationData: wrong.final(challenge.properties!.authenticationData!),
      },
    });
    const closed = await c.waitClosed();
    assert.equal(closed.disconnect?.reasonCode, ReasonCode.NotAuthorized);
    assert.equal(closed.disconnect?.properties?.sessionExpiryInterval, undefined); // [MQTT-3.14.2-2]
  },
);

test(
  "[MQTT-4.12.1-1] re-authenticating with another Authentication Method is a Protocol Error: DISCONNECT 0x82",
  {
    skip: NO_SCRAM,
  },
  async (t) => {
    const { c } = await scramConnect(t, "alice", "correct horse");
    assert.equal(c.connack!.reasonCode, ReasonCode.Success);
    c.send({
      type: PacketType.AUTH,
      reasonCode: ReasonCode.ReAuthenticate,
      properties: { authenticationMethod: "SCRAM-SHA-1", authenticationData: Buffer.from("n,,n=alice,r=abc") },
    });
    const closed = await c.waitClosed();
    assert.equal(closed.disconnect?.reasonCode, ReasonCode.ProtocolError);
  },
);

test(
  "(§4.12) MQTT.js performs the SCRAM-SHA-256 exchange through its handleAuth hook",
  {
    skip: NO_SCRAM,
  },
  async (t) => {
    const scram = new ScramClient("alice", "correct horse");
    const client = mqtt.connect(target.url, {
      protocolVersion: 5,
      clientId: `js-scram-${uid()}`,
      reconnectPeriod: 0,
      properties: { authenticationMethod: METHOD, authenticationData: scram.first() },
    });
    t.after(() => client.endAsync(true).catch(() => undefined));
    client.handleAuth = (packet: IAuthPacket, callback) => {
      const reply: IAuthPacket = {
        cmd: "auth",
        reasonCode: ReasonCode.ContinueAuthentication,
        properties: {
          authenticationMethod: METHOD,
          authenticationData: scram.final(packet.properties!.authenticationData!),
        },
      };
      callback(undefined, reply);
    };
    const connack = await new Promise<IConnackPacket>((resolve, reject) => {
      client.once("connect", resolve);
      client.once("error", reject);
    });
    assert.equal(connack.reasonCode, ReasonCode.Success);
    assert.ok(scram.verifyServerFinal(connack.properties!.authenticationData!));
  },
);
