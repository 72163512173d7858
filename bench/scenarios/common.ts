// Helpers shared by the scenario runners: connecting many clients, closing them, measuring a window.

import type { RunningBroker } from "../brokers/index.ts";
import { STATUS, type RunResult } from "./result.ts";
import { BenchClient } from "../lib/client.ts";
import { PUBACK_SIZE, writePuback, type ProtocolLevel } from "../lib/mqtt-packets.ts";
import {
  CpuMeter,
  SelfCpuMeter,
  machineBusySeconds,
  NO_IO,
  processIo,
  processMemory,
  runQueueWaitSeconds,
  type IoReading,
  threadRunSeconds,
} from "../lib/proc-stats.ts";
import { BROKER_INFLIGHT, GENERATOR_SATURATED, NOISY_MACHINE } from "./settings.ts";

let runCounter = 0;

/** A client-id prefix unique to this run, so consecutive runs never collide on a broker. */
export function runTag(): string {
  runCounter++;
  return `wb${process.pid.toString(36)}r${runCounter}`;
}

export interface ConnectManyOptions {
  /** Connects in flight at once (default 50). */
  concurrency?: number;
  readBufferBytes?: number;
  /** Persistent sessions (clean session 0). */
  persistent?: boolean;
}

export async function connectMany(
  broker: RunningBroker,
  protocol: ProtocolLevel,
  ids: readonly string[],
  opts: ConnectManyOptions = {},
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
        ...(opts.readBufferBytes !== undefined ? { readBufferBytes: opts.readBufferBytes } : {}),
        ...(opts.persistent === true ? { cleanStart: false } : {}),
        transport: broker.transport,
      });
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? 50, ids.length) }, worker));
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
  private busy0 = machineBusySeconds();
  private brokerWait0 = 0;
  private selfWait0 = 0;
  private threads0 = { main: 0, helpers: 0 };
  private io0: IoReading = NO_IO;

  constructor(private readonly pid: number) {
    this.broker = new CpuMeter(pid);
  }

  start(): void {
    this.broker.reset();
    this.self.reset();
    this.busy0 = machineBusySeconds();
    this.brokerWait0 = runQueueWaitSeconds(this.pid);
    this.selfWait0 = runQueueWaitSeconds("self");
    this.threads0 = threadRunSeconds(this.pid);
    this.io0 = processIo(this.pid);
    this.t0 = performance.now();
  }

  stop(): WindowReading {
    const elapsedMs = performance.now() - this.t0;
    const mem = processMemory(this.pid);
    const brokerCpu = this.broker.read();
    const generatorCpu = this.self.read();
    const seconds = elapsedMs / 1000;
    const busy = (machineBusySeconds() - this.busy0) / seconds;
    const threads = threadRunSeconds(this.pid);
    const io = processIo(this.pid);
    return {
      elapsedMs,
      brokerCpu,
      generatorCpu,
      otherCpu: Math.max(0, busy - brokerCpu - generatorCpu),
      brokerWaited: (runQueueWaitSeconds(this.pid) - this.brokerWait0) / seconds,
      generatorWaited: (runQueueWaitSeconds("self") - this.selfWait0) / seconds,
      brokerMainCpu: (threads.main - this.threads0.main) / seconds,
      brokerHelperCpu: (threads.helpers - this.threads0.helpers) / seconds,
      rssKb: mem.rssKb,
      peakKb: mem.peakKb,
      brokerIo: {
        reads: io.reads - this.io0.reads,
        readBytes: io.readBytes - this.io0.readBytes,
        writes: io.writes - this.io0.writes,
        writeBytes: io.writeBytes - this.io0.writeBytes,
      },
    };
  }
}

export interface WindowReading {
  elapsedMs: number;
  /** Fractions of one core. */
  brokerCpu: number;
  generatorCpu: number;
  /** Everything else the machine ran meanwhile (other processes, steal). */
  otherCpu: number;
  /** Fraction of the window the broker's / generator's main thread was runnable but waiting for a CPU. */
  brokerWaited: number;
  generatorWaited: number;
  /** The broker's main thread and its other threads (GC/compiler workers), fractions of one core. */
  brokerMainCpu: number;
  brokerHelperCpu: number;
  rssKb: number;
  peakKb: number;
  /** The broker's read/write system calls and bytes over the window (NaN when /proc/<pid>/io is unreadable). */
  brokerIo?: IoReading;
}

const pct = (x: number): string => (Number.isFinite(x) ? `${Math.round(x * 100)}%` : "?");

/** The flags every window reading may raise: a saturated generator (invalid) and a busy machine (noted). */
export function windowNotes(w: WindowReading): { notes: string[]; invalid: boolean } {
  const notes: string[] = [];
  const gen = generatorNote(w.generatorCpu);
  if (gen !== null) notes.push(gen);
  // Only other processes' CPU decides: run-queue waits are also caused by a Node process's own GC
  // threads sharing its pinned CPU, so they are shown as context, not used as the test.
  if (w.otherCpu > NOISY_MACHINE) {
    notes.push(
      `noisy machine: other processes used ${pct(w.otherCpu)} of a core; broker main thread waited for ` +
        `its CPU ${pct(w.brokerWaited)} of the window, generator ${pct(w.generatorWaited)}`,
    );
  }
  return { notes, invalid: gen !== null };
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

/**
 * The fields every measured run shares: status (error > invalid > ok), notes (failure first, then the
 * scenario's own, then the window's flags) and the broker/generator readings of the window.
 */
export function measuredResult(
  id: string,
  kind: RunResult["kind"],
  broker: RunningBroker,
  w: WindowReading,
  failure: string | null,
  notes: string[],
): RunResult {
  const flags = windowNotes(w);
  return {
    id,
    kind,
    broker: broker.def.id,
    status: failure !== null ? STATUS.error : flags.invalid ? STATUS.invalid : STATUS.ok,
    notes: [...(failure !== null ? [failure] : []), ...notes, ...flags.notes],
    measuredMs: Math.round(w.elapsedMs),
    brokerCpu: w.brokerCpu,
    brokerRssKb: w.rssKb,
    brokerPeakRssKb: w.peakKb,
    generatorCpu: w.generatorCpu,
    otherCpu: w.otherCpu,
    brokerWaited: w.brokerWaited,
    generatorWaited: w.generatorWaited,
    brokerHelperCpu: w.brokerHelperCpu,
    ...(w.brokerIo === undefined ? {} : { brokerIo: w.brokerIo }),
  };
}
