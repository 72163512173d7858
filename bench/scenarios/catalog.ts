// Every scenario the bench knows, with its topology (who publishes what, who subscribes to what).

import { PROTOCOL, type ProtocolLevel } from "../lib/mqtt-packets.ts";
import { LATENCY_PUBLISHERS, LATENCY_RATE } from "./settings.ts";

export const FAMILIES = ["fan-in", "fan-out", "pairs", "wildcard"] as const;
export type Family = (typeof FAMILIES)[number];

/** One topic a publisher cycles through; every listed subscriber must receive every message on it. */
export interface TopicPlan {
  topic: string;
  streamId: number;
  subscribers: readonly number[];
}

export interface Topology {
  /** Per publisher, the topics it publishes to in round-robin order. */
  publishers: TopicPlan[][];
  /** Per subscriber, its topic filters. */
  subscribers: string[][];
  streamCount: number;
}

export const WILDCARD = { subscribers: 10, filtersPerSubscriber: 1000, publishers: 4 } as const;

export function buildTopology(family: Family): Topology {
  switch (family) {
    case "fan-in": // 4 publishers -> 1 subscriber, one topic
      return {
        publishers: [0, 1, 2, 3].map((p) => [{ topic: "bench/fan-in", streamId: p, subscribers: [0] }]),
        subscribers: [["bench/fan-in"]],
        streamCount: 4,
      };
    case "fan-out": // 1 publisher -> 50 subscribers
      return {
        publishers: [[{ topic: "bench/fan-out", streamId: 0, subscribers: range(50) }]],
        subscribers: range(50).map(() => ["bench/fan-out"]),
        streamCount: 1,
      };
    case "pairs": // 50 independent publisher/subscriber pairs
      return {
        publishers: range(50).map((i) => [{ topic: `bench/pairs/${i}`, streamId: i, subscribers: [i] }]),
        subscribers: range(50).map((i) => [`bench/pairs/${i}`]),
        streamCount: 50,
      };
    case "wildcard":
      return wildcardTopology();
  }
}

/**
 * 10 subscribers x 1,000 filters mixing a trailing '+', a trailing '#' and a leading '+'; no two
 * filters overlap, so each message has exactly one receiver. Each publisher cycles over 10,000
 * topics `wc/<s>/<j>/<p>`, alternating receivers message by message.
 */
