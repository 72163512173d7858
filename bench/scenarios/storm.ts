// Connection storm: open N MQTT connections (CONNECT -> CONNACK, `stormConcurrency` at a time) as
// fast as possible, then hold them idle and read the broker's VmRSS: per-connection memory is
// (RSS after holding N idle connections - RSS before) / N.

import type { RunningBroker } from "../brokers/index.ts";
import type { BenchClient } from "../lib/client.ts";
import { processMemory, tcpExtCounter } from "../lib/proc-stats.ts";
import type { RunSpec } from "./catalog.ts";
import { WindowMeters, closeAll, connectMany, measuredResult, runFailure, runTag, sleep } from "./common.ts";
import type { RunResult } from "./result.ts";
import type { Timing } from "./settings.ts";

type StormSpec = Extract<RunSpec, { kind: "storm" }>;

export async function runStorm(spec: StormSpec, broker: RunningBroker, timing: Timing): Promise<RunResult> {
  const tag = runTag();
  let clients: BenchClient[] = [];
  try {
    await sleep(300); // let a freshly started broker settle before the baseline reading
    const before = processMemory(broker.proc.pid).rssKb;
    const meters = new WindowMeters(broker.proc.pid);
    const overflows0 = tcpExtCounter("ListenOverflows");
    meters.start();
    const ids = Array.from({ length: spec.connections }, (_, i) => `${tag}-c${i}`);
    clients = await connectMany(broker, spec.protocol, ids, timing.stormConcurrency, 0);
    const window = meters.stop();
    const overflows = tcpExtCounter("ListenOverflows") - overflows0;
    await sleep(timing.stormHoldMs);
    const after = processMemory(broker.proc.pid);
    const stillOpen = clients.filter((c) => !c.closed).length;

    const failure = runFailure(broker, clients);
    const notes: string[] = [];
    if (overflows > 0) notes.push(`listen backlog overflowed ${overflows}× (SYNs dropped and retried)`);
    if (stillOpen < clients.length)
      notes.push(`${clients.length - stillOpen} idle connections were dropped by the broker`);
    return {
      ...measuredResult(spec.id, "storm", broker, window, failure, notes),
      storm: {
        connections: spec.connections,
        connected: clients.length,
        connectsPerSec: clients.length / (window.elapsedMs / 1000),
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
    await closeAll(clients);
  }
}
