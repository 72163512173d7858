// TCP_NODELAY on the broker's accepted sockets (src/transport/tcp): on Linux it is set once on the listening socket
// and inherited by every accepted one, instead of a setsockopt per connection (issue #10). The option is read from
// the broker's own sockets in this process: a python3 child duplicates them with pidfd_getfd(2) and asks the kernel.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import net from "node:net";
import { test } from "node:test";
import { PacketType, encode } from "../../../src/codec/index.ts";
import { startBroker } from "../../helpers/broker.ts";
import { waitUntil } from "../../helpers/clients.ts";

// Prints one line per TCP socket of process argv[1] bound to port argv[2]: "<peer port or listen> <TCP_NODELAY>".
const PROBE = `
import ctypes, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
pid, port = int(sys.argv[1]), int(sys.argv[2])
pidfd = libc.syscall(434, pid, 0)  # pidfd_open
if pidfd < 0: sys.exit("pidfd_open: errno %d" % ctypes.get_errno())
for name in os.listdir("/proc/%d/fd" % pid):
    try:
        if not os.readlink("/proc/%d/fd/%s" % (pid, name)).startswith("socket:"): continue
    except OSError:
        continue
    fd = libc.syscall(438, pidfd, int(name), 0)  # pidfd_getfd
    if fd < 0: sys.exit("pidfd_getfd: errno %d" % ctypes.get_errno())
    s = socket.socket(fileno=fd)
    try:
        if s.family == socket.AF_INET and s.type == socket.SOCK_STREAM and s.getsockname()[1] == port:
            try: peer = str(s.getpeername()[1])
            except OSError: peer = "listen"
            print(peer, s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    finally:
        s.close()
`;

test("TCP_NODELAY is on for the listening socket and for every accepted one (Linux: inherited from the listener)", async (t) => {
  if (process.platform !== "linux") {
    t.skip("pidfd_getfd(2) is Linux only");
    return;
  }
  const b = await startBroker({ sysInterval: 0 });
  t.after(() => b.close());
  const sockets: net.Socket[] = [];
  t.after(() => sockets.forEach((s) => s.destroy()));
  const acked: number[] = [];
  for (let i = 0; i < 3; i++) {
    const s = net.connect(b.port, "127.0.0.1");
    sockets.push(s);
    await new Promise<void>((r) => s.once("connect", () => r()));
    s.on("data", (d: Buffer) => {
      if (d[0] === 0x20) acked.push(i); // CONNACK
    });
    s.write(
      encode(
        {
          type: PacketType.CONNECT,
          protocolName: "MQTT",
          protocolVersion: 4,
          clientId: `nd${i}`,
          clean: true,
          keepAlive: 60,
        },
        4,
      ),
    );
  }
  await waitUntil(() => acked.length === 3, 5000, "3 CONNACKs");
  const out = execFileSync("/usr/bin/python3", ["-c", PROBE, String(process.pid), String(b.port)], {
    encoding: "utf8",
  });
  const seen = new Map(
    out
      .trim()
      .split("\n")
      .map((l) => l.split(" ") as [string, string]),
  );
  assert.equal(seen.get("listen"), "1", `the listening socket: ${out}`);
  for (const s of sockets)
    assert.equal(seen.get(String(s.localPort)), "1", `accepted socket of ${s.localPort}: ${out}`);
});
