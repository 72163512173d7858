// JWT and HTTP callout authentication with real clients (MQTT.js, mosquitto_pub): right / expired / forged /
// wrong audience tokens, every algorithm; the callout's allow, deny, cache, timeout (fail-closed) and breaker.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from "jose";
import { mosquittoPub } from "../../helpers/clients.ts";
import { RawClient } from "../../helpers/raw-client.ts";
import { mqttjsConnack, startSecure, tempDir } from "./helpers.ts";

/** 5.0 CONNECT with a Password and no User Name (MQTT.js does not send that): the CONNACK reason code. */
async function rawConnack(port: number, password: string): Promise<number | undefined> {
  const raw = await RawClient.connect(
    { host: "127.0.0.1", port },
    { clientId: "raw", password: Buffer.from(password), protocolVersion: 5 },
    { protocolVersion: 5 },
  );
  raw.destroy();
  return raw.connack?.reasonCode;
}

const SECRET = "a-shared-secret-of-at-least-32-bytes!";

async function token(
  key: Parameters<SignJWT["sign"]>[0],
  alg: string,
  claims: Record<string, unknown> = {},
  exp: number | string = "5m",
): Promise<string> {
  let jwt = new SignJWT({ sub: "alice", ...claims }).setProtectedHeader({ alg, kid: "k1" }).setIssuedAt();
  jwt = jwt.setExpirationTime(exp);
  return jwt.sign(key);
}

test("JWT HS256 in the password: valid accepted; expired, not yet valid, forged, wrong aud/iss refused (0x04 / 0x86)", async (t) => {
  const { url, port } = await startSecure(t, {
    mqtt: { allowAnonymous: false },
    auth: { jwt: { secret: SECRET, audience: "wharf", issuer: "idp" } },
  });
  const key = new TextEncoder().encode(SECRET);
  const good = await token(key, "HS256", { aud: "wharf", iss: "idp" });
  assert.equal(await mqttjsConnack(url, { protocolVersion: 4, username: "alice", password: good }), 0);
  assert.equal(await rawConnack(port, good), 0, "5.0: password without user name");
  const expired = await token(key, "HS256", { aud: "wharf", iss: "idp" }, Math.floor(Date.now() / 1000) - 10);
  assert.equal(await mqttjsConnack(url, { protocolVersion: 4, username: "alice", password: expired }), 4);
  const future = await new SignJWT({ sub: "alice", aud: "wharf", iss: "idp" })
    .setProtectedHeader({ alg: "HS256" })
    .setNotBefore("10m")
    .setExpirationTime("20m")
    .sign(key);
  assert.equal(await rawConnack(port, future), 0x86);
  const forged = await token(new TextEncoder().encode("another-secret-of-at-least-32-bytes!!"), "HS256", {
    aud: "wharf",
    iss: "idp",
  });
  assert.equal(await mqttjsConnack(url, { protocolVersion: 4, username: "alice", password: forged }), 4);
  const wrongAud = await token(key, "HS256", { aud: "other", iss: "idp" });
  assert.equal(await mqttjsConnack(url, { protocolVersion: 4, username: "alice", password: wrongAud }), 4);
  const noExp = await new SignJWT({ sub: "alice", aud: "wharf", iss: "idp" })
    .setProtectedHeader({ alg: "HS256" })
    .sign(key);
  assert.equal(await mqttjsConnack(url, { protocolVersion: 4, username: "alice", password: noExp }), 4, "exp required");
  // "alg: none" is never accepted.
  const none = `${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from('{"sub":"alice","exp":9999999999}').toString("base64url")}.`;
  assert.equal(await mqttjsConnack(url, { protocolVersion: 4, username: "alice", password: none }), 4);
  // The user name sent with the token must be the token's.
  assert.equal(await mqttjsConnack(url, { protocolVersion: 4, username: "bob", password: good }), 4);
  assert.equal((await mosquittoPub(t, port, ["-t", "x", "-m", "y", "-u", "alice", "-P", good])).code, 0);
});

