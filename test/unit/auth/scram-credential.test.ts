// SCRAM-SHA-256 credentials: derivation, the PostgreSQL-style stored form and config parsing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac, pbkdf2Sync } from "node:crypto";
import {
  formatScramCredential,
  parseScramCredentialSpec,
  scramCredentialFromPassword,
  scramCredentialLookup,
} from "../../../src/broker/auth/index.ts";

test("derivation defaults: 4096 iterations (RFC 7677 §4), 16-byte random salt, 32-byte keys", async () => {
  const a = await scramCredentialFromPassword("alice", "secret");
  const b = await scramCredentialFromPassword("alice", "secret");
  assert.equal(a.iterations, 4096);
  assert.equal(a.salt.length, 16);
  assert.equal(a.storedKey.length, 32);
  assert.equal(a.serverKey.length, 32);
  assert.notDeepEqual(a.salt, b.salt, "each derivation draws a new salt");
  assert.notDeepEqual(a.storedKey, b.storedKey);
});

test("keys follow RFC 5802 §3: StoredKey = H(HMAC(SaltedPassword, 'Client Key')), ServerKey = HMAC(.., 'Server Key')", async () => {
  const salt = Buffer.from("0123456789abcdef");
  const cred = await scramCredentialFromPassword("alice", "secret", { salt, iterations: 5000 });
  const salted = pbkdf2Sync("secret", salt, 5000, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  assert.deepEqual(cred.storedKey, createHash("sha256").update(clientKey).digest());
  assert.deepEqual(cred.serverKey, createHmac("sha256", salted).update("Server Key").digest());
  assert.deepEqual(cred.salt, salt);
  assert.equal(cred.iterations, 5000);
});

test("the password is SASLprep'ed before hashing (RFC 5802 §2.2): U+00A0 and soft hyphen normalize", async () => {
  const salt = Buffer.alloc(16, 1);
  const plain = await scramCredentialFromPassword("u", "pass word", { salt });
  const fancy = await scramCredentialFromPassword("u", "pass\u00A0wo\u00ADrd", { salt });
  assert.deepEqual(fancy.storedKey, plain.storedKey);
});

test("derivation runs off the event loop (async PBKDF2)", async () => {
  let ticks = 0;
  let done = false;
  const spin = (): void => {
    if (done) return;
    ticks++;
    setImmediate(spin);
  };
  setImmediate(spin);
  await scramCredentialFromPassword("alice", "secret", { iterations: 200_000 });
  done = true;
  assert.ok(ticks > 0, "the event loop kept turning while PBKDF2 ran");
});

test("derivation rejects weak iteration counts and prohibited input", async () => {
  await assert.rejects(scramCredentialFromPassword("a", "p", { iterations: 1000 }), {
    code: "AUTH_INVALID_CREDENTIAL",
  });
  await assert.rejects(scramCredentialFromPassword("a", "p", { iterations: 4096.5 }), {
    code: "AUTH_INVALID_CREDENTIAL",
  });
  await assert.rejects(scramCredentialFromPassword("a", ""), { code: "AUTH_INVALID_CREDENTIAL" });
  await assert.rejects(scramCredentialFromPassword("a", "p\u0000w"), { code: "AUTH_INVALID_CREDENTIAL" });
  await assert.rejects(scramCredentialFromPassword("a\u0007", "p"), { code: "AUTH_INVALID_CREDENTIAL" });
  await assert.rejects(scramCredentialFromPassword("a", "p", { salt: Buffer.alloc(0) }), {
    code: "AUTH_INVALID_CREDENTIAL",
  });
});

test("stored form: SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey> round trips", async () => {
  const cred = await scramCredentialFromPassword("alice", "secret", { iterations: 4200 });
  const stored = formatScramCredential(cred);
  assert.match(stored, /^SCRAM-SHA-256\$4200:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$/);
  assert.deepEqual(await parseScramCredentialSpec("alice", stored), cred);
  assert.equal(formatScramCredential(await parseScramCredentialSpec("alice", stored)), stored);
});

test("stored form parses a credential built by hand (PostgreSQL layout) without touching PBKDF2", async () => {
  const salt = Buffer.alloc(16, 9);
  const storedKey = Buffer.alloc(32, 1);
  const serverKey = Buffer.alloc(32, 2);
  const spec = `SCRAM-SHA-256$4096:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
  assert.deepEqual(await parseScramCredentialSpec("bob", spec), {
    username: "bob",
    salt,
    iterations: 4096,
    storedKey,
    serverKey,
  });
});

test("a plain password spec is derived (fresh salt) and verifies like a derived credential", async () => {
  const cred = await parseScramCredentialSpec("carol", "s3cret", { iterations: 4096 });
  const again = await scramCredentialFromPassword("carol", "s3cret", { salt: cred.salt, iterations: 4096 });
  assert.deepEqual(cred, again);
});

test("malformed stored forms throw AuthError instead of becoming a password", async () => {
  const k = Buffer.alloc(32, 3).toString("base64");
  const bad = [
    "SCRAM-SHA-256$",
    "SCRAM-SHA-256$4096:c2FsdA==",
    `SCRAM-SHA-256$4096:c2FsdA==$${k}`,
    `SCRAM-SHA-256$abc:c2FsdA==$${k}:${k}`,
    `SCRAM-SHA-256$4096:not*base64$${k}:${k}`,
    `SCRAM-SHA-256$4096:c2FsdA==$${Buffer.alloc(31).toString("base64")}:${k}`,
    `SCRAM-SHA-256$4096:c2FsdA==$${k}:${Buffer.alloc(33).toString("base64")}`,
    `SCRAM-SHA-256$1000:c2FsdA==$${k}:${k}`,
    `SCRAM-SHA-256$99999999999:c2FsdA==$${k}:${k}`,
    `SCRAM-SHA-256$4096:c2FsdA==$${k}:${k}$extra`,
  ];
  for (const spec of bad) {
    await assert.rejects(
      parseScramCredentialSpec("alice", spec),
      { name: "AuthError", code: "AUTH_INVALID_CREDENTIAL" },
      spec,
    );
  }
});

test("scramCredentialLookup finds credentials by their SASLprep'ed name", async () => {
  const cred = await scramCredentialFromPassword("\u2168", "p"); // ROMAN NUMERAL NINE -> "IX" under NFKC
  const lookup = scramCredentialLookup([cred]);
  assert.equal(cred.username, "IX");
  assert.equal(lookup("IX"), cred);
  assert.equal(lookup("ix"), undefined);
});
