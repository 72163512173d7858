// `npm run bench:transports`: the transport-specific figures of issue 13 that are not message throughput, Wharf vs
// Mosquitto where Mosquitto has the feature (TLS and WebSocket throughput rows are in the main catalog:
// `npm run bench -- --only tls/,ws/`). Every broker is started here on free loopback ports with the same test certificate (EC P-256,
// generated with openssl into a temp dir):
//  - handshake: full TLS handshakes per second (new connection, no session resumption, TLS 1.3, ECDHE + P-256
//    ECDSA certificate) each followed by MQTT CONNECT/CONNACK and a close; 32 connections in flight.
//  - http: HTTP bridge publishes per second, `POST /topics/…` 100 B bodies over keep-alive connections (undici
//    Pool, 32 connections, no pipelining), QoS 0 (202) and QoS 1 (200 after the PUBACK). Mosquitto has no HTTP
//    bridge. A subscriber counts what arrived (loss is part of the result).
// Runs are short (--seconds, default 3) and unpaced; the generator shares the machine (the load average is
// printed with every figure). WHARF_BENCH_NODE_ARGS passes node flags to the Wharf process (e.g. --cpu-prof).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join, resolve } from "node:path";
import tls from "node:tls";
import { fileURLToPath } from "node:url";
import { Pool } from "undici";
import { MOSQUITTO_BIN } from "../brokers/index.ts";
import { BenchClient } from "../lib/client.ts";
import { makeCert } from "../lib/pki.ts";
import { freePort, installSignalHandlers, spawnManaged, waitForPort, type ManagedProcess } from "../lib/children.ts";
import { PROTOCOL, encodeConnect } from "../lib/mqtt-packets.ts";

const root = resolve(fileURLToPath(import.meta.url), "../../..");
const argv = process.argv.slice(2);
const arg = (name: string, dflt: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : dflt;
};
const SECONDS = Number(arg("seconds", "3"));
const ONLY = arg("only", "handshake,http").split(",");
const BROKERS = arg("brokers", "wharf,mosquitto,aedes").split(",");
const INFLIGHT = 32;
const QOS = arg("qos", "0,1")
  .split(",")
  .map((q) => (q === "1" ? 1 : 0));

function load(): string {
  return os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");
}

interface Ports {
  tcp: number;
  tls: number;
  http?: number;
  ws?: number;
}

async function startWharf(dir: string, pki: { cert: string; key: string }): Promise<[ManagedProcess, Ports]> {
  const ports = { tcp: await freePort(), tls: await freePort(), http: await freePort(), ws: await freePort() };
  const file = join(dir, "wharf.yaml");
  writeFileSync(
    file,
    [
      "listeners:",
      `  - { type: tcp, host: 127.0.0.1, port: ${ports.tcp} }`,
      `  - { type: tls, host: 127.0.0.1, port: ${ports.tls}, tls: { cert: ${pki.cert}, key: ${pki.key} } }`,
      `  - { type: http, host: 127.0.0.1, port: ${ports.http} }`,
      `  - { type: ws, host: 127.0.0.1, port: ${ports.ws} }`,
      "storage: { type: memory }",
      "management: { enabled: false }",
      "",
    ].join("\n"),
  );
  const extra = (process.env["WHARF_BENCH_NODE_ARGS"] ?? "").split(/\s+/).filter((a) => a !== "");
  const proc = spawnManaged(
    process.execPath,
    [...extra, "--import", "tsx", "src/cli/main.ts", "start", "-c", file, "--log-level", "warn"],
    root,
  );
  await waitForPort(proc, ports.http, 30_000);
  return [proc, ports];
}

async function startMosquitto(dir: string, pki: { cert: string; key: string }): Promise<[ManagedProcess, Ports]> {
  const ports = { tcp: await freePort(), tls: await freePort(), ws: await freePort() };
  const conf = join(dir, "mosquitto.conf");
  writeFileSync(
    conf,
    [
      "per_listener_settings false",
      "allow_anonymous true",
      `listener ${ports.tcp} 127.0.0.1`,
      `listener ${ports.tls} 127.0.0.1`,
      `certfile ${pki.cert}`,
      `keyfile ${pki.key}`,
      `listener ${ports.ws} 127.0.0.1`,
      "protocol websockets",
      "max_queued_messages 0",
      "log_dest stderr",
      "log_type error",
      "connection_messages false",
      "",
    ].join("\n"),
  );
  const proc = spawnManaged(MOSQUITTO_BIN, ["-c", conf], dir);
  await waitForPort(proc, ports.tls, 10_000);
  await waitForPort(proc, ports.ws, 10_000);
  return [proc, ports];
}

