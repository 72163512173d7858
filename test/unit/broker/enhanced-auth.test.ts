// 5.0 enhanced authentication (§4.12) driven by the broker: the AUTH exchange at CONNECT and re-authentication,
// with SCRAM-SHA-256 from options.scram (checked against the independent client in test/helpers/scram-client.ts)
// and custom methods from deps.authenticators. FakeClock for the timeouts.
import assert from "node:assert/strict";
import { test } from "node:test";
import { PacketType, ReasonCode } from "../../../src/codec/index.ts";
import type { AuthPacket, ConnackPacket, Packet } from "../../../src/codec/index.ts";
import { Broker } from "../../../src/broker/index.ts";
import { AuthError, formatScramCredential, scramCredentialFromPassword } from "../../../src/broker/auth/index.ts";
import type { AuthSession, AuthStepResult, EnhancedAuthenticator } from "../../../src/broker/auth/index.ts";
import { ScramClient } from "../../helpers/scram-client.ts";
import { TestClient, harness, payloads, settle, only } from "./harness.ts";
import type { Harness, HarnessOptions } from "./harness.ts";
import { brokerInternals } from "../../../src/broker/internal.ts";

const METHOD = "SCRAM-SHA-256";
const USERS = [
  { username: "alice", password: "correct horse" },
  { username: "bob", password: "hunter2" },
];

async function scramHarness(o: HarnessOptions = {}): Promise<Harness> {
  const h = harness({ scram: USERS, ...o });
  await h.broker.ready(); // credentials are derived asynchronously (PBKDF2)
  return h;
}

function auth(reasonCode: number, data?: Buffer, method = METHOD): AuthPacket {
  return { type: PacketType.AUTH, reasonCode, properties: { authenticationMethod: method, authenticationData: data } };
}

/** Starts a SCRAM CONNECT and returns the server's AUTH 0x18 challenge. */
async function startScram(
  h: Harness,
  scram: ScramClient,
  o: { clientId?: string; username?: string; requestProblemInformation?: number; maximumPacketSize?: number } = {},
): Promise<{ client: TestClient; challenge: AuthPacket }> {
  const client = new TestClient(h.broker, 5);
  client.sendConnect({
    clientId: o.clientId ?? "scram",
    username: o.username,
    properties: {
      authenticationMethod: METHOD,
      authenticationData: scram.first(),
      requestProblemInformation: o.requestProblemInformation,
      maximumPacketSize: o.maximumPacketSize,
    },
  });
  const challenge = only(await client.receive(), PacketType.AUTH);
  return { client, challenge };
}

/** The whole SCRAM CONNECT exchange; returns the CONNACK. */
async function scramConnect(
  h: Harness,
  user: string,
  password: string,
  o: Parameters<typeof startScram>[2] = {},
): Promise<{ client: TestClient; connack: ConnackPacket; scram: ScramClient }> {
  const scram = new ScramClient(user, password);
  const { client, challenge } = await startScram(h, scram, o);
  client.send(auth(ReasonCode.ContinueAuthentication, scram.final(challenge.properties!.authenticationData!)));
  const connack = only(await client.receive(), PacketType.CONNACK);
  return { client, connack, scram };
}

/** Runs a SCRAM re-authentication; returns what the server sent at the end (AUTH 0x00 or DISCONNECT). */
async function reauth(client: TestClient, scram: ScramClient): Promise<Packet[]> {
  client.send(auth(ReasonCode.ReAuthenticate, scram.first()));
  const challenge = only(await client.receive(), PacketType.AUTH);
  assert.equal(challenge.reasonCode, ReasonCode.ContinueAuthentication);
  client.send(auth(ReasonCode.ContinueAuthentication, scram.final(challenge.properties!.authenticationData!)));
  return client.receive();
}

