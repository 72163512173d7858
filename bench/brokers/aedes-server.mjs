// Aedes 1.x for the bench harness: a plain TCP listener, or with --ws MQTT over WebSocket (the `ws` package,
// subprotocol mqtt, path /mqtt; bench/transports).
// Usage: node bench/brokers/aedes-server.mjs <port> [host] [--ws]
// Aedes 1.x removed the default export: brokers are built with `await Aedes.createBroker()`.
import http from "node:http";
import net from "node:net";
import { Aedes } from "aedes";
import { WebSocketServer, createWebSocketStream } from "ws";

const args = process.argv.slice(2).filter((a) => a !== "--ws");
const overWs = process.argv.includes("--ws");
const port = Number(args[0]);
const host = args[1] ?? "127.0.0.1";
if (!Number.isInteger(port) || port <= 0 || port === 1883) {
  console.error("usage: aedes-server.mjs <port> [host] [--ws]  (never 1883)");
  process.exit(2);
}

const broker = await Aedes.createBroker();
let server;
if (overWs) {
  server = http.createServer();
  const wss = new WebSocketServer({ server, path: "/mqtt", perMessageDeflate: false });
  wss.on("connection", (ws) => broker.handle(createWebSocketStream(ws)));
} else {
  // noDelay matches the other brokers (Mosquitto runs with set_tcp_nodelay true).
  server = net.createServer({ noDelay: true }, broker.handle);
}
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
