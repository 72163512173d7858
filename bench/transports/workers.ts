// Load-generator processes of `npm run bench:transports` (several run at once, so that one Node process is not
// the limit). Each prints one JSON line { ok, failed } on stdout and exits.
//   node --import tsx bench/transports/workers.ts handshake <port> <seconds> <inflight> <ca.pem>
//     full TLS handshakes (no resumption: a fresh session each time) + MQTT CONNECT/CONNACK + close
//   node --import tsx bench/transports/workers.ts http <port> <seconds> <connections> <pipelining> <qos> <topic>
//     POST /topics/<topic>?qos=<qos> with a 100 B body over keep-alive undici connections
import { readFileSync } from "node:fs";
import tls from "node:tls";
import { Pool } from "undici";
import { PROTOCOL, encodeConnect } from "../lib/mqtt-packets.ts";

async function handshakes(port: number, seconds: number, inflight: number, ca: Buffer): Promise<void> {
  const connect = encodeConnect({ clientId: "", protocol: PROTOCOL.v311, keepAlive: 30 });
  // One secure context (CA parsed once), as a real client library keeps it; no session cache, so every
  // connection is a full handshake.
  const secureContext = tls.createSecureContext({ ca });
  let ok = 0;
  let failed = 0;
  const end = Date.now() + seconds * 1000;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const s = tls.connect({ port, host: "127.0.0.1", servername: "localhost", secureContext });
      const finish = (good: boolean): void => {
        if (good) ok++;
        else failed++;
        s.destroy();
        resolve();
      };
      s.once("secureConnect", () => s.write(connect));
      s.once("data", (d: Buffer) => finish(d[0] === 0x20));
      s.once("error", () => finish(false));
    });
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (Date.now() < end) await one();
    }),
  );
  process.stdout.write(`${JSON.stringify({ ok, failed })}\n`);
}

async function http(
  port: number,
  seconds: number,
  connections: number,
  pipelining: number,
  qos: number,
  topic: string,
): Promise<void> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections, pipelining });
  const body = Buffer.alloc(100, 0x61);
  const path = `/topics/${topic}?qos=${qos}`;
  let ok = 0;
  let failed = 0;
  const end = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: connections * pipelining }, async () => {
      while (Date.now() < end) {
        const r = await pool.request({ method: "POST", path, body });
        await r.body.dump();
        if (r.statusCode === 200 || r.statusCode === 202) ok++;
        else failed++;
      }
    }),
  );
  await pool.close();
  process.stdout.write(`${JSON.stringify({ ok, failed })}\n`);
}

const [mode, ...a] = process.argv.slice(2);
const n = (i: number): number => Number(a[i]);
if (mode === "handshake") await handshakes(n(0), n(1), n(2), readFileSync(a[3]!));
else if (mode === "http") await http(n(0), n(1), n(2), n(3), n(4), a[5]!);
else {
  console.error("usage: workers.ts handshake|http …");
  process.exit(2);
}
