// The hostile-client suite (issue #14): replays each attack against `wharf start` in a child process and asserts
// that the broker's RSS stays within the documented bound (docs/security.md: idle RSS + 96 MB with this
// configuration) and that a normal client is still served. The attacks are scaled to run in seconds; the full-size
// figures (before / after) are produced by bench/security/attacks.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import mqtt from "mqtt";
import { encode, PacketType } from "../../../src/codec/index.ts";
import { waitUntil } from "../../helpers/clients.ts";
import { spawnWharf, writeTempFile, type WharfProcess } from "../../helpers/spawn-wharf.ts";
import { passwordFile, tempDir } from "../security/helpers.ts";

/** The bound asserted for every attack: RSS growth over the idle broker (docs/security.md). */
const BOUND_MB = 96;

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

async function start(
  t: Parameters<typeof spawnWharf>[0],
  yaml: string,
): Promise<{ w: WharfProcess; peak: () => number; base: number }> {
  const cfg = writeTempFile(t, "wharf.yaml", yaml);
  const w = await spawnWharf(t, { args: ["--config", cfg, "--log-level", "info"] });
  const pid = w.child.pid!;
  const base = rssMb(pid);
  let peak = base;
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssMb(pid));
    } catch {
      /* exited */
    }
  }, 50);
  t.after(() => clearInterval(timer));
  return { w, base, peak: () => Math.max(peak, rssMb(pid)) };
}

/** Asserts the bound and reports the growth (`node --test` prints it), so that the margin is visible in every run. */
function rssWithinBound(t: { diagnostic(msg: string): void }, grewMb: number): void {
  t.diagnostic(`RSS grew ${grewMb.toFixed(1)} MB (bound ${BOUND_MB} MB)`);
  assert.ok(grewMb < BOUND_MB, `RSS grew ${grewMb.toFixed(1)} MB`);
}

const LIMITS = `
mqtt:
  connectTimeout: 2
  maxPacketSize: 2097152 # the queue attack publishes 1 MiB payloads: over the 1 MiB default packet size
  maxQueuedBytes: 8388608
  maxQueuedBytesTotal: 33554432
  persistentSessionExpiry: 60
  maxSessions: 10000
sys: { interval: 0 }
`;

function socket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1", () => resolve(s));
    s.once("error", reject);
  });
}

/** Connect, subscribe, QoS 1 round trip. */
async function normalClientServed(port: number, opts: mqtt.IClientOptions = {}): Promise<void> {
  // allowRetries false: a connection closed before CONNACK (connectTimeout) rejects instead of waiting forever.
  const c = await mqtt.connectAsync(
    `mqtt://127.0.0.1:${port}`,
    { reconnectPeriod: 0, connectTimeout: 30_000, ...opts },
    false,
  );
  try {
    await c.subscribeAsync("normal/t", { qos: 1 });
    const got = new Promise<string>((r) => c.once("message", (_t, p) => r(p.toString())));
    await c.publishAsync("normal/t", "hello", { qos: 1 });
    assert.equal(await got, "hello");
  } finally {
    await c.endAsync(true);
  }
}

const connectBytes = (clientId: string, extra: object = {}): Buffer =>
  encode(
    {
      type: PacketType.CONNECT,
      protocolName: "MQTT",
      protocolVersion: 4,
      clean: true,
      keepAlive: 0,
      clientId,
      ...extra,
    },
    4,
  );

test("hostile: oversized pre-CONNECT packets are cut off after the header; RSS bounded; normal client served", async (t) => {
  const { w, base, peak } = await start(t, LIMITS);
  const results = await Promise.all(
    [0, 1, 2, 3].map(async () => {
      const s = await socket(w.port);
      let closed = false;
      s.on("close", () => (closed = true));
      s.on("error", () => undefined);
      s.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f]));
      const chunk = Buffer.alloc(1 << 20, 0x61);
      let sent = 0;
      for (; sent < 32 && !closed; sent++) {
        if (!s.write(chunk)) await new Promise((r) => (s.once("drain", r), s.once("close", r)));
      }
      await waitUntil(() => closed, 10_000, "broker closes the connection");
      return sent;
    }),
  );
  assert.ok(
    results.every((mb) => mb < 32),
    `the broker closed every connection early (MB sent: ${results.join(", ")})`,
  );
  await normalClientServed(w.port);
  rssWithinBound(t, peak() - base);
});

