#!/usr/bin/env node
// Makes sure the Debian peers the tests and benchmarks talk to are installed: real clients and
// brokers nobody here wrote. Installs them with apt-get when we are root, otherwise says exactly
// what to install. `--bench`: also the load generators the benchmarks drive them with (not needed by the tests).
import { spawnSync } from "node:child_process";

/** Each peer: how to tell it is present, and the Debian package that provides it. */
const peers = [
  {
    what: "mosquitto broker",
    pkg: "mosquitto",
    check: ["sh", "-c", "command -v mosquitto || test -x /usr/sbin/mosquitto"],
  },
  {
    what: "mosquitto_pub/mosquitto_sub",
    pkg: "mosquitto-clients",
    check: ["sh", "-c", "command -v mosquitto_pub && command -v mosquitto_sub"],
  },
  {
    what: "paho-mqtt (Python)",
    pkg: "python3-paho-mqtt",
    check: ["/usr/bin/python3", "-c", "import paho.mqtt.client"],
  },
  {
    what: "etcd (clustering tests)",
    pkg: "etcd-server",
    check: ["sh", "-c", "command -v etcd || test -x /usr/bin/etcd"],
  },
  {
    what: "coap-client-notls (CoAP bridge tests)",
    pkg: "libcoap3-bin",
    check: ["sh", "-c", "command -v coap-client-notls"],
  },
  {
    what: "chromium (WebSocket browser tests)",
    pkg: "chromium",
    check: ["sh", "-c", "test -x /usr/bin/chromium"],
  },
];

/** Benchmark-only: C load generators, so that the generator's core is not the limit of a figure. */
const benchPeers = [
  {
    what: "wrk (HTTP load generator, npm run bench:transports)",
    pkg: "wrk",
    check: ["sh", "-c", "command -v wrk"],
  },
  {
    what: "openssl (s_time TLS handshake generator, npm run bench:transports)",
    pkg: "openssl",
    check: ["sh", "-c", "command -v openssl"],
  },
  {
    what: "go (builds bench/transports/tls-load, the TLS handshake generator, npm run bench:transports)",
    pkg: "golang-go",
    check: ["sh", "-c", "command -v go"],
  },
];
if (process.argv.includes("--bench")) peers.push(...benchPeers);

const ok = (cmd) => spawnSync(cmd[0], cmd.slice(1), { stdio: "ignore" }).status === 0;
const missing = peers.filter((p) => !ok(p.check));
if (missing.length === 0) process.exit(0);

const pkgs = missing.map((p) => p.pkg);
const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
const hasApt = ok(["sh", "-c", "command -v apt-get"]);
if (!isRoot || !hasApt) {
  console.error(`[wharf] missing peers: ${missing.map((p) => p.what).join(", ")}.`);
  console.error(`[wharf] install them with: sudo apt-get install -y ${pkgs.join(" ")}`);
  process.exit(1);
}
console.error(`[wharf] installing Debian packages: ${pkgs.join(" ")}…`);
const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
const update = spawnSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
const install = spawnSync("apt-get", ["install", "-y", "-qq", ...pkgs], { stdio: "inherit", env });
if (update.status !== 0 || install.status !== 0 || missing.some((p) => !ok(p.check))) {
  console.error(
    `[wharf] could not install ${pkgs.join(" ")}; install them by hand: apt-get install -y ${pkgs.join(" ")}`,
  );
  process.exit(1);
}
// mosquitto's package starts a system service on 1883; the tests never use it, and it must not
// stay around holding the default port.
spawnSync("sh", ["-c", "service mosquitto stop || systemctl stop mosquitto"], { stdio: "ignore" });
// etcd-server likewise starts a system etcd on 2379; tests start their own on free ports.
spawnSync("sh", ["-c", "service etcd stop || systemctl stop etcd"], { stdio: "ignore" });