test("[MQTT-4.12.0-2] [MQTT-4.12.0-3] [MQTT-4.12.0-5] SCRAM at CONNECT: AUTH 0x18 challenge, CONNACK 0x00 with method and server-final; the proven user is the client's identity", async () => {
  const seen: (string | undefined)[] = [];
  const h = await scramHarness({
    allowAnonymous: false, // the exchange proves the identity: no User Name needed in CONNECT
    auth: { authorizePublish: (client) => (seen.push(client.username), true) },
  });
  const scram = new ScramClient("alice", "correct horse");
  const { client, challenge } = await startScram(h, scram);
  assert.equal(challenge.reasonCode, ReasonCode.ContinueAuthentication);
  assert.equal(challenge.properties?.authenticationMethod, METHOD);
  assert.ok(challenge.properties?.authenticationData?.toString().startsWith(`r=${scram.nonce}`));
  assert.equal(h.broker.stats().clientsConnected, 0, "not connected before CONNACK");
  client.send(auth(ReasonCode.ContinueAuthentication, scram.final(challenge.properties.authenticationData!)));
  const connack = only(await client.receive(), PacketType.CONNACK);
  assert.equal(connack.reasonCode, ReasonCode.Success);
  assert.equal(connack.properties?.authenticationMethod, METHOD);
  assert.ok(scram.verifyServerFinal(connack.properties.authenticationData!));
  client.publish("t", "x", 1);
  await client.receive();
  assert.deepEqual(seen, ["alice"]);
});

test("SCRAM with a stored credential (SCRAM-SHA-256$…) and a CONNECT User Name equal to the SCRAM user", async () => {
  const cred = await scramCredentialFromPassword("carol", "pw of carol");
  const h = harness({ scram: [{ username: "carol", credential: formatScramCredential(cred) }] });
  await h.broker.ready();
  const { connack } = await scramConnect(h, "carol", "pw of carol", { username: "carol" });
  assert.equal(connack.reasonCode, ReasonCode.Success);
  // A User Name naming someone else is refused at the first step.
  const other = new TestClient(h.broker, 5);
  other.sendConnect({
    clientId: "x",
    username: "mallory",
    properties: { authenticationMethod: METHOD, authenticationData: new ScramClient("carol", "pw of carol").first() },
  });
  assert.equal(only(await other.receive(), PacketType.CONNACK).reasonCode, ReasonCode.NotAuthorized);
});

test("[MQTT-4.12.0-4] wrong password / unknown user: CONNACK 0x87 with a Reason String, closed; none with Request Problem Information 0", async () => {
  const h = await scramHarness();
  for (const [user, pass] of [
    ["alice", "wrong"],
    ["nobody", "whatever"],
  ] as const) {
    const { client, connack } = await scramConnect(h, user, pass, { clientId: `c-${user}` });
    assert.equal(connack.reasonCode, ReasonCode.NotAuthorized, user);
    assert.equal(connack.sessionPresent, false);
    assert.equal(connack.properties?.reasonString, "authentication failed", "same reason for both");
    assert.equal(connack.properties?.authenticationMethod, undefined);
    assert.equal(client.transport.closed, true);
  }
  const quiet = await scramConnect(h, "alice", "wrong", { requestProblemInformation: 0 });
  assert.equal(quiet.connack.reasonCode, ReasonCode.NotAuthorized);
  assert.equal(quiet.connack.properties?.reasonString, undefined);
  assert.equal(brokerInternals(h.broker).sessions.size, 0);
});

test("[MQTT-3.2.2-19] a CONNACK Reason String that would exceed the client's Maximum Packet Size is left out", async () => {
  const h = await scramHarness();
  const { connack } = await scramConnect(h, "alice", "wrong", { maximumPacketSize: 16 });
  assert.equal(connack.reasonCode, ReasonCode.NotAuthorized);
  assert.equal(connack.properties?.reasonString, undefined);
  const roomy = await scramConnect(h, "alice", "wrong", { maximumPacketSize: 64 });
  assert.equal(roomy.connack.properties?.reasonString, "authentication failed");
});

test("[MQTT-4.12.0-1] an Authentication Method the server does not offer: CONNACK 0x8C and close", async () => {
  for (const h of [harness(), await scramHarness()]) {
    const { client, connack } = await h.tryConnect({
      clientId: "m",
      version: 5,
      properties: { authenticationMethod: "X-NOPE", authenticationData: Buffer.from("x") },
    });
    assert.equal(connack?.reasonCode, ReasonCode.BadAuthenticationMethod);
    assert.equal(client.transport.closed, true);
  }
});

