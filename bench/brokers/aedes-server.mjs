// Aedes 1.x on a plain TCP listener, for the bench harness.
// Usage: node bench/brokers/aedes-server.mjs <port> [host]
// Aedes 1.x removed the default export: brokers are built with `await Aedes.createBroker()`.
import net from "node:net";
import { Aedes } from "aedes";

const port = Number(process.argv[2]);
const host = process.argv[3] ?? "127.0.0.1";
if (!Number.isInteger(port) || port <= 0 || port === 1883) {
  console.error("usage: aedes-server.mjs <port> [host]  (never 1883)");
  process.exit(2);
}

const broker = await Aedes.createBroker();
// noDelay matches the other brokers (Mosquitto runs with set_tcp_nodelay true).
const server = net.createServer({ noDelay: true }, broker.handle);
server.listen(port, host, () => {
  console.log(JSON.stringify({ msg: "listening", host, port, aedes: broker.version }));
});

const stop = () => {
  server.close();
  broker.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
