// `npm run bench:transports`: the figures of issue 13 that are not message throughput (TLS and WebSocket
// throughput rows are in the main catalog: `npm run bench -- --only tls/,ws/`). Wharf vs Mosquitto where
// Mosquitto has the feature; every broker on free loopback ports with the same EC P-256 test certificate.
// Pinning (default, 2+ CPUs): the broker runs under `taskset -c 0`, this process and every generator process on
// CPU 1 (inherited affinity), so "on one core" means the broker had exactly one core.
//  - handshake: full TLS handshakes (no resumption: a fresh session and key share every time), EC P-256 server key,
//    TLS 1.3 (X25519, TLS_AES_256_GCM_SHA384) and TLS 1.2 (ECDHE-ECDSA-AES128-GCM-SHA256), handshake + close.
//    Clients (--clients, default go):
//    * `go`: bench/transports/tls-load, Go's crypto/tls client (Debian golang-go, built on first use),
//      --go-conns handshakes in flight in one process. About 0.3 ms of client CPU per handshake, where
//      `openssl s_time` (OpenSSL 3.0) spends ~1.7 ms: on one generator core s_time cannot drive more than ~600/s,
//      so its rows measured the generator, not the broker.
//    * `s_time`: `openssl s_time -new` in --procs processes (certificate not verified).
//    * `node`: Node `tls.connect` workers (bench/transports/workers.ts; CA verified), TLS 1.3, handshake + MQTT
//      CONNECT/CONNACK + close. `go` also runs a handshake + CONNECT/CONNACK row against the brokers.
//    Besides the rate: the broker's CPU time per handshake (/proc, whole process), what that makes on one core,
//    the generator's CPU per handshake, and how busy each CPU was. The Go full-handshake runs are interleaved:
//    all brokers started first, then --rounds rounds (3) measure each in turn, and a summary gives the medians.
//  - node: bare Node TLS and HTTP servers (floor.mjs) through the same runs: Node's own cost, the floor under Wharf.
//  - http: HTTP bridge publishes, `POST /topics/…?qos=N` with 100 B bodies over --connections keep-alive
//    connections, pipelining 1 and 8, QoS 0 (202) and QoS 1 (200 after the PUBACK). Generator (--http-client):
//    `wrk` (default; Debian wrk 4.1.0, C, --wrk-threads threads, bench/transports/http-post.lua: requests/s,
//    latency p50/p99, socket and status errors), or `undici` (Pool in --http-procs Node worker processes; one Node
//    process reached only ~8k req/s: the generator was the limit). Mosquitto has no HTTP bridge. An MQTT
//    subscriber counts what arrived (loss is part of the result). Broker CPU per request, and how busy each CPU
//    was (the generator's CPU near 100 % means the figure is the generator's limit, not the broker's).
// Runs are short (--seconds, default 3) and unpaced; the load average is printed with every figure.
// WHARF_BENCH_NODE_ARGS passes node flags to the Wharf process (e.g. --cpu-prof).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { installSignalHandlers, spawnManaged } from "../lib/children.ts";
import { BenchClient } from "../lib/client.ts";
import { pinGenerator } from "../lib/machine.ts";
import { PROTOCOL } from "../lib/mqtt-packets.ts";
import { makeCert, type BenchPki } from "../lib/pki.ts";
import { cpuBusy, cpuTicks, processCpuSeconds } from "../lib/proc-stats.ts";
import { startFloor, startMosquitto, startWharf, type Started } from "./brokers.ts";

