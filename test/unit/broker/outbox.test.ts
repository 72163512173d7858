// A connection's turn of output assembled at the flush (src/broker/outbox.ts): the bytes equal what encode() makes
// of each packet, in order, in one Buffer; only large payloads stay chunks of their own.
import assert from "node:assert/strict";
import { test } from "node:test";
import { PacketType, PreparedPublish, encode } from "../../../src/codec/index.ts";
import type { ProtocolVersion } from "../../../src/codec/index.ts";
import { OutPublish, SPLIT_PAYLOAD_BYTES, assemble, shortAck } from "../../../src/broker/outbox.ts";
import type { OutItem } from "../../../src/broker/outbox.ts";
import { PacketType as PT } from "../../../src/codec/types.ts";
import { harness, tick } from "./harness.ts";

const prepared = (payload: Buffer, properties?: PreparedPublish["properties"]): PreparedPublish =>
  new PreparedPublish({ topic: "a/b", payload, properties });

const out = (p: PreparedPublish, packetId: number, extra: Partial<OutPublish> = {}): OutPublish =>
  new OutPublish(
    p,
    1,
    extra.retain ?? false,
    extra.dup ?? false,
    packetId,
    extra.subscriptionIdentifiers,
    extra.messageExpiryInterval,
    extra.topicAlias,
    extra.omitTopic,
  );

/** encode() of the QoS 1 PUBLISH of "a/b" that out() describes. */
const publishBytes = (payload: Buffer, packetId: number, dup: boolean, v: ProtocolVersion): Buffer =>
  encode({ type: PT.PUBLISH, topic: "a/b", payload, qos: 1, retain: false, dup, packetId }, v);

function sizes(items: OutItem[], v: ProtocolVersion): { total: number; apart: number } {
  let total = 0;
  let apart = 0;
  for (const it of items) {
    if (typeof it === "number") total += 4;
    else if (it instanceof OutPublish) {
      total += it.prepared.encodedLength(v, it);
      if (it.prepared.payloadAtLeast(SPLIT_PAYLOAD_BYTES)) apart += it.prepared.payload.length;
    } else {
      total += it.length;
      if (it.length >= SPLIT_PAYLOAD_BYTES) apart += it.length;
    }
  }
  return { total, apart };
}

for (const v of [4, 5] as const) {
  test(`v${v}: short acknowledgements, PUBLISHes and encoded packets come out as encode() makes them, in one Buffer`, () => {
    const p = prepared(Buffer.from("hello"));
    const pingresp = encode({ type: PacketType.PINGRESP }, v);
    const items: OutItem[] = [
      shortAck(0x40, 1),
      out(p, 7),
      shortAck(0x50, 0x1234),
      pingresp,
      out(p, 8, { dup: true }),
      shortAck(0x62, 65535),
      shortAck(0x70, 300),
    ];
    const { total, apart } = sizes(items, v);
    const chunks = assemble(items, total, apart, v);
    assert.equal(chunks.length, 1, "one chunk");
    const expected = Buffer.concat([
      encode({ type: PT.PUBACK, packetId: 1 }, v),
      publishBytes(Buffer.from("hello"), 7, false, v),
      encode({ type: PT.PUBREC, packetId: 0x1234 }, v),
      pingresp,
      publishBytes(Buffer.from("hello"), 8, true, v),
      encode({ type: PT.PUBREL, packetId: 65535 }, v),
      encode({ type: PT.PUBCOMP, packetId: 300 }, v),
    ]);
    assert.deepEqual(chunks[0], expected);
  });
}

test("v5: per-subscriber properties (alias, expiry, subscription identifiers) and the message's own are encoded at the flush as encode() does", () => {
  const p = prepared(Buffer.from("x"), { contentType: "text/plain", userProperties: [["k", "v"]] });
  const o = out(p, 9, { topicAlias: 3, messageExpiryInterval: 60, subscriptionIdentifiers: [1, 200] });
  const chunks = assemble([o], p.encodedLength(5, o), 0, 5);
  const expected = encode(
    {
      type: PT.PUBLISH,
      topic: "a/b",
      payload: Buffer.from("x"),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 9,
      properties: {
        topicAlias: 3,
        messageExpiryInterval: 60,
        subscriptionIdentifiers: [1, 200],
        contentType: "text/plain",
        userProperties: [["k", "v"]],
      },
    },
    5,
  );
  assert.deepEqual(Buffer.concat(chunks), expected);
});

test("a large payload is a chunk of its own, not copied; what surrounds it is copied around it", () => {
  const big = Buffer.alloc(SPLIT_PAYLOAD_BYTES, 7);
  const p = prepared(big);
  const items: OutItem[] = [shortAck(0x40, 1), out(p, 2), shortAck(0x40, 3)];
  const { total, apart } = sizes(items, 4);
  const chunks = assemble(items, total, apart, 4);
  assert.equal(chunks.length, 3);
  assert.equal(chunks[1], big, "the payload itself");
  assert.deepEqual(
    Buffer.concat(chunks),
    Buffer.concat([
      encode({ type: PT.PUBACK, packetId: 1 }, 4),
      publishBytes(big, 2, false, 4),
      encode({ type: PT.PUBACK, packetId: 3 }, 4),
    ]),
  );
});

test("a size that does not match what was counted is refused rather than sent as garbage", () => {
  assert.throws(() => assemble([shortAck(0x40, 1)], 5, 0, 4), /assembled 4 bytes, counted 5/);
});

test("shortAck refuses packet identifiers outside 1..65535 (the caller then encodes, which throws)", () => {
  assert.equal(shortAck(0x40, 0), -1);
  assert.equal(shortAck(0x40, 65536), -1);
  assert.equal(shortAck(0x40, 1.5), -1);
  assert.equal(shortAck(0x40, 65535), (0x40 << 16) | 65535);
});

test("a turn's QoS 1 deliveries and acknowledgements to one connection are one write of one chunk", async () => {
  const h = harness();
  const sub = await h.connect({ clientId: "s" });
  await sub.client.subscribe("t", 1);
  const before = sub.client.transport.writes.length;
  for (let i = 0; i < 3; i++) await h.broker.publish({ topic: "t", payload: `m${i}`, qos: 1 });
  await tick();
  const writes = sub.client.transport.writes.slice(before);
  assert.equal(writes.length, 1, "one write");
  assert.equal(writes[0]!.length, 1, "of one chunk");
  const got = sub.client.take();
  assert.deepEqual(
    got.map((p) => (p.type === PT.PUBLISH ? p.payload.toString() : p.type)),
    ["m0", "m1", "m2"],
  );
});