/** Full TLS handshakes + CONNECT/CONNACK per second, INFLIGHT at a time. */
async function handshakes(port: number, ca: Buffer): Promise<{ rate: number; failed: number }> {
  const connect = encodeConnect({ clientId: "", protocol: PROTOCOL.v311, keepAlive: 30 });
  let done = 0;
  let failed = 0;
  const end = Date.now() + SECONDS * 1000;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const s = tls.connect({ port, host: "127.0.0.1", servername: "localhost", ca });
      const finish = (ok: boolean): void => {
        if (ok) done++;
        else failed++;
        s.destroy();
        resolve();
      };
      s.once("secureConnect", () => s.write(connect));
      s.once("data", (d: Buffer) => finish(d[0] === 0x20));
      s.once("error", () => finish(false));
    });
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: INFLIGHT }, async () => {
      while (Date.now() < end) await one();
    }),
  );
  return { rate: done / ((Date.now() - t0) / 1000), failed };
}

/** HTTP bridge publishes per second over keep-alive connections; a subscriber counts deliveries. */
async function httpBridge(
  ports: Ports,
  qos: 0 | 1,
  seconds = SECONDS,
): Promise<{ rate: number; failed: number; lost: number }> {
  // The bench's raw client (not MQTT.js, which would set the pace from inside the generator), subscribed at QoS 0.
  const sub = await BenchClient.connect({ port: ports.tcp, clientId: `http-sub-${qos}`, protocol: PROTOCOL.v311 });
  let got = 0;
  sub.coalesceReads = true;
  await sub.subscribe([`bench/http/${qos}`], 0);
  sub.publishHandler = () => got++;
  const pool = new Pool(`http://127.0.0.1:${ports.http}`, { connections: INFLIGHT, pipelining: 1 });
  const body = Buffer.alloc(100, 0x61);
  let ok = 0;
  let failed = 0;
  const end = Date.now() + seconds * 1000;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: INFLIGHT }, async () => {
      while (Date.now() < end) {
        const r = await pool.request({ method: "POST", path: `/topics/bench/http/${qos}?qos=${qos}`, body });
        await r.body.dump();
        if (r.statusCode === 200 || r.statusCode === 202) ok++;
        else failed++;
      }
    }),
  );
  const elapsed = (Date.now() - t0) / 1000;
  const deadline = Date.now() + 5000;
  while (got < ok && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await pool.close();
  await sub.close();
  return { rate: ok / elapsed, failed, lost: ok - got };
}

const fmt = (n: number): string => (n >= 1000 ? `${(n / 1000).toFixed(2)}k` : n.toFixed(0));

async function main(): Promise<void> {
  installSignalHandlers();
  const dir = mkdtempSync(join(os.tmpdir(), "wharf-bench-transports-"));
  try {
    const pki = makeCert(dir);
    const ca = pki.caPem;
    console.log(`transports bench: ${SECONDS} s per run, ${INFLIGHT} in flight, cpus ${os.cpus().length}`);
    if (ONLY.includes("handshake")) {
      for (const [name, start] of [
        ["wharf", startWharf],
        ["mosquitto", startMosquitto],
      ] as const) {
        if (!BROKERS.includes(name)) continue;
        const [proc, ports] = await start(dir, pki);
        const r = await handshakes(ports.tls, ca);
        console.log(
          `handshake ${name}: ${fmt(r.rate)}/s (EC P-256, TLS 1.3, full handshakes), failed ${r.failed}, load ${load()}`,
        );
        await proc.stop();
      }
    }
    if (ONLY.includes("http")) {
      const [proc, ports] = await startWharf(dir, pki);
      await httpBridge(ports, 1, 1); // warm-up (JIT, first connections), not reported
      for (const qos of QOS) {
        const r = await httpBridge(ports, qos);
        console.log(
          `http wharf qos${qos}: ${fmt(r.rate)} req/s (keep-alive, ${INFLIGHT} connections), failed ${r.failed}, lost ${r.lost}, load ${load()}`,
        );
      }
      await proc.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