export function wildcardTopology(): Topology {
  const { subscribers: S, filtersPerSubscriber: J, publishers: P } = WILDCARD;
  const subscribers = range(S).map((s) =>
    range(J).map((j) => (j % 2 === 0 ? `wc/${s}/${j}/+` : j % 4 === 1 ? `wc/${s}/${j}/#` : `+/${s}/${j}/#`)),
  );
  const publishers: TopicPlan[][] = [];
  let streamId = 0;
  for (let p = 0; p < P; p++) {
    const topics: TopicPlan[] = [];
    for (let j = 0; j < J; j++) {
      for (let s = 0; s < S; s++) topics.push({ topic: `wc/${s}/${j}/${p}`, streamId: streamId++, subscribers: [s] });
    }
    publishers.push(topics);
  }
  return { publishers, subscribers, streamCount: streamId };
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

export type RunSpec =
  | {
      kind: "throughput";
      id: string;
      family: Family;
      qos: 0 | 1;
      payload: number;
      protocol: ProtocolLevel;
      /** Brokers run with durable storage and the subscriber keeps a persistent session (clean session 0). */
      persistent?: true;
      /**
       * Open loop: no end-to-end backlog cap. QoS 0 publishers write whenever their socket takes data; QoS 1
       * publishers keep `qos1Window` PUBLISHes in flight and nothing else holds them back. What a device fleet does.
       */
      openLoop?: true;
      /** QoS 1 PUBLISHes in flight per publisher (default QOS1_WINDOW). */
      qos1Window?: number;
      /** Clients connect over TLS or WebSocket instead of plain TCP (issue 13; ids start with `tls/` or `ws/`). */
      transport?: "tls" | "ws";
    }
  | {
      /** 1 publisher -> 10 subscribers of one topic, one of which never reads its socket (see slow-consumer.ts). */
      kind: "slow";
      id: string;
      qos: 0;
      payload: number;
      protocol: ProtocolLevel;
    }
  | {
      /** `publishers` QoS 1 publishers -> 1 subscriber, paced at `rate` msg/s together (latency.ts). */
      kind: "latency";
      id: string;
      qos: 1;
      payload: number;
      rate: number;
      publishers: number;
      protocol: ProtocolLevel;
    }
  | { kind: "storm"; id: string; mode: "hold" | "churn"; connections: number; protocol: ProtocolLevel }
  | {
      /** Durable queue publish -> deliver -> ack (bench/scenarios/queue.ts); Wharf only. */
      kind: "queue";
      id: string;
      durability: "sync" | "batched";
      /** Paced at LATENCY_RATE (a latency result) or unpaced (a throughput result). */
      paced: boolean;
      payload: number;
      protocol: ProtocolLevel;
    }
  | { kind: "pending"; id: string; reason: string };

export type LatencySpec = Extract<RunSpec, { kind: "latency" }>;

/** The result kind a spec produces (a queue spec is a throughput or a latency run). */
export function resultKind(spec: RunSpec): "throughput" | "latency" | "storm" | "slow" | "pending" {
  return spec.kind === "queue" ? (spec.paced ? "latency" : "throughput") : spec.kind;
}

export function protocolName(p: ProtocolLevel): string {
  return p === PROTOCOL.v5 ? "v5" : "v3.1.1";
}

export function payloadName(bytes: number): string {
  return bytes >= 1024 ? `${bytes / 1024}KB` : `${bytes}B`;
}

/** The full matrix, in the order it runs (each spec runs on every broker back to back). */
export function allSpecs(stormConnections: number): RunSpec[] {
  const specs: RunSpec[] = [];
  for (const protocol of [PROTOCOL.v311, PROTOCOL.v5]) {
    for (const family of FAMILIES) {
      for (const qos of [0, 1] as const) {
        for (const payload of [100, 4096]) {
          const id = `${family}/qos${qos}/${payloadName(payload)}/${protocolName(protocol)}`;
          specs.push({ kind: "throughput", id, family, qos, payload, protocol });
        }
      }
    }
  }
  specs.push(...openLoopSpecs());
  specs.push(...transportSpecs());
  specs.push({ kind: "slow", id: "slow-consumer/qos0/100B/v3.1.1", qos: 0, payload: 100, protocol: PROTOCOL.v311 });
  for (const protocol of [PROTOCOL.v311, PROTOCOL.v5]) {
    const id = `latency/qos1/${LATENCY_RATE / 1000}k-per-s/${protocolName(protocol)}`;
    specs.push({
      kind: "latency",
      id,
      qos: 1,
      payload: 100,
      rate: LATENCY_RATE,
      publishers: LATENCY_PUBLISHERS,
      protocol,
    });
  }
  specs.push({
    kind: "storm",
    id: `storm/${stormConnections}-conns/v3.1.1`,
    mode: "hold",
    connections: stormConnections,
    protocol: PROTOCOL.v311,
  });
  // Connect + CONNACK + DISCONNECT + close cycles, 100 at a time, for the measurement window (storm.ts).
  specs.push({ kind: "storm", id: "storm/churn/v3.1.1", mode: "churn", connections: 0, protocol: PROTOCOL.v311 });
  // Persisted QoS 1: fan-in into a persistent session, brokers with durable storage (see brokers/index.ts).
  specs.push({
    kind: "throughput",
    id: "persisted/qos1/100B/v3.1.1",
    family: "fan-in",
    qos: 1,
    payload: 100,
    protocol: PROTOCOL.v311,
    persistent: true,
  });
  specs.push(...queueSpecs());
  return specs;
}

/**
 * Durable queues (issue 11): 16 publishers -> `$queue/bench` (8 partitions) -> 4 consumers in one group, 100 B,
 * LMDB with `sync` and `batched` durability, unpaced and paced at LATENCY_RATE. Mosquitto and Aedes have no
 * queues: skipped for them.
 */
export function queueSpecs(): RunSpec[] {
  const specs: RunSpec[] = [];
  for (const durability of ["sync", "batched"] as const) {
    const base = { kind: "queue", durability, payload: 100, protocol: PROTOCOL.v311 } as const;
    specs.push({ ...base, id: `queue/${durability}/100B/v3.1.1`, paced: false });
    specs.push({ ...base, id: `queue-latency/${durability}/${LATENCY_RATE / 1000}k-per-s/v3.1.1`, paced: true });
  }
  return specs;
}

/**
 * Issue 13: fan-in and fan-out, 100 B, QoS 0 and 1, 3.1.1, with every client over TLS (the run's EC P-256
 * certificate, same for every broker) or WebSocket (path /mqtt, subprotocol mqtt). Ids `tls/…` and `ws/…`.
 */
export function transportSpecs(): RunSpec[] {
  const specs: RunSpec[] = [];
  for (const transport of ["tls", "ws"] as const) {
    for (const family of ["fan-in", "fan-out"] as const) {
      for (const qos of [0, 1] as const) {
        const id = `${transport}/${family}/qos${qos}/100B/v3.1.1`;
        specs.push({ kind: "throughput", id, family, qos, payload: 100, protocol: PROTOCOL.v311, transport });
      }
    }
  }
  return specs;
}

/** QOS 1 in-flight window of the open-loop QoS 1 fan-in (issue #10: 64 per publisher). */
export const OPEN_QOS1_WINDOW = 64;

/**
 * Open-loop variants (issue #10): QoS 0 fan-in, fan-out and pairs at 100 B with no backlog cap, and QoS 1
 * fan-in with 64 PUBLISHes in flight per publisher. Ids end in `/open` (`/open64` for QoS 1).
 */
export function openLoopSpecs(): RunSpec[] {
  const specs: RunSpec[] = [];
  for (const family of ["fan-in", "fan-out", "pairs"] as const) {
    const id = `${family}/qos0/100B/v3.1.1/open`;
    specs.push({ kind: "throughput", id, family, qos: 0, payload: 100, protocol: PROTOCOL.v311, openLoop: true });
  }
  specs.push({
    kind: "throughput",
    id: `fan-in/qos1/100B/v3.1.1/open${OPEN_QOS1_WINDOW}`,
    family: "fan-in",
    qos: 1,
    payload: 100,
    protocol: PROTOCOL.v311,
    openLoop: true,
    qos1Window: OPEN_QOS1_WINDOW,
  });
  return specs;
}

/** The ~one-minute subset behind --quick. */
export const QUICK_IDS: readonly string[] = [
  "fan-in/qos0/100B/v3.1.1",
  "fan-out/qos0/100B/v3.1.1",
  "pairs/qos0/100B/v3.1.1",
  "wildcard/qos0/100B/v3.1.1",
  "fan-in/qos1/100B/v3.1.1",
  "fan-in/qos1/100B/v5",
  "latency/qos1/10k-per-s/v3.1.1",
  "persisted/qos1/100B/v3.1.1",
  "fan-in/qos0/100B/v3.1.1/open",
  "fan-out/qos0/100B/v3.1.1/open",
  "pairs/qos0/100B/v3.1.1/open",
  `fan-in/qos1/100B/v3.1.1/open${OPEN_QOS1_WINDOW}`,
  "slow-consumer/qos0/100B/v3.1.1",
  "queue/sync/100B/v3.1.1",
  "queue/batched/100B/v3.1.1",
  `queue-latency/sync/${LATENCY_RATE / 1000}k-per-s/v3.1.1`,
  "tls/fan-in/qos0/100B/v3.1.1",
  "ws/fan-in/qos0/100B/v3.1.1",
];

export function selectSpecs(all: readonly RunSpec[], quick: boolean, only: readonly string[]): RunSpec[] {
  let specs = quick
    ? all.filter((s) => QUICK_IDS.includes(s.id) || s.kind === "storm" || s.kind === "pending")
    : [...all];
  if (only.length > 0) specs = specs.filter((s) => only.some((o) => s.id.includes(o)));
  return specs;
}
