// The brokers under test and how to start each one on a free loopback port, pinned to the broker CPU.

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { lastLines, onHarnessExit, spawnManaged, waitForPort, freePort, type ManagedProcess } from "../lib/children.ts";
import { pinned } from "../lib/machine.ts";
import type { BenchTransport } from "../lib/client.ts";
import { makeCert, type BenchPki } from "../lib/pki.ts";
import { wharfCommand } from "../lib/wharf-launcher.ts";
import { PROTOCOL, type ProtocolLevel } from "../lib/mqtt-packets.ts";

export const BROKER_IDS = ["wharf", "mosquitto", "aedes"] as const;
export type BrokerId = (typeof BROKER_IDS)[number];

export const MOSQUITTO_BIN = "/usr/sbin/mosquitto";

/** How clients reach a broker: plain TCP, TLS (the run's EC P-256 certificate) or WebSocket on path /mqtt. */
export const LISTENER_KINDS = ["tcp", "tls", "ws"] as const;
export type ListenerKind = (typeof LISTENER_KINDS)[number];
/** The WebSocket path every broker serves MQTT on. */
export const WS_PATH = "/mqtt";

export interface BrokerContext {
  root: string;
  cpu: number | null;
  /** Config files and the like (removed at exit). */
  tmp: string;
  /** Durable storage of persisted runs: tmp, unless that is tmpfs (then under <root>/data). */
  dataRoot: string;
  /** The run's TLS certificate, generated on first use (one for every broker, so TLS costs compare). */
  pki(): BenchPki;
}

export interface BrokerDef {
  id: BrokerId;
  label: string;
  protocols: readonly ProtocolLevel[];
  /** Null when runnable, otherwise the reason it is not (printed as "<id>: not runnable (reason)"). */
  prepare(ctx: BrokerContext): Promise<string | null>;
  /** Listener types it can be benchmarked over (the others are skipped with `noListener`). */
  listeners: readonly ListenerKind[];
  noListener: string;
  /** With `persistent`, the broker keeps its state in durable storage under ctx.dataRoot. */
  spawn(ctx: BrokerContext, port: number, persistent: boolean, listener: ListenerKind): ManagedProcess;
  /** Why this broker cannot run the persisted scenarios, or null if it can. */
  noPersistence: string | null;
  /** What "persisted" means for this broker: printed with each persisted run. */
  persistenceNote: string;
}

export interface RunningBroker {
  def: BrokerDef;
  proc: ManagedProcess;
  port: number;
  /** Clients reach `port` over TLS or WebSocket (bench/transports); plain TCP when absent. */
  transport?: BenchTransport;
}

const STARTUP_TIMEOUT_MS = 30_000;