test("JWT RS256 / ES256 / EdDSA with a public key file, and a JWKS file", async (t) => {
  const dir = tempDir(t);
  for (const alg of ["RS256", "ES256", "EdDSA"] as const) {
    const { publicKey, privateKey } = await generateKeyPair(alg, { crv: alg === "EdDSA" ? "Ed25519" : undefined });
    const pem = join(dir, `${alg}.pem`);
    writeFileSync(pem, await exportSPKI(publicKey));
    const { url } = await startSecure(t, { mqtt: { allowAnonymous: false }, auth: { jwt: { publicKeyFile: pem } } });
    assert.equal(
      await mqttjsConnack(url, { protocolVersion: 4, username: "alice", password: await token(privateKey, alg) }),
      0,
      alg,
    );
    const other = await generateKeyPair(alg, { crv: alg === "EdDSA" ? "Ed25519" : undefined });
    assert.equal(
      await mqttjsConnack(url, { protocolVersion: 4, username: "alice", password: await token(other.privateKey, alg) }),
      4,
      `${alg} forged`,
    );
  }
  const { publicKey, privateKey } = await generateKeyPair("ES256");
  const jwks = join(dir, "jwks.json");
  writeFileSync(jwks, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256" }] }));
  const { url } = await startSecure(t, { mqtt: { allowAnonymous: false }, auth: { jwt: { jwksFile: jwks } } });
  assert.equal(
    await mqttjsConnack(url, { protocolVersion: 5, username: "alice", password: await token(privateKey, "ES256") }),
    0,
  );
});

function callout(handler: (body: Record<string, unknown>, res: ServerResponse) => void) {
  const server = createServer((req: IncomingMessage, res) => {
    let text = "";
    req.on("data", (d: Buffer) => (text += d.toString()));
    req.on("end", () => handler(JSON.parse(text) as Record<string, unknown>, res));
  });
  return new Promise<{ url: string; close: () => Promise<void>; calls: () => number }>((resolve) => {
    let calls = 0;
    server.on("request", () => calls++);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      resolve({
        url: `http://127.0.0.1:${port}/auth`,
        calls: () => calls,
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    });
  });
}

test("HTTP callout: allow / deny / renamed user; answers cached (allow and deny); down -> refused 0x03 / 0x88", async (t) => {
  const svc = await callout((body, res) => {
    const ok = body.username === "alice" && body.password === "pw";
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(ok ? { result: "allow", username: "alice@idp" } : { result: "deny" }));
  });
  t.after(() => svc.close());
  const { url } = await startSecure(t, {
    mqtt: { allowAnonymous: false },
    auth: { http: { url: svc.url, timeoutMs: 500, allowCacheTtl: 60, denyCacheTtl: 60 } },
  });
  assert.equal(await mqttjsConnack(url, { protocolVersion: 4, clientId: "c1", username: "alice", password: "pw" }), 0);
  assert.equal(await mqttjsConnack(url, { protocolVersion: 4, clientId: "c1", username: "alice", password: "pw" }), 0);
  assert.equal(svc.calls(), 1, "second connect answered from the allow cache");
  assert.equal(
    await mqttjsConnack(url, { protocolVersion: 5, clientId: "c2", username: "alice", password: "no" }),
    0x86,
  );
  assert.equal(
    await mqttjsConnack(url, { protocolVersion: 5, clientId: "c2", username: "alice", password: "no" }),
    0x86,
  );
  assert.equal(svc.calls(), 2, "deny cached too");
  await svc.close();
  assert.equal(await mqttjsConnack(url, { protocolVersion: 4, clientId: "c3", username: "bob", password: "x" }), 3);
  assert.equal(await mqttjsConnack(url, { protocolVersion: 5, clientId: "c3", username: "bob", password: "x" }), 0x88);
});

test("HTTP callout: a hanging service times out (fail-closed) and the breaker then refuses at once", async (t) => {
  const hung: ServerResponse[] = [];
  const svc = await callout((_body, res) => hung.push(res));
  t.after(async () => {
    for (const r of hung) r.destroy();
    await svc.close();
  });
  const { url } = await startSecure(t, {
    mqtt: { allowAnonymous: false },
    auth: { http: { url: svc.url, timeoutMs: 200, breakerThreshold: 2, breakerCooldown: 60 } },
  });
  for (let i = 0; i < 2; i++) {
    assert.equal(
      await mqttjsConnack(url, { protocolVersion: 5, clientId: `h${i}`, username: "u", password: `p${i}` }),
      0x88,
    );
  }
  const before = svc.calls();
  assert.equal(await mqttjsConnack(url, { protocolVersion: 5, clientId: "h9", username: "u", password: "p9" }), 0x88);
  assert.equal(svc.calls(), before, "breaker open: the service is not called");
});
