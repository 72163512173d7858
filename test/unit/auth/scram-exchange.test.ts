// Successful SCRAM-SHA-256 exchanges between the server and the independent test client.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  ScramSha256Authenticator,
  formatScramCredential,
  parseScramCredentialSpec,
  scramCredentialFromPassword,
  scramCredentialLookup,
  type ScramCredential,
} from "../../../src/broker/auth/index.ts";
import { ScramClient } from "../../helpers/scram-client.ts";
import { CTX, assertFailure, attrs, dataOf, runExchange } from "./scram-fixtures.ts";

// Top-level await rather than a root `before` hook: the unit shards (test/shards) import many files into one process.
const creds: ScramCredential[] = await Promise.all([
  scramCredentialFromPassword("alice", "correct horse battery staple"),
  scramCredentialFromPassword("a,b=c", "comma=equals"),
  scramCredentialFromPassword("jürgen", "pässwörd✓", { iterations: 8192 }),
]);
const auth = new ScramSha256Authenticator(scramCredentialLookup(creds));

test("full exchange succeeds, reports the user and the server proves itself (RFC 5802 §3)", async () => {
  const client = new ScramClient("alice", "correct horse battery staple");
  const { first, final } = await runExchange(auth.start(CTX), client);
  const serverFirst = attrs(dataOf(first, "continue"));
  assert.ok(serverFirst.get("r")!.startsWith(client.nonce), "server nonce extends the client nonce");
  assert.ok(serverFirst.get("r")!.length >= client.nonce.length + 24, "server adds at least 18 random bytes");
  assert.equal(serverFirst.get("s"), creds[0]!.salt.toString("base64"));
  assert.equal(serverFirst.get("i"), "4096");
  assert.ok(final);
  assert.ok(client.verifyServerFinal(dataOf(final, "success")));
  assert.equal(final.kind === "success" && final.username, "alice");
});

test("each exchange gets a fresh server nonce", async () => {
  const nonces = new Set<string>();
  for (let i = 0; i < 5; i++) {
    const client = new ScramClient("alice", "x", { nonce: "fixedclientnonce" });
    nonces.add(attrs(dataOf(await auth.start(CTX).step(client.first()), "continue")).get("r")!);
  }
  assert.equal(nonces.size, 5);
});

test("saslname escaping: a user name with ',' and '=' travels as =2C / =3D (RFC 5802 §5.1)", async () => {
  const client = new ScramClient("a,b=c", "comma=equals");
  assert.match(client.first().toString(), /n=a=2Cb=3Dc,/);
  const { final } = await runExchange(auth.start(CTX), client);
  assert.ok(final && client.verifyServerFinal(dataOf(final, "success")));
  assert.equal(final.kind === "success" && final.username, "a,b=c");
});

test("non-ASCII user name and password, non-default iteration count", async () => {
  const client = new ScramClient("jürgen", "pässwörd✓");
  const { first, final } = await runExchange(auth.start(CTX), client);
  assert.equal(attrs(dataOf(first, "continue")).get("i"), "8192");
  assert.ok(final && client.verifyServerFinal(dataOf(final, "success")));
});

test("CONNECT without Authentication Data: one empty challenge, then client-first in AUTH (RFC 4422 §5)", async () => {
  const session = auth.start(CTX);
  assert.deepEqual(await session.step(undefined), { kind: "continue" });
  const client = new ScramClient("alice", "correct horse battery staple");
  const serverFirst = dataOf(await session.step(client.first()), "continue");
  assert.ok(client.verifyServerFinal(dataOf(await session.step(client.final(serverFirst)), "success")));
});

test("a second empty first message fails instead of looping", async () => {
  const session = auth.start(CTX);
  assert.equal((await session.step(Buffer.alloc(0))).kind, "continue");
  assertFailure(await session.step(undefined));
});

test("gs2 flag 'y' (client could bind, server cannot) is accepted with c= echoing 'y,,' (RFC 5802 §6)", async () => {
  const client = new ScramClient("alice", "correct horse battery staple", { gs2Header: "y,," });
  const { final, clientFinal } = await runExchange(auth.start(CTX), client);
  assert.match(clientFinal!.toString(), /^c=eSws,/);
  assert.ok(final && client.verifyServerFinal(dataOf(final, "success")));
});

test("an authzid equal to the user name is accepted", async () => {
  const client = new ScramClient("alice", "correct horse battery staple", { gs2Header: "n,a=alice," });
  const { final } = await runExchange(auth.start(CTX), client);
  assert.ok(final && client.verifyServerFinal(dataOf(final, "success")));
});

test("ctx.username equal to the SCRAM user succeeds (CONNECT User Name or re-authentication identity)", async () => {
  const client = new ScramClient("alice", "correct horse battery staple");
  const { final } = await runExchange(auth.start({ clientId: "c", username: "alice" }), client);
  assert.ok(final && client.verifyServerFinal(dataOf(final, "success")));
});

test("re-authentication as a different user than the session's fails before any challenge", async () => {
  const client = new ScramClient("a,b=c", "comma=equals");
  const { first } = await runExchange(auth.start({ clientId: "c", username: "alice" }), client);
  assert.match(assertFailure(first).reason ?? "", /differs/);
});

test("stored credential (no plain password in config) authenticates the password it came from", async () => {
  const stored = formatScramCredential(await scramCredentialFromPassword("bob", "hunter2"));
  assert.ok(!stored.includes("hunter2"));
  const bob = await parseScramCredentialSpec("bob", stored);
  const a = new ScramSha256Authenticator(scramCredentialLookup([bob]));
  const good = new ScramClient("bob", "hunter2");
  const { final } = await runExchange(a.start(CTX), good);
  assert.ok(final && good.verifyServerFinal(dataOf(final, "success")));
  assertFailure((await runExchange(a.start(CTX), new ScramClient("bob", "hunter3"))).final!);
});

test("an asynchronous lookup works and receives the SASLprep'ed name", async () => {
  const seen: string[] = [];
  const a = new ScramSha256Authenticator(async (u) => {
    seen.push(u);
    await new Promise((r) => setImmediate(r));
    return creds.find((c) => c.username === u);
  });
  const client = new ScramClient("alice\u00AD", "correct horse battery staple"); // soft hyphen maps to nothing
  const { final } = await runExchange(a.start(CTX), client);
  assert.deepEqual(seen, ["alice"]);
  assert.ok(final && client.verifyServerFinal(dataOf(final, "success")));
});
