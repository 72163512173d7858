// `wharf start` with a tls listener from the YAML config; SIGHUP re-reads the certificate files: new handshakes get
// the new certificate, connections already open are not dropped. Unusable files name the config key.
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import tls from "node:tls";
import { startServer, validateConfig } from "../../../src/server/index.ts";
import { makePki } from "../../helpers/certs.ts";
import { mqttjs } from "../../helpers/clients.ts";
import { runWharf, spawnWharf } from "../../helpers/spawn-wharf.ts";
import { recordingLogger } from "../../unit/broker/harness.ts";

function peerCn(port: number, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port, ca, servername: "localhost" }, () => {
      const cn = s.getPeerCertificate().subject.CN;
      s.destroy();
      resolve(String(cn));
    });
    s.once("error", reject);
  });
}

test("SIGHUP reloads the tls certificate for new handshakes without dropping open connections", async (t) => {
  const pki = makePki(t);
  const first = pki.issue("first", { cn: "first.example", san: "DNS:localhost,IP:127.0.0.1" });
  const second = pki.issue("second", { cn: "second.example", san: "DNS:localhost,IP:127.0.0.1" });
  const cert = join(pki.dir, "live.pem");
  const key = join(pki.dir, "live.key");
  copyFileSync(first.cert, cert);
  copyFileSync(first.key, key);
  const config = join(pki.dir, "wharf.yaml");
  writeFileSync(
    config,
    `listeners:\n  - type: tls\n    host: 127.0.0.1\n    port: 0\n    tls: { cert: ${cert}, key: ${key} }\n`,
  );
  const wharf = await spawnWharf(t, { args: ["--config", config] });
  assert.equal(wharf.listeners[0]!.type, "tls");
  const port = wharf.port;
  const ca = pki.read(pki.ca);
  assert.equal(await peerCn(port, ca), "first.example");

  const url = `mqtts://127.0.0.1:${port}`;
  const open = await mqttjs(t, url, { ca, servername: "localhost" });
  await open.client.subscribeAsync("r", { qos: 1 });

  copyFileSync(second.cert, cert);
  copyFileSync(second.key, key);
  wharf.child.kill("SIGHUP");
  await wharf.waitForLog((l) => l.msg === "tls certificates reloaded");
  assert.equal(await peerCn(port, ca), "second.example");

  // A broken file on the next SIGHUP: logged, the current certificate stays in use.
  writeFileSync(key, "not a key");
  wharf.child.kill("SIGHUP");
  const failed = await wharf.waitForLog((l) => l.msg === "certificate reload failed: keeping the current ones");
  assert.match(JSON.stringify(failed), /listeners\[0\]\.tls\.key/);
  assert.equal(await peerCn(port, ca), "second.example");

  // The connection opened before both reloads is still up and working.
  assert.equal(open.client.connected, true);
  await open.client.publishAsync("r", "after reload", { qos: 1 });
  assert.equal((await open.waitFor(1))[0]!.payload, "after reload");
  assert.equal((await wharf.kill()).code, 0);
});

test("tls config errors: missing section, section on the wrong type, unreadable file, wrong passphrase", async (t) => {
  assert.throws(
    () => validateConfig({ listeners: [{ type: "tls" }] }),
    /listeners\[0\]\.tls: missing required section/,
  );
  assert.throws(
    () => validateConfig({ listeners: [{ type: "tcp", tls: { cert: "a", key: "b" } }] }),
    /listeners\[0\]\.tls: not used by type tcp/,
  );
  assert.throws(
    () => validateConfig({ listeners: [{ type: "tls", tls: { cert: "a", key: "b", minVersion: "TLSv1.0" } }] }),
    /listeners\[0\]\.tls\.minVersion: expected one of "TLSv1.2", "TLSv1.3", got "TLSv1.0"/,
  );
  assert.equal(validateConfig({ listeners: [{ type: "tls", tls: { cert: "a", key: "b" } }] }).listeners[0]!.port, 8883);

  const pki = makePki(t);
  const enc = pki.issue("enc", { passphrase: "s3cret" });
  const start = (tlsOpts: object) =>
    startServer(
      validateConfig({
        listeners: [
          { host: "127.0.0.1", port: 0 },
          { type: "tls", host: "127.0.0.1", port: 0, tls: tlsOpts },
        ],
        storage: { type: "memory" },
      }),
      { logger: recordingLogger() },
    );
  await assert.rejects(start({ cert: join(pki.dir, "nope.pem"), key: enc.key }), {
    code: "TLS_CONFIG_INVALID",
    message: /^listeners\[1\]\.tls\.cert: cannot read/,
  });
  await assert.rejects(start({ cert: enc.cert, key: enc.key, passphrase: "wrong" }), {
    message: /^listeners\[1\]\.tls\.key:/,
  });
  await assert.rejects(start({ cert: enc.cert, key: enc.key, usernameFrom: "cn" }), {
    message: /^listeners\[1\]\.tls\.usernameFrom: .*requireClientCert/,
  });
  const ok = await start({ cert: enc.cert, key: enc.key, passphrase: "s3cret" });
  await ok.close();

  // The CLI prints the key on stderr and exits 1.
  const file = join(pki.dir, "bad.yaml");
  writeFileSync(
    file,
    `listeners:\n  - type: tls\n    host: 127.0.0.1\n    port: 0\n    tls: { cert: /nonexistent.pem, key: ${enc.key} }\n`,
  );
  const r = await runWharf(t, ["start", "--config", file, "--storage", "memory", "--log-format", "json"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /listeners\[0\]\.tls\.cert: cannot read "\/nonexistent.pem"/);
});
