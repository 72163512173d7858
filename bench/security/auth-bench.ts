// Authentication benchmarks (issue #14 targets; numbers, not tests):
//  1. reconnects/s of known users (password file) once their credentials are cached: C concurrent raw clients
//     loop CONNECT -> CONNACK -> DISCONNECT for D seconds;
//  2. QoS 1 round-trip p50/p99 of an unrelated client, at a steady rate, without and then with first-time argon2id
//     verifications going on (distinct users, cache off for them).
//   node --import tsx bench/security/auth-bench.ts [--seconds 10] [--conns 16] [--users 200]
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { encode, PacketType } from "../../src/codec/index.ts";
import { hashPassword, updatePasswordFile } from "../../src/server/auth/index.ts";
import { freePort } from "../lib/children.ts";

const args = process.argv.slice(2);
const num = (name: string, d: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : d;
};
const SECONDS = num("seconds", 10);
const CONNS = num("conns", 16);
const USERS = num("users", 200);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * `wharf start` on a free port, pinned to CPU 0 when taskset exists (run this script with `taskset -c 1` for the
 * clients). Ready once the port accepts connections: at log level warn there is no "listening" line to wait for
 * (the first version waited for one and hung).
 */
async function startWharf(yaml: string): Promise<{ port: number; stop: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), "wharf-authbench-"));
  const cfg = join(dir, "wharf.yaml");
  const port = await freePort();
  writeFileSync(cfg, yaml.replace("port: 0", `port: ${port}`) + "management: {enabled: false}\n");
  const argv = [process.execPath, "--import", "tsx", "src/cli/main.ts", "start", "-c", cfg];
  const [cmd, ...rest] = existsSync("/usr/bin/taskset") ? ["/usr/bin/taskset", "-c", "0", ...argv] : argv;
  const proc = spawn(cmd!, rest, { stdio: ["ignore", "ignore", "inherit"] });
  let exited = false;
  proc.once("exit", () => (exited = true));
  for (const deadline = Date.now() + 30_000; ;) {
    if (exited) throw new Error("wharf exited before listening");
    const up = await new Promise<boolean>((resolve) => {
      const s = connect(port, "127.0.0.1", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline) throw new Error(`wharf not listening on ${port}`);
    await sleep(50);
  }
  return { port, stop: () => proc.kill("SIGKILL") };
}

function connackLoop(port: number, user: string, pass: string, until: number, counts: { ok: number; bad: number }) {
  const connectPkt = encode(
    {
      type: PacketType.CONNECT,
      protocolName: "MQTT",
      protocolVersion: 4,
      clean: true,
      keepAlive: 0,
      clientId: `${user}-c`,
      username: user,
      password: Buffer.from(pass),
    },
    4,
  );
  const disconnectPkt = encode({ type: PacketType.DISCONNECT }, 4);
  return (async () => {
    while (Date.now() < until) {
      const s: Socket = connect(port, "127.0.0.1");
      s.setNoDelay(true);
      s.on("error", () => undefined);
      await new Promise<void>((r) => s.once("connect", () => r()));
      s.write(connectPkt);
      const code = await new Promise<number>((r) => {
        s.once("data", (d: Buffer) => r(d[3] ?? -1));
        s.once("close", () => r(-1));
      });
      if (code === 0) counts.ok++;
      else counts.bad++;
      s.end(disconnectPkt);
    }
  })();
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

async function qos1Latencies(port: number, ms: number, rate: number): Promise<number[]> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    username: "probe",
    password: "probe-pw",
    reconnectPeriod: 0,
  });
  // MQTT.js leaves Nagle on: its PUBACK then holds the next PUBLISH until the broker's delayed ACK (tens of ms),
  // which measured MQTT.js, not the broker (quiet p50 22.7 ms at 200 msg/s).
  (c.stream as Socket).setNoDelay(true);
  await c.subscribeAsync("lat/t", { qos: 1 });
  const sent = new Map<string, bigint>();
  const lat: number[] = [];
  c.on("message", (_t, p) => {
    const t0 = sent.get(p.toString());
    if (t0 !== undefined) lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
  });
  const end = Date.now() + ms;
  let i = 0;
  while (Date.now() < end) {
    const id = String(i++);
    sent.set(id, process.hrtime.bigint());
    void c.publishAsync("lat/t", id, { qos: 1 });
    await sleep(1000 / rate);
  }
  await sleep(500);
  await c.endAsync(true);
  return lat;
}

