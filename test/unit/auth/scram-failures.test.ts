// Rejected SCRAM-SHA-256 exchanges: every one ends in a failure result, none throws.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  ScramSha256Authenticator,
  scramCredentialFromPassword,
  scramCredentialLookup,
  type AuthSession,
  type ScramCredential,
} from "../../../src/broker/auth/index.ts";
import { ScramClient } from "../../helpers/scram-client.ts";
import { CTX, assertFailure, attrs, dataOf, runExchange } from "./scram-fixtures.ts";

const NOT_AUTHORIZED = 0x87;
// Top-level await rather than a root `before` hook: the unit shards (test/shards) import many files into one process.
const alice: ScramCredential = await scramCredentialFromPassword("alice", "secret");
const auth = new ScramSha256Authenticator(scramCredentialLookup([alice]));

/** A session that has answered `client`'s client-first; returns it with the server-first. */
async function afterFirst(client: ScramClient, a = auth): Promise<{ session: AuthSession; serverFirst: Buffer }> {
  const session = a.start(CTX);
  return { session, serverFirst: dataOf(await session.step(client.first()), "continue") };
}

test("wrong password fails at the proof step with 0x87 Not authorized", async () => {
  const { first, final } = await runExchange(auth.start(CTX), new ScramClient("alice", "Secret"));
  assert.equal(first.kind, "continue");
  const f = assertFailure(final!, NOT_AUTHORIZED);
  assert.equal(f.reason, "authentication failed");
});

test("unknown user fails at the same step, with the same reason code and reason as a wrong password", async () => {
  const wrong = await runExchange(auth.start(CTX), new ScramClient("alice", "Secret"));
  const unknown = await runExchange(auth.start(CTX), new ScramClient("mallory", "secret"));
  assert.equal(unknown.first.kind, "continue", "no early 'unknown user' answer");
  const a = assertFailure(wrong.final!);
  const b = assertFailure(unknown.final!);
  assert.deepEqual([b.reasonCode, b.reason], [a.reasonCode, a.reason]);
  assert.notEqual(a.detail, b.detail, "logs can still tell the two apart");
});

test("unknown user: server-first looks like a real user's (salt length, iterations) and is stable per name", async () => {
  const real = attrs((await afterFirst(new ScramClient("alice", "x"))).serverFirst);
  const fake1 = attrs((await afterFirst(new ScramClient("mallory", "x"))).serverFirst);
  const fake2 = attrs((await afterFirst(new ScramClient("mallory", "y"))).serverFirst);
  const other = attrs((await afterFirst(new ScramClient("trudy", "x"))).serverFirst);
  assert.equal(Buffer.from(fake1.get("s")!, "base64").length, Buffer.from(real.get("s")!, "base64").length);
  assert.equal(fake1.get("i"), real.get("i"));
  assert.equal(fake1.get("s"), fake2.get("s"), "the same unknown name always gets the same salt");
  assert.notEqual(fake1.get("s"), other.get("s"));
});

test("fake salts come from the configured secret: stable across authenticator instances", async () => {
  const secret = Buffer.alloc(32, 7);
  const salt = async (a: ScramSha256Authenticator) =>
    attrs((await afterFirst(new ScramClient("mallory", "x"), a)).serverFirst).get("s");
  const lookup = scramCredentialLookup([alice]);
  const s1 = await salt(new ScramSha256Authenticator(lookup, { fakeSecret: secret }));
  const s2 = await salt(new ScramSha256Authenticator(lookup, { fakeSecret: secret }));
  const s3 = await salt(new ScramSha256Authenticator(lookup, { fakeSecret: Buffer.alloc(32, 8) }));
  assert.equal(s1, s2);
  assert.notEqual(s1, s3);
  const tuned = new ScramSha256Authenticator(lookup, { fakeIterations: 10000, fakeSaltBytes: 24 });
  const t = attrs((await afterFirst(new ScramClient("mallory", "x"), tuned)).serverFirst);
  assert.equal(t.get("i"), "10000");
  assert.equal(Buffer.from(t.get("s")!, "base64").length, 24);
});

