// Event-loop delay of a process pinned to one core while argon2id verifications run at a steady rate: no hashing,
// the libuv pool at normal priority (the old design), and the nice-19 worker threads (Argon2Verifier). The delay
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

const v = new Argon2Verifier({ threads: 1, maxWaiting: 256 });
await phase("no hashing", undefined);
await phase("libuv pool, normal priority (before)", () => verify(hash, pw));
await phase("nice-19 worker (after)", () => v.verify(hash, pw));
await phase("no hashing (again)", undefined);
v.close();
console.log(
  JSON.stringify({
    escalatedToPool: v.escalated,
    load: (await import("node:os")).loadavg().map((x) => +x.toFixed(2)),
  }),
);
