// Password-file authentication seen on the wire with real clients (issue #14, item 1): mosquitto_pub / _sub and
// MQTT.js, MQTT 3.1.1 and 5.0; the ACL bypass the issue reported; reload of the file written by `wharf passwd`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { mosquittoPub, mosquittoSub, parseSubLines, waitUntil } from "../../helpers/clients.ts";
import { RawClient } from "../../helpers/raw-client.ts";
import { cliArgs, repoRoot } from "../../helpers/spawn-wharf.ts";
import { passwd, type PasswdOptions } from "../../../src/cli/passwd.ts";
import { mqttjsConnack, passwordFile, startSecure, tempDir } from "./helpers.ts";

test("allowAnonymous=false + password file: mosquitto_pub 3.1.1 gets 0 / 0x04 / 0x05, 5.0 gets 0 / 0x86 / 0x87", async (t) => {
  const dir = tempDir(t);
  const pw = await passwordFile(dir, { alice: "s3cret" });
  const { port } = await startSecure(t, { mqtt: { allowAnonymous: false }, auth: { passwordFile: pw } });
  const cases: [string, string[], number, number][] = [
    ["right password", ["-u", "alice", "-P", "s3cret"], 0, 0],
    ["wrong password", ["-u", "alice", "-P", "wrong"], 4, 0x86],
    ["unknown user", ["-u", "nobody", "-P", "s3cret"], 4, 0x86],
    ["no password", ["-u", "alice"], 4, 0x86],
    ["no credentials", [], 5, 0x87],
  ];
  for (const [what, args, v3, v5] of cases) {
    const a = await mosquittoPub(t, port, ["-t", "x", "-m", "y", "-i", "p3", ...args]);
    // mosquitto_pub exits with the CONNACK return code (3.1.1) / reason code (5.0).
    assert.equal(a.code, v3, `3.1.1 ${what}: ${a.stderr}`);
    const b = await mosquittoPub(t, port, ["-t", "x", "-m", "y", "-i", "p5", ...args], "mqttv5");
    assert.equal(b.code, v5, `5.0 ${what}: ${b.stderr}`);
  }
});

test("MQTT.js 3.1.1 and 5.0: right, wrong, unknown, no password, zero-length user name", async (t) => {
  const dir = tempDir(t);
  const pw = await passwordFile(dir, { alice: "s3cret" });
  const { url, port } = await startSecure(t, { mqtt: { allowAnonymous: false }, auth: { passwordFile: pw } });
  for (const [protocolVersion, bad, anon] of [
    [4, 4, 5],
    [5, 0x86, 0x87],
  ] as const) {
    const code = (o: object) => mqttjsConnack(url, { protocolVersion, clientId: "j", ...o });
    assert.equal(await code({ username: "alice", password: "s3cret" }), 0);
    assert.equal(await code({ username: "alice", password: "wrong" }), bad);
    assert.equal(await code({ username: "bob", password: "s3cret" }), bad);
    assert.equal(await code({ username: "alice" }), bad);
    assert.equal(await code({}), anon);
  }
  // A zero-length User Name is present (flag set), not absent: it is a credential nobody has.
  for (const version of [4, 5] as const) {
    const raw = await RawClient.connect(
      { host: "127.0.0.1", port },
      { clientId: "z", username: "", password: Buffer.from("s3cret"), protocolVersion: version },
      { protocolVersion: version },
    );
    t.after(() => raw.destroy());
    assert.equal(raw.connack?.reasonCode, version === 5 ? 0x86 : 0x04);
  }
});