test("[MQTT-4.12.0-6] without an Authentication Method: no AUTH, no method in CONNACK, even with SCRAM configured", async () => {
  const h = await scramHarness();
  const { client, connack } = await h.connect({ clientId: "plain", version: 5 });
  assert.equal(connack.properties?.authenticationMethod, undefined);
  assert.equal(client.take().length, 0);
});

test("[MQTT-3.1.2-30] before CONNACK only AUTH or DISCONNECT: another packet, AUTH with another reason or method -> CONNACK 0x82", async () => {
  const h = await scramHarness();
  const bad: [string, (s: ScramClient, challenge: AuthPacket) => Packet][] = [
    ["PINGREQ", () => ({ type: PacketType.PINGREQ })],
    ["SUBSCRIBE", () => ({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: "t", qos: 0 }] })],
    ["AUTH 0x19", (s, ch) => auth(ReasonCode.ReAuthenticate, s.final(ch.properties!.authenticationData!))], // [MQTT-4.12.0-3]
    ["AUTH 0x00", (s, ch) => auth(ReasonCode.Success, s.final(ch.properties!.authenticationData!))],
    [
      "another method", // [MQTT-4.12.0-5]
      (s, ch) => auth(ReasonCode.ContinueAuthentication, s.final(ch.properties!.authenticationData!), "SCRAM-SHA-1"),
    ],
  ];
  for (const [what, make] of bad) {
    const scram = new ScramClient("alice", "correct horse");
    const { client, challenge } = await startScram(h, scram, { clientId: what });
    client.send(make(scram, challenge));
    const connack = only(await client.receive(), PacketType.CONNACK);
    assert.equal(connack.reasonCode, ReasonCode.ProtocolError, what);
    assert.equal(typeof connack.properties?.reasonString, "string", what);
    assert.equal(client.transport.closed, true, what);
  }
  assert.equal(brokerInternals(h.broker).sessions.size, 0);
});

test("a DISCONNECT during the CONNECT exchange ends the attempt without CONNACK", async () => {
  const h = await scramHarness();
  const { client } = await startScram(h, new ScramClient("alice", "correct horse"));
  client.disconnect();
  assert.deepEqual(await client.receive(), []);
  assert.equal(client.transport.closed, true);
  assert.equal(h.broker.stats().clientsConnected, 0);
});

test("the CONNECT exchange times out on the clock (connectTimeout): CONNACK 0x87 and close", async () => {
  const h = await scramHarness({ connectTimeout: 10 });
  const { client } = await startScram(h, new ScramClient("alice", "correct horse"));
  h.clock.advance(9_999);
  assert.equal(client.transport.closed, false);
  h.clock.advance(1);
  const connack = only(await client.receive(), PacketType.CONNACK);
  assert.equal(connack.reasonCode, ReasonCode.NotAuthorized);
  assert.equal(client.transport.closed, true);
});

test("[MQTT-4.12.1-1] re-authentication: AUTH 0x19, AUTH 0x18 both ways, AUTH 0x00 with method and server-final; traffic continues meanwhile", async () => {
  const h = await scramHarness();
  const { client } = await scramConnect(h, "bob", "hunter2", { clientId: "re" });
  await client.subscribe("t", 1);
  const again = new ScramClient("bob", "hunter2");
  client.send(auth(ReasonCode.ReAuthenticate, again.first()));
  const challenge = only(await client.receive(), PacketType.AUTH);
  assert.equal(challenge.reasonCode, ReasonCode.ContinueAuthentication);
  // Other traffic continues under the current authentication while the exchange is open.
  client.publish("t", "during", 1);
  const during = await client.receive();
  assert.deepEqual(payloads(during), ["during"]);
  client.send(auth(ReasonCode.ContinueAuthentication, again.final(challenge.properties!.authenticationData!)));
  const done = only(await client.receive(), PacketType.AUTH);
  assert.equal(done.reasonCode ?? 0, ReasonCode.Success);
  assert.equal(done.properties?.authenticationMethod, METHOD);
  assert.ok(again.verifyServerFinal(done.properties.authenticationData!));
  // And it can be done again.
  const third = only(await reauth(client, new ScramClient("bob", "hunter2")), PacketType.AUTH);
  assert.equal(third.reasonCode ?? 0, ReasonCode.Success);
  assert.equal(client.transport.closed, false);
});

