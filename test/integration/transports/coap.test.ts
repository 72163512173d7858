// The CoAP bridge with real clients on both sides: libcoap's coap-client-notls (Debian libcoap3-bin) and the `coap`
// npm client publish, GET and Observe; MQTT.js is the MQTT peer. Block-wise transfer of 64 KB both ways, the error
// codes, authentication by query and ACL, the observation limit.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import dgram from "node:dgram";
import { existsSync, rmSync, statSync, writeFileSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Agent, request, type IncomingMessage, type ObserveReadStream, type CoapRequestParams } from "coap";
import { formatPasswordFile, hashPassword } from "../../../src/server/auth/index.ts";
import { configServer } from "../../helpers/config-server.ts";
import { mqttjs, waitUntil } from "../../helpers/clients.ts";

const run = promisify(execFile);

/** coap-client-notls; resolves with [stdout, stderr] (it prints response codes other than 2.xx on stderr). */
async function coapClient(args: string[]): Promise<{ out: string; err: string }> {
  const { stdout, stderr } = await run("coap-client-notls", ["-B", "10", ...args], { timeout: 30_000 });
  return { out: stdout, err: stderr };
}

function agent(t: TestContext): Agent {
  const a = new Agent({ type: "udp4" });
  t.after(() => {
    try {
      a.close();
    } catch {
      // the agent closes its socket by itself once nothing is pending
    }
  });
  return a;
}

/** One request with the coap npm client; resolves with the response. Payloads over 1 KB go block-wise (Block1). */
function coap(a: Agent, port: number, params: CoapRequestParams, payload?: Buffer | string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const blockwise = payload !== undefined && payload.length > 1024 ? { options: { Block1: Buffer.of(6) } } : {};
    const req = request({ hostname: "127.0.0.1", port, agent: a, ...blockwise, ...params });
    req.on("response", resolve);
    req.on("error", reject);
    req.end(payload);
  });
}

/** Observes with the coap npm client; `deregister()` sends GET with Observe 1 and the same token [RFC 7641 §3.6]. */
function observeWith(
  a: Agent,
  port: number,
  params: CoapRequestParams,
): Promise<{ res: ObserveReadStream; deregister: () => Promise<IncomingMessage> }> {
  return new Promise((resolve, reject) => {
    const req = request({ hostname: "127.0.0.1", port, agent: a, observe: true, ...params });
    req.on("response", (res: ObserveReadStream) =>
      resolve({
        res,
        // Before close(): the agent closes its socket once nothing is pending.
        deregister: async () => {
          const plain = await coap(a, port, { ...params, observe: 1, token: req._packet.token });
          res.close();
          return plain;
        },
      }),
    );
    req.on("error", reject);
    req.end();
  });
}

async function twoListeners(t: TestContext, coapExtra: object = {}, extra: object = {}) {
  const s = await configServer(
    t,
    [
      { host: "127.0.0.1", port: 0 },
      { type: "coap", host: "127.0.0.1", port: 0, ...coapExtra },
    ],
    extra,
  );
  const [tcp, co] = s.listeners;
  assert.equal(co!.type, "coap");
  return { s, mqttUrl: `mqtt://127.0.0.1:${tcp!.port}`, port: co!.port, listener: co! };
}

test("coap: coap-client and the coap npm client publish (CON at QoS 1, NON at QoS 0, retain) to an MQTT.js subscriber", async (t) => {
  const { mqttUrl, port } = await twoListeners(t);
  const sub = await mqttjs(t, mqttUrl, { protocolVersion: 5 });
  await sub.client.subscribeAsync("c/#", { qos: 1 });
  const types: unknown[] = [];
  sub.client.on("message", (_t, _p, packet) => types.push(packet.properties?.contentType));

  const r1 = await coapClient([
    "-m",
    "post",
    "-t",
    "application/json",
    "-e",
    '{"t":21}',
    `coap://127.0.0.1:${port}/ps/c/1`,
  ]);
  assert.equal(r1.err, "");
  const a = agent(t);
  const r2 = await coap(a, port, { method: "PUT", pathname: "/ps/c/2", query: "retain=true" }, "two");
  assert.equal(r2.code, "2.04");
  const r3 = await coap(a, port, { method: "POST", pathname: "/ps/c/3", query: "qos=0", confirmable: false }, "three");
  assert.equal(r3.code, "2.04");
  await waitUntil(() => sub.messages.length === 3, 5000, "three messages");
  assert.deepEqual(
    sub.messages.map((m) => [m.topic, m.payload, m.retain]),
    [
      ["c/1", '{"t":21}', false],
      ["c/2", "two", false],
      ["c/3", "three", false],
    ],
  );
  assert.equal(types[0], "application/json");
  // retain=true stored it: a new subscriber gets it retained.
  const late = await mqttjs(t, mqttUrl);
  await late.client.subscribeAsync("c/2", { qos: 1 });
  await waitUntil(() => late.messages.length === 1);
  assert.deepEqual([late.messages[0]!.payload, late.messages[0]!.retain], ["two", true]);
});