export async function startBroker(
  def: BrokerDef,
  ctx: BrokerContext,
  persistent = false,
  listener: ListenerKind = "tcp",
): Promise<RunningBroker> {
  const port = await freePort();
  const proc = def.spawn(ctx, port, persistent, listener);
  try {
    await waitForPort(proc, port, STARTUP_TIMEOUT_MS);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return { def, proc, port, ...transportOf(ctx, listener) };
}

function transportOf(ctx: BrokerContext, listener: ListenerKind): { transport?: BenchTransport } {
  if (listener === "tls") return { transport: { kind: "tls", ca: ctx.pki().caPem } };
  if (listener === "ws") return { transport: { kind: "ws", path: WS_PATH } };
  return {};
}

const TMPFS_MAGIC = 0x01021994;

export function makeContext(root: string, cpu: number | null): BrokerContext {
  const tmp = mkdtempSync(join(os.tmpdir(), "wharf-bench-"));
  onHarnessExit(() => rmSync(tmp, { recursive: true, force: true }));
  // Durable storage must sit on a real disk: on tmpfs an fsync costs nothing and flatters the broker.
  let dataRoot = tmp;
  if (statfsSync(tmp).type === TMPFS_MAGIC) {
    mkdirSync(join(root, "data"), { recursive: true }); // git-ignored
    dataRoot = mkdtempSync(join(root, "data", "bench-"));
    onHarnessExit(() => rmSync(dataRoot, { recursive: true, force: true }));
  }
  let pki: BenchPki | null = null;
  // Not under tmp (mode 0700): Mosquitto started as root reads its certificate as the mosquitto user.
  const pkiDir = (): string => {
    const dir = mkdtempSync(join(os.tmpdir(), "wharf-bench-pki-"));
    onHarnessExit(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  };
  return { root, cpu, tmp, dataRoot, pki: () => (pki ??= makeCert(pkiDir())) };
}

/** A fresh directory for one persistent broker's files. */
function dataDir(ctx: BrokerContext, name: string): string {
  const dir = join(ctx.dataRoot, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * The Wharf checkout the benchmark runs: this one, or WHARF_BENCH_WHARF_ROOT (another checkout, e.g. a git worktree
 * of an older commit with node_modules, to compare two versions under the same harness and in the same run
 * conditions). Checkouts older than the management server (issue 15) have no `--management-port` flag.
 */
function wharfRoot(ctx: BrokerContext): { root: string; management: boolean } {
  const root = process.env["WHARF_BENCH_WHARF_ROOT"] ?? ctx.root;
  return { root, management: existsSync(join(root, "src/admin")) };
}

const wharf: BrokerDef = {
  id: "wharf",
  label: "Wharf",
  protocols: [PROTOCOL.v311, PROTOCOL.v5],
  async prepare(ctx) {
    const { root } = wharfRoot(ctx);
    if (!existsSync(join(root, "src/cli/main.ts"))) return `${root}/src/cli/main.ts is missing`;
    // Start it once: the CLI exists before the listener does, so only a real listen counts.
    try {
      const b = await startBroker(wharf, ctx);
      await b.proc.stop();
      return null;
    } catch (err) {
      return (err as Error).message;
    }
  },
  noPersistence: null,
  persistenceNote: "Wharf: LMDB storage, durability sync (a PUBACK follows the fsync'd commit of its message)",
  listeners: LISTENER_KINDS,
  noListener: "",
  spawn(ctx, port, persistent, listener) {
    // WHARF_BENCH_NODE_ARGS: extra node flags for profiling, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
    const extra = (process.env["WHARF_BENCH_NODE_ARGS"] ?? "").split(/\s+/).filter((a) => a !== "");
    // Default configuration (issue #10: Wharf as a new user runs it; no queue or in-flight overrides), started
    // through bin/wharf.js as `wharf start` is (its node flags included). A TLS or WebSocket run adds a config file
    // with that one listener (--host/--port then set its address).
    const args = ["start"];
    if (listener !== "tcp") args.push("-c", wharfListenerConfig(ctx, port, listener));
    const { root, management } = wharfRoot(ctx);
    args.push("--host", "127.0.0.1", "--port", String(port), "--log-level", "warn");
    if (management) args.push("--management-port", "0");
    if (persistent) args.push("--storage", "lmdb", "--data-dir", dataDir(ctx, `wharf-${port}`));
    else args.push("--storage", "memory");
    // WHARF_BENCH_LOOP_STATS=1 (diagnosis, off by default: its 1 ms timer changes the broker a little): the broker
    // records its event-loop delay and GC pauses over windows the scenario opens and closes with SIGUSR2
    // (bench/tools/loop-stats.mjs; the latency scenario reports them per round).
    const loopStats = process.env["WHARF_BENCH_LOOP_STATS"] === "1";
    if (loopStats) extra.push("--import", join(ctx.root, "bench", "tools", "loop-stats.mjs"));
    const run = wharfCommand(root, args, extra);
    const [cmd, argv] = pinned(ctx.cpu, run.cmd, run.args);
    const env = loopStats ? { ...run.env, WHARF_LOOP_STATS: brokerLoopStatsFile(port) } : run.env;
    return spawnManaged(cmd, argv, root, env);
  },
};

/** Where a Wharf started with WHARF_BENCH_LOOP_STATS=1 on `port` appends its loop-stats lines. */
export function brokerLoopStatsFile(port: number): string {
  return join(os.tmpdir(), `wharf-bench-loop-${port}.jsonl`);
}

function wharfListenerConfig(ctx: BrokerContext, port: number, listener: "tls" | "ws"): string {
  const file = join(ctx.tmp, `wharf-${listener}-${port}.yaml`);
  const pki = listener === "tls" ? ctx.pki() : null;
  const tls = pki === null ? "" : `, tls: { cert: "${pki.cert}", key: "${pki.key}" }`;
  const path = listener === "ws" ? `, ws: { path: "${WS_PATH}" }` : "";
  writeFileSync(file, `listeners:\n  - { type: ${listener}, host: 127.0.0.1, port: ${port}${tls}${path} }\n`);
  return file;
}

/**
 * Mosquitto as its users run it (issue #10): its defaults (in-flight window 20, Nagle on), except an unbounded
 * queue (`max_queued_messages 0`) so it never drops for lack of room, plus a loopback listener, anonymous
 * access and quiet logs. WHARF_BENCH_MOSQUITTO_NODELAY=1 adds `set_tcp_nodelay true` (latency parity; it
 * roughly halves Mosquitto's throughput on the dev VM).
 */
export function mosquittoConfig(
  port: number,
  persistDir?: string,
  listener: { kind: ListenerKind; pki?: BenchPki } = { kind: "tcp" },
): string {
  const tls = listener.pki === undefined ? [] : [`certfile ${listener.pki.cert}`, `keyfile ${listener.pki.key}`];
  return [
    `listener ${port} 127.0.0.1`,
    // Its websockets listener (libwebsockets) serves every path. Mosquitto 2.0.11 exits with "Unable to start
    // any listening sockets" when its only listener is a websockets one: a unix socket listener (unused, which
    // it removes on exit) keeps it up. TLS: the run's certificate.
    ...(listener.kind === "ws"
      ? ["protocol websockets", `listener 0 ${join(os.tmpdir(), `wharf-bench-m${port}.sock`)}`]
      : []),
    ...tls,
    "allow_anonymous true",
    ...(persistDir === undefined ? ["persistence false"] : ["persistence true", `persistence_location ${persistDir}/`]),
    "max_queued_messages 0",
    ...(process.env["WHARF_BENCH_MOSQUITTO_NODELAY"] === "1" ? ["set_tcp_nodelay true"] : []),
    "log_dest stderr",
    "log_type error",
    "log_type warning",
    "connection_messages false",
    "",
  ].join("\n");
}

function installMosquitto(): string | null {
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  const hint = "install it with: sudo apt-get install -y mosquitto (Debian/Ubuntu)";
  if (!isRoot || !existsSync("/usr/bin/apt-get")) return `${MOSQUITTO_BIN} missing; ${hint}`;
  process.stderr.write("bench: mosquitto missing, installing it with apt-get…\n");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = (): boolean =>
    spawnSync("apt-get", ["install", "-y", "--no-install-recommends", "mosquitto"], { stdio: "inherit", env })
      .status === 0;
  if (!install()) {
    spawnSync("apt-get", ["update"], { stdio: "inherit", env });
    if (!install()) return `apt-get install mosquitto failed; ${hint}`;
  }
  // The package may have started a system service on 1883; the bench never uses it.
  return existsSync(MOSQUITTO_BIN) ? null : `apt-get did not provide ${MOSQUITTO_BIN}; ${hint}`;
}

const mosquitto: BrokerDef = {
  id: "mosquitto",
  label: "Mosquitto",
  protocols: [PROTOCOL.v311, PROTOCOL.v5],
  async prepare() {
    return existsSync(MOSQUITTO_BIN) ? null : installMosquitto();
  },
  noPersistence: null,
  persistenceNote:
    "Mosquitto: persistence true writes its in-memory state to disk only at autosave (default every 1800 s) " +
    "and shutdown, so its PUBACK does not mean the message is on disk",
  listeners: LISTENER_KINDS,
  noListener: "",
  spawn(ctx, port, persistent, listener) {
    const conf = join(ctx.tmp, `mosquitto-${port}.conf`);
    const persist = persistent ? dataDir(ctx, `mosquitto-${port}`) : undefined;
    const pki = listener === "tls" ? { pki: ctx.pki() } : {};
    writeFileSync(conf, mosquittoConfig(port, persist, { kind: listener, ...pki }));
    const [cmd, argv] = pinned(ctx.cpu, MOSQUITTO_BIN, ["-c", conf]);
    return spawnManaged(cmd, argv, ctx.tmp);
  },
};

const aedes: BrokerDef = {
  id: "aedes",
  label: "Aedes",
  protocols: [PROTOCOL.v311], // Aedes implements MQTT 3.1.1 only
  async prepare(ctx) {
    if (!existsSync(join(ctx.root, "node_modules/aedes/package.json"))) {
      return "npm devDependency aedes is not installed (run npm install)";
    }
    try {
      const b = await startBroker(aedes, ctx);
      await b.proc.stop();
      return null;
    } catch (err) {
      return lastLines((err as Error).message);
    }
  },
  noPersistence: "Aedes ships in-memory persistence only (durable stores are separate packages, not installed)",
  persistenceNote: "",
  // Issue 13 compares Aedes over WebSocket; Aedes has no TLS listener of its own.
  listeners: ["tcp", "ws"],
  noListener: "Aedes has no TLS listener of its own (compared over TCP and WebSocket)",
  spawn(ctx, port, _persistent, listener) {
    const args = ["bench/brokers/aedes-server.mjs", String(port), "127.0.0.1", ...(listener === "ws" ? ["--ws"] : [])];
    const [cmd, argv] = pinned(ctx.cpu, process.execPath, args);
    return spawnManaged(cmd, argv, ctx.root);
  },
};

export const BROKERS: Record<BrokerId, BrokerDef> = { wharf, mosquitto, aedes };