test("[MQTT-4.12.1-2] failed re-authentication: DISCONNECT 0x87 (Reason String unless problem information is off), closed, will published", async () => {
  const h = await scramHarness();
  const watcher = await h.connect({ clientId: "w", version: 5 });
  await watcher.client.subscribe("will", 0);
  for (const rpi of [undefined, 0]) {
    const scram = new ScramClient("alice", "correct horse");
    const client = new TestClient(h.broker, 5);
    client.sendConnect({
      clientId: `fail-${rpi}`,
      will: { topic: "will", payload: Buffer.from(`gone-${rpi}`), qos: 0, retain: false },
      properties: { authenticationMethod: METHOD, authenticationData: scram.first(), requestProblemInformation: rpi },
    });
    const ch = only(await client.receive(), PacketType.AUTH);
    client.send(auth(ReasonCode.ContinueAuthentication, scram.final(ch.properties!.authenticationData!)));
    assert.equal(only(await client.receive(), PacketType.CONNACK).reasonCode, ReasonCode.Success);
    const got = await reauth(client, new ScramClient("alice", "wrong"));
    const d = only(got, PacketType.DISCONNECT);
    assert.equal(d.reasonCode, ReasonCode.NotAuthorized);
    assert.equal(d.properties?.sessionExpiryInterval, undefined); // [MQTT-3.14.2-2]
    assert.equal(d.properties?.reasonString, rpi === 0 ? undefined : "authentication failed");
    assert.equal(client.transport.closed, true);
  }
  assert.deepEqual(payloads(await watcher.client.receive()), ["gone-undefined", "gone-0"]);
});

test("re-authentication must prove the same identity: bob re-authenticating as alice is disconnected with 0x87", async () => {
  const h = await scramHarness();
  const { client } = await scramConnect(h, "bob", "hunter2");
  client.send(auth(ReasonCode.ReAuthenticate, new ScramClient("alice", "correct horse").first()));
  assert.equal(only(await client.receive(), PacketType.DISCONNECT).reasonCode, ReasonCode.NotAuthorized);
  assert.equal(client.transport.closed, true);
});

test("re-authentication protocol errors: DISCONNECT 0x82 [MQTT-4.12.0-7] [MQTT-4.12.1-1]", async () => {
  const h = await scramHarness();
  const cases: [string, (c: TestClient) => Promise<void> | void][] = [
    ["another method", (c) => c.send(auth(ReasonCode.ReAuthenticate, Buffer.from("n,,n=alice,r=x"), "SCRAM-SHA-1"))],
    ["0x18 without an exchange", (c) => c.send(auth(ReasonCode.ContinueAuthentication, Buffer.from("x")))],
    ["0x00 from the client", (c) => c.send(auth(ReasonCode.Success))],
    [
      "0x19 during an exchange",
      async (c) => {
        c.send(auth(ReasonCode.ReAuthenticate, new ScramClient("alice", "correct horse").first()));
        only(await c.receive(), PacketType.AUTH);
        c.send(auth(ReasonCode.ReAuthenticate, new ScramClient("alice", "correct horse").first()));
      },
    ],
  ];
  for (const [what, act] of cases) {
    const { client } = await scramConnect(h, "alice", "correct horse", { clientId: what });
    await act(client);
    const d = only(await client.receive(), PacketType.DISCONNECT);
    assert.equal(d.reasonCode, ReasonCode.ProtocolError, what);
    assert.equal(client.transport.closed, true, what);
  }
  // A client that did not use enhanced authentication must not send AUTH at all.
  const plain = await h.connect({ clientId: "plain", version: 5 });
  plain.client.send(auth(ReasonCode.ReAuthenticate, Buffer.from("x")));
  assert.equal(only(await plain.client.receive(), PacketType.DISCONNECT).reasonCode, ReasonCode.ProtocolError);
});