test("coap: GET answers the retained value (4.04 without one); Observe gets the retained value first, then live messages", async (t) => {
  const { mqttUrl, port, listener } = await twoListeners(t);
  const pub = await mqttjs(t, mqttUrl, { protocolVersion: 5 });
  await pub.client.publishAsync("o/temp", "20", { qos: 1, retain: true, properties: { contentType: "text/plain" } });
  const got = await coapClient(["-m", "get", `coap://127.0.0.1:${port}/ps/o/temp`]);
  assert.equal(got.out.trim(), "20");
  const none = await coapClient(["-m", "get", `coap://127.0.0.1:${port}/ps/o/none`]);
  assert.match(none.err, /4\.04/);

  const a = agent(t);
  const observation = await observeWith(a, port, { method: "GET", pathname: "/ps/o/temp" });
  const obs = observation.res;
  assert.equal(obs.code, "2.05");
  const seen: string[] = [];
  obs.on("data", (d: Buffer) => seen.push(d.toString()));
  await waitUntil(() => seen.length === 1, 5000, "retained value first");
  assert.equal(obs.headers["Content-Format"], "text/plain");
  assert.equal(listener.connections, 1);
  await pub.client.publishAsync("o/temp", "21", { qos: 0 });
  await pub.client.publishAsync("o/temp", "22", { qos: 1 });
  await waitUntil(() => seen.length === 3, 5000, "two notifications");
  assert.deepEqual(seen, ["20", "21", "22"]);
  // Deregistration (GET with Observe 1) ends the observation and its MQTT subscription [RFC 7641 §3.6].
  const plain = await observation.deregister();
  assert.equal(plain.code, "2.05", "answered as a plain GET");
  assert.equal(plain.payload.toString(), "20", "the retained value (21 and 22 were not retained)");
  await waitUntil(() => listener.connections === 0, 5000, "observation ended");

  // coap-client observing a filter without a retained value: an empty first notification, then each message.
  const observing = coapClient(["-s", "4", "-m", "get", `coap://127.0.0.1:${port}/ps/f/%23`]);
  await waitUntil(() => listener.connections === 1, 5000, "coap-client observing");
  await pub.client.publishAsync("f/a", "alpha", { qos: 1 });
  await pub.client.publishAsync("f/b/c", "beta", { qos: 0 });
  const { out } = await observing;
  assert.equal(out.trimEnd(), "alphabeta");

  // format=json: each notification carries its topic (what an observer of a filter needs).
  const json = await observeWith(a, port, { method: "GET", pathname: "/ps/j/#", query: "format=json" });
  const events: unknown[] = [];
  json.res.on("data", (d: Buffer) => {
    if (d.length > 0) events.push(JSON.parse(d.toString()));
  });
  await pub.client.publishAsync("j/x", Buffer.from([0xff, 0x00]), { qos: 0 });
  await waitUntil(() => events.length === 1, 5000, "a JSON notification");
  assert.deepEqual(events[0], { topic: "j/x", payload: "/wA=", encoding: "base64", qos: 0, retain: false });
  assert.equal(json.res.headers["Content-Format"], "application/json");
  await json.deregister();
  const badFormat = await coap(a, port, { method: "GET", pathname: "/ps/o/temp", query: "format=xml" });
  assert.equal(badFormat.code, "4.00");
});

