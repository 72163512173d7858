// Authorization with real clients: deny by default, the read-filter mode (Mosquitto's read check) for live and
// retained messages, and ACL rules carried by a JWT claim.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { mqttjs, mosquittoPub, mosquittoSub, parseSubLines, waitUntil } from "../../helpers/clients.ts";
import { passwordFile, startSecure, tempDir } from "./helpers.ts";

/** Read-filter mode over a password file: only alice may read or write secret/#, everyone else the rest. */
async function startSecretFilter(t: TestContext, users: Record<string, string>) {
  const pw = await passwordFile(tempDir(t), users);
  return startSecure(t, {
    mqtt: { allowAnonymous: false },
    auth: { passwordFile: pw },
    acl: {
      mode: "filter",
      rules: [
        { permission: "allow", action: "all", topic: "secret/#", username: "alice" },
        { permission: "deny", action: "all", topic: "secret/#" },
      ],
    },
  });
}

test("acl.default deny: only what a rule allows; %u gives each user its own tree (mosquitto_sub / MQTT.js)", async (t) => {
  const dir = tempDir(t);
  const pw = await passwordFile(dir, { alice: "a", bob: "b" });
  const { url, port } = await startSecure(t, {
    mqtt: { allowAnonymous: false },
    auth: { passwordFile: pw },
    acl: { default: "deny", rules: [{ permission: "allow", action: "all", topic: "devices/%u/#" }] },
  });
  const alice = await mqttjs(t, url, { protocolVersion: 4, clientId: "alice", username: "alice", password: "a" });
  await alice.client.subscribeAsync("devices/alice/#", { qos: 1 });
  // MQTT.js rejects a SUBACK with a failure return code (3.1.1 0x80).
  await assert.rejects(alice.client.subscribeAsync("devices/bob/#", { qos: 1 }), /Unspecified error/);
  await assert.rejects(alice.client.subscribeAsync("other/#", { qos: 1 }), /Unspecified error/);
  // bob may not publish into alice's tree: acknowledged (3.1.1 cannot say no) but dropped.
  assert.equal(
    (await mosquittoPub(t, port, ["-u", "bob", "-P", "b", "-t", "devices/alice/x", "-m", "forged", "-q", "1"])).code,
    0,
  );
  assert.equal(
    (await mosquittoPub(t, port, ["-u", "alice", "-P", "a", "-t", "devices/alice/x", "-m", "mine", "-q", "1"])).code,
    0,
  );
  const got = await alice.waitFor(1);
  assert.deepEqual(
    got.map((m) => m.payload),
    ["mine"],
  );
});

test("acl.mode filter: '#' is granted and receives everything except denied topics, live and retained", async (t) => {
  const { port } = await startSecretFilter(t, { alice: "a", bob: "b" });
  const pub = (topic: string, m: string, retain = false) =>
    mosquittoPub(t, port, ["-u", "alice", "-P", "a", "-t", topic, "-m", m, "-q", "1", ...(retain ? ["-r"] : [])]);
  await pub("secret/r", "retained secret", true);
  await pub("public/r", "retained public", true);
  const bob = mosquittoSub(t, port, ["-u", "bob", "-P", "b", "-t", "#", "-q", "1", "-i", "bob"]);
  await bob.waitForLines(1);
  await pub("secret/live", "live secret");
  await pub("public/live", "live public");
  await bob.waitForLines(2);
  const alice = mosquittoSub(t, port, ["-u", "alice", "-P", "a", "-t", "secret/#", "-i", "alice", "-C", "1"]);
  await alice.waitForLines(1);
  assert.deepEqual(
    parseSubLines(bob.lines).map((m) => m.payload),
    ["retained public", "live public"],
  );
  assert.equal(parseSubLines(alice.lines)[0]?.payload, "retained secret");
  // In filter mode a deny covering the whole filter still refuses the SUBSCRIBE.
  const denied = mosquittoSub(t, port, ["-u", "bob", "-P", "b", "-t", "secret/#", "-i", "bob2", "-C", "1", "-W", "2"]);
  await denied.exited;
  assert.match(denied.stderr, /denied|refused|not authori|0x80|128/i);
});

test("acl.mode filter: shared subscriptions are read-checked per delivery; a denied topic never reaches a member that may not read it (MQTT.js 5.0)", async (t) => {
  const { url } = await startSecretFilter(t, { alice: "a", bob: "b", carol: "c" });
  const v5 = { protocolVersion: 5 as const };
  const alice = await mqttjs(t, url, { ...v5, clientId: "alice", username: "alice", password: "a" });
  const bob = await mqttjs(t, url, { ...v5, clientId: "bob", username: "bob", password: "b" });
  // Group g: alice may read secret/#, bob may not. Group h: carol alone, who may not.
  await alice.client.subscribeAsync("$share/g/#", { qos: 1 });
  await bob.client.subscribeAsync("$share/g/#", { qos: 1 });
  const carol = await mqttjs(t, url, { ...v5, clientId: "carol", username: "carol", password: "c" });
  await carol.client.subscribeAsync("$share/h/#", { qos: 1 });
  const n = 10;
  for (let i = 0; i < n; i++) {
    await alice.client.publishAsync(`secret/${i}`, `s${i}`, { qos: 1 });
    await alice.client.publishAsync(`public/${i}`, `p${i}`, { qos: 1 });
  }
  await waitUntil(() => alice.messages.length + bob.messages.length === 2 * n, 5000, "group g's 20 messages");
  await carol.waitFor(n);
  await new Promise((r) => setTimeout(r, 200)); // nothing more may follow
  const topics = (c: { messages: { topic: string }[] }) => c.messages.map((m) => m.topic);
  assert.deepEqual(
    topics(bob).filter((x) => x.startsWith("secret/")),
    [],
    "bob never gets a secret message",
  );
  assert.equal(topics(alice).filter((x) => x.startsWith("secret/")).length, n, "each secret message went to alice");
  assert.ok(bob.messages.length > 0, "bob still gets his share of the public messages");
  assert.deepEqual(
    topics(carol).sort(),
    Array.from({ length: n }, (_, i) => `public/${i}`).sort(),
    "carol: public only",
  );
  assert.equal(alice.messages.length + bob.messages.length, 2 * n, "each message once per group");
});

test("JWT ACL claim: the token's rules apply to its client before the configured ones", async (t) => {
  const secret = "a-shared-secret-of-at-least-32-bytes!";
  const { url } = await startSecure(t, {
    mqtt: { allowAnonymous: false },
    auth: { jwt: { secret, aclClaim: "acl" } },
    acl: { default: "deny" },
  });
  const tok = await new SignJWT({
    sub: "dev1",
    acl: [
      { permission: "allow", action: "all", topic: "fleet/dev1/#" },
      { permission: "allow", action: "subscribe", topic: "fleet/broadcast" },
    ],
  })
    .setProtectedHeader({ alg: "HS256" })
    .setExpirationTime("5m")
    .sign(new TextEncoder().encode(secret));
  const c = await mqttjs(t, url, { protocolVersion: 5, clientId: "dev1", username: "dev1", password: tok });
  await c.client.subscribeAsync("fleet/dev1/cmd", { qos: 0 });
  await c.client.subscribeAsync("fleet/broadcast", { qos: 0 });
  await assert.rejects(c.client.subscribeAsync("fleet/dev2/cmd", { qos: 0 }), /Not authorized/); // 5.0 SUBACK 0x87
});