test("hostile: slowloris (300 half CONNECTs) closed at connectTimeout; normal client served meanwhile", async (t) => {
  const { w, base, peak } = await start(t, LIMITS);
  const half = connectBytes("slow").subarray(0, 4);
  const sockets: Socket[] = [];
  let closed = 0;
  for (let i = 0; i < 300; i++) {
    const s = await socket(w.port);
    s.on("close", () => closed++);
    s.on("error", () => undefined);
    s.write(half);
    sockets.push(s);
  }
  t.after(() => sockets.forEach((s) => s.destroy()));
  await normalClientServed(w.port);
  await waitUntil(() => closed === 300, 30_000, `slow connections closed (${closed}/300)`);
  rssWithinBound(t, peak() - base);
});

test("hostile: a subscriber that never reads gets 40 x 1 MB QoS 1: queued bytes bounded (maxQueuedBytes), RSS bounded", async (t) => {
  const { w, base, peak } = await start(t, LIMITS);
  const sub = await socket(w.port);
  sub.on("error", () => undefined);
  sub.write(connectBytes("stalled", { clean: false }));
  sub.write(encode({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: "q/#", qos: 1 }] }, 4));
  await new Promise((r) => setTimeout(r, 300));
  sub.pause(); // never reads again
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${w.port}`, { protocolVersion: 5, reconnectPeriod: 0 });
  const payload = Buffer.alloc(1 << 20, 0x62);
  let refused = 0;
  for (let i = 0; i < 40; i++) {
    try {
      await pub.publishAsync("q/big", payload, { qos: 1 });
    } catch (err) {
      // MQTT.js rejects a PUBACK with a reason code >= 0x80.
      if ((err as { code?: number }).code === 0x97) refused++;
      else throw err;
    }
  }
  await pub.endAsync(true);
  assert.ok(refused > 0, "the publisher is told (0x97) once the stalled session's queue is full");
  sub.destroy();
  await normalClientServed(w.port);
  rssWithinBound(t, peak() - base);
});

test("hostile: takeover fight between two clients sharing an id: log lines rate limited; normal client served", async (t) => {
  const { w } = await start(t, LIMITS);
  const before = w.logs.length;
  const mk = () => mqtt.connect(`mqtt://127.0.0.1:${w.port}`, { clientId: "shared-id", reconnectPeriod: 20 });
  const a = mk();
  const b = mk();
  await new Promise((r) => setTimeout(r, 3000));
  a.end(true);
  b.end(true);
  await normalClientServed(w.port);
  const lines = w.logs.length - before;
  // Before issue #14's fix: thousands of lines in 3 s (74,000 in 10 s). Now a few per key per 10 s.
  assert.ok(lines < 60, `log lines during the fight: ${lines}`);
});

test("hostile: brute force on a user: every guess refused, attempts limited, the owner (cached) still gets in", async (t) => {
  const dir = tempDir(t);
  const pw = await passwordFile(dir, { alice: "s3cret" });
  const { w, base, peak } = await start(
    t,
    `${LIMITS}auth:\n  passwordFile: ${pw}\n  connectAttemptsPerUser: { burst: 5, perMinute: 6 }\n`,
  );
  await normalClientServed(w.port, { username: "alice", password: "s3cret" }); // verified once: cached
  const codes = await Promise.all(
    Array.from({ length: 100 }, async (_, i) => {
      const s = await socket(w.port);
      s.on("error", () => undefined);
      s.write(connectBytes(`bf${i}`, { username: "alice", password: Buffer.from(`guess${i}`) }));
      const code = await new Promise<number>((resolve) => {
        s.once("data", (d: Buffer) => resolve(d[3] ?? -1));
        s.once("close", () => resolve(-1));
      });
      s.destroy();
      return code;
    }),
  );
  assert.equal(codes.filter((c) => c === 0).length, 0, "no guess accepted");
  assert.ok(
    codes.filter((c) => c === 3).length >= 90,
    `most guesses limited without hashing: ${JSON.stringify(codes)}`,
  );
  await normalClientServed(w.port, { username: "alice", password: "s3cret" });
  rssWithinBound(t, peak() - base);
});