test("coap: block-wise transfer of 64 KB: coap-client PUT (Block1) to MQTT.js, MQTT.js to GET and Observe (Block2) [RFC 7959]", async (t) => {
  const { mqttUrl, port, listener } = await twoListeners(t);
  const dir = mkdtempSync(join(tmpdir(), "wharf-coap-"));
  const big = Buffer.from(randomBytes(48 * 1024).toString("base64")); // 65,536 bytes
  assert.equal(big.length, 65536);
  const file = join(dir, "big.txt");
  writeFileSync(file, big);
  const sub = await mqttjs(t, mqttUrl);
  await sub.client.subscribeAsync("big/#", { qos: 1 });
  const up = await coapClient(["-m", "put", "-f", file, `coap://127.0.0.1:${port}/ps/big/up`]);
  assert.equal(up.err, "");
  await waitUntil(() => sub.messages.length === 1, 10_000, "64 KB message");
  assert.ok(sub.messages[0]!.bytes.equals(big), "the reassembled payload is byte-identical");

  // The coap npm client uploads block-wise too.
  const a = agent(t);
  const up2 = await coap(a, port, { method: "POST", pathname: "/ps/big/npm" }, big);
  assert.equal(up2.code, "2.04");
  await waitUntil(() => sub.messages.length === 2, 10_000, "second 64 KB message");
  assert.ok(sub.messages[1]!.bytes.equals(big));

  // MQTT.js publishes it retained: GET (coap-client and npm) fetches it block-wise.
  const pub = await mqttjs(t, mqttUrl);
  await pub.client.publishAsync("big/down", big, { qos: 1, retain: true });
  const out = join(dir, "out.txt");
  await coapClient(["-m", "get", "-o", out, `coap://127.0.0.1:${port}/ps/big/down`]);
  const { readFileSync } = await import("node:fs");
  assert.ok(readFileSync(out).equals(big), "coap-client GET block-wise");
  const got = await coap(a, port, { method: "GET", pathname: "/ps/big/down" });
  assert.equal(got.code, "2.05");
  assert.ok(got.payload.equals(big), "coap npm GET block-wise");

  // Observe: the 64 KB retained value arrives block-wise as the first notification, then a live small one.
  const out2 = join(dir, "obs.txt");
  const observing = coapClient(["-s", "6", "-m", "get", "-o", out2, `coap://127.0.0.1:${port}/ps/big/down`]);
  await waitUntil(() => listener.connections === 1, 5000, "coap-client observing");
  await waitUntil(() => existsSync(out2) && statSync(out2).size === big.length, 15_000, "the 64 KB first notification");
  await pub.client.publishAsync("big/down", "small", { qos: 1 });
  await observing;
  assert.ok(readFileSync(out2).equals(Buffer.concat([big, Buffer.from("small")])), "notifications block-wise");
});

test("coap: errors are CoAP codes with a diagnostic payload (4.00, 4.04, 4.05, 4.13 with Size1)", async (t) => {
  const { port } = await twoListeners(t, { maxPacketSize: 4096 });
  const a = agent(t);
  const cases: [CoapRequestParams, string, RegExp][] = [
    [{ method: "POST", pathname: "/other/x" }, "4.04", /use \/ps\/<topic>/],
    [{ method: "POST", pathname: "/ps/a/+" }, "4.00", /wildcard/],
    [{ method: "POST", pathname: "/ps/a", query: "qos=3" }, "4.00", /qos must be 0, 1 or 2/],
    [{ method: "POST", pathname: "/ps/a", query: "colour=red" }, "4.00", /unknown query parameter "colour"/],
    [{ method: "DELETE", pathname: "/ps/a" }, "4.05", /use POST or PUT/],
    [{ method: "GET", pathname: "/ps/a/#" }, "4.00", /a filter needs Observe/],
  ];
  for (const [params, code, msg] of cases) {
    const res = await coap(a, port, params, "x");
    assert.equal(res.code, code, JSON.stringify(params));
    assert.match(res.payload.toString(), msg);
  }
  // 8 KB block-wise against a 4 KB limit: refused at the block that crosses it, with Size1 = the limit.
  const res = await coap(a, port, { method: "POST", pathname: "/ps/a" }, Buffer.alloc(8192, 1));
  assert.equal(res.code, "4.13");
  assert.equal(res.headers.Size1, 4096);
});

/** A CoAP request datagram (RFC 7252 §3), enough to send blocks out of order. */
function datagram(mid: number, token: Buffer, options: [number, Buffer][], payload: Buffer): Buffer {
  const head = Buffer.of(0x40 | token.length, 0x02, mid >> 8, mid & 255); // CON POST
  const parts: Buffer[] = [head, token];
  let last = 0;
  for (const [num, value] of options) {
    const delta = num - last;
    last = num;
    assert.ok(delta < 269 && value.length < 13);
    // Delta 13..268: nibble 13 and one extension byte (delta - 13).
    parts.push(delta < 13 ? Buffer.of((delta << 4) | value.length) : Buffer.of(0xd0 | value.length, delta - 13), value);
  }
  parts.push(Buffer.of(0xff), payload);
  return Buffer.concat(parts);
}

