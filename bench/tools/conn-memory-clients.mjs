// Load for conn-memory.ts: opens N connections, each sends one CONNECT, reports when all got an answer.
import net from "node:net";
const [port, n] = process.argv.slice(2).map(Number);
let ok = 0;
const socks = [];
function connect(i) {
  const id = `c${i}`;
  const body = Buffer.concat([Buffer.from([0, 4, 77, 81, 84, 84, 4, 2, 0, 60, 0, id.length]), Buffer.from(id)]);
  const pkt = Buffer.concat([Buffer.from([0x10, body.length]), body]);
  const s = net.connect(port, "127.0.0.1", () => s.write(pkt));
  s.once("data", () => {
    ok++;
    if (ok === n) process.send("done");
    else if (i + 50 < n) {
    }
  });
  socks.push(s);
}
let i = 0;
function batch() {
  for (let k = 0; k < 200 && i < n; k++) connect(i++);
  if (i < n) setTimeout(batch, 5);
}
batch();
