// Event-loop delay of a process pinned to one core while argon2id verifications run at a steady rate: no hashing,
// the libuv pool at normal priority (the first design), and Argon2Verifier's worker threads at nice 19 (the second)
// and under SCHED_IDLE (the default since stop 12, auth.hashPriority: idle). The delay
// a timer sees is what every client of a pinned broker waits on top of its own work (issue #14 target: QoS 1 p99
// + <= 1 ms at ~77 verifications/s). Run pinned: taskset -c 0 node --import tsx bench/security/hash-lag.ts
//   [--seconds 5] [--rate 77]
import { monitorEventLoopDelay } from "node:perf_hooks";
import { verify } from "@node-rs/argon2";
import { Argon2Verifier } from "../../src/server/auth/argon2-verifier.ts";
import { hashPassword } from "../../src/server/auth/index.ts";
import { flagValue } from "../lib/args.ts";

const num = (name: string, d: number): number => Number(flagValue(process.argv, name, String(d)));
const SECONDS = num("seconds", 5);
const RATE = num("rate", 77);
const hash = await hashPassword("pw");
const pw = Buffer.from("pw");

async function phase(name: string, run: (() => Promise<unknown>) | undefined): Promise<void> {
  // A little work per millisecond, like a broker at a steady message rate, so the loop is not only idle.
  const busy = setInterval(() => {
    const until = performance.now() + 0.2;
    while (performance.now() < until);
  }, 1);
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  let done = 0;
  let refused = 0;
  const end = Date.now() + SECONDS * 1000;
  const ticker =
    run === undefined
      ? undefined
      : setInterval(
          () =>
            void run().then(
              () => done++,
              () => refused++,
            ),
          1000 / RATE,
        );
  while (Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  if (ticker !== undefined) clearInterval(ticker);
  clearInterval(busy);
  h.disable();
  const ms = (ns: number) => +(ns / 1e6).toFixed(3);
  console.log(
    JSON.stringify({
      phase: name,
      verifiedPerSec: +(done / SECONDS).toFixed(1),
      refused,
      lagP50Ms: ms(h.percentile(50)),
      lagP99Ms: ms(h.percentile(99)),
      lagP999Ms: ms(h.percentile(99.9)),
      lagMaxMs: ms(h.max),
    }),
  );
  await new Promise((r) => setTimeout(r, 1000)); // let stragglers finish before the next phase
}

const nice = new Argon2Verifier({ threads: 1, maxWaiting: 256, priority: "nice" });
const idle = new Argon2Verifier({ threads: 1, maxWaiting: 256, priority: "idle" });
console.log(JSON.stringify({ idleWorker: await idle.workerScheduling(), niceWorker: await nice.workerScheduling() }));
await phase("no hashing", undefined);
await phase("libuv pool, normal priority (first design)", () => verify(hash, pw));
await phase("nice-19 worker (hashPriority: nice)", () => nice.verify(hash, pw));
await phase("SCHED_IDLE worker (hashPriority: idle, default)", () => idle.verify(hash, pw));
await phase("no hashing (again)", undefined);
nice.close();
idle.close();
console.log(
  JSON.stringify({
    escalatedToPool: { nice: nice.escalated, idle: idle.escalated },
    load: (await import("node:os")).loadavg().map((x) => +x.toFixed(2)),
  }),
);
