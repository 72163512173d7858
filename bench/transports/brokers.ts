// The brokers of `npm run bench:transports`, each with every listener the runs need, on free loopback ports,
// pinned to the broker CPU when pinning is on. One EC P-256 certificate (bench/lib/pki.ts) for all of them.
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { MOSQUITTO_BIN } from "../brokers/index.ts";
import { freePort, spawnManaged, waitForPort, type ManagedProcess } from "../lib/children.ts";
import { pinned } from "../lib/machine.ts";
import type { BenchPki } from "../lib/pki.ts";

const root = resolve(fileURLToPath(import.meta.url), "../../..");

export interface Ports {
  tcp: number;
  tls: number;
  http?: number;
}

export interface Started {
  proc: ManagedProcess;
  ports: Ports;
}

/** Wharf from this checkout: tcp, tls and http listeners, memory storage, management off, warn logs. */
export async function startWharf(dir: string, pki: BenchPki, cpu: number | null): Promise<Started> {
  const ports = { tcp: await freePort(), tls: await freePort(), http: await freePort() };
  const file = join(dir, "wharf.yaml");
  writeFileSync(
    file,
    [
      "listeners:",
      `  - { type: tcp, host: 127.0.0.1, port: ${ports.tcp} }`,
      `  - { type: tls, host: 127.0.0.1, port: ${ports.tls}, tls: { cert: ${pki.cert}, key: ${pki.key} } }`,
      `  - { type: http, host: 127.0.0.1, port: ${ports.http} }`,
      "storage: { type: memory }",
      "management: { enabled: false }",
      "",
    ].join("\n"),
  );
  // WHARF_BENCH_NODE_ARGS: extra node flags for the broker, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const extra = (process.env["WHARF_BENCH_NODE_ARGS"] ?? "").split(/\s+/).filter((a) => a !== "");
  // WHARF_BENCH_DIST=1: the packaged CLI (`npm run build` first: dist/bundle/wharf.mjs, what operators run)
  // instead of the sources through tsx.
  const entry =
    process.env["WHARF_BENCH_DIST"] === "1" ? ["dist/bundle/wharf.mjs"] : ["--import", "tsx", "src/cli/main.ts"];
  const args = [...extra, ...entry, "start", "-c", file, "--log-level", "warn"];
  const [cmd, argv] = pinned(cpu, process.execPath, args);
  const proc = spawnManaged(cmd, argv, root);
  await waitForPort(proc, ports.http, 60_000);
  await waitForPort(proc, ports.tls, 10_000);
  return { proc, ports };
}

/** Mosquitto 2.0.11: a TCP listener and a TLS listener with the same certificate. */
export async function startMosquitto(dir: string, pki: BenchPki, cpu: number | null): Promise<Started> {
  const ports = { tcp: await freePort(), tls: await freePort() };
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
      "max_queued_messages 0",
      "log_dest stderr",
      "log_type error",
      "connection_messages false",
      "",
    ].join("\n"),
  );
  const [cmd, argv] = pinned(cpu, MOSQUITTO_BIN, ["-c", conf]);
  const proc = spawnManaged(cmd, argv, dir);
  await waitForPort(proc, ports.tls, 10_000);
  return { proc, ports };
}

/** Bare Node TLS and HTTP servers (bench/transports/floor.mjs): what Node itself costs, without Wharf. */
export async function startFloor(_dir: string, pki: BenchPki, cpu: number | null): Promise<Started> {
  const ports = { tcp: 0, tls: await freePort(), http: await freePort() };
  const args = ["bench/transports/floor.mjs", String(ports.tls), String(ports.http), pki.cert, pki.key];
  const [cmd, argv] = pinned(cpu, process.execPath, args);
  const proc = spawnManaged(cmd, argv, root);
  await waitForPort(proc, ports.tls, 30_000);
  await waitForPort(proc, ports.http, 10_000);
  return { proc, ports };
}
