// Aedes 1.x over WebSocket (the `ws` package, subprotocol mqtt, path /mqtt), for bench/transports.
// Usage: node bench/brokers/aedes-ws-server.mjs <port> [host]
import http from "node:http";
import { Aedes } from "aedes";
import { WebSocketServer, createWebSocketStream } from "ws";

const port = Number(process.argv[2]);
const host = process.argv[3] ?? "127.0.0.1";
if (!Number.isInteger(port) || port <= 0 || port === 1883) {
  console.error("usage: aedes-ws-server.mjs <port> [host]  (never 1883)");
  process.exit(2);
}

const broker = await Aedes.createBroker();
const server = http.createServer();
const wss = new WebSocketServer({ server, path: "/mqtt", perMessageDeflate: false });
wss.on("connection", (ws) => broker.handle(createWebSocketStream(ws)));
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
