// In-process publish -> deliver throughput (issue 12 targets): Wharf's in-process API vs mqemitter (what Aedes uses)
// vs Node's EventEmitter with topic matching, one process, one core, 100 B payloads; and for scale, the same broker
// driven by MQTT.js over TCP on 127.0.0.1. Unpaced: publishers go as fast as backpressure lets them; every delivery
// is counted, so loss is part of each result. Prints a table; asserts nothing.
//   npm run bench:inproc [-- --quick] [-- --only=<substring of a scenario name>]
// Wharf and mqemitter rounds alternate (w, m, w, m, ...) so that a change of machine load hits both alike; each
// row gives the best wall time and the best CPU time of its rounds, after one untimed round of each (WARMUP). CPU
// time per message (user + system of this process) is the steadier figure on a shared machine.
import { EventEmitter } from "node:events";
import { loadavg } from "node:os";
import mqemitter from "mqemitter";
import mqtt from "mqtt";
import { createBroker, type WharfBroker } from "../../src/index.ts";
import { createMessage } from "../../src/broker/message.ts";
import { LocalRouter } from "../../src/broker/router.ts";
import type { Session } from "../../src/broker/session.ts";
import { Counters } from "../../src/broker/stats.ts";
import { topicMatches } from "../../src/topics/index.ts";
import { silentLogger } from "../../src/util/index.ts";

const quick = process.argv.includes("--quick");
const N = quick ? 50_000 : 300_000;
const N_TCP = quick ? 20_000 : 100_000;
const ROUNDS = quick ? 1 : 3;
/**
 * Untimed rounds first, for every contender alike: the in-process path reaches its optimised code only after about
 * 600 000 messages on this VM (its hand-out loop, with the handler inlined, takes TurboFan 0.1 s to compile, longer
 * on a busy machine), so without them the best of 3 was often a round still partly running unoptimised code.
 */
const WARMUP = quick ? 0 : 1;
const only = process.argv.find((a) => a.startsWith("--only="))?.slice("--only=".length);
const PAYLOAD = Buffer.alloc(100, 0x61);
const TOPIC = "bench/dev1/temp";
/** Ten filters that all match TOPIC (issue 12: "10 subscribers with +/# filters"). */
const WILDCARDS = [
  "bench/+/temp",
  "bench/#",
  "+/dev1/temp",
  "+/+/temp",
  "bench/dev1/+",
  "#",
  "+/#",
  "bench/+/+",
  "+/dev1/#",
  "bench/dev1/temp",
];
const TIMEOUT_MS = 60_000;
/**
 * A checksum every handler of every side adds to: each delivery reads its message (topic and payload length), as a
 * real handler would, the same work on each side (printed at the end, so nothing is optimised away). Masked to 28
 * bits so that it stays a small integer: a running total passes 2^30 within a few rounds, and from then on V8 keeps
 * it as a heap number, deoptimises every inlined handler and allocates on every delivery.
 */
let readSum = 0;
const read = (topic: string, payload: Buffer): void => {
  readSum = (readSum + payload.length + topic.length) & 0xfffffff;
};

interface Result {
  name: string;
  published: number;
  delivered: number;
  expected: number;
  ms: number;
  /** CPU time of this process (user + system) over the run, ms: steadier than wall time on a loaded machine. */
  cpuMs: number;
}

/** Starts a measurement: wall and CPU time. */
function startClock(): () => { ms: number; cpuMs: number } {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  return () => {
    const c = process.cpuUsage(c0);
    return { ms: performance.now() - t0, cpuMs: (c.user + c.system) / 1000 };
  };
}

function waitFor(pred: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (pred()) resolve();
      else if (Date.now() > deadline) reject(new Error(`timeout: ${what}`));
      else setImmediate(check);
    };
    check();
  });
}

async function embedded(): Promise<WharfBroker> {
  return createBroker(
    { sys: { interval: 0 }, storage: { type: "memory", durability: "none" } },
    { logger: silentLogger },
  );
}