test("verification queue full: MQTT.js 5.0 gets 0x89 Server busy, 3.1.1 gets 0x03 Server unavailable", async (t) => {
  const dir = tempDir(t);
  const pw = await passwordFile(dir, { alice: "s3cret" });
  const { url } = await startSecure(t, {
    mqtt: { allowAnonymous: false },
    auth: { passwordFile: pw, maxConcurrentHashes: 1, maxPendingHashes: 0, cacheTtl: 0 },
  });
  // Eight CONNECTs at once, each needing a hash: one verifies, the ones arriving meanwhile find no room.
  const versions = [4, 5, 4, 5, 4, 5, 4, 5] as const;
  const codes = await Promise.all(
    versions.map((protocolVersion, i) =>
      mqttjsConnack(url, { protocolVersion, clientId: `b${i}`, username: "alice", password: "wrong" }),
    ),
  );
  versions.forEach((v, i) => assert.ok((v === 5 ? [0x86, 0x89] : [4, 3]).includes(codes[i]!), `v${v}: ${codes[i]}`));
  assert.ok(codes.includes(0x89) || codes.includes(3), `someone was told the server is busy: ${codes.join(",")}`);
  // The bound refuses, it does not lock anybody out: alone, the right password is accepted.
  assert.equal(
    await mqttjsConnack(url, { protocolVersion: 5, clientId: "ok", username: "alice", password: "s3cret" }),
    0,
  );
});

test("issue #14 attack: alice's ACL rule is not reachable with a wrong password; the right one reads secret/#", async (t) => {
  const dir = tempDir(t);
  const pw = await passwordFile(dir, { alice: "s3cret", pub: "pubpw" });
  const { port } = await startSecure(t, {
    mqtt: { allowAnonymous: false },
    auth: { passwordFile: pw },
    acl: [
      { permission: "allow", action: "all", topic: "secret/#", username: "alice" },
      { permission: "allow", action: "publish", topic: "secret/#", username: "pub" },
      { permission: "deny", action: "all", topic: "secret/#" },
    ],
  });
  const thief = mosquittoSub(t, port, ["-u", "alice", "-P", "WRONG", "-t", "secret/#", "-i", "thief"]);
  assert.equal(await thief.exited, 4, "refused with bad user name or password");
  const sub = mosquittoSub(t, port, ["-u", "alice", "-P", "s3cret", "-t", "secret/#", "-i", "alice", "-q", "1"]);
  await waitUntil(() => sub.stderr.length > 0 || sub.running, 2000);
  // Publish until the subscription is in place (mosquitto_sub prints nothing before the first message).
  for (let i = 0; i < 50 && sub.lines.length === 0; i++) {
    assert.equal(
      (await mosquittoPub(t, port, ["-u", "pub", "-P", "pubpw", "-t", "secret/a", "-m", "m", "-q", "1"])).code,
      0,
    );
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(parseSubLines(sub.lines)[0]?.topic, "secret/a");
});

function passwdCli(args: string[], stdin: string): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...cliArgs(), "passwd", ...args], {
      cwd: repoRoot,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.stdin.end(stdin);
    child.on("exit", (code) => resolve({ code, out, err }));
  });
}

test("`wharf passwd --password-stdin` adds and changes, -D deletes; the running broker reloads the file", async (t) => {
  const dir = tempDir(t);
  const pw = join(dir, "users.pw");
  // The real command once (a child process); the other cases through the same function in-process (fast).
  assert.deepEqual(await passwdCli(["--password-stdin", pw, "alice"], "first\n"), {
    code: 0,
    out: `${pw}: added alice\n`,
    err: "",
  });
  const run = async (user: string, opts: Partial<PasswdOptions>, stdin = "", tty?: string[]) => {
    let out = "";
    let err = "";
    const answers = [...(tty ?? [])];
    const code = await passwd(
      pw,
      user,
      { delete: false, passwordStdin: false, ...opts },
      { out: (s) => (out += s), err: (s) => (err += s) },
      { readStdin: async () => stdin, prompt: async () => (tty === undefined ? undefined : answers.shift()) },
    );
    return { code, out, err };
  };
  const { port } = await startSecure(t, { mqtt: { allowAnonymous: false }, auth: { passwordFile: pw } });
  const pub = async (u: string, p: string) =>
    (await mosquittoPub(t, port, ["-t", "x", "-m", "y", "-u", u, "-P", p])).code;
  assert.equal(await pub("alice", "first"), 0);
  assert.equal(await pub("bob", "bobpw"), 4);
  assert.equal((await run("bob", { passwordStdin: true }, "bobpw")).code, 0);
  await retryUntil(async () => (await pub("bob", "bobpw")) === 0, "bob accepted after the reload");
  // The prompt: asked twice, must match.
  assert.deepEqual(await run("alice", {}, "", ["second", "second"]), {
    code: 0,
    out: `${pw}: changed alice\n`,
    err: "",
  });
  await retryUntil(
    async () => (await pub("alice", "first")) === 4,
    "alice's old password refused (even though cached)",
  );
  assert.equal(await pub("alice", "second"), 0);
  assert.equal((await run("carol", {}, "", ["one", "two"])).code, 1, "passwords differ");
  assert.equal((await run("bob", { delete: true })).code, 0);
  await retryUntil(async () => (await pub("bob", "bobpw")) === 4, "bob refused after -D");
  const missing = await run("bob", { delete: true });
  assert.equal(missing.code, 1);
  assert.match(missing.err, /no user "bob"/);
  const bad = await run("a:b", { passwordStdin: true }, "x");
  assert.equal(bad.code, 2);
  assert.match(bad.err, /':'/);
  assert.equal((await run("carol", { passwordStdin: true }, "\n")).code, 2, "empty password");
  const noTty = await run("carol", {});
  assert.equal(noTty.code, 2);
  assert.match(noTty.err, /--password-stdin/);
});