test("an unfinished re-authentication times out after connectTimeout: DISCONNECT 0x87; a finished one does not", async () => {
  const h = await scramHarness({ connectTimeout: 5 });
  const { client } = await scramConnect(h, "alice", "correct horse");
  const ok = only(await reauth(client, new ScramClient("alice", "correct horse")), PacketType.AUTH);
  assert.equal(ok.reasonCode ?? 0, ReasonCode.Success);
  h.clock.advance(60_000);
  assert.equal(client.transport.closed, false, "finished exchange: no timer left");
  client.send(auth(ReasonCode.ReAuthenticate, new ScramClient("alice", "correct horse").first()));
  only(await client.receive(), PacketType.AUTH);
  h.clock.advance(4_999);
  assert.equal(client.transport.closed, false);
  h.clock.advance(1);
  const d = only(await client.receive(), PacketType.DISCONNECT);
  assert.equal(d.reasonCode, ReasonCode.NotAuthorized);
  assert.equal(client.transport.closed, true);
});

// ---- custom methods (deps.authenticators) ----------------------------------------------------------------------

/** "TOKEN": one round trip. The client sends "hello", gets "challenge", must answer "token:<user>". */
class TokenAuthenticator implements EnhancedAuthenticator {
  readonly method = "TOKEN";
  readonly calls: { ctx: { clientId: string; username?: string }; data: string | undefined }[] = [];
  failCode: number = ReasonCode.NotAuthorized;
  /** When set, each step waits for it (a slow backend). */
  gate: Promise<void> | undefined;

  start(ctx: { clientId: string; username?: string }): AuthSession {
    let round = 0;
    return {
      step: async (data): Promise<AuthStepResult> => {
        this.calls.push({ ctx, data: data?.toString() });
        if (this.gate !== undefined) await this.gate;
        const text = data?.toString() ?? "";
        if (text === "boom") throw new Error("backend down");
        if (round++ === 0) return { kind: "continue", data: Buffer.from("challenge") };
        if (text.startsWith("token:")) return { kind: "success", username: text.slice(6) };
        return { kind: "failure", reasonCode: this.failCode, reason: "bad token", detail: `got ${text}` };
      },
    };
  }
}

async function tokenConnect(
  h: Harness,
  answer: string,
  clientId = "tok",
): Promise<{ client: TestClient; packets: Packet[] }> {
  const client = new TestClient(h.broker, 5);
  client.sendConnect({
    clientId,
    properties: { authenticationMethod: "TOKEN", authenticationData: Buffer.from("hello") },
  });
  const ch = only(await client.receive(), PacketType.AUTH);
  assert.equal(ch.properties?.authenticationData?.toString(), "challenge");
  client.send(auth(ReasonCode.ContinueAuthentication, Buffer.from(answer), "TOKEN"));
  return { client, packets: await client.receive() };
}

test("custom EnhancedAuthenticator (deps.authenticators): success without final data, CONNACK reason codes passed through, re-auth 0x86 -> DISCONNECT 0x87", async () => {
  const token = new TokenAuthenticator();
  const h = harness({ authenticators: [token] });
  const ok = await tokenConnect(h, "token:dora");
  const connack = only(ok.packets, PacketType.CONNACK);
  assert.equal(connack.reasonCode, ReasonCode.Success);
  assert.equal(connack.properties?.authenticationMethod, "TOKEN");
  assert.equal(connack.properties?.authenticationData, undefined);
  assert.deepEqual(token.calls[0]!.ctx, { clientId: "tok", username: undefined });

  token.failCode = ReasonCode.BadUserNameOrPassword; // valid in CONNACK, not in DISCONNECT
  const refused = await tokenConnect(h, "nope", "tok2");
  assert.equal(only(refused.packets, PacketType.CONNACK).reasonCode, ReasonCode.BadUserNameOrPassword);

  // Re-authentication starts a new session with the proven identity.
  ok.client.send(auth(ReasonCode.ReAuthenticate, Buffer.from("hello"), "TOKEN"));
  only(await ok.client.receive(), PacketType.AUTH);
  assert.deepEqual(token.calls.at(-1)!.ctx, { clientId: "tok", username: "dora" });
  ok.client.send(auth(ReasonCode.ContinueAuthentication, Buffer.from("nope"), "TOKEN"));
  const d = only(await ok.client.receive(), PacketType.DISCONNECT);
  assert.equal(d.reasonCode, ReasonCode.NotAuthorized, "0x86 is not a DISCONNECT reason code");

  // A method that "succeeds" for another identity on re-authentication is not trusted.
  const other = await tokenConnect(h, "token:erin", "tok3");
  other.client.send(auth(ReasonCode.ReAuthenticate, Buffer.from("hello"), "TOKEN"));
  only(await other.client.receive(), PacketType.AUTH);
  other.client.send(auth(ReasonCode.ContinueAuthentication, Buffer.from("token:frank"), "TOKEN"));
  assert.equal(only(await other.client.receive(), PacketType.DISCONNECT).reasonCode, ReasonCode.NotAuthorized);
});

