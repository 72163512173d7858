// The HTTP bridge with curl and fetch: POST /topics/<topic> publishes (QoS 0/1/2, retain, 5.0 properties), GET
// /topics/<filter> streams Server-Sent Events; Basic/Bearer authentication through the same chain as MQTT clients,
// ACL, JSON errors; sharing one port with the ws listener.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { formatPasswordFile, hashPassword } from "../../../src/server/auth/index.ts";
import { validateConfig } from "../../../src/server/index.ts";
import { makePki } from "../../helpers/certs.ts";
import { configServer } from "../../helpers/config-server.ts";
import { mqttjs, waitUntil } from "../../helpers/clients.ts";

const run = promisify(execFile);

const server = configServer;

/** curl: resolves with [status, body]. */
async function curl(args: string[]): Promise<[number, string]> {
  const { stdout } = await run("curl", ["-s", "-S", "-w", "\n%{http_code}", ...args]);
  const nl = stdout.lastIndexOf("\n");
  return [Number(stdout.slice(nl + 1)), stdout.slice(0, nl)];
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Reads SSE events from a streaming fetch response until `n` data events arrived. */
async function sseEvents(res: Response, n: number): Promise<{ id: string; data: Record<string, unknown> }[]> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  const out: { id: string; data: Record<string, unknown> }[] = [];
  while (out.length < n) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const lines = block.split("\n");
      const data = lines.find((l) => l.startsWith("data: "));
      const id = lines.find((l) => l.startsWith("id: "));
      if (data !== undefined)
        out.push({ id: id?.slice(4) ?? "", data: JSON.parse(data.slice(6)) as Record<string, unknown> });
    }
  }
  await reader.cancel();
  return out;
}

test("http: curl POST publishes at QoS 0 (202) and 1 (200) to an MQTT.js subscriber; retain and 5.0 properties", async (t) => {
  const s = await server(t, [
    { host: "127.0.0.1", port: 0 },
    { type: "http", host: "127.0.0.1", port: 0 },
  ]);
  const [tcp, web] = s.listeners;
  assert.equal(web!.type, "http");
  const base = `http://127.0.0.1:${web!.port}`;
  const sub = await mqttjs(t, `mqtt://127.0.0.1:${tcp!.port}`, { protocolVersion: 5 });
  await sub.client.subscribeAsync("h/#", { qos: 1 });
  const props: unknown[] = [];
  sub.client.on("message", (_t, _p, packet) => props.push(packet.properties));

  const [s0, b0] = await curl(["-X", "POST", "--data-binary", "zero", `${base}/topics/h/q0?qos=0`]);
  assert.equal(s0, 202, b0);
  const [s1, b1] = await curl([
    "-X",
    "POST",
    "--data-binary",
    '{"t":21}',
    "-H",
    "Content-Type: application/json",
    "-H",
    "mqtt-user-property: site=a, line=2",
    `${base}/topics/h/q1?messageExpiry=60`,
  ]);
  assert.equal(s1, 200, b1);
  assert.deepEqual(JSON.parse(b1), { topic: "h/q1", qos: 1, retain: false, bytes: 8 });
  const [s2] = await curl(["-X", "PUT", "--data-binary", "two", `${base}/topics/h/q2?qos=2`]);
  assert.equal(s2, 200);
  const msgs = await sub.waitFor(3);
  assert.deepEqual(
    msgs.map((m) => `${m.topic}=${m.payload}@${m.qos}`),
    ["h/q0=zero@0", 'h/q1={"t":21}@1', "h/q2=two@1"],
  );
  const p1 = props[1] as {
    contentType?: string;
    userProperties?: Record<string, string>;
    messageExpiryInterval?: number;
  };
  assert.equal(p1.contentType, "application/json");
  assert.deepEqual({ ...p1.userProperties }, { site: "a", line: "2" });
  assert.ok((p1.messageExpiryInterval ?? 0) > 0 && (p1.messageExpiryInterval ?? 0) <= 60);

  // retain=true: a later subscriber gets it; a topic with percent-encoded characters.
  const [sr] = await curl(["-X", "POST", "--data-binary", "kept", `${base}/topics/r%20oom/1?retain=true`]);
  assert.equal(sr, 200);
  const late = await mqttjs(t, `mqtt://127.0.0.1:${tcp!.port}`);
  await late.client.subscribeAsync("r oom/#", { qos: 1 });
  const [m] = await late.waitFor(1);
  assert.equal(m!.payload, "kept");
  assert.equal(m!.retain, true);
});

