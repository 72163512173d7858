// Codec throughput: our Decoder/encode against mqtt-packet in the same run.
// Usage: npm run bench:codec [-- --time 1000 --rounds 3]
// Decoding feeds chunks of BATCH concatenated packets (like a busy socket) to both parsers.
// Rates are per CPU second of this process, so other load on the machine distorts them less.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import mqttPacket from "mqtt-packet";
import { Decoder, encode } from "../../src/codec/index.ts";
import type { Packet, ProtocolVersion } from "../../src/codec/index.ts";
import { toMqttPacket } from "../../test/helpers/codec-mqtt-packet.ts";

const args = process.argv.slice(2);
function flag(name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
}
const TIME_MS = flag("time", 700);
const ROUNDS = flag("rounds", 3);
const BATCH = 64;

interface Case {
  name: string;
  version: ProtocolVersion;
  packet: Packet;
  /** Decode only: cycle through this many distinct topic names (defeats the decoder's string interning). */
  distinctTopics?: number;
}

const payload100 = Buffer.alloc(100, 0x61);
const cases: Case[] = [
  {
    name: "PUBLISH QoS0 100B 3.1.1",
    version: 4,
    packet: { type: 3, dup: false, qos: 0, retain: false, topic: "sensors/room1/temp", payload: payload100 },
  },
  {
    name: "PUBLISH QoS0 100B 5.0 +userprop",
    version: 5,
    packet: {
      type: 3,
      dup: false,
      qos: 0,
      retain: false,
      topic: "sensors/room1/temp",
      payload: payload100,
      properties: { userProperties: [["unit", "celsius"]] },
    },
  },
  {
    name: "PUBLISH QoS0 100B 3.1.1, 4096 topics",
    version: 4,
    packet: { type: 3, dup: false, qos: 0, retain: false, topic: "sensors/room1/temp", payload: payload100 },
    distinctTopics: 4096,
  },
  {
    name: "PUBLISH QoS1 100B 3.1.1",
    version: 4,
    packet: {
      type: 3,
      dup: false,
      qos: 1,
      retain: false,
      topic: "sensors/room1/temp",
      packetId: 4242,
      payload: payload100,
    },
  },
  {
    name: "SUBSCRIBE 2 filters 3.1.1",
    version: 4,
    packet: {
      type: 8,
      packetId: 7,
      subscriptions: [
        { topicFilter: "sensors/+/temp", qos: 1 },
        { topicFilter: "alerts/#", qos: 2 },
      ],
    },
  },
  {
    name: "CONNECT 3.1.1",
    version: 4,
    packet: {
      type: 1,
      protocolName: "MQTT",
      protocolVersion: 4,
      clean: true,
      keepAlive: 60,
      clientId: "bench-client-0001",
      username: "user",
      password: Buffer.from("secret"),
    },
  },
];

let sink: unknown;

/** CPU time of this process in ns: steadier than wall time on a shared machine. */
function cpuNs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

/** Runs fn (which performs `opsPerCall` operations) for TIME_MS of CPU time; best ops/s over ROUNDS. */
function measure(fn: () => void, opsPerCall: number): number {
  const warmEnd = Date.now() + Math.min(300, TIME_MS);
  while (Date.now() < warmEnd) fn();
  let best = 0;
  for (let r = 0; r < ROUNDS; r++) {
    let calls = 0;
    const t0 = cpuNs();
    const deadline = t0 + TIME_MS * 1e6;
    let now = t0;
    while (now < deadline) {
      // Reading CPU time is a system call: amortise it over many calls.
      for (let i = 0; i < 256; i++) fn();
      calls += 256;
      now = cpuNs();
    }
    const ops = (calls * opsPerCall) / ((now - t0) / 1e9);
    if (ops > best) best = ops;
  }
  return best;
}

interface Row {
  case: string;
  op: "decode" | "encode";
  wharf: number;
  mqttPacket: number;
  ratio: number;
}
const rows: Row[] = [];

for (const c of cases) {
  const bytes = encode(c.packet, c.version);
  const nChunks = Math.ceil((c.distinctTopics ?? 1) / BATCH);
  const chunks = Array.from({ length: nChunks }, (_, k) =>
    Buffer.concat(
      Array.from({ length: BATCH }, (_, i) =>
        c.distinctTopics === undefined || c.packet.type !== 3
          ? bytes
          : encode({ ...c.packet, topic: `${c.packet.topic}/${k * BATCH + i}` }, c.version),
      ),
    ),
  );
  let next = 0;
  const isConnect = c.packet.type === 1;

  // Ours: one long-lived decoder, as on a connection. CONNECT is decoded by a fresh decoder each
  // time (a connection sees one), the same for mqtt-packet.
  let ourDecode: () => void;
  let theirDecode: () => void;
  let opsPerCall = BATCH;
  if (isConnect) {
    opsPerCall = 1;
    ourDecode = () => {
      const d = new Decoder();
      d.push(bytes);
      sink = d.next();
    };
    theirDecode = () => {
      const p = mqttPacket.parser({ protocolVersion: c.version });
      p.on("packet", (x: unknown) => (sink = x));
      p.parse(bytes);
    };
  } else {
    const d = new Decoder({ protocolVersion: c.version });
    ourDecode = () => {
      d.push(chunks[next++ % nChunks]!);
      let p;
      while ((p = d.next()) !== undefined) sink = p;
    };
    const parser = mqttPacket.parser({ protocolVersion: c.version });
    parser.on("packet", (x: unknown) => (sink = x));
    theirDecode = () => {
      parser.parse(chunks[next++ % nChunks]!);
    };
  }
  const ourDec = measure(ourDecode, opsPerCall);
  const theirDec = measure(theirDecode, opsPerCall);
  rows.push({ case: c.name, op: "decode", wharf: ourDec, mqttPacket: theirDec, ratio: ourDec / theirDec });
  if (c.distinctTopics !== undefined) continue; // encoding is the same as the case above

  const obj = toMqttPacket(c.packet, c.version) as unknown as mqttPacket.Packet;
  const opts = { protocolVersion: c.version };
  const ourEnc = measure(() => {
    sink = encode(c.packet, c.version);
  }, 1);
  const theirEnc = measure(() => {
    sink = mqttPacket.generate(obj, opts);
  }, 1);
  rows.push({ case: c.name, op: "encode", wharf: ourEnc, mqttPacket: theirEnc, ratio: ourEnc / theirEnc });
}
if (sink === Symbol.for("never")) console.log(sink);

const fmt = (n: number): string => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} M/s` : `${(n / 1e3).toFixed(0)} k/s`);
const header = ["case", "op", "wharf", "mqtt-packet", "ratio"];
const table = rows.map((r) => [r.case, r.op, fmt(r.wharf), fmt(r.mqttPacket), `${r.ratio.toFixed(2)}x`]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)));
const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ");
console.log(
  `node ${process.version}, ${TIME_MS} ms CPU x ${ROUNDS} rounds per measurement (best), decode batch ${BATCH} packets/chunk`,
);
console.log(line(header));
console.log(line(widths.map((w) => "-".repeat(w))));
for (const t of table) console.log(line(t));

const out = join(dirname(fileURLToPath(import.meta.url)), "..", "results", "codec.json");
mkdirSync(dirname(out), { recursive: true });
writeFileSync(
  out,
  JSON.stringify({ date: new Date().toISOString(), node: process.version, timeMs: TIME_MS, rows }, null, 2) + "\n",
);
console.log(`wrote ${out}`);