test("an authenticator that throws fails the exchange with 0x83 (CONNACK at CONNECT, DISCONNECT on re-auth)", async () => {
  const h = harness({ authenticators: [new TokenAuthenticator()] });
  const { packets } = await tokenConnect(h, "boom");
  assert.equal(only(packets, PacketType.CONNACK).reasonCode, ReasonCode.ImplementationSpecificError);
  const ok = await tokenConnect(h, "token:x", "t2");
  ok.client.send(auth(ReasonCode.ReAuthenticate, Buffer.from("boom"), "TOKEN"));
  const d = only(await ok.client.receive(), PacketType.DISCONNECT);
  assert.equal(d.reasonCode, ReasonCode.ImplementationSpecificError);
});

test("a slow step holds the client's next packets at CONNECT (order kept), and the connection closing meanwhile is harmless", async () => {
  const token = new TokenAuthenticator();
  const h = harness({ authenticators: [token] });
  let open!: () => void;
  token.gate = new Promise((r) => (open = r));
  const client = new TestClient(h.broker, 5);
  client.sendConnect({
    clientId: "slow",
    properties: { authenticationMethod: "TOKEN", authenticationData: Buffer.from("hello") },
  });
  client.send(auth(ReasonCode.ContinueAuthentication, Buffer.from("token:s"), "TOKEN")); // sent early: waits
  assert.deepEqual(await client.receive(), []);
  assert.equal(token.calls.length, 1);
  open();
  const got = await client.receive();
  assert.deepEqual(
    got.map((p) => p.type),
    [PacketType.AUTH, PacketType.CONNACK],
  );
  // Closed while a step runs: the late result is dropped.
  token.gate = new Promise(() => undefined);
  const gone = new TestClient(h.broker, 5);
  gone.sendConnect({
    clientId: "gone",
    properties: { authenticationMethod: "TOKEN", authenticationData: Buffer.from("hello") },
  });
  await settle();
  gone.drop();
  await settle();
  assert.equal(h.broker.connectionCount, 1, "only the client that finished");
  assert.equal(brokerInternals(h.broker).sessions.has("gone"), false);
});

test("configuration errors throw AuthError: duplicate method, malformed user entries, bad stored credential, a user listed twice (also after SASLprep)", () => {
  const scramToo: EnhancedAuthenticator = {
    method: METHOD,
    start: () => ({ step: async () => ({ kind: "continue" }) }),
  };
  assert.throws(() => new Broker({ scram: USERS, sysInterval: 0 }, { authenticators: [scramToo] }), AuthError);
  const bad = [
    [{ username: "a" }],
    [{ username: "a", password: "x", credential: "SCRAM-SHA-256$x" }],
    [{ username: "a", credential: "plain" }],
    [{ username: "a", credential: "SCRAM-SHA-256$4096:bad$bad:bad" }],
    [{ username: "a", password: "" }],
    [{ username: "", password: "x" }],
    [{ username: "a", password: "bad\u0007char" }],
    [USERS[0]!, USERS[0]!],
    [
      { username: "alice", password: "x" },
      { username: "al\u00adice", password: "y" }, // soft hyphen: mapped to nothing by SASLprep
    ],
  ];
  for (const scram of bad) assert.throws(() => new Broker({ scram, sysInterval: 0 }), AuthError, JSON.stringify(scram));
});