test("tampered nonce in client-final fails (RFC 5802 §5.1)", async () => {
  const client = new ScramClient("alice", "secret");
  const { session, serverFirst } = await afterFirst(client);
  const final = client.final(serverFirst).toString();
  const tampered = final.replace(/,r=([^,]*)/, (_m, r: string) => `,r=${r.slice(0, -1)}${r.endsWith("A") ? "B" : "A"}`);
  assert.notEqual(tampered, final);
  assert.match(assertFailure(await session.step(Buffer.from(tampered))).reason ?? "", /nonce/);
});

test("tampered channel binding fails: c= must be base64 of the gs2 header (RFC 5802 §7)", async () => {
  for (const cb of ["eSws", "cD10bHMtdW5pcXVlLCw=", "", "biws="]) {
    const client = new ScramClient("alice", "secret");
    const { session, serverFirst } = await afterFirst(client);
    const final = client.final(serverFirst).toString().replace("c=biws", `c=${cb}`);
    assert.match(assertFailure(await session.step(Buffer.from(final))).reason ?? "", /channel binding/, cb);
  }
});

test("downgrade: a 'y,,' client-first with a client-final claiming 'n,,' fails", async () => {
  const client = new ScramClient("alice", "secret", { gs2Header: "y,," });
  const { session, serverFirst } = await afterFirst(client);
  const final = client.final(serverFirst).toString().replace("c=eSws", "c=biws");
  assert.match(assertFailure(await session.step(Buffer.from(final))).reason ?? "", /channel binding/);
});

test("channel binding requested ('p=') is refused at the first step", async () => {
  const client = new ScramClient("alice", "secret", { gs2Header: "p=tls-server-end-point,," });
  const r = assertFailure(await auth.start(CTX).step(client.first()));
  assert.match(r.reason ?? "", /channel binding/);
});

test("replay of an old client-final in a new exchange fails: the server nonce differs", async () => {
  const client = new ScramClient("alice", "secret", { nonce: "samenonce" });
  const old = await runExchange(auth.start(CTX), client);
  assert.equal(old.final?.kind, "success");
  const replayClient = new ScramClient("alice", "whatever", { nonce: "samenonce" });
  const { session } = await afterFirst(replayClient);
  assert.match(assertFailure(await session.step(old.clientFinal)).reason ?? "", /nonce/);
});

test("a finished exchange answers every further step with a failure", async () => {
  const client = new ScramClient("alice", "secret");
  const session = auth.start(CTX);
  const serverFirst = dataOf(await session.step(client.first()), "continue");
  const clientFinal = client.final(serverFirst);
  assert.equal((await session.step(clientFinal)).kind, "success");
  assertFailure(await session.step(clientFinal));
  assertFailure(await session.step(undefined));

  const failed = auth.start(CTX);
  assertFailure(await failed.step(Buffer.from("garbage")));
  assertFailure(await failed.step(new ScramClient("alice", "secret").first()));
});

const te = (s: string) => Buffer.from(s, "utf8");
const MALFORMED_FIRST: [string, Buffer][] = [
  ["not UTF-8", Buffer.from([0x6e, 0x2c, 0x2c, 0xff, 0xfe])],
  ["no gs2 header", te("n=alice,r=abc")],
  ["gs2 header only", te("n,,")],
  ["bad cbind flag", te("x,,n=alice,r=abc")],
  ["attributes out of order", te("n,,r=abc,n=alice")],
  ["bad saslname escape", te("n,,n=al=2Xice,r=abc")],
  ["bare '=' in saslname", te("n,,n=al=ice,r=abc")],
  ["mandatory extension m=", te("n,,m=ext,n=alice,r=abc")],
  ["empty user name", te("n,,n=,r=abc")],
  ["control character in user name", te("n,,n=al\u0007ice,r=abc")],
  ["empty nonce", te("n,,n=alice,r=")],
  ["non-printable nonce", te("n,,n=alice,r=ab c")],
  ["missing nonce", te("n,,n=alice")],
  ["bad extension", te("n,,n=alice,r=abc,??")],
  ["authzid other than the user", te("n,a=root,n=alice,r=abc")],
  ["malformed authzid", te("n,b=root,n=alice,r=abc")],
  ["NUL byte", te("n,,n=alice\0,r=abc")],
  ["oversized", te(`n,,n=alice,r=${"a".repeat(5000)}`)],
  ["over-long nonce", te(`n,,n=alice,r=${"a".repeat(600)}`)],
];

