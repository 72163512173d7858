// In-process code and MQTT clients on one broker: an in-process subscriber receives what a TCP client publishes,
// and the other way round. The MQTT side here is a minimal MQTT 3.1.1 client written with node:net (to keep the
// example free of other dependencies); any MQTT client works the same way.
import { connect } from "node:net";
import { once } from "node:events";
import { createBroker, type ReceivedMessage, type WharfBroker } from "wharfmq";

const broker: WharfBroker = await createBroker({ listeners: [{ host: "127.0.0.1", port: 0 }] });
const port = broker.listeners[0]!.port;

const str = (s: string): Buffer => Buffer.concat([Buffer.from([s.length >> 8, s.length & 0xff]), Buffer.from(s)]);
const packet = (type: number, body: Buffer): Buffer => Buffer.concat([Buffer.from([type, body.length]), body]);

const socket = connect(port, "127.0.0.1");
await once(socket, "connect");
const incoming: Buffer[] = [];
socket.on("data", (b: Buffer) => incoming.push(b));
// CONNECT (MQTT 3.1.1, clean session, keepalive 60), then SUBSCRIBE to "from-app" at QoS 0.
socket.write(packet(0x10, Buffer.concat([str("MQTT"), Buffer.from([4, 2, 0, 60]), str("example-client")])));
socket.write(packet(0x82, Buffer.concat([Buffer.from([0, 1]), str("from-app"), Buffer.from([0])])));

const fromMqtt = broker.subscribe("from-mqtt");
const waitForSuback = async (): Promise<void> => {
  while (!Buffer.concat(incoming).includes(0x90)) await new Promise((r) => setTimeout(r, 10));
};
await waitForSuback();

// MQTT client -> in-process subscriber.
socket.write(packet(0x30, Buffer.concat([str("from-mqtt"), Buffer.from("hello from tcp")])));
const first: ReceivedMessage = (await fromMqtt[Symbol.asyncIterator]().next()).value as ReceivedMessage;
console.log(`in-process got: ${first.text()}`);

// In-process publisher -> MQTT client.
await broker.publish("from-app", "hello from the app");
while (!Buffer.concat(incoming).includes("hello from the app")) await new Promise((r) => setTimeout(r, 10));
console.log("mqtt client got: hello from the app");

socket.end(Buffer.from([0xe0, 0])); // DISCONNECT
await broker.close();

// prints: in-process got: hello from tcp
// prints: mqtt client got: hello from the app