const root = resolve(fileURLToPath(import.meta.url), "../../..");
const argv = process.argv.slice(2);
const arg = (name: string, dflt: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : dflt;
};
const list = (name: string, dflt: string): string[] => arg(name, dflt).split(",");
const SECONDS = Number(arg("seconds", "3"));
const ONLY = list("only", "handshake,http");
/** "node": bare Node TLS/HTTP servers (floor.mjs), the floor under Wharf's figures. */
const BROKERS = list("brokers", "wharf,mosquitto,node");
const CLIENTS = list("clients", "go");
/** Interleaved rounds of the full-handshake runs (every broker once per round). */
const ROUNDS = Number(arg("rounds", "3"));
const GO_CONNS = Number(arg("go-conns", "16"));
const TLS_VERSIONS = list("tls", "1.3,1.2");
const PROCS = Number(arg("procs", "8"));
const NODE_PROCS = Number(arg("node-procs", "3"));
const NODE_INFLIGHT = 16;
/** Warm-up before each broker's measured runs: long enough for the JIT even when the broker gets a fraction of a core. */
const WARMUP_S = Number(arg("warmup", "2"));
const HTTP_CLIENT = arg("http-client", "wrk");
const HTTP_PROCS = Number(arg("http-procs", "2"));
const WRK_THREADS = Number(arg("wrk-threads", "1"));
const CONNECTIONS = Number(arg("connections", "16"));
const PIPELINING = list("pipelining", "1,8").map(Number);
const QOS = list("qos", "0,1").map((q) => (q === "1" ? 1 : 0));

function load(): string {
  return os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");
}
const fmt = (n: number): string => (n >= 1000 ? `${(n / 1000).toFixed(2)}k` : n.toFixed(0));

/** Runs generator processes at once (they inherit this process's CPU affinity) and returns their outputs. */
async function generators(cmds: [string, string[]][]): Promise<string[]> {
  const procs = cmds.map(([cmd, args]) => spawnManaged(cmd, args, root));
  // "close": the process exited and its stdout/stderr are fully read.
  await Promise.all(procs.map((p) => new Promise<void>((r) => p.child.once("close", () => r()))));
  return procs.map((p) => p.output());
}

interface Measured {
  ok: number;
  failed: number;
  seconds: number;
  /** Broker CPU seconds (all threads) over the window. */
  brokerCpu: number;
  /** Client CPU seconds per operation, when the client reports it. */
  clientCpu?: number;
  /** Busy fraction of each CPU over the window. */
  cpus?: number[];
  /** Extra text for the report line (latency, errors). */
  detail?: string;
  /** Operations per second as the generator timed them (wrk: its own run time, not process start-up). */
  rate?: number;
}

async function measure(b: Started, run: () => Promise<Omit<Measured, "seconds" | "brokerCpu">>): Promise<Measured> {
  const cpu0 = processCpuSeconds(b.proc.pid);
  const ticks0 = cpuTicks();
  const t0 = performance.now();
  const r = await run();
  return {
    ...r,
    seconds: (performance.now() - t0) / 1000,
    brokerCpu: processCpuSeconds(b.proc.pid) - cpu0,
    cpus: cpuBusy(ticks0, cpuTicks()),
  };
}

/** Prints one result line; returns the broker's CPU µs per operation. */
function report(label: string, m: Measured, what: string): number {
  const per = m.ok > 0 ? (m.brokerCpu / m.ok) * 1e6 : Number.NaN;
  const client = m.clientCpu === undefined ? "" : `, client ${(m.clientCpu * 1e6).toFixed(0)} µs CPU each`;
  const cpus = m.cpus === undefined ? "" : `; CPUs busy ${m.cpus.map((c) => `${Math.round(c * 100)}%`).join("/")}`;
  const rate = m.rate ?? m.ok / m.seconds;
  console.log(
    `${label}: ${fmt(rate)} ${what}/s, failed ${m.failed}${m.detail ?? ""}; broker ${Math.round((m.brokerCpu / m.seconds) * 100)}% ` +
      `of a core, ${per.toFixed(0)} µs CPU per ${what} (= ${fmt(1e6 / per)}/s on one core)${client}${cpus}; load ${load()}`,
  );
  return per;
}

/** `openssl s_time -new` in PROCS processes: "<n> connections in <user>s; <r> connections/user sec". */
async function sTime(
  port: number,
  version: string,
  seconds: number,
  procs: number,
): Promise<Omit<Measured, "seconds" | "brokerCpu">> {
  const proto = version === "1.2" ? ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"] : ["-tls1_3"];
  const args = ["s_time", "-connect", `127.0.0.1:${port}`, "-new", "-time", String(seconds), ...proto];
  const outs = await generators(Array.from({ length: procs }, () => ["openssl", args] as [string, string[]]));
  let ok = 0;
  let user = 0;
  for (const o of outs) {
    const m = /(\d+) connections in ([\d.]+)s;/.exec(o);
    if (m === null) throw new Error(`openssl s_time: unexpected output: ${o.slice(-300)}`);
    ok += Number(m[1]);
    user += Number(m[2]);
  }
  return { ok, failed: 0, clientCpu: ok > 0 ? user / ok : Number.NaN };
}