/** Publishes N messages, awaiting every 256th publish (backpressure from "block" subscribers) and the last. */
async function publishAll(
  broker: WharfBroker,
  opts: (i: number) => Parameters<WharfBroker["publish"]>[2],
): Promise<void> {
  let last: Promise<unknown> = Promise.resolve();
  for (let i = 0; i < N; i++) {
    last = broker.publish(TOPIC, PAYLOAD, opts(i));
    if ((i & 255) === 255) await last;
  }
  await last;
}

async function wharfInproc(
  name: string,
  filters: readonly string[],
  mode: "plain" | "priority" | "ack" | "listen" | "iterator",
): Promise<Result> {
  const broker = await embedded();
  let delivered = 0;
  for (const f of filters) {
    if (mode === "listen") {
      broker.listen(f, (m) => {
        delivered++;
        read(m.topic, m.payload);
      });
    } else if (mode === "iterator") {
      // A consumer per subscription: `for await` (the buffer of 1024 fills, "block" holds the publisher back).
      const sub = broker.subscribe(f);
      void (async () => {
        for await (const m of sub) {
          delivered++;
          read(m.topic, m.payload);
        }
      })();
    } else if (mode === "ack") {
      broker.subscribe(f, { ack: "manual", qos: 1, handler: (m) => (delivered++, read(m.topic, m.payload), m.ack()) });
    } else {
      broker.subscribe(f, {
        handler: (m) => {
          delivered++;
          read(m.topic, m.payload);
        },
      });
    }
  }
  const expected = N * filters.length;
  const stop = startClock();
  if (mode === "priority") await publishAll(broker, (i) => ({ priority: i % 10 }));
  else if (mode === "ack") await publishAll(broker, () => ({ qos: 1 }));
  else await publishAll(broker, () => undefined);
  await waitFor(() => delivered >= expected, name).catch(() => undefined);
  const { ms, cpuMs } = stop();
  await broker.close();
  return { name, published: N, delivered, expected, ms, cpuMs };
}

async function mqemitterRun(name: string, filters: readonly string[]): Promise<Result> {
  const mq = mqemitter({ concurrency: 0 });
  let delivered = 0;
  for (const f of filters) {
    mq.on(f, (msg, cb: () => void) => {
      delivered++;
      read(msg.topic, msg.payload as Buffer);
      cb();
    });
  }
  const expected = N * filters.length;
  const stop = startClock();
  for (let i = 0; i < N; i++) mq.emit({ topic: TOPIC, payload: PAYLOAD });
  await waitFor(() => delivered >= expected, name).catch(() => undefined);
  const { ms, cpuMs } = stop();
  return { name, published: N, delivered, expected, ms, cpuMs };
}