const dir = mkdtempSync(join(tmpdir(), "wharf-authbench-pw-"));
const pw = join(dir, "users.pw");
console.error(`hashing ${USERS} users…`);
const hashes = await Promise.all(Array.from({ length: USERS }, (_, i) => hashPassword(`pw${i}`)));
hashes.forEach((h, i) => updatePasswordFile(pw, `u${i}`, h));
updatePasswordFile(pw, "probe", await hashPassword("probe-pw"));

// 1. Cached reconnects.
{
  const w = await startWharf(
    `listeners: [{host: 127.0.0.1, port: 0}]\nstorage: {type: memory}\nlog: {format: json, level: warn}\nsys: {interval: 0}\nmqtt: {allowAnonymous: false}\nauth: {passwordFile: ${pw}, connectAttemptsPerUser: {burst: 1000000, perMinute: 0}}\n`,
  );
  const warm = { ok: 0, bad: 0 };
  await Promise.all(
    Array.from({ length: CONNS }, (_, i) => connackLoop(w.port, `u${i}`, `pw${i}`, Date.now() + 1, warm)),
  );
  const counts = { ok: 0, bad: 0 };
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: CONNS }, (_, i) => connackLoop(w.port, `u${i}`, `pw${i}`, t0 + SECONDS * 1000, counts)),
  );
  const secs = (Date.now() - t0) / 1000;
  console.log(
    JSON.stringify({
      bench: "cached-reconnects",
      conns: CONNS,
      seconds: secs,
      accepted: counts.ok,
      refused: counts.bad,
      perSecond: Math.round(counts.ok / secs),
    }),
  );
  w.stop();
}

// 2. QoS 1 latency of another client without / with first-time argon2id verifications.
{
  const w = await startWharf(
    `listeners: [{host: 127.0.0.1, port: 0}]\nstorage: {type: memory}\nlog: {format: json, level: warn}\nsys: {interval: 0}\nmqtt: {allowAnonymous: false}\nauth: {passwordFile: ${pw}, cacheTtl: 0, maxPendingHashes: 100000, connectAttemptsPerUser: {burst: 1000000, perMinute: 0}}\n`,
  );
  const quiet = await qos1Latencies(w.port, SECONDS * 1000, 200);
  const counts = { ok: 0, bad: 0 };
  const until = Date.now() + SECONDS * 1000;
  const storm = Promise.all(
    Array.from({ length: 8 }, (_, k) =>
      (async () => {
        for (let i = k; Date.now() < until; i += 8)
          await connackLoop(w.port, `u${i % USERS}`, `pw${i % USERS}`, Date.now() + 1, counts);
      })(),
    ),
  );
  const busy = await qos1Latencies(w.port, SECONDS * 1000, 200);
  await storm;
  const f = (xs: number[]) => ({
    n: xs.length,
    p50: +percentile(xs, 50).toFixed(3),
    p99: +percentile(xs, 99).toFixed(3),
  });
  console.log(
    JSON.stringify({
      bench: "qos1-latency-during-argon2",
      quiet: f(quiet),
      duringFirstTimeVerifications: f(busy),
      verificationsPerSecond: Math.round(counts.ok / SECONDS),
      p99DeltaMs: +(percentile(busy, 99) - percentile(quiet, 99)).toFixed(3),
    }),
  );
  w.stop();
}
process.exit(0);
