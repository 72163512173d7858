// The authentication chain with a password file: verification, the verified-credential cache (successes only,
// exact pair, invalidated on reload / TTL), brute-force limiting per user name, client-id binding.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AuthenticateContext } from "../../../src/broker/index.ts";
import {
  AuthChain,
  CredentialCache,
  PasswordFile,
  hashPassword,
  parsePasswordFile,
  PasswordFileError,
  updatePasswordFile,
} from "../../../src/server/auth/index.ts";
import { Argon2Verifier } from "../../../src/server/auth/argon2-verifier.ts";
import { PasswordFileMethod } from "../../../src/server/auth/password-method.ts";
import { FakeClock, silentLogger } from "../../../src/util/index.ts";
import { ReasonCode } from "../../../src/codec/index.ts";

function ctx(username: string | undefined, password: string | undefined, clientId = "c", assigned = false) {
  return {
    clientId,
    username,
    password: password === undefined ? undefined : Buffer.from(password),
    peerIdentity: undefined,
    protocolVersion: 4,
    remoteAddress: "127.0.0.1:1",
    transport: "tcp",
    clean: true,
    assignedClientId: assigned,
    will: undefined,
    properties: undefined,
  } satisfies AuthenticateContext;
}

let aliceHash: Promise<string> | undefined;