test("http: errors are JSON with a code: bad topic, bad parameter, oversize body, ACL denial, wrong method", async (t) => {
  const s = await server(t, [{ type: "http", host: "127.0.0.1", port: 0, maxPacketSize: 1024 }], {
    acl: [{ permission: "deny", action: "publish", topic: "secret/#" }],
  });
  const base = `http://127.0.0.1:${s.listeners[0]!.port}`;
  const post = (path: string, body: string | Buffer = "x") => fetch(`${base}${path}`, { method: "POST", body });
  const check = async (r: Response, status: number, code: string): Promise<Record<string, unknown>> => {
    const body = (await r.json()) as { error: Record<string, unknown> };
    assert.equal(r.status, status, JSON.stringify(body));
    assert.match(r.headers.get("content-type") ?? "", /application\/json/);
    assert.equal(body.error.code, code);
    assert.equal(typeof body.error.message, "string");
    return body.error;
  };
  await check(await post("/topics/a/%23"), 400, "invalid_topic");
  await check(await post("/topics/a/+/b"), 400, "invalid_topic");
  await check(await post("/topics/"), 400, "invalid_topic");
  await check(await post("/topics/a?qos=3"), 400, "invalid_parameter");
  await check(await post("/topics/a?retain=maybe"), 400, "invalid_parameter");
  await check(await post("/topics/a?color=red"), 400, "invalid_parameter");
  await check(await post("/topics/a", Buffer.alloc(5000)), 413, "payload_too_large");
  const denied = await check(await post("/topics/secret/x?qos=1"), 403, "forbidden");
  assert.equal(denied.reasonCode, 0x87);
  await check(await fetch(`${base}/topics/a`, { method: "DELETE" }), 405, "method_not_allowed");
  await check(await fetch(`${base}/nothing`), 404, "not_found");
  // Chunked oversize body (no Content-Length): refused while streaming.
  const [st, body] = await curl([
    "-X",
    "POST",
    "-H",
    "Transfer-Encoding: chunked",
    "--data-binary",
    "x".repeat(4000),
    `${base}/topics/a`,
  ]);
  assert.equal(st, 413, body);
  // Still serving.
  assert.equal((await post("/topics/ok")).status, 200);
});

test("http: Basic and Bearer go through the same authentication as MQTT clients; ACL by user name applies", async (t) => {
  const pki = makePki(t); // just a temp dir
  const pwFile = join(pki.dir, "users.pw");
  writeFileSync(pwFile, formatPasswordFile(new Map([["alice", await hashPassword("wonder")]])));
  const s = await server(t, [{ type: "http", host: "127.0.0.1", port: 0 }], {
    mqtt: { allowAnonymous: false },
    auth: { passwordFile: pwFile },
    acl: [
      { permission: "allow", action: "publish", topic: "alice/#", username: "alice" },
      { permission: "deny", action: "all", topic: "#" },
    ],
  });
  const base = `http://127.0.0.1:${s.listeners[0]!.port}`;
  const [none, noneBody] = await curl(["-X", "POST", "-d", "x", `${base}/topics/alice/1`]);
  assert.equal(none, 401, noneBody);
  assert.equal((JSON.parse(noneBody) as { error: { code: string } }).error.code, "unauthorized");
  const [bad] = await curl(["-u", "alice:nope", "-X", "POST", "-d", "x", `${base}/topics/alice/1`]);
  assert.equal(bad, 401);
  const [ok, okBody] = await curl(["-u", "alice:wonder", "-X", "POST", "-d", "x", `${base}/topics/alice/1`]);
  assert.equal(ok, 200, okBody);
  const [forbidden] = await curl(["-u", "alice:wonder", "-X", "POST", "-d", "x", `${base}/topics/bob/1`]);
  assert.equal(forbidden, 403);
  const [bearer] = await curl([
    "-H",
    "Authorization: Bearer not-a-known-token",
    "-X",
    "POST",
    "-d",
    "x",
    `${base}/topics/alice/1`,
  ]);
  assert.equal(bearer, 401);
  const [weird] = await curl(["-H", "Authorization: Digest abc", "-X", "POST", "-d", "x", `${base}/topics/alice/1`]);
  assert.equal(weird, 400);
});