function workerJson(outs: string[]): { ok: number; failed: number } {
  let ok = 0;
  let failed = 0;
  for (const o of outs) {
    const line = o.split("\n").find((l) => l.startsWith("{"));
    if (line === undefined) throw new Error(`generator failed: ${o.slice(-300)}`);
    const r = JSON.parse(line) as { ok: number; failed: number };
    ok += r.ok;
    failed += r.failed;
  }
  return { ok, failed };
}

const WORKER = ["--import", "tsx", "bench/transports/workers.ts"];

/** Builds bench/transports/tls-load (Go) into node_modules/.cache when missing or older than its source. */
function tlsLoadBinary(): string {
  const src = join(root, "bench/transports/tls-load/main.go");
  const dir = join(root, "node_modules/.cache/wharf-bench");
  const bin = join(dir, "tls-load");
  if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(src).mtimeMs) {
    mkdirSync(dir, { recursive: true });
    execFileSync("go", ["build", "-o", bin, src], { stdio: "inherit", env: { ...process.env, CGO_ENABLED: "0" } });
  }
  return bin;
}

/** One tls-load process (Go crypto/tls, GO_CONNS handshakes in flight) on the generator CPU. */
async function goLoad(
  port: number,
  version: string,
  seconds: number,
  mqtt: boolean,
  resume = false,
): Promise<Omit<Measured, "seconds" | "brokerCpu">> {
  const args = ["-addr", `127.0.0.1:${port}`, "-seconds", String(seconds), "-conns", String(GO_CONNS)];
  args.push("-tls", version, ...(mqtt ? ["-mqtt"] : []), ...(resume ? ["-resume"] : []));
  const [out] = await generators([[tlsLoadBinary(), args]]);
  const line = out!.split("\n").find((l) => l.startsWith("{"));
  if (line === undefined) throw new Error(`tls-load: unexpected output: ${out!.slice(-300)}`);
  const r = JSON.parse(line) as {
    ok: number;
    failed: number;
    resumed: number;
    seconds: number;
    cpu_s: number;
    error?: string;
  };
  const notes = [
    ...(resume ? [`${r.resumed} resumed`] : []),
    ...(r.error !== undefined ? [`first error: ${r.error}`] : []),
  ];
  return {
    ok: r.ok,
    failed: r.failed,
    rate: r.ok / r.seconds,
    clientCpu: r.ok > 0 ? r.cpu_s / r.ok : Number.NaN,
    ...(notes.length > 0 ? { detail: ` (${notes.join("; ")})` } : {}),
  };
}

/** Median of a non-empty list. */
function median(xs: number[]): number {
  const v = [...xs].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/**
 * Full handshakes, Go client, INTERLEAVED: every broker is started first (an idle broker costs no CPU), then each
 * round measures each broker in turn, and the summary gives the median per broker. Measuring one broker after the
 * other let the machine's load drift between them (Wharf, always first, paid for every landing that started at
 * the same time): the rounds spread that drift over all of them.
 */
async function handshakeRounds(brokers: [string, Started][]): Promise<void> {
  const per = new Map<string, number[]>();
  const push = (key: string, v: number): void => void per.set(key, [...(per.get(key) ?? []), v]);
  for (const [, b] of brokers) await goLoad(b.ports.tls, "1.3", WARMUP_S, false); // warm-up, not reported
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [name, b] of brokers) {
      for (const v of TLS_VERSIONS) {
        const m = await measure(b, () => goLoad(b.ports.tls, v, SECONDS, false));
        push(
          `${name} TLS ${v}`,
          report(`[round ${round}] handshake ${name} TLS ${v} (Go crypto/tls ×${GO_CONNS}, EC P-256)`, m, "handshake"),
        );
      }
    }
  }
  console.log(`summary, median of ${ROUNDS} interleaved rounds (full handshakes, EC P-256, Go client):`);
  for (const v of TLS_VERSIONS) {
    const floor = per.get(`node TLS ${v}`);
    for (const [name] of brokers) {
      const xs = per.get(`${name} TLS ${v}`)!;
      const med = median(xs);
      const vsFloor =
        floor === undefined || name === "node" ? "" : `, ${(med - median(floor)).toFixed(0)} µs above bare Node`;
      console.log(
        `  TLS ${v} ${name}: ${med.toFixed(0)} µs CPU per handshake (${xs.map((x) => x.toFixed(0)).join(", ")}) = ` +
          `${fmt(1e6 / med)}/s on one core${vsFloor}`,
      );
    }
  }
}