async function setup(
  t: { after(fn: () => void): void },
  opts: { perMinute?: number; bind?: boolean; maxConcurrent?: number; maxWaiting?: number } = {},
) {
  const dir = mkdtempSync(join(tmpdir(), "wharf-pw-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "users.pw");
  writeFileSync(path, `# users\nalice:${await (aliceHash ??= hashPassword("right"))}\n`);
  const clock = new FakeClock();
  const file = new PasswordFile(path, {
    logger: silentLogger,
    watch: false,
    maxConcurrent: opts.maxConcurrent,
    maxWaiting: opts.maxWaiting,
  });
  const cache = new CredentialCache(clock, 60_000, 100);
  const chain = new AuthChain({
    methods: [new PasswordFileMethod(file, cache)],
    allowAnonymous: false,
    attemptsPerUser: opts.perMinute === undefined ? undefined : { burst: 3, rate: opts.perMinute / 60 },
    bindClientId: opts.bind === true ? { separator: "-" } : undefined,
    clock,
    logger: silentLogger,
  });
  t.after(() => chain.close());
  return { path, clock, file, cache, chain };
}

test("right password accepted; wrong password, unknown user, no password, empty user name refused (false = 0x04/0x86)", async (t) => {
  const { chain } = await setup(t);
  assert.deepEqual(await chain.authenticate(ctx("alice", "right")), { accept: true, username: "alice" });
  assert.equal(await chain.authenticate(ctx("alice", "wrong")), false);
  assert.equal(await chain.authenticate(ctx("mallory", "right")), false);
  assert.equal(await chain.authenticate(ctx("alice", undefined)), false);
  assert.equal(await chain.authenticate(ctx("", "right")), false);
  assert.equal(await chain.authenticate(ctx(undefined, "right")), false); // 5.0 password without user name
});

test("an unknown user costs one (dummy) verification like a wrong password: no user enumeration by timing", async (t) => {
  const { chain, file } = await setup(t);
  const before = file.verifications;
  await chain.authenticate(ctx("mallory", "x"));
  assert.equal(file.verifications - before, 1);
  await chain.authenticate(ctx("alice", "x"));
  assert.equal(file.verifications - before, 2);
});

test("verified-credential cache: the exact right pair skips hashing; failures are never cached; TTL and reload end it", async (t) => {
  const { chain, file, clock, path } = await setup(t);
  await chain.authenticate(ctx("alice", "right"));
  assert.equal(file.verifications, 1);
  assert.deepEqual(await chain.authenticate(ctx("alice", "right")), { accept: true, username: "alice" });
  assert.equal(file.verifications, 1, "second connect served from the cache");
  // A wrong password is verified every time (no negative cache to probe, no shortcut).
  for (let i = 0; i < 3; i++) assert.equal(await chain.authenticate(ctx("alice", "wrong")), false);
  assert.equal(file.verifications, 4);
  clock.advance(60_001);
  await chain.authenticate(ctx("alice", "right"));
  assert.equal(file.verifications, 5, "expired entry: verified again");
  // A new password file generation (password changed) invalidates at once.
  updatePasswordFile(path, "alice", await hashPassword("new"));
  assert.equal(file.reload(), true);
  assert.equal(await chain.authenticate(ctx("alice", "right")), false);
  assert.deepEqual(await chain.authenticate(ctx("alice", "new")), { accept: true, username: "alice" });
});

test("cache keys are exact (user, password) pairs: no collisions between splits", () => {
  const clock = new FakeClock();
  const cache = new CredentialCache(clock, 1000, 10);
  cache.set("m", 0, "ab", Buffer.from("c"));
  assert.equal(cache.get("m", 0, "a", Buffer.from("bc")), undefined);
  assert.equal(cache.get("m", 0, "ab", Buffer.from("c")), "ab");
  assert.equal(cache.get("m", 1, "ab", Buffer.from("c")), undefined, "other generation");
  const small = new CredentialCache(clock, 1000, 2);
  small.set("m", 0, "u1", Buffer.from("p"));
  small.set("m", 0, "u2", Buffer.from("p"));
  small.set("m", 0, "u3", Buffer.from("p"));
  assert.equal(small.size, 2, "bounded");
  assert.equal(small.get("m", 0, "u1", Buffer.from("p")), undefined, "oldest dropped");
});

test("brute force: CONNECT attempts per user name are limited (0x9F) without hashing; a cached right password still passes", async (t) => {
  const { chain, file, clock } = await setup(t, { perMinute: 6 });
  assert.deepEqual(await chain.authenticate(ctx("alice", "right")), { accept: true, username: "alice" }); // refunded
  for (let i = 0; i < 3; i++) assert.equal(await chain.authenticate(ctx("alice", `guess${i}`)), false);
  const verified = file.verifications;
  const limited = await chain.authenticate(ctx("alice", "guess4"));
  assert.deepEqual(limited, { reasonCode: 0x9f, reasonString: "too many attempts" });
  assert.equal(file.verifications, verified, "no hash spent on a limited attempt");
  assert.deepEqual(await chain.authenticate(ctx("alice", "right")), { accept: true, username: "alice" }, "cached");
  // Other names are not affected; the bucket refills (6/min = one per 10 s).
  assert.equal(await chain.authenticate(ctx("bob", "x")), false);
  clock.advance(10_000);
  assert.equal(await chain.authenticate(ctx("alice", "guess5")), false);
  assert.deepEqual(await chain.authenticate(ctx("alice", "guess6")), {
    reasonCode: 0x9f,
    reasonString: "too many attempts",
  });
});

test("client-id binding: <user> and <user>-… only; anonymous clients only assigned ids (0x85)", async (t) => {
  const { chain } = await setup(t, { bind: true });
  const ok = { accept: true, username: "alice" };
  assert.deepEqual(await chain.authenticate(ctx("alice", "right", "alice")), ok);
  assert.deepEqual(await chain.authenticate(ctx("alice", "right", "alice-phone")), ok);
  const refused = { reasonCode: 0x85, reasonString: "client id not allowed for this user" };
  assert.deepEqual(await chain.authenticate(ctx("alice", "right", "bob-1")), refused);
  assert.deepEqual(await chain.authenticate(ctx("alice", "right", "aliceX")), refused);
  assert.deepEqual(await chain.authenticate(ctx(undefined, undefined, "alice-phone")), refused);
  assert.equal(await chain.authenticate(ctx(undefined, undefined, "wharf-1", true)), true);
});

test("password file parsing: comments, bad lines named, duplicates, non-argon2id hashes refused", async () => {
  const h = await (aliceHash ??= hashPassword("right"));
  assert.deepEqual([...parsePasswordFile(`# c\n\nalice:${h}\r\n`).keys()], ["alice"]);
  assert.throws(() => parsePasswordFile("alice\n", "f"), /f: line 1: expected user:hash/);
  assert.throws(() => parsePasswordFile(`a:${h}\na:${h}\n`, "f"), /line 2: user "a" is listed twice/);
  assert.throws(() => parsePasswordFile("bob:$6$salt$sha512crypt\n", "f"), /line 1: user "bob": not an argon2id hash/);
  assert.throws(() => new PasswordFile("/nonexistent/users.pw", { logger: silentLogger }), PasswordFileError);
});

test("a password file reload that fails keeps the previous users", async (t) => {
  const { chain, path, file } = await setup(t);
  writeFileSync(path, "garbage\n");
  assert.equal(file.reload(), false);
  assert.deepEqual(await chain.authenticate(ctx("alice", "right")), { accept: true, username: "alice" });
});

test("argon2id runs on worker threads at nice 19 and never on the event loop: the loop keeps turning during a hash", async (t) => {
  const { chain, file } = await setup(t);
  if (process.platform === "linux")
    assert.equal(await file.verifierNice(), 19, "the verifier lowered its own priority");
  let turns = 0;
  let done = false;
  const spin = (): void => {
    turns++;
    if (!done) setImmediate(spin);
  };
  setImmediate(spin);
  const verdict = await chain.authenticate(ctx("alice", "right"));
  done = true;
  assert.deepEqual(verdict, { accept: true, username: "alice" });
  assert.ok(turns > 1, `event loop turned ${turns} times while verifying (0-1 would mean the hash blocked it)`);
  assert.equal(await chain.authenticate(ctx("alice", "wrong!")), false, "a wrong password is still refused");
});

test("a full verification queue refuses with Server busy (5.0 0x89; 3.x maps it to 0x03) without hashing or waiting", async (t) => {
  const { chain, file } = await setup(t, { maxConcurrent: 1, maxWaiting: 1 });
  // Three CONNECTs in one tick: one verifying, one waiting, the third over the bound.
  const running = chain.authenticate(ctx("alice", "right", "c1"));
  const waiting = chain.authenticate(ctx("alice", "wrong", "c2"));
  const refused = await chain.authenticate(ctx("alice", "right", "c3"));
  assert.deepEqual(refused, { reasonCode: ReasonCode.ServerBusy, reasonString: "server busy" });
  assert.deepEqual(await running, { accept: true, username: "alice" });
  assert.equal(await waiting, false);
  assert.equal(file.verifications, 2, "the refused attempt cost no hash");
  // Once the queue drained, the same credentials are verified again (from the cache here: c1 succeeded).
  assert.deepEqual(await chain.authenticate(ctx("alice", "right", "c3")), { accept: true, username: "alice" });
});

test("a verification unanswered at low priority after escalateAfterMs is answered at normal priority; its worker is detached, not waited for", async (t) => {
  const clock = new FakeClock();
  const v = new Argon2Verifier({ threads: 1, maxWaiting: 4, escalateAfterMs: 500, clock });
  t.after(() => v.close());
  const hash = await (aliceHash ??= hashPassword("right"));
  const right = v.verify(hash, Buffer.from("right"));
  clock.advance(500); // the worker has not answered yet (it is still starting): answered on the libuv pool instead
  assert.equal(v.escalated, 1);
  assert.equal(v.detached, 1);
  assert.equal(await right, true);
  // The slot is free at once: the next verification does not wait for the detached worker (fake time stands still).
  const wrong = v.verify(hash, Buffer.from("wrong"));
  clock.advance(500);
  assert.equal(await wrong, false);
  // All workers stuck (1 of 1 threads detached, or again): straight to the pool, still the right verdicts.
  assert.equal(await v.verify(hash, Buffer.from("right")), true);
  assert.equal(await v.verify("$argon2id$garbage", Buffer.from("x")), false, "a malformed hash is just wrong");
});