async function eventEmitterRun(name: string, filters: readonly string[]): Promise<Result> {
  const ee = new EventEmitter();
  ee.setMaxListeners(0);
  let delivered = 0;
  const exact = filters.length === 1 && !/[+#]/.test(filters[0]!);
  const count = (topic: string, payload: Buffer): void => {
    delivered++;
    read(topic, payload);
  };
  if (exact) ee.on(filters[0]!, (payload: Buffer) => count(filters[0]!, payload));
  else {
    for (const f of filters) {
      ee.on("message", (topic: string, payload: Buffer) => topicMatches(f, topic) && count(topic, payload));
    }
  }
  const expected = N * filters.length;
  const stop = startClock();
  if (exact) for (let i = 0; i < N; i++) ee.emit(TOPIC, PAYLOAD);
  else for (let i = 0; i < N; i++) ee.emit("message", TOPIC, PAYLOAD);
  await waitFor(() => delivered >= expected, name).catch(() => undefined);
  const { ms, cpuMs } = stop();
  return { name, published: N, delivered, expected, ms, cpuMs };
}

/**
 * The router alone (route-cache.ts): 10 000 sessions subscribed to `site/<n % 100>/dev/<n>/+`, routing either
 * distinct topics (a fresh string each, as decoded from a socket; ~2% match one subscription) or 100 hot topics
 * (each matching one subscription), with the plan cache or without it (size 0). Sessions only count.
 */
function routerRun(name: string, hot: boolean, cacheSize: number): Promise<Result> {
  const router = new LocalRouter({
    strategy: "round-robin",
    queueLimits: { maxMessages: 100, maxBytes: 0 },
    queueQos0Offline: false,
    counters: new Counters(),
    logger: silentLogger,
    now: () => 0,
    random: Math.random,
    routeCacheSize: cacheSize,
  });
  let delivered = 0;
  const SUBS = 10_000;
  for (let i = 0; i < SUBS; i++) {
    const session = { clientId: `c${i}`, deliver: () => (delivered++, true) } as unknown as Session;
    router.add(session, {
      filter: `site/${i % 100}/dev/${i}/+`,
      qos: 0,
      noLocal: false,
      retainAsPublished: false,
      retainHandling: 0,
      identifier: undefined,
    });
  }
  const hotTopics = Array.from({ length: 100 }, (_, i) => `site/${i}/dev/${i * 101}/temp`);
  const stop = startClock();
  for (let i = 0; i < N; i++) {
    const topic = hot ? hotTopics[i % 100]! : `site/${i % 100}/dev/${(i * 7) % SUBS}/t${i}`;
    router.route(createMessage({ topic, payload: PAYLOAD, qos: 0, retain: false }, 0));
  }
  const { ms, cpuMs } = stop();
  return Promise.resolve({ name, published: N, delivered, expected: delivered, ms, cpuMs });
}

/** MQTT.js publisher -> broker (TCP) -> MQTT.js subscriber, QoS 0; or in-process publisher -> MQTT.js subscriber. */
async function overTcp(name: string, from: "mqttjs" | "inproc"): Promise<Result> {
  const broker = await createBroker(
    {
      listeners: [{ host: "127.0.0.1", port: 0 }],
      sys: { interval: 0 },
      storage: { type: "memory", durability: "none" },
    },
    { logger: silentLogger },
  );
  const url = `mqtt://127.0.0.1:${broker.listeners[0]!.port}`;
  const sub = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  let delivered = 0;
  sub.on("message", () => {
    delivered++;
  });
  await sub.subscribeAsync(TOPIC, { qos: 0 });
  const pub = from === "mqttjs" ? await mqtt.connectAsync(url, { reconnectPeriod: 0 }) : undefined;
  const stop = startClock();
  for (let i = 0; i < N_TCP; i++) {
    if (pub !== undefined) {
      pub.publish(TOPIC, PAYLOAD, { qos: 0 });
      if ((i & 1023) === 1023) await new Promise((r) => setImmediate(r)); // let MQTT.js flush its stream
    } else {
      const p = broker.publish(TOPIC, PAYLOAD);
      if ((i & 1023) === 1023) await p.then(() => new Promise((r) => setImmediate(r)));
    }
  }
  await waitFor(() => delivered >= N_TCP, name).catch(() => undefined);
  const { ms, cpuMs } = stop();
  await Promise.all([sub.endAsync(), pub?.endAsync()]);
  await broker.close();
  return { name, published: N_TCP, delivered, expected: N_TCP, ms, cpuMs };
}

/**
 * Best of the rounds, each figure on its own: the shortest wall time and the least CPU time (on a shared machine a
 * round loses CPU time to contention as well as wall time); the delivery count of the worst round, so that a loss
 * in any round shows.
 */
function best(rs: Result[]): Result {
  const worst = rs.reduce((a, b) => (b.expected - b.delivered > a.expected - a.delivered ? b : a));
  return {
    ...worst,
    ms: Math.min(...rs.map((r) => r.ms)),
    cpuMs: Math.min(...rs.map((r) => r.cpuMs)),
  };
}

async function rounds(run: () => Promise<Result>): Promise<Result> {
  const rs: Result[] = [];
  for (let i = 0; i < WARMUP; i++) await run();
  for (let i = 0; i < ROUNDS; i++) rs.push(await run());
  return best(rs);
}

/** Rounds of several runs interleaved (a, b, a, b, ...): the best of each. */
async function interleaved(runs: (() => Promise<Result>)[]): Promise<Result[]> {
  const rs: Result[][] = runs.map(() => []);
  for (let i = 0; i < WARMUP; i++) for (const run of runs) await run();
  for (let i = 0; i < ROUNDS; i++) for (let j = 0; j < runs.length; j++) rs[j]!.push(await runs[j]!());
  return rs.map(best);
}

const fmt = (n: number): string => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : `${(n / 1e3).toFixed(0)} k`);

