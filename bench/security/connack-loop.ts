// One raw MQTT 3.1.1 client that loops TCP connect -> CONNECT (user name + password) -> CONNACK -> DISCONNECT until
// `until` (ms since the epoch), counting accepted and refused CONNACKs. Shared by auth-bench.ts and auth-storm.ts.
import { connect, type Socket } from "node:net";
import { encode, PacketType } from "../../src/codec/index.ts";

export function connackLoop(
  port: number,
  user: string,
  pass: string,
  until: number,
  counts: { ok: number; bad: number },
) {
  const connectPkt = encode(
    {
      type: PacketType.CONNECT,
      protocolName: "MQTT",
      protocolVersion: 4,
      clean: true,
      keepAlive: 0,
      clientId: `${user}-c`,
      username: user,
      password: Buffer.from(pass),
    },
    4,
  );
  const disconnectPkt = encode({ type: PacketType.DISCONNECT }, 4);
  return (async () => {
    while (Date.now() < until) {
      const s: Socket = connect(port, "127.0.0.1");
      s.setNoDelay(true);
      s.on("error", () => undefined);
      await new Promise<void>((r) => s.once("connect", () => r()));
      s.write(connectPkt);
      const code = await new Promise<number>((r) => {
        s.once("data", (d: Buffer) => r(d[3] ?? -1));
        s.once("close", () => r(-1));
      });
      if (code === 0) counts.ok++;
      else counts.bad++;
      s.end(disconnectPkt);
    }
  })();
}
