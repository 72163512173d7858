// CPU per chunk of writing K small chunks per write() to a loopback TCP socket, corked (N socket.write() calls, one
// writev) against concatenated (one Buffer.concat, one write): what src/transport/tcp/index.ts chooses between.
// Both ends run in this process, so the figure includes the reader. Usage:
//   node bench/tools/socket-writes.mjs [K=20] [bytes=100] [writes=200000]
import net from "node:net";

const K = Number(process.argv[2] ?? 20);
const SIZE = Number(process.argv[3] ?? 100);
const WRITES = Number(process.argv[4] ?? 200_000);

function run(mode) {
  return new Promise((resolve) => {
    const srv = net
      .createServer((s) => s.on("data", () => {}))
      .listen(0, "127.0.0.1", () => {
        const c = net.connect(srv.address().port, "127.0.0.1", () => {
          c.setNoDelay(true);
          const chunks = Array.from({ length: K }, (_, i) => Buffer.alloc(SIZE, i));
          let n = 0;
          const t0 = process.cpuUsage();
          const tick = () => {
            for (let r = 0; r < 10; r++, n++) {
              if (mode === "corked") {
                c.cork();
                for (const x of chunks) c.write(x);
                c.uncork();
              } else c.write(Buffer.concat(chunks));
            }
            if (n < WRITES / 10) return void setImmediate(tick);
            const u = process.cpuUsage(t0);
            c.destroy();
            srv.close();
            resolve(((u.user + u.system) * 1000) / (n * K));
          };
          tick();
        });
      });
  });
}

for (let round = 1; round <= 3; round++) {
  const corked = await run("corked");
  const concat = await run("concatenated");
  console.log(
    `round ${round}: ${K} chunks of ${SIZE} B per write: corked ${corked.toFixed(0)} ns, concatenated ${concat.toFixed(0)} ns CPU per chunk`,
  );
}