/** The other handshake rows of one broker: CONNECT/CONNACK, resumed, and the s_time / Node clients. */
async function handshakeExtras(name: string, b: Started, pki: BenchPki): Promise<void> {
  const port = b.ports.tls;
  if (CLIENTS.includes("go") && name !== "node") {
    const m = await measure(b, () => goLoad(port, "1.3", SECONDS, true));
    report(`handshake+CONNECT ${name} TLS 1.3 (Go crypto/tls ×${GO_CONNS} in flight, EC P-256)`, m, "handshake");
    // Not full handshakes (not the target): session tickets read during CONNECT/CONNACK, then resumed.
    const r = await measure(b, () => goLoad(port, "1.3", SECONDS, true, true));
    report(`RESUMED handshake+CONNECT ${name} TLS 1.3 (Go, session tickets)`, r, "handshake");
  }
  if (CLIENTS.includes("s_time")) {
    await sTime(port, "1.3", WARMUP_S, PROCS); // warm-up (JIT, first allocations), not reported
    for (const v of TLS_VERSIONS) {
      const m = await measure(b, () => sTime(port, v, SECONDS, PROCS));
      report(`handshake ${name} TLS ${v} (openssl s_time -new ×${PROCS}, EC P-256)`, m, "handshake");
    }
  }
  // The Node client waits for a CONNACK: not against the bare TLS server.
  if (CLIENTS.includes("node") && name !== "node") {
    const cmd: [string, string[]] = [
      process.execPath,
      [...WORKER, "handshake", String(port), String(SECONDS), String(NODE_INFLIGHT), pki.ca],
    ];
    const run = async (): Promise<{ ok: number; failed: number }> =>
      workerJson(await generators(Array.from({ length: NODE_PROCS }, () => cmd)));
    await run(); // warm-up: the broker's MQTT CONNECT path (not reported)
    const m = await measure(b, run);
    report(
      `handshake+CONNECT ${name} TLS 1.3 (node tls.connect ×${NODE_PROCS} processes × ${NODE_INFLIGHT}, EC P-256)`,
      m,
      "handshake",
    );
  }
}

/** wrk's JSON line (bench/transports/http-post.lua done()). */
interface WrkSummary {
  requests: number;
  duration_us: number;
  connect: number;
  read: number;
  write: number;
  status: number;
  timeout: number;
  p50_us: number;
  p99_us: number;
  max_us: number;
}

/** One wrk process (C, --wrk-threads threads, --connections keep-alive connections) POSTing to `path`. */
async function wrk(
  port: number,
  path: string,
  seconds: number,
  pipelining: number,
): Promise<Omit<Measured, "seconds" | "brokerCpu">> {
  const args = [
    ...["-t", String(WRK_THREADS), "-c", String(CONNECTIONS), "-d", `${seconds}s`, "--timeout", "5s"],
    ...["-s", "bench/transports/http-post.lua", `http://127.0.0.1:${port}`, "--", path, String(pipelining)],
  ];
  const [out] = await generators([["wrk", args]]);
  const line = out!.split("\n").find((l) => l.startsWith("{"));
  if (line === undefined) throw new Error(`wrk: unexpected output: ${out!.slice(-300)}`);
  const w = JSON.parse(line) as WrkSummary;
  const socketErrors = w.connect + w.read + w.write + w.timeout;
  const ok = w.requests - w.status;
  const ms = (us: number): string => (us / 1000).toFixed(2);
  return {
    ok,
    failed: w.status + socketErrors,
    rate: ok / (w.duration_us / 1e6),
    detail:
      ` (non-2xx ${w.status}, socket errors ${socketErrors}); latency p50 ${ms(w.p50_us)} ms, p99 ${ms(w.p99_us)} ms, ` +
      `max ${ms(w.max_us)} ms`,
  };
}