test("coap: a Block1 transfer that skips a block gets 4.08 Request Entity Incomplete [RFC 7959 §2.9.2]", async (t) => {
  const { port } = await twoListeners(t);
  const sock = dgram.createSocket("udp4");
  t.after(() => sock.close());
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", r));
  const answers: Buffer[] = [];
  sock.on("message", (m) => answers.push(m));
  const path: [number, Buffer][] = [
    [11, Buffer.from("ps")],
    [11, Buffer.from("gap")],
  ];
  // Block1 (27): NUM | M | SZX; SZX 2 = 64-byte blocks.
  sock.send(datagram(1, Buffer.of(7), [...path, [27, Buffer.of(0x0a)]], Buffer.alloc(64)), port, "127.0.0.1");
  await waitUntil(() => answers.length === 1);
  assert.equal(answers[0]![1], (2 << 5) | 31, "2.31 Continue");
  sock.send(datagram(2, Buffer.of(8), [...path, [27, Buffer.of(0x2a)]], Buffer.alloc(64)), port, "127.0.0.1"); // NUM 2
  await waitUntil(() => answers.length === 2);
  assert.equal(answers[1]![1], (4 << 5) | 8, "4.08");
});

test("coap: authentication by the u and p query parameters, ACL by user name (4.01, 4.03)", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "wharf-coap-auth-"));
  const pwFile = join(dir, "passwords");
  writeFileSync(pwFile, formatPasswordFile(new Map([["alice", await hashPassword("wonder")]])));
  const { port, mqttUrl } = await twoListeners(
    t,
    {},
    {
      mqtt: { allowAnonymous: false },
      auth: { passwordFile: pwFile },
      acl: [
        { permission: "allow", action: "all", topic: "alice/#", username: "alice" },
        { permission: "deny", action: "all", topic: "#" },
      ],
    },
  );
  const a = agent(t);
  const anon = await coap(a, port, { method: "POST", pathname: "/ps/alice/1" }, "x");
  assert.equal(anon.code, "4.01");
  const bad = await coap(a, port, { method: "POST", pathname: "/ps/alice/1", query: "u=alice&p=nope" }, "x");
  assert.equal(bad.code, "4.01");
  const denied = await coap(a, port, { method: "POST", pathname: "/ps/bob/1", query: "u=alice&p=wonder" }, "x");
  assert.equal(denied.code, "4.03");
  const sub = await mqttjs(t, mqttUrl, { username: "alice", password: "wonder" });
  await sub.client.subscribeAsync("alice/#", { qos: 1 });
  const { err } = await coapClient(["-m", "post", "-e", "ok", `coap://127.0.0.1:${port}/ps/alice/1?u=alice&p=wonder`]);
  assert.equal(err, "");
  await waitUntil(() => sub.messages.length === 1);
  assert.equal(sub.messages[0]!.payload, "ok");
  const obsDenied = await coap(a, port, {
    method: "GET",
    pathname: "/ps/bob/#",
    observe: true,
    query: "u=alice&p=wonder",
  });
  assert.equal(obsDenied.code, "4.03");
});

test("coap: maxConnections bounds the observations (5.03 beyond)", async (t) => {
  const { port, listener } = await twoListeners(t, { maxConnections: 1 });
  const a = agent(t);
  const first = await observeWith(a, port, { method: "GET", pathname: "/ps/m/1" });
  assert.equal(first.res.code, "2.05");
  assert.equal(listener.connections, 1);
  const second = await coap(a, port, { method: "GET", pathname: "/ps/m/2", observe: true });
  assert.equal(second.code, "5.03");
  await first.deregister();
  await waitUntil(() => listener.connections === 0);
  const third = await observeWith(a, port, { method: "GET", pathname: "/ps/m/3" });
  assert.equal(third.res.code, "2.05");
  await third.deregister();
});

test("coap: a publish answered 2.04 is as durable as an MQTT one: a retained value survives a restart (LMDB)", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "wharf-coap-lmdb-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const listeners = [{ type: "coap", host: "127.0.0.1", port: 0 }];
  const storage = { storage: { type: "lmdb", dataDir: dir } };
  const first = await configServer(t, listeners, storage);
  const put = await coapClient([
    "-m",
    "put",
    "-e",
    "kept",
    `coap://127.0.0.1:${first.listeners[0]!.port}/ps/d/1?retain=1`,
  ]);
  assert.equal(put.err, "", "2.04: acknowledged after the storage commit");
  await first.close();
  const second = await configServer(t, listeners, storage);
  const got = await coapClient(["-m", "get", `coap://127.0.0.1:${second.listeners[0]!.port}/ps/d/1`]);
  assert.equal(got.out.trim(), "kept");
});