test("http: SSE on a $queue/ stream resumes after Last-Event-ID (the event id is the message id); its group goes with the stream", async (t) => {
  const s = await server(
    t,
    [
      { host: "127.0.0.1", port: 0 },
      { type: "http", host: "127.0.0.1", port: 0 },
    ],
    { queues: [{ name: "audit", type: "stream" }] },
  );
  const [tcp, web] = s.listeners;
  const base = `http://127.0.0.1:${web!.port}/topics/$queue/audit`;
  const pub = await mqttjs(t, `mqtt://127.0.0.1:${tcp!.port}`, { protocolVersion: 5 });
  for (const m of ["m1", "m2"]) await pub.client.publishAsync("$queue/audit", m, { qos: 1 });

  const first = await fetch(`${base}?offset=earliest`);
  assert.equal(first.status, 200);
  const got1 = await sseEvents(first, 2);
  assert.deepEqual(
    got1.map((e) => e.data.payload),
    ["m1", "m2"],
  );
  assert.match(got1[1]!.id, /^2-\d+$/);
  assert.equal(got1[1]!.data.messageId, got1[1]!.id);
  // The stream ended: its ephemeral consumer group is gone (no group left behind per connection).
  await waitUntil(() => s.broker.queues.info("audit")!.groups.length === 0, 5000, "ephemeral group dropped");

  for (const m of ["m3", "m4"]) await pub.client.publishAsync("$queue/audit", m, { qos: 1 });
  const resumed = await fetch(base, { headers: { "last-event-id": got1[1]!.id } });
  assert.equal(resumed.status, 200);
  const got2 = await sseEvents(resumed, 2);
  assert.deepEqual(
    got2.map((e) => e.data.payload),
    ["m3", "m4"],
    "resumed right after m2",
  );
  // Without Last-Event-ID or offset: only new messages (offset latest).
  const ac = new AbortController();
  t.after(() => ac.abort());
  const live = await fetch(base, { signal: ac.signal });
  const events = sseEvents(live, 1);
  await waitUntil(() => s.broker.queues.info("audit")!.groups.length === 1, 5000, "live reader joined");
  await pub.client.publishAsync("$queue/audit", "m5", { qos: 1 });
  assert.deepEqual(
    (await events).map((e) => e.data.payload),
    ["m5"],
  );
  const [bad, body] = await curl(["-H", "Last-Event-ID: nope", base]);
  assert.equal(bad, 400);
  assert.match(body, /Last-Event-ID must be a message id/);
});

test("http: GET /topics/<filter> streams MQTT publishes as Server-Sent Events (retained first, binary as base64)", async (t) => {
  const s = await server(t, [
    { host: "127.0.0.1", port: 0 },
    { type: "http", host: "127.0.0.1", port: 0 },
  ]);
  const [tcp, web] = s.listeners;
  const pub = await mqttjs(t, `mqtt://127.0.0.1:${tcp!.port}`);
  await pub.client.publishAsync("sse/retained", "old", { qos: 1, retain: true });
  const ac = new AbortController();
  t.after(() => ac.abort());
  const res = await fetch(`http://127.0.0.1:${web!.port}/topics/sse/%23?qos=1`, { signal: ac.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /text\/event-stream/);
  const events = sseEvents(res, 3);
  await pub.client.publishAsync("sse/a", "live", { qos: 1 });
  await pub.client.publishAsync("sse/bin", Buffer.from([0xff, 0x00, 0xfe]), { qos: 0 });
  const got = await events;
  assert.deepEqual(
    got.map((e) => [e.id, e.data.topic, e.data.payload, e.data.encoding, e.data.retain]),
    [
      ["1", "sse/retained", "old", "utf8", true],
      ["2", "sse/a", "live", "utf8", false],
      ["3", "sse/bin", Buffer.from([0xff, 0x00, 0xfe]).toString("base64"), "base64", false],
    ],
  );
  // The stream's MQTT connection goes away with the HTTP request.
  ac.abort();
  const bad = await fetch(`http://127.0.0.1:${web!.port}/topics/a/%23/b`);
  assert.equal(bad.status, 400);
  await waitUntil(() => s.listeners[1]!.connections <= 1, 5000, "the SSE socket to close");
});

test("ws + http on the same port share one HTTP server; wss + http become https", async (t) => {
  const port = await freePort();
  const s = await server(t, [
    { host: "127.0.0.1", port: 0 },
    { type: "ws", host: "127.0.0.1", port },
    { type: "http", host: "127.0.0.1", port },
  ]);
  assert.equal(s.listeners.length, 2);
  assert.equal(s.listeners[1]!.type, "ws+http");
  const wsClient = await mqttjs(t, `ws://127.0.0.1:${port}/mqtt`);
  await wsClient.client.subscribeAsync("shared/#", { qos: 1 });
  const r = await fetch(`http://127.0.0.1:${port}/topics/shared/1`, { method: "POST", body: "same port" });
  assert.equal(r.status, 200);
  assert.equal((await wsClient.waitFor(1))[0]!.payload, "same port");

  const pki = makePki(t);
  const cert = pki.issue("server", { san: "DNS:localhost,IP:127.0.0.1" });
  const p2 = await freePort();
  const s2 = await server(t, [
    { type: "wss", host: "127.0.0.1", port: p2, tls: { cert: cert.cert, key: cert.key } },
    { type: "http", host: "127.0.0.1", port: p2 },
  ]);
  assert.equal(s2.listeners[0]!.type, "wss+http");
  const [code, body] = await curl([
    "--cacert",
    pki.ca,
    "-X",
    "POST",
    "-d",
    "tls",
    `https://localhost:${p2}/topics/x`,
    "--resolve",
    `localhost:${p2}:127.0.0.1`,
  ]);
  assert.equal(code, 200, body);

  assert.throws(
    () =>
      validateConfig({
        listeners: [
          { type: "tcp", port: 5000 },
          { type: "http", port: 5000 },
        ],
      }),
    /listeners\[1\]\.port: same host and port as listeners\[0\]/,
  );
});
