// A bare Node net.Server that answers every CONNECT with a 3.1.1 CONNACK and closes on DISCONNECT: what Node's own
// socket machinery costs per connect, as a floor for the broker (bench/tools/storm-rounds.ts STORM_ROUNDS_SERVER=bare).
// Usage: node bench/tools/bare-connack.mjs <port>
import net from "node:net";

const CONNACK = Buffer.from([0x20, 2, 0, 0]);
const server = net.createServer({ noDelay: true }, (socket) => {
  void socket.remoteAddress; // getpeername at accept, as the broker's TCP adapter does
  socket.on("data", (d) => {
    if (d[0] === 0x10) socket.write(CONNACK);
    else if (d[0] === 0xe0) socket.destroy();
  });
  socket.on("error", () => {});
});
server.listen(Number(process.argv[2]), "127.0.0.1");
// Exit on SIGTERM (the harness's stop) so that --cpu-prof writes its profile.
process.on("SIGTERM", () => process.exit(0));