async function main(): Promise<void> {
  console.log(
    `in-process bench: ${N} msgs x ${ROUNDS} round(s) (best) after ${WARMUP} untimed, 100 B payload; load ${loadavg()[0]!.toFixed(1)}`,
  );
  // Per scenario: Wharf subscribe() (buffered, handler on a microtask), Wharf listen() (synchronous, no buffer:
  // what mqemitter and EventEmitter do), mqemitter, EventEmitter.
  const groups: [string, () => Promise<Result>, () => Promise<Result>, () => Promise<Result>, () => Promise<Result>][] =
    [
      [
        "1 subscriber, exact topic",
        () => wharfInproc("wharf subscribe", [TOPIC], "plain"),
        () => wharfInproc("wharf listen", [TOPIC], "listen"),
        () => mqemitterRun("mqemitter", [TOPIC]),
        () => eventEmitterRun("EventEmitter", [TOPIC]),
      ],
      [
        "10 subscribers, +/# filters",
        () => wharfInproc("wharf subscribe", WILDCARDS, "plain"),
        () => wharfInproc("wharf listen", WILDCARDS, "listen"),
        () => mqemitterRun("mqemitter", WILDCARDS),
        () => eventEmitterRun("EventEmitter+match", WILDCARDS),
      ],
    ];
  const rows: string[] = [];
  const line = (scenario: string, r: Result, ref?: Result): void => {
    const rate = r.published / (r.ms / 1000);
    const ns = (r.ms * 1e6) / r.published;
    const cpuNs = (r.cpuMs * 1e6) / r.published;
    const loss = r.expected - r.delivered;
    const ratio =
      ref === undefined
        ? ""
        : ` ${(rate / (ref.published / (ref.ms / 1000))).toFixed(2)}x mqemitter (cpu ${((ref.cpuMs / ref.published) * (r.published / r.cpuMs)).toFixed(2)}x)`;
    rows.push(
      `${scenario.padEnd(30)} ${r.name.padEnd(20)} ${fmt(rate).padStart(8)} msg/s  ${ns.toFixed(0).padStart(6)} ns/msg ${cpuNs.toFixed(0).padStart(6)} ns cpu/msg  deliveries ${r.delivered}/${r.expected} loss ${loss}${ratio}`,
    );
    console.log(rows.at(-1));
  };
  const wanted = (scenario: string): boolean => only === undefined || scenario.includes(only);
  for (const [scenario, wharf, listen, mqe, ee] of groups) {
    if (!wanted(scenario)) continue;
    const [w, l, m] = await interleaved([wharf, listen, mqe]);
    line(scenario, w!, m);
    line(scenario, l!, m);
    line(scenario, m!);
    line(scenario, await rounds(ee), m);
  }
  const singles: [string, () => Promise<Result>][] = [
    ["1 subscriber, priority 0..9", () => wharfInproc("wharf priority", [TOPIC], "priority")],
    ["1 subscriber, manual ack QoS 1", () => wharfInproc("wharf ack", [TOPIC], "ack")],
    ["10 subscribers, +/# filters, for await", () => wharfInproc("wharf iterator", WILDCARDS, "iterator")],
    ["TCP, 1 subscriber (MQTT.js)", () => overTcp("MQTT.js -> MQTT.js", "mqttjs")],
    ["TCP, 1 subscriber (MQTT.js)", () => overTcp("in-process -> MQTT.js", "inproc")],
  ];
  for (const [scenario, run] of singles) if (wanted(scenario)) line(scenario, await rounds(run));
  for (const hot of [false, true]) {
    const scenario = `router 10k subs, ${hot ? "100 hot topics" : "distinct topics"}`;
    if (!wanted(scenario)) continue;
    const [cached, uncached] = await interleaved([
      () => routerRun("plan cache", hot, 1024),
      () => routerRun("no cache", hot, 0),
    ]);
    line(scenario, cached!);
    line(scenario, uncached!);
  }
  console.log(`load ${loadavg()[0]!.toFixed(1)} at the end (handlers' checksum ${readSum})`);
}

await main();
