import { test } from "node:test";
import assert from "node:assert/strict";
import {
  AuthenticatorRegistry,
  ScramSha256Authenticator,
  type AuthSession,
  type EnhancedAuthenticator,
} from "../../../src/broker/auth/index.ts";

const dummy = (method: string): EnhancedAuthenticator => ({
  method,
  start: (): AuthSession => ({ step: async () => ({ kind: "failure", reasonCode: 0x87 }) }),
});

test("registry: register, get by exact method name, list in registration order", () => {
  const reg = new AuthenticatorRegistry();
  const scram = new ScramSha256Authenticator(() => undefined);
  const other = dummy("X-TOKEN");
  reg.register(scram);
  reg.register(other);
  assert.equal(reg.get("SCRAM-SHA-256"), scram);
  assert.equal(reg.get("X-TOKEN"), other);
  assert.deepEqual(reg.methods(), ["SCRAM-SHA-256", "X-TOKEN"]);
});

test("registry: unknown or differently-cased method is absent (broker answers 0x8C) [MQTT-4.12.0-1]", () => {
  const reg = new AuthenticatorRegistry();
  reg.register(new ScramSha256Authenticator(() => undefined));
  assert.equal(reg.get("SCRAM-SHA-1"), undefined);
  assert.equal(reg.get("scram-sha-256"), undefined);
  assert.deepEqual(new AuthenticatorRegistry().methods(), []);
});

test("registry: duplicate and invalid method names throw AuthError", () => {
  const reg = new AuthenticatorRegistry();
  reg.register(dummy("A"));
  assert.throws(() => reg.register(dummy("A")), { name: "AuthError", code: "AUTH_DUPLICATE_METHOD" });
  assert.throws(() => reg.register(dummy("")), { code: "AUTH_INVALID_METHOD" });
  assert.throws(() => reg.register(dummy("A\u0000B")), { code: "AUTH_INVALID_METHOD" });
  assert.deepEqual(reg.methods(), ["A"]);
});