/** undici Pool in HTTP_PROCS Node processes (bench/transports/workers.ts). */
async function undiciRun(
  port: number,
  topic: string,
  qos: number,
  seconds: number,
  pipelining: number,
): Promise<Omit<Measured, "seconds" | "brokerCpu">> {
  const cmd: [string, string[]] = [
    process.execPath,
    [...WORKER, "http", String(port), String(seconds), String(CONNECTIONS), String(pipelining), String(qos), topic],
  ];
  return workerJson(await generators(Array.from({ length: HTTP_PROCS }, () => cmd)));
}

async function httpRuns(name: string, b: Started): Promise<void> {
  const port = b.ports.http!;
  // The bench's raw client (not MQTT.js, which would set the pace from inside the generator), subscribed at QoS 0.
  // The bare Node server publishes nothing: no subscriber, delivery not counted.
  const sub =
    b.ports.tcp === 0
      ? null
      : await BenchClient.connect({ port: b.ports.tcp, clientId: "http-sub", protocol: PROTOCOL.v311 });
  let got = 0;
  if (sub !== null) {
    sub.coalesceReads = true;
    await sub.subscribe(["bench/http/#"], 0);
    sub.publishHandler = () => got++;
  }
  const run = async (qos: number, pipelining: number, seconds: number): Promise<Measured & { delivered: string }> => {
    got = 0;
    const topic = `bench/http/${qos}`;
    const m = await measure(b, () =>
      HTTP_CLIENT === "wrk"
        ? wrk(port, `/topics/${topic}?qos=${qos}`, seconds, pipelining)
        : undiciRun(port, topic, qos, seconds, pipelining),
    );
    const deadline = Date.now() + 5000;
    while (sub !== null && got < m.ok && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    // Requests in flight when the generator stopped were published but not counted by it: `extra`.
    const delivered =
      sub === null
        ? "n/a"
        : `${got} of ${m.ok} (lost ${Math.max(0, m.ok - got)}, extra ${Math.max(0, got - m.ok)} in flight at the end)`;
    return { ...m, delivered };
  };
  const generator =
    HTTP_CLIENT === "wrk"
      ? `wrk -t${WRK_THREADS} × ${CONNECTIONS} keep-alive connections`
      : `undici ×${HTTP_PROCS} processes × ${CONNECTIONS} keep-alive connections`;
  for (const qos of QOS) await run(qos, 8, WARMUP_S); // warm-up (JIT of both paths), not reported
  for (const qos of QOS) {
    for (const p of PIPELINING) {
      const m = await run(qos, p, SECONDS);
      report(`http ${name} qos${qos} (${generator}, pipelining ${p}; delivered ${m.delivered})`, m, "req");
    }
  }
  await sub?.close();
}

async function main(): Promise<void> {
  installSignalHandlers();
  const pin = pinGenerator(argv.includes("--no-pin"));
  const dir = mkdtempSync(join(os.tmpdir(), "wharf-bench-transports-"));
  try {
    const pki = makeCert(dir);
    console.log(`transports bench: ${SECONDS} s per run, ${os.cpus().length} CPUs; ${pin.note}`);
    if (ONLY.includes("handshake")) {
      const started: [string, Started][] = [];
      try {
        for (const [name, start] of [
          ["wharf", startWharf],
          ["mosquitto", startMosquitto],
          ["node", startFloor],
        ] as const) {
          if (BROKERS.includes(name)) started.push([name, await start(dir, pki, pin.brokerCpu)]);
        }
        if (CLIENTS.includes("go")) await handshakeRounds(started);
        for (const [name, b] of started) await handshakeExtras(name, b, pki);
      } finally {
        for (const [, b] of started) await b.proc.stop();
      }
    }
    if (ONLY.includes("http")) {
      for (const [name, start] of [
        ["wharf", startWharf],
        ["node", startFloor],
      ] as const) {
        if (!BROKERS.includes(name)) continue;
        const b = await start(dir, pki, pin.brokerCpu);
        try {
          await httpRuns(name, b);
        } finally {
          await b.proc.stop();
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
