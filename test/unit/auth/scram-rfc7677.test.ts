// The SCRAM-SHA-256 test vector of RFC 7677 section 3, on the server and on the independent test client.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ScramSha256Authenticator, scramCredentialFromPassword } from "../../../src/broker/auth/index.ts";
import { ScramClient } from "../../helpers/scram-client.ts";
import { CTX, attrs, dataOf } from "./scram-fixtures.ts";

const CLIENT_NONCE = "rOprNGfwEbeRWgbNEkqO";
const SERVER_NONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
const SALT_B64 = "W22ZaJ0SNY7soEsUEjb6gQ==";
const CLIENT_FIRST = `n,,n=user,r=${CLIENT_NONCE}`;
const SERVER_FIRST = `r=${CLIENT_NONCE}${SERVER_NONCE},s=${SALT_B64},i=4096`;
const CLIENT_FINAL = `c=biws,r=${CLIENT_NONCE}${SERVER_NONCE},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=`;
const SERVER_FINAL = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

const credential = () =>
  scramCredentialFromPassword("user", "pencil", { salt: Buffer.from(SALT_B64, "base64"), iterations: 4096 });

test("RFC 7677 §3: the test client produces the exact client-first and client-final messages", () => {
  const client = new ScramClient("user", "pencil", { nonce: CLIENT_NONCE });
  assert.equal(client.first().toString(), CLIENT_FIRST);
  assert.equal(client.final(Buffer.from(SERVER_FIRST)).toString(), CLIENT_FINAL);
  assert.equal(client.verifyServerFinal(Buffer.from(SERVER_FINAL)), true);
  assert.equal(client.verifyServerFinal(Buffer.from(SERVER_FINAL.replace("6rri", "6rrj"))), false);
  assert.equal(client.verifyServerFinal(Buffer.from("e=invalid-proof")), false);
});

test("RFC 7677 §3: the server produces the exact server-first and server-final messages", async () => {
  const cred = await credential();
  const auth = new ScramSha256Authenticator((u) => (u === "user" ? cred : undefined), {
    generateNonce: () => SERVER_NONCE,
  });
  const session = auth.start(CTX);
  assert.equal(dataOf(await session.step(Buffer.from(CLIENT_FIRST)), "continue").toString(), SERVER_FIRST);
  const final = await session.step(Buffer.from(CLIENT_FINAL));
  assert.equal(dataOf(final, "success").toString(), SERVER_FINAL);
  assert.equal(final.kind === "success" && final.username, "user");
});

test("RFC 7677 §3: server and test client agree end to end on the vector", async () => {
  const cred = await credential();
  const auth = new ScramSha256Authenticator(() => cred, { generateNonce: () => SERVER_NONCE });
  const client = new ScramClient("user", "pencil", { nonce: CLIENT_NONCE });
  const session = auth.start(CTX);
  const serverFirst = dataOf(await session.step(client.first()), "continue");
  const clientFinal = client.final(serverFirst);
  assert.equal(clientFinal.toString(), CLIENT_FINAL);
  assert.ok(client.verifyServerFinal(dataOf(await session.step(clientFinal), "success")));
});

test("server nonce comes from the injected randomBytes, base64-encoded (RFC 5802 §5.1 printable, no ',')", async () => {
  const cred = await credential();
  const asked: number[] = [];
  const auth = new ScramSha256Authenticator(() => cred, {
    nonceBytes: 24,
    randomBytes: (n) => {
      asked.push(n);
      return Buffer.alloc(n, 0xfb); // base64 of 0xfb bytes uses '+' and '/', still printable
    },
  });
  const serverFirst = attrs(dataOf(await auth.start(CTX).step(Buffer.from(CLIENT_FIRST)), "continue"));
  assert.deepEqual(asked, [24]);
  assert.equal(serverFirst.get("r"), CLIENT_NONCE + Buffer.alloc(24, 0xfb).toString("base64"));
  assert.equal(serverFirst.get("s"), SALT_B64);
  assert.equal(serverFirst.get("i"), "4096");
});