test("malformed client-first messages fail with 0x87 and a reason, never throw", async () => {
  for (const [name, msg] of MALFORMED_FIRST) {
    const r = assertFailure(await auth.start(CTX).step(msg));
    assert.ok(r.reason, `${name}: has a reason`);
  }
});

test("malformed client-final messages fail with 0x87 and a reason, never throw", async () => {
  const cases: [string, (nonce: string, good: string) => Buffer | undefined][] = [
    ["absent", () => undefined],
    ["garbage", () => te("garbage")],
    ["not UTF-8", () => Buffer.from([0xc3, 0x28])],
    ["no proof", (n) => te(`c=biws,r=${n}`)],
    ["proof not base64", (n) => te(`c=biws,r=${n},p=***`)],
    ["proof wrong length", (n) => te(`c=biws,r=${n},p=AAAA`)],
    ["proof not last", (n, g) => te(`${g.replace(/,p=.*/, "")},x=1,p=`)],
    ["attributes out of order", (n, g) => te(`r=${n},c=biws,${/p=.*/.exec(g)![0]}`)],
    ["channel binding not base64", (n, g) => te(g.replace("c=biws", "c=b!ws"))],
    ["missing nonce", (_n, g) => te(g.replace(/,r=[^,]*/, ""))],
    ["bad extension", (n, g) => te(g.replace(`r=${n}`, `r=${n},1=x`))],
    ["proof bit-flipped", (_n, g) => te(g.replace(/p=(.)/, (_m, c: string) => `p=${c === "A" ? "B" : "A"}`))],
  ];
  for (const [name, make] of cases) {
    const client = new ScramClient("alice", "secret");
    const { session, serverFirst } = await afterFirst(client);
    const good = client.final(serverFirst).toString();
    const r = assertFailure(await session.step(make(attrs(serverFirst).get("r")!, good)));
    assert.ok(r.reason, `${name}: has a reason`);
  }
});

test("random bytes at either step never throw and always fail", async () => {
  for (let i = 0; i < 300; i++) {
    const junk = randomBytes(1 + (i % 64));
    assert.equal((await auth.start(CTX).step(junk)).kind, "failure");
    const client = new ScramClient("alice", "secret");
    const { session } = await afterFirst(client);
    assert.equal((await session.step(junk)).kind, "failure");
  }
});

test("a throwing or rejecting lookup is a failure with 0x83, not an exception", async () => {
  const throwing = new ScramSha256Authenticator(() => {
    throw new Error("db down");
  });
  const rejecting = new ScramSha256Authenticator(() => Promise.reject(new Error("db down")));
  for (const a of [throwing, rejecting]) {
    const r = assertFailure(await a.start(CTX).step(new ScramClient("alice", "secret").first()), 0x83);
    assert.match(r.detail ?? "", /db down/);
  }
});

test("a lookup returning a corrupt credential is a failure with 0x83", async () => {
  const a = new ScramSha256Authenticator(() => ({ ...alice, storedKey: Buffer.alloc(5) }));
  assertFailure(await a.start(CTX).step(new ScramClient("alice", "secret").first()), 0x83);
});

test("a second step while the first is still running fails both (one call at a time)", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const a = new ScramSha256Authenticator(async () => {
    await gate;
    return alice;
  });
  const session = a.start(CTX);
  const client = new ScramClient("alice", "secret");
  const p1 = session.step(client.first());
  const r2 = await session.step(client.first());
  assertFailure(r2, 0x82);
  release();
  assertFailure(await p1);
  assertFailure(await session.step(undefined));
});

test("an invalid injected server nonce is a failure, not a broken server-first", async () => {
  const a = new ScramSha256Authenticator(scramCredentialLookup([alice]), { generateNonce: () => "has,comma" });
  assertFailure(await a.start(CTX).step(new ScramClient("alice", "secret").first()), 0x83);
});

test("constructor rejects unsafe options", () => {
  const lookup = scramCredentialLookup([alice]);
  assert.throws(() => new ScramSha256Authenticator(lookup, { nonceBytes: 4 }), { code: "AUTH_INVALID_OPTION" });
  assert.throws(() => new ScramSha256Authenticator(lookup, { fakeSaltBytes: 0 }), { code: "AUTH_INVALID_OPTION" });
  assert.throws(() => new ScramSha256Authenticator(lookup, { fakeIterations: 0 }), { code: "AUTH_INVALID_OPTION" });
});
