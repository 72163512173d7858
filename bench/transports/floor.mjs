// The floor under Wharf in `npm run bench:transports`: bare Node servers doing the least a broker must do, so that
// Wharf's own cost per handshake / per request is what it spends above these.
//  - tls: tls.createServer with Wharf's TLS listener options (same certificate, ALPN "mqtt", 10 s handshake
//    timeout), reading and discarding whatever arrives; no MQTT.
//  - http: http.createServer with the HTTP bridge's timeouts, reading the body and answering 202 with the same
//    JSON as the bridge; no MQTT, nothing published.
// Usage: node bench/transports/floor.mjs <tls-port> <http-port> <cert.pem> <key.pem>
import { readFileSync } from "node:fs";
import http from "node:http";
import tls from "node:tls";

const [tlsPort, httpPort, cert, key] = process.argv.slice(2);
const t = tls.createServer({
  cert: readFileSync(cert),
  key: readFileSync(key),
  ALPNProtocols: ["mqtt"],
  handshakeTimeout: 10_000,
});
t.on("secureConnection", (s) => {
  s.setNoDelay(true);
  s.on("data", () => {});
  s.on("error", () => {});
});
t.listen(Number(tlsPort), "127.0.0.1");

const h = http.createServer((req, res) => {
  const parts = [];
  req.on("data", (c) => parts.push(c));
  req.on("end", () => {
    const bytes = Buffer.concat(parts).length;
    const text = JSON.stringify({ topic: req.url.slice(8).split("?")[0], qos: 0, retain: false, bytes });
    res.writeHead(202, {
      "content-type": "application/json; charset=utf-8",
      "content-length": Buffer.byteLength(text),
    });
    res.end(text);
  });
});
h.headersTimeout = 10_000;
h.requestTimeout = 60_000;
h.keepAliveTimeout = 5_000;
h.listen(Number(httpPort), "127.0.0.1");
process.on("SIGTERM", () => process.exit(0));
