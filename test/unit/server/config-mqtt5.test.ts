// Config keys of the MQTT 5.0 completion (issue #4): auth.scram, mqtt.serverRedirect, mqtt.responseInformation,
// mqtt.validatePayloadFormat, mqtt.maxSubscriptionsPerSession — validation and the mapping onto BrokerOptions.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parse } from "yaml";
import { ConfigError, toBrokerOptions, validateConfig } from "../../../src/server/index.ts";
import { formatScramCredential, scramCredentialFromPassword } from "../../../src/broker/auth/index.ts";

function issues(raw: unknown): { path: string; message: string }[] {
  try {
    validateConfig(raw);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.errors.map(({ path, message }) => ({ path, message }));
  }
  assert.fail("expected the config to be rejected");
}

test("auth.scram: users with a password or a stored credential reach BrokerOptions.scram", async () => {
  const credential = formatScramCredential(await scramCredentialFromPassword("alice", "secret"));
  const config = validateConfig({
    auth: {
      scram: [
        { username: "alice", credential },
        { username: "bob", password: "pw" },
      ],
    },
  });
  assert.deepEqual(toBrokerOptions(config).scram, [
    { username: "alice", credential },
    { username: "bob", password: "pw" },
  ]);
});

test("auth.scram: each entry is checked like the broker does, with the entry's path", () => {
  const found = issues({
    auth: {
      scram: [
        { username: "a" },
        { username: "b", password: "x", credential: "SCRAM-SHA-256$x" },
        { username: "c", credential: "not the stored form" },
        { username: "d", credential: "SCRAM-SHA-256$4096:AAAA$AAAA:AAAA" },
        { password: "x" },
        { username: "e", password: "x", pasword: "typo" },
      ],
    },
  });
  const paths = found.map((i) => i.path);
  assert.deepEqual(paths, [
    "auth.scram[0]",
    "auth.scram[1]",
    "auth.scram[2]",
    "auth.scram[3]",
    "auth.scram[4].username",
    "auth.scram[5].pasword",
  ]);
  assert.match(found[0]!.message, /exactly one of password and credential/);
  assert.match(found[2]!.message, /stored form/);
  assert.match(found[3]!.message, /StoredKey is not 32 bytes/);
  const twice = issues({
    auth: {
      scram: [
        { username: "f", password: "x" },
        { username: "f", password: "y" },
      ],
    },
  });
  assert.deepEqual(twice, [{ path: "auth.scram[1].username", message: "same user as auth.scram[0]" }]);
});

test("mqtt.serverRedirect: off while serverReference is empty; YAML 0x9d is 157; other codes refused", () => {
  assert.equal(toBrokerOptions(validateConfig({})).serverRedirect, null);
  const raw: unknown = parse("mqtt:\n  serverRedirect:\n    serverReference: b.example:1883\n    reasonCode: 0x9d\n");
  assert.deepEqual(toBrokerOptions(validateConfig(raw)).serverRedirect, {
    serverReference: "b.example:1883",
    reasonCode: 0x9d,
  });
  assert.deepEqual(
    issues({ mqtt: { serverRedirect: { serverReference: "x", reasonCode: 0x88 } } }).map((i) => i.path),
    ["mqtt.serverRedirect.reasonCode"],
  );
});

test("mqtt.responseInformation, validatePayloadFormat, maxSubscriptionsPerSession map 1:1 and are range-checked", () => {
  const o = toBrokerOptions(
    validateConfig({
      mqtt: { responseInformation: "resp/%c/", validatePayloadFormat: false, maxSubscriptionsPerSession: 50 },
    }),
  );
  assert.equal(o.responseInformation, "resp/%c/");
  assert.equal(o.validatePayloadFormat, false);
  assert.equal(o.maxSubscriptionsPerSession, 50);
  assert.deepEqual(
    issues({ mqtt: { maxSubscriptionsPerSession: -1, validatePayloadFormat: "yes", responseInformation: 1 } }).map(
      (i) => i.path,
    ),
    ["mqtt.responseInformation", "mqtt.validatePayloadFormat", "mqtt.maxSubscriptionsPerSession"],
  );
});
