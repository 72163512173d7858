// How the TCP listener closes (src/transport/tcp): after a client's DISCONNECT the broker closes the socket at once
// (issue #10: no half-close, no wait for the client's FIN, as Mosquitto does), and what it wrote first still
// arrives; a server-initiated close still half-closes and waits for the client.
import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import { Decoder, PacketType, encode } from "../../../src/codec/index.ts";
import type { Packet } from "../../../src/codec/index.ts";
import { startBroker } from "../../helpers/broker.ts";
import { waitUntil } from "../../helpers/clients.ts";

/** A raw 3.1.1 client that keeps its own side open (allowHalfOpen) and records packets and the broker's FIN. */
function halfOpenClient(port: number): Promise<{ socket: net.Socket; packets: Packet[]; ended: () => boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true });
    const decoder = new Decoder({ protocolVersion: 4 });
    const packets: Packet[] = [];
    let ended = false;
    socket.on("data", (d: Buffer) => {
      decoder.push(d);
      for (let p = decoder.next(); p !== undefined; p = decoder.next()) packets.push(p);
    });
    socket.on("end", () => (ended = true));
    socket.once("error", reject);
    socket.once("connect", () => resolve({ socket, packets, ended: () => ended }));
  });
}

const connect = (clientId: string): Buffer =>
  encode(
    { type: PacketType.CONNECT, protocolName: "MQTT", protocolVersion: 4, clientId, clean: true, keepAlive: 60 },
    4,
  );

test("after DISCONNECT the broker closes its socket without waiting for the client's side; bytes written first arrive", async (t) => {
  const b = await startBroker({ sysInterval: 0 });
  t.after(() => b.close());
  const c = await halfOpenClient(b.port);
  t.after(() => c.socket.destroy());
  c.socket.write(connect("goodbye"));
  c.socket.write(encode({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: "t", qos: 0 }] }, 4));
  await waitUntil(() => c.packets.length === 2, 5000, "CONNACK and SUBACK");
  // A message to itself and the DISCONNECT in one write: the delivery is flushed before the socket closes.
  c.socket.write(
    Buffer.concat([
      encode(
        { type: PacketType.PUBLISH, topic: "t", payload: Buffer.from("last"), qos: 0, retain: false, dup: false },
        4,
      ),
      encode({ type: PacketType.DISCONNECT }, 4),
    ]),
  );
  await waitUntil(() => c.ended(), 5000, "the broker's FIN");
  const last = c.packets.at(-1);
  assert.equal(last?.type, PacketType.PUBLISH);
  assert.equal(last.type === PacketType.PUBLISH && last.payload.toString(), "last");
  // The client has not closed its side, yet the broker's socket is gone (no half-close waiting for the client).
  await waitUntil(
    () => b.listener.connections === 0,
    2000,
    "the broker's socket closed (the grace after a half-close is 5 s)",
  );
  assert.equal(c.socket.destroyed, false);
  assert.equal(c.socket.writable, true, "the client's side is still open");
});

test("a server-initiated close (refused CONNECT) half-closes and waits for the client: the CONNACK arrives", async (t) => {
  const b = await startBroker({ sysInterval: 0, allowAnonymous: false });
  t.after(() => b.close());
  const c = await halfOpenClient(b.port);
  t.after(() => c.socket.destroy());
  // More bytes right behind the refused CONNECT: a plain close with unread input would reset the connection.
  c.socket.write(Buffer.concat([connect("refused"), encode({ type: PacketType.PINGREQ }, 4)]));
  await waitUntil(() => c.ended(), 5000, "the broker's FIN");
  assert.equal(c.packets[0]?.type, PacketType.CONNACK);
  assert.equal(c.packets[0].type === PacketType.CONNACK && c.packets[0].reasonCode, 0x05);
  assert.equal(b.listener.connections, 1, "the broker waits for the client to close its side");
  c.socket.end();
  await waitUntil(() => b.listener.connections === 0, 5000, "closed once the client closed");
});
