// The bench's own encoder and reader, checked against mqtt-packet (an independent implementation).
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import mqttPacket from "mqtt-packet";
import {
  PAYLOAD_HEADER,
  PROTOCOL,
  encodeConnect,
  encodePublishHeader,
  encodePuback,
  encodeSubscribe,
  varintBytes,
  type ProtocolLevel,
} from "../../../bench/lib/mqtt-packets.ts";
import { MalformedPacketError, PacketReader } from "../../../bench/lib/mqtt-reader.ts";
import { PublishBuilder } from "../../../bench/lib/publisher.ts";

function parseAll(buf: Buffer, protocolVersion: ProtocolLevel): Record<string, unknown>[] {
  const parser = mqttPacket.parser({ protocolVersion });
  const out: Record<string, unknown>[] = [];
  parser.on("packet", (p) => out.push(p as unknown as Record<string, unknown>));
  parser.on("error", (e) => {
    throw e;
  });
  parser.parse(buf);
  return out;
}

for (const protocol of [PROTOCOL.v311, PROTOCOL.v5]) {
  test(`CONNECT ${protocol} decodes as clean session, keep-alive 0, client id, receive maximum`, () => {
    const [p] = parseAll(encodeConnect({ clientId: "bench-1", protocol, receiveMaximum: 1000 }), protocol);
    assert.equal(p!.cmd, "connect");
    assert.equal(p!.clientId, "bench-1");
    assert.equal(p!.protocolVersion, protocol);
    assert.equal(p!.clean, true);
    assert.equal(p!.keepalive, 0);
    if (protocol === PROTOCOL.v5) assert.equal((p!.properties as { receiveMaximum: number }).receiveMaximum, 1000);
  });

  test(`SUBSCRIBE ${protocol} carries every filter with the requested QoS [MQTT-3.8.1-1]`, () => {
    const filters = ["a/+", "b/#", "+/c/#"];
    const [p] = parseAll(encodeSubscribe(7, filters, 1, protocol), protocol);
    assert.equal(p!.cmd, "subscribe");
    assert.equal(p!.messageId, 7);
    assert.deepEqual(
      (p!.subscriptions as { topic: string; qos: number }[]).map((s) => [s.topic, s.qos]),
      filters.map((f) => [f, 1]),
    );
  });

  test(`PUBLISH batches from PublishBuilder ${protocol} decode with topics, packet ids and stamped payloads`, () => {
    for (const qos of [0, 1] as const) {
      const seqs = new Uint32Array(2);
      const b = new PublishBuilder(
        [
          { topic: "t/one", streamId: 0, fanout: 1 },
          { topic: "t/two-longer", streamId: 1, fanout: 3 },
        ],
        qos,
        protocol,
        200, // two-byte remaining length
        seqs,
      );
      const buf = Buffer.concat([b.build(3, 12.5), b.build(2, 99)]);
      const packets = parseAll(buf, protocol);
      assert.equal(packets.length, 5);
      assert.deepEqual(
        packets.map((p) => p.topic),
        ["t/one", "t/two-longer", "t/one", "t/two-longer", "t/one"],
      );
      packets.forEach((p, i) => {
        const payload = p.payload as Buffer;
        assert.equal(payload.length, 200);
        assert.equal(p.qos, qos);
        if (qos === 1) assert.equal(p.messageId, i + 1);
        assert.equal(payload.readUInt32LE(PAYLOAD_HEADER.streamId), i % 2);
        assert.equal(payload.readUInt32LE(PAYLOAD_HEADER.seq), Math.floor(i / 2));
        assert.equal(payload.readDoubleLE(PAYLOAD_HEADER.sentAt), i < 3 ? 12.5 : 99);
      });
      assert.deepEqual([...seqs], [3, 2]);
      assert.equal(b.built, 5);
      assert.equal(b.expectedDeliveries, 3 * 1 + 2 * 3);
    }
  });
}

test("varint encoding matches the spec's boundaries (MQTT 1.5.5)", () => {
  assert.deepEqual(varintBytes(0), [0]);
  assert.deepEqual(varintBytes(127), [0x7f]);
  assert.deepEqual(varintBytes(128), [0x80, 0x01]);
  assert.deepEqual(varintBytes(16_383), [0xff, 0x7f]);
  assert.deepEqual(varintBytes(2_097_152), [0x80, 0x80, 0x80, 0x01]);
  assert.throws(() => varintBytes(268_435_456), RangeError);
});

test("PUBLISH header of a 4 KB payload at QoS 1 over 5.0 has packet id and empty properties in place", () => {
  const h = encodePublishHeader("x/y", 1, PROTOCOL.v5, 4096);
  assert.equal(h.packetSize, h.bytes.length + 4096);
  assert.equal(h.bytes[h.packetIdOffset + 2], 0); // property length 0
  assert.equal(encodePublishHeader("x/y", 0, PROTOCOL.v311, 100).packetIdOffset, -1);
});

