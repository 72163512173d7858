// Bare Node on libuv's TCP handles, without net.Socket (what src/transport/tcp/raw.ts does): answers every CONNECT
// with a 3.1.1 CONNACK and closes on DISCONNECT. The floor of the raw transport, beside bare-connack.mjs (the floor
// of net.Socket). Usage: STORM_ROUNDS_SERVER=bench/tools/raw-connack.mjs node --import tsx bench/tools/storm-rounds.ts
import net from "node:net";

const { streamBaseState, kReadBytesOrError, WriteWrap } = process.binding("stream_wrap");
const CONNACK = Buffer.from([0x20, 2, 0, 0]);
function noop() {}
function onread(ab) {
  const n = streamBaseState[kReadBytesOrError];
  if (n < 0) {
    this.close(noop);
    return;
  }
  const d = new Uint8Array(ab);
  if (d[0] === 0x10) {
    const req = new WriteWrap();
    req.handle = this;
    req.oncomplete = noop;
    this.writeBuffer(req, CONNACK);
  } else if (d[0] === 0xe0) this.close(noop);
}
const server = net.createServer({ noDelay: true });
server.listen(Number(process.argv[2]), "127.0.0.1", () => {
  server._handle.setNoDelay?.(true); // inherited by accepted sockets (Linux)
  server._handle.onconnection = (err, h) => {
    if (err) return;
    const peer = {};
    h.getpeername(peer); // as the broker's raw transport does at accept
    h.onread = onread;
    h.readStart();
  };
});
// Exit on SIGTERM (the harness's stop) so that --cpu-prof writes its profile.
process.on("SIGTERM", () => process.exit(0));
