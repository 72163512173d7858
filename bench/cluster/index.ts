// `npm run bench:cluster`: cross-node fan-in at QoS 0, 3 Wharf nodes (separate processes) with a real etcd, against
// the same load on a single Wharf node. Publishers on n1 and n2, the subscriber on n3: every message crosses the
// inter-node transport once. Unpaced (publishers write as fast as their sockets take it); loss is reported (QoS 0
// may be dropped under overload, on a node or on an inter-node link). Issue 16 target: >= 50 % of single-node.
//
//   node --import tsx bench/cluster/index.ts [--seconds 5] [--publishers 4] [--payload 64]
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { BenchClient } from "../lib/client.ts";
import { freePort } from "../lib/children.ts";
import { PROTOCOL, encodePublishHeader } from "../lib/mqtt-packets.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "5" },
    publishers: { type: "string", default: "4" },
    payload: { type: "string", default: "64" },
  },
});
const SECONDS = Number(values.seconds);
const PUBLISHERS = Number(values.publishers);
const PAYLOAD = Number(values.payload);
const TOPIC = "bench/fanin";

const children: ChildProcess[] = [];
const dirs: string[] = [];
function cleanup(): void {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
process.on("exit", cleanup);
process.on("SIGINT", () => process.exit(130));

async function startEtcd(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "wharf-bench-etcd-"));
  dirs.push(dir);
  const [client, peer] = [await freePort(), await freePort()];
  const c = `http://127.0.0.1:${client}`;
  const p = `http://127.0.0.1:${peer}`;
  const child = spawn(
    "etcd",
    [
      "--name=b",
      `--data-dir=${dir}/data`,
      `--listen-client-urls=${c}`,
      `--advertise-client-urls=${c}`,
      `--listen-peer-urls=${p}`,
      `--initial-advertise-peer-urls=${p}`,
      `--initial-cluster=b=${p}`,
      "--log-level=error",
    ],
    { stdio: "ignore" },
  );
  children.push(child);
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`${c}/health`)).ok) return c;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("etcd did not start");
}

/** Starts `wharf start` with a config; resolves with its MQTT port once it logs "listening". */
async function startWharf(name: string, cluster: object | undefined): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), `wharf-bench-${name}-`));
  dirs.push(dir);
  const port = await freePort();
  const config = {
    listeners: [{ type: "tcp", host: "127.0.0.1", port }],
    storage: { type: "memory" },
    sys: { interval: 0 },
    log: { level: process.env.BENCH_LOG ?? "warn", format: "json" },
    management: { enabled: false },
    ...(cluster === undefined ? {} : { cluster }),
  };
  const file = join(dir, "wharf.json.yaml");
  writeFileSync(file, JSON.stringify(config)); // JSON is YAML
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "start", "--config", file], {
    cwd: root,
    stdio: ["ignore", process.env.BENCH_LOG === undefined ? "ignore" : "inherit", "inherit"],
  });
  children.push(child);
  for (let i = 0; i < 600; i++) {
    try {
      const c = await BenchClient.connect({ port, clientId: `probe-${name}`, protocol: PROTOCOL.v311 });
      await c.close();
      return port;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${name} did not start`);
}

interface Result {
  sent: number;
  received: number;
  seconds: number;
  rate: number;
}

/** Publishers on `pubPorts` (round-robin), one subscriber on `subPort`; QoS 0, unpaced. */
async function fanIn(label: string, pubPorts: number[], subPort: number): Promise<Result> {
  const sub = await BenchClient.connect({ port: subPort, clientId: `sub-${label}`, protocol: PROTOCOL.v311 });
  let received = 0;
  sub.coalesceReads = true;
  sub.publishHandler = () => {
    received++;
  };
  await sub.subscribe([TOPIC], 0);
  const pubs = await Promise.all(
    Array.from({ length: PUBLISHERS }, (_, i) =>
      BenchClient.connect({
        port: pubPorts[i % pubPorts.length]!,
        clientId: `pub-${label}-${i}`,
        protocol: PROTOCOL.v311,
      }),
    ),
  );
  // Interest must have reached the publishers' nodes: probe until a message arrives.
  const h = encodePublishHeader(TOPIC, 0, PROTOCOL.v311, PAYLOAD);
  const packet = Buffer.concat([h.bytes, Buffer.alloc(PAYLOAD, 1)]);
  const batch = Buffer.concat(Array.from({ length: 256 }, () => packet));
  for (let i = 0; received < pubs.length; i++) {
    for (const p of pubs) p.socket.write(packet);
    await new Promise((r) => setTimeout(r, 50));
    if (i > 400) throw new Error(`${label}: no route after 20 s`);
  }
  await new Promise((r) => setTimeout(r, 500));
  const start = received;
  let sent = 0;
  let running = true;
  const t0 = performance.now();
  const pump = (p: BenchClient): void => {
    while (running && p.socket.write(batch)) sent += 256;
    if (running) {
      sent += 256; // the write that returned false was queued
      p.socket.once("drain", () => pump(p));
    }
  };
  for (const p of pubs) pump(p);
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  running = false;
  const seconds = (performance.now() - t0) / 1000;
  const atStop = received - start;
  // Let what is in flight arrive (counted for loss, not for the rate).
  let last = -1;
  while (received !== last) {
    last = received;
    await new Promise((r) => setTimeout(r, 500));
  }
  const total = received - start;
  await Promise.all([...pubs, sub].map((c) => c.close().catch(() => undefined)));
  console.log(
    `${label}: ${Math.round(atStop / seconds)} msg/s delivered during ${seconds.toFixed(1)} s; sent ${sent}, ` +
      `received ${total} (loss ${(((sent - total) / sent) * 100).toFixed(2)} %)`,
  );
  return { sent, received: total, seconds, rate: atStop / seconds };
}

async function main(): Promise<void> {
  console.log(
    `load average before: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}`,
  );
  const single = await startWharf("single", undefined);
  const one = await fanIn("single node", [single], single);
  children.at(-1)!.kill("SIGKILL");

  const etcd = await startEtcd();
  const ports: number[] = [];
  for (const id of ["n1", "n2", "n3"]) {
    ports.push(
      await startWharf(id, {
        enabled: true,
        nodeId: id,
        name: "bench",
        etcd: { endpoints: [etcd] },
        listen: { host: "127.0.0.1", port: 0 },
      }),
    );
  }
  const three = await fanIn("3 nodes, publishers on n1+n2, subscriber on n3", [ports[0]!, ports[1]!], ports[2]!);
  console.log(`cross-node / single-node: ${((three.rate / one.rate) * 100).toFixed(0)} %`);
  console.log(
    `load average after: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}`,
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