/** Feeds `buf` to a PacketReader in pieces cut at the given offsets and records what it reports. */
function readInPieces(buf: Buffer, cuts: number[], protocol: ProtocolLevel): string[] {
  const seen: string[] = [];
  const reader = new PacketReader(protocol, {
    onPublish: (b, start, end, qos, id) =>
      seen.push(`pub q${qos} id${id} len${end - start} seq${b.readUInt32LE(start + PAYLOAD_HEADER.seq)}`),
    onControl: (type, _flags, b, start, end) => seen.push(`ctl ${type} ${b.subarray(start, end).toString("hex")}`),
  });
  let prev = 0;
  for (const c of [...cuts, buf.length]) {
    reader.feed(buf.subarray(prev, c));
    prev = c;
  }
  assert.equal(reader.buffered, 0);
  return seen;
}

for (const protocol of [PROTOCOL.v311, PROTOCOL.v5]) {
  test(`PacketReader ${protocol}: same packets whatever the chunk boundaries`, () => {
    const seqs = new Uint32Array(1);
    const pubs = new PublishBuilder([{ topic: "a/b", streamId: 0, fanout: 1 }], 1, protocol, 130, seqs).build(3, 0);
    const props = protocol === PROTOCOL.v5 ? { properties: { userProperties: { k: "v" } } } : {};
    // A broker PUBLISH with properties (5.0), then a PUBACK, a SUBACK and a QoS 0 PUBLISH.
    const fromBroker = mqttPacket.generate(
      {
        cmd: "publish",
        topic: "z",
        qos: 1,
        messageId: 9,
        payload: Buffer.alloc(20),
        dup: false,
        retain: false,
        ...props,
      },
      { protocolVersion: protocol },
    );
    const all = Buffer.concat([pubs, fromBroker, encodePuback(5), Buffer.from([0x90, 0x03, 0x00, 0x01, 0x01])]);
    const whole = readInPieces(all, [], protocol);
    assert.deepEqual(whole.slice(0, 4), [
      "pub q1 id1 len130 seq0",
      "pub q1 id2 len130 seq1",
      "pub q1 id3 len130 seq2",
      "pub q1 id9 len20 seq0",
    ]);
    assert.deepEqual(whole.slice(4), ["ctl 4 0005", "ctl 9 000101"]);
    for (let cut = 1; cut < all.length; cut++)
      assert.deepEqual(readInPieces(all, [cut], protocol), whole, `cut at ${cut}`);
    const everyByte = Array.from({ length: all.length - 1 }, (_, i) => i + 1);
    assert.deepEqual(readInPieces(all, everyByte, protocol), whole);
  });
}

test("PacketReader rejects a remaining length longer than 4 bytes", () => {
  const reader = new PacketReader(PROTOCOL.v311, { onPublish: () => undefined, onControl: () => undefined });
  assert.throws(() => reader.feed(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])), MalformedPacketError);
});

test("PublishBuilder without whole-packet templates (large topic sets) writes the same bytes via writeTo", async () => {
  const big = 3 * 1024 * 1024; // two topics x 3 MB exceed the template budget: header and payload copied apart
  const mk = (): PublishBuilder =>
    new PublishBuilder(
      [
        { topic: "a", streamId: 0, fanout: 1 },
        { topic: "b", streamId: 1, fanout: 1 },
      ],
      1,
      PROTOCOL.v5,
      big,
      new Uint32Array(2),
    );
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(c: Buffer, _e, cb) {
      chunks.push(Buffer.from(c));
      cb();
    },
  });
  const b = mk();
  b.writeTo(sink, 3, 5);
  await new Promise((r) => setImmediate(r));
  b.writeTo(sink, 1, 6); // reuses the pooled buffer
  const packets = parseAll(Buffer.concat(chunks), PROTOCOL.v5);
  assert.deepEqual(
    packets.map((p) => [p.topic, p.messageId, (p.payload as Buffer).readUInt32LE(PAYLOAD_HEADER.seq)]),
    [
      ["a", 1, 0],
      ["b", 2, 0],
      ["a", 3, 1],
      ["b", 4, 1],
    ],
  );
  assert.ok(packets.every((p) => (p.payload as Buffer).length === big));
});

test("persistent-session CONNECT: clean session 0 (3.1.1), clean start 0 + session expiry (5.0)", () => {
  const [v4] = parseAll(encodeConnect({ clientId: "p", protocol: PROTOCOL.v311, cleanStart: false }), PROTOCOL.v311);
  assert.equal(v4!.clean, false);
  const [v5] = parseAll(
    encodeConnect({ clientId: "p", protocol: PROTOCOL.v5, cleanStart: false, sessionExpiry: 3600, receiveMaximum: 9 }),
    PROTOCOL.v5,
  );
  assert.equal(v5!.clean, false);
  assert.deepEqual(v5!.properties, { receiveMaximum: 9, sessionExpiryInterval: 3600 });
});
