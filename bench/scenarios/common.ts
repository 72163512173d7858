// Helpers shared by the scenario runners: connecting many clients, closing them, measuring a window.

import type { RunningBroker } from "../brokers/index.ts";
import { BenchClient } from "../lib/client.ts";
import { PUBACK_SIZE, writePuback, type ProtocolLevel } from "../lib/mqtt-packets.ts";
import { CpuMeter, SelfCpuMeter, processMemory } from "../lib/proc-stats.ts";
import { BROKER_INFLIGHT, GENERATOR_SATURATED } from "./settings.ts";

let runCounter = 0;

/** A client-id prefix unique to this run, so consecutive runs never collide on a broker. */
export function runTag(): string {
  runCounter++;
  return `wb${process.pid.toString(36)}r${runCounter}`;
}

export async function connectMany(
  broker: RunningBroker,
  protocol: ProtocolLevel,
  ids: readonly string[],
  concurrency = 50,
): Promise<BenchClient[]> {
  const out: BenchClient[] = new Array<BenchClient>(ids.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < ids.length) {
      const i = next++;
      out[i] = await BenchClient.connect({
        port: broker.port,
        clientId: ids[i]!,
        protocol,
        receiveMaximum: BROKER_INFLIGHT,
      });
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, ids.length) }, worker));
  } catch (err) {
    for (const c of out) c?.socket.destroy();
    throw err;
  }
  return out;
}

export async function closeAll(clients: readonly BenchClient[]): Promise<void> {
  await Promise.all(clients.map((c) => c.close()));
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Broker and generator CPU/memory over a measurement window. */
export class WindowMeters {
  private broker: CpuMeter;
  private self = new SelfCpuMeter();
  private t0 = performance.now();

  constructor(private readonly pid: number) {
    this.broker = new CpuMeter(pid);
  }

  start(): void {
    this.broker.reset();
    this.self.reset();
    this.t0 = performance.now();
  }

  stop(): { elapsedMs: number; brokerCpu: number; generatorCpu: number; rssKb: number; peakKb: number } {
    const elapsedMs = performance.now() - this.t0;
    const mem = processMemory(this.pid);
    return {
      elapsedMs,
      brokerCpu: this.broker.read(),
      generatorCpu: this.self.read(),
      rssKb: mem.rssKb,
      peakKb: mem.peakKb,
    };
  }
}

export function generatorNote(cpu: number): string | null {
  return cpu >= GENERATOR_SATURATED
    ? `INVALID: load generator saturated (${(cpu * 100).toFixed(0)}% of its core); the broker may be faster than measured`
    : null;
}

/** First failure among the clients or the broker process, if any. */
export function runFailure(broker: RunningBroker, clients: readonly BenchClient[]): string | null {
  if (broker.proc.exit !== null) return `broker exited during the run (${broker.proc.exit})`;
  for (const c of clients) if (c.failure !== null) return c.failure;
  return null;
}

/** Returns `ack(packetId)`; the PUBACKs collected while parsing one socket chunk go out in one write. */
export function ackBatcher(sub: BenchClient): (packetId: number) => void {
  let acks: number[] = [];
  sub.chunkHandler = () => {
    if (acks.length === 0) return;
    const out = Buffer.allocUnsafe(acks.length * PUBACK_SIZE);
    for (let k = 0; k < acks.length; k++) writePuback(out, k * PUBACK_SIZE, acks[k]!);
    acks = [];
    sub.socket.write(out);
  };
  return (packetId) => {
    acks.push(packetId);
  };
}
