// The connect storm of auth-bench.ts's latency phase, in its own process so that its event-loop stalls do not land
// in the probe's round trips. Driven over IPC: {go: port} starts 8 loops of first-time logins (distinct users u0..uN-1,
// the broker's cache is off), "stop" ends them and answers with the number of accepted CONNACKs.
//   node --import tsx bench/security/auth-storm.ts <users>   (spawned by auth-bench.ts with an IPC channel)
import { connackLoop } from "./connack-loop.ts";

const users = Number(process.argv[2]);
let running: Promise<unknown> | undefined;
let stopAt = Number.POSITIVE_INFINITY;
const counts = { ok: 0, bad: 0 };
let next = 0;

process.on("message", (m) => {
  if (typeof m === "object" && m !== null && "go" in m) {
    const port = Number(m.go);
    counts.ok = 0;
    counts.bad = 0;
    stopAt = Number.POSITIVE_INFINITY;
    running = Promise.all(
      Array.from({ length: 8 }, async () => {
        while (Date.now() < stopAt) {
          const u = next++ % users;
          await connackLoop(port, `u${u}`, `pw${u}`, Date.now() + 1, counts);
        }
      }),
    );
    process.send?.(0);
  } else if (m === "stop") {
    stopAt = 0;
    void running?.then(() => process.send?.(counts.ok));
  }
});
process.on("disconnect", () => process.exit(0));
process.send?.(0);
