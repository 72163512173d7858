// Connection storm: open N MQTT connections (CONNECT -> CONNACK, `stormConcurrency` at a time) as
// fast as possible, then hold them idle and read the broker's VmRSS: per-connection memory is
// (RSS after holding N idle connections - RSS before) / N.
// Connections here are bare sockets (no reader, no per-connection timer): at 20,000 connects/s the
// generator's own per-connection cost decides whether it or the broker sets the pace.

import net from "node:net";
import type { RunningBroker } from "../brokers/index.ts";
import { DISCONNECT, encodeConnect, type ProtocolLevel } from "../lib/mqtt-packets.ts";
import { processMemory, tcpExtCounter } from "../lib/proc-stats.ts";
import type { RunSpec } from "./catalog.ts";
import { WindowMeters, measuredResult, runTag, sleep } from "./common.ts";
import type { RunResult } from "./result.ts";
import type { Timing } from "./settings.ts";

type StormSpec = Extract<RunSpec, { kind: "storm" }>;

const PHASE_TIMEOUT_MS = 60_000;

interface IdleConnection {
  socket: net.Socket;
  closed: boolean;
}

/** CONNECT written before the TCP handshake completes (Node queues it), resolved on a successful CONNACK. */
function openIdle(port: number, clientId: string, protocol: ProtocolLevel): Promise<IdleConnection> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: "127.0.0.1", noDelay: true });
    const conn: IdleConnection = { socket, closed: false };
    socket.once("data", (d: Buffer) => {
      // CONNACK: type 2; the return / reason code is the 4th byte in both 3.1.1 and 5.0.
      if (d[0] === 0x20 && d[3] === 0) resolve(conn);
      else reject(new Error(`${clientId}: no successful CONNACK (got ${d.subarray(0, 4).toString("hex")})`));
    });
    socket.on("error", (err) => reject(new Error(`${clientId}: ${err.message}`)));
    socket.once("close", () => {
      conn.closed = true;
      reject(new Error(`${clientId}: closed by the broker before CONNACK`));
    });
    socket.write(encodeConnect({ clientId, protocol }));
  });
}

async function openAll(port: number, protocol: ProtocolLevel, ids: readonly string[], concurrency: number) {
  const out: IdleConnection[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < ids.length) out.push(await openIdle(port, ids[next++]!, protocol));
  };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`storm: not connected after ${PHASE_TIMEOUT_MS / 1000} s`)),
      PHASE_TIMEOUT_MS,
    );
  });
  try {
    await Promise.race([Promise.all(Array.from({ length: Math.min(concurrency, ids.length) }, worker)), timeout]);
  } catch (err) {
    for (const c of out) c.socket.destroy();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return out;
}

/** DISCONNECT everything, give the broker a moment to close its side, then destroy what is left. */
async function closeIdle(conns: readonly IdleConnection[]): Promise<void> {
  for (const c of conns) if (!c.closed) c.socket.end(DISCONNECT);
  const deadline = Date.now() + 3000;
  while (conns.some((c) => !c.closed) && Date.now() < deadline) await sleep(20);
  for (const c of conns) c.socket.destroy();
}

export async function runStorm(spec: StormSpec, broker: RunningBroker, timing: Timing): Promise<RunResult> {
  const tag = runTag();
  let conns: IdleConnection[] = [];
  try {
    await sleep(300); // let a freshly started broker settle before the baseline reading
    const before = processMemory(broker.proc.pid).rssKb;
    const meters = new WindowMeters(broker.proc.pid);
    const overflows0 = tcpExtCounter("ListenOverflows");
    const ids = Array.from({ length: spec.connections }, (_, i) => `${tag}-c${i}`);
    meters.start();
    conns = await openAll(broker.port, spec.protocol, ids, timing.stormConcurrency);
    const window = meters.stop();
    const overflows = tcpExtCounter("ListenOverflows") - overflows0;
    await sleep(timing.stormHoldMs);
    const after = processMemory(broker.proc.pid);
    const stillOpen = conns.filter((c) => !c.closed).length;

    const failure = broker.proc.exit !== null ? `broker exited during the run (${broker.proc.exit})` : null;
    const notes: string[] = [];
    if (overflows > 0) notes.push(`listen backlog overflowed ${overflows}× (SYNs dropped and retried)`);
    if (stillOpen < conns.length) notes.push(`${conns.length - stillOpen} idle connections were dropped by the broker`);
    return {
      ...measuredResult(spec.id, "storm", broker, window, failure, notes),
      storm: {
        connections: spec.connections,
        connected: conns.length,
        connectsPerSec: conns.length / (window.elapsedMs / 1000),
        rssBeforeKb: before,
        rssAfterKb: after.rssKb,
        rssPerConnectionKb: (after.rssKb - before) / spec.connections,
        stillOpen,
      },
      // Memory after the idle hold, not at the end of the connect phase.
      brokerRssKb: after.rssKb,
      brokerPeakRssKb: after.peakKb,
    };
  } finally {
    await closeIdle(conns);
  }
}