async function retryUntil(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 40; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out: ${what}`);
}

test("allowAnonymous=false without any method: every client refused, user names included (3.1.1 0x05, 5.0 0x87)", async (t) => {
  const { port, url } = await startSecure(t, { mqtt: { allowAnonymous: false } });
  assert.equal((await mosquittoPub(t, port, ["-t", "x", "-m", "y", "-u", "nobody"])).code, 5);
  assert.equal((await mosquittoPub(t, port, ["-t", "x", "-m", "y", "-u", "alice", "-P", "x"], "mqttv5")).code, 0x87);
  assert.equal(await mqttjsConnack(url, { protocolVersion: 4, username: "", password: "x" }), 5);
});

test("allowAnonymous=true + password file: anonymous clients pass, wrong credentials do not", async (t) => {
  const dir = tempDir(t);
  const pw = await passwordFile(dir, { alice: "s3cret" });
  const { port } = await startSecure(t, { auth: { passwordFile: pw } });
  assert.equal((await mosquittoPub(t, port, ["-t", "x", "-m", "y"])).code, 0);
  assert.equal((await mosquittoPub(t, port, ["-t", "x", "-m", "y", "-u", "alice", "-P", "no"])).code, 4);
  assert.equal((await mosquittoPub(t, port, ["-t", "x", "-m", "y", "-u", "alice", "-P", "s3cret"])).code, 0);
});

test("client-id binding on the wire: alice cannot take over bob's session (3.1.1 0x02, 5.0 0x85)", async (t) => {
  const dir = tempDir(t);
  const pw = await passwordFile(dir, { alice: "a", bob: "b" });
  const { url } = await startSecure(t, {
    mqtt: { allowAnonymous: false },
    auth: { passwordFile: pw, bindClientId: true },
  });
  assert.equal(
    await mqttjsConnack(url, { protocolVersion: 4, clientId: "bob-phone", username: "bob", password: "b" }),
    0,
  );
  assert.equal(
    await mqttjsConnack(url, { protocolVersion: 4, clientId: "bob-phone", username: "alice", password: "a" }),
    2,
  );
  assert.equal(
    await mqttjsConnack(url, { protocolVersion: 5, clientId: "bob", username: "alice", password: "a" }),
    0x85,
  );
  assert.equal(
    await mqttjsConnack(url, { protocolVersion: 5, clientId: "alice-1", username: "alice", password: "a" }),
    0,
  );
});

test("config: a listed method must be configured; an unreadable password file stops the start", async (t) => {
  const { validateConfig } = await import("../../../src/server/index.ts");
  assert.throws(
    () => validateConfig({ auth: { methods: ["password-file"] } }),
    /auth\.methods: password-file is listed but auth\.passwordFile is not set/,
  );
  assert.throws(() => validateConfig({ auth: { passwordFile: "x", methods: ["scram"] } }), /auth\.passwordFile/);
  assert.throws(() => validateConfig({ auth: { bindClientId: true } }), /auth\.bindClientId/);
  await assert.rejects(startSecure(t, { auth: { passwordFile: "/nonexistent/users.pw" } }), /users\.pw: cannot read/);
});
