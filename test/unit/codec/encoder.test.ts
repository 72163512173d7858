import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EncodeError, encode, encodeInto, encodedLength, isValidUtf8MqttString } from "../../../src/codec/index.ts";
import type { Packet } from "../../../src/codec/index.ts";
import { Rng, randomPacket } from "../../helpers/codec-random.ts";

describe("encoder", () => {
  it("encodeInto writes the same bytes as encode at any offset and returns the length", () => {
    const rng = new Rng(8);
    for (let i = 0; i < 500; i++) {
      const v = rng.pick([3, 4, 5] as const);
      const p = randomPacket(rng, v);
      const want = encode(p, v);
      const buf = Buffer.alloc(want.length + 20, 0xee);
      const off = rng.int(20);
      assert.equal(encodeInto(p, v, buf, off), want.length);
      assert.deepEqual(buf.subarray(off, off + want.length), want);
      assert.equal(buf[off + want.length] ?? 0xee, 0xee, "nothing written past the packet");
      assert.equal(encodedLength(p, v), want.length);
    }
  });

  it("encodeInto refuses a buffer that is too small, before writing", () => {
    const p: Packet = { type: 12 };
    assert.throws(() => encodeInto(p, 4, Buffer.alloc(1), 0), RangeError);
    assert.throws(() => encodeInto(p, 4, Buffer.alloc(4), 3), RangeError);
  });

  it("remaining length uses 1 to 4 bytes at the boundaries 127/128, 16383/16384, 2097151/2097152", () => {
    for (const [payloadLen, headerLen] of [
      [127 - 3, 2],
      [128 - 3, 3],
      [16383 - 3, 3],
      [16384 - 3, 4],
      [2097151 - 3, 4],
      [2097152 - 3, 5],
    ] as const) {
      const p: Packet = { type: 3, dup: false, qos: 0, retain: false, topic: "t", payload: Buffer.alloc(payloadLen) };
      const bytes = encode(p, 4);
      assert.equal(bytes.length, headerLen + payloadLen + 3);
    }
  });

  it("multi-byte UTF-8 strings get their byte length, not their character count", () => {
    const p: Packet = { type: 3, dup: false, qos: 0, retain: false, topic: "é€😀", payload: Buffer.alloc(0) };
    const bytes = encode(p, 4);
    assert.equal(bytes.readUInt16BE(2), 2 + 3 + 4);
    assert.equal(bytes.subarray(4).toString("utf8"), "é€😀");
    const long = "a".repeat(100) + "é"; // longer than the ASCII fast path
    const q: Packet = { ...p, topic: long };
    assert.equal(encode(q, 4).readUInt16BE(2), 102);
  });

  it("throws EncodeError for packets that cannot be represented", () => {
    const pub: Packet = { type: 3, dup: false, qos: 1, retain: false, topic: "t", payload: Buffer.alloc(0) };
    assert.throws(() => encode(pub, 4), EncodeError); // QoS 1 without packet identifier
    assert.throws(() => encode({ ...pub, packetId: 0 }, 4), EncodeError);
    assert.throws(() => encode({ ...pub, packetId: 65536 }, 4), EncodeError);
    assert.throws(() => encode({ ...pub, topic: "x".repeat(65536) }, 4), EncodeError);
    assert.throws(() => encode({ type: 15, reasonCode: 0 }, 4), EncodeError); // AUTH before 5.0
    assert.throws(() => encode({ type: 4, packetId: 0 }, 5), EncodeError);
    assert.throws(
      () =>
        encode(
          {
            type: 3,
            dup: false,
            qos: 0,
            retain: false,
            topic: "t",
            payload: Buffer.alloc(10),
            properties: { correlationData: Buffer.alloc(70000) },
          },
          5,
        ),
      EncodeError,
    );
  });

  it("3.1 and 3.1.1 drop 5.0-only fields (properties, reason codes)", () => {
    assert.equal(
      encode({ type: 4, packetId: 1, reasonCode: 0x80, properties: { reasonString: "x" } }, 4).toString("hex"),
      "40020001",
    );
    assert.equal(encode({ type: 14, reasonCode: 4 }, 4).toString("hex"), "e000");
    assert.equal(encode({ type: 11, packetId: 2, reasonCodes: [0] }, 3).toString("hex"), "b0020002");
  });
});

describe("isValidUtf8MqttString", () => {
  it("accepts well-formed strings, rejects U+0000 [MQTT-1.5.4-2] and lone surrogates [MQTT-1.5.4-1]", () => {
    assert.ok(isValidUtf8MqttString(""));
    assert.ok(isValidUtf8MqttString("a/b/é/€/😀"));
    assert.ok(!isValidUtf8MqttString("a\u0000b"));
    assert.ok(!isValidUtf8MqttString("a\ud800"));
    assert.ok(!isValidUtf8MqttString("\udc00a"));
    assert.ok(!isValidUtf8MqttString("\ud800\ud800"));
    assert.ok(isValidUtf8MqttString("x".repeat(65535)));
    assert.ok(!isValidUtf8MqttString("x".repeat(65536)));
    assert.ok(!isValidUtf8MqttString("€".repeat(21846)), "over 65,535 bytes once encoded");
  });
});

describe("encoder safety", () => {
  it("[MQTT-3.3.1-2] never sets DUP on a QoS 0 PUBLISH", () => {
    const p: Packet = { type: 3, dup: true, qos: 0, retain: false, topic: "t", payload: Buffer.alloc(0) };
    assert.equal(encode(p, 4)[0], 0x30);
    const into = Buffer.alloc(10);
    encodeInto(p, 5, into, 0);
    assert.equal(into[0], 0x30);
    assert.equal(encode({ ...p, qos: 1, packetId: 1 }, 4)[0], 0x3a);
  });
});
