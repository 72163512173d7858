// Incremental decoding: every split point, zero-copy views, assembling only spanning packets.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Decoder, encode } from "../../../src/codec/index.ts";
import type { Packet, ProtocolVersion } from "../../../src/codec/index.ts";
import { normalizePacket } from "../../helpers/codec-normalize.ts";
import { Rng, packetTypesFor, randomPacket } from "../../helpers/codec-random.ts";

function smallPacket(rng: Rng, v: ProtocolVersion, type: Packet["type"]): Packet {
  for (;;) {
    const p = randomPacket(rng, v, type);
    if (encode(p, v).length <= 200) return p;
  }
}

function drain(d: Decoder): Packet[] {
  const out: Packet[] = [];
  let p;
  while ((p = d.next()) !== undefined) out.push(p);
  return out;
}

describe("decoder streaming", () => {
  for (const v of [3, 4, 5] as const) {
    it(`a packet split at every byte boundary decodes to the same result (MQTT level ${v})`, () => {
      const rng = new Rng(500 + v);
      for (const type of packetTypesFor(v)) {
        for (let k = 0; k < 4; k++) {
          const p = smallPacket(rng, v, type);
          const bytes = encode(p, v);
          const want = normalizePacket(p, v);
          for (let i = 1; i < bytes.length; i++) {
            const d = new Decoder({ protocolVersion: v });
            d.push(bytes.subarray(0, i));
            assert.equal(d.next(), undefined, `split at ${i}: nothing before the last byte`);
            assert.equal(d.bufferedBytes, i);
            d.push(bytes.subarray(i));
            const got = drain(d);
            assert.equal(got.length, 1);
            assert.deepEqual(normalizePacket(got[0]!, v), want, `split at ${i} of ${bytes.toString("hex")}`);
            assert.equal(d.bufferedBytes, 0);
          }
          // One byte at a time, calling next() after each byte.
          const d = new Decoder({ protocolVersion: v });
          const got: Packet[] = [];
          for (let i = 0; i < bytes.length; i++) {
            d.push(bytes.subarray(i, i + 1));
            got.push(...drain(d));
          }
          assert.equal(got.length, 1);
          assert.deepEqual(normalizePacket(got[0]!, v), want);
        }
      }
    });

    it(`a stream of packets split at every boundary, in three pieces, decodes in order (MQTT level ${v})`, () => {
      const rng = new Rng(900 + v);
      const packets = Array.from({ length: 3 }, () => smallPacket(rng, v, rng.pick(packetTypesFor(v))));
      const bytes = Buffer.concat(packets.map((p) => encode(p, v)));
      const want = packets.map((p) => normalizePacket(p, v));
      for (let i = 0; i <= bytes.length; i++) {
        const j = i + rng.int(bytes.length - i + 1);
        const d = new Decoder({ protocolVersion: v });
        const got: Packet[] = [];
        for (const piece of [bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)]) {
          d.push(piece);
          got.push(...drain(d));
        }
        assert.deepEqual(
          got.map((p) => normalizePacket(p, v)),
          want,
        );
      }
    });
  }

  it("the server-side decoder reads CONNECT split at every boundary and then knows the version", () => {
    const rng = new Rng(42);
    for (const v of [3, 4, 5] as const) {
      const bytes = Buffer.concat([encode(randomPacket(rng, v, 1), v), encode({ type: 12 }, v)]);
      for (let i = 1; i < bytes.length; i++) {
        const d = new Decoder();
        d.push(bytes.subarray(0, i));
        const got = drain(d);
        d.push(bytes.subarray(i));
        got.push(...drain(d));
        assert.deepEqual(
          got.map((p) => p.type),
          [1, 12],
        );
        assert.equal(d.protocolVersion, v);
      }
    }
  });
});

describe("decoder zero-copy", () => {
  const publish: Packet = {
    type: 3,
    dup: false,
    qos: 1,
    retain: false,
    topic: "a/b",
    packetId: 1,
    payload: Buffer.from("payload-bytes ".repeat(8)),
    properties: { correlationData: Buffer.from("corr") },
  };

  it("payload and binary properties are views of the input chunk when the packet sits inside it", () => {
    const one = encode(publish, 5);
    const chunk = Buffer.concat([one, one, one]); // several packets in one chunk
    const d = new Decoder({ protocolVersion: 5 });
    d.push(chunk);
    const got = drain(d);
    assert.equal(got.length, 3);
    got.forEach((p, i) => {
      assert.ok(p.type === 3);
      assert.equal(p.payload.buffer, chunk.buffer, "payload shares the input's ArrayBuffer");
      const at = chunk.byteOffset + i * one.length + one.length - publish.payload.length;
      assert.equal(p.payload.byteOffset, at);
      assert.deepEqual(p.payload, publish.payload);
      assert.equal(p.properties?.correlationData?.buffer, chunk.buffer);
    });
  });

  it("CONNECT password, will payload and authentication data are views of the input", () => {
    const connect: Packet = {
      type: 1,
      protocolName: "MQTT",
      protocolVersion: 5,
      clean: true,
      keepAlive: 1,
      clientId: "c",
      username: "u",
      password: Buffer.from("pw"),
      will: { topic: "w", payload: Buffer.from("will"), qos: 0, retain: false },
      properties: { authenticationMethod: "m", authenticationData: Buffer.from("ad") },
    };
    const bytes = encode(connect, 5);
    const d = new Decoder();
    d.push(bytes);
    const p = d.next();
    assert.ok(p?.type === 1);
    assert.equal(p.password?.buffer, bytes.buffer);
    assert.equal(p.will?.payload.buffer, bytes.buffer);
    assert.equal(p.properties?.authenticationData?.buffer, bytes.buffer);
  });

  it("a packet after a split packet in the same chunk (of 64 bytes or more) is still zero-copy", () => {
    const one = encode(publish, 5);
    const stream = Buffer.concat([one, one]);
    const cut = 5;
    // Unpooled buffers, so that sharing an ArrayBuffer means sharing memory with that chunk.
    const second = Buffer.allocUnsafeSlow(stream.length - cut); // rest of packet 1 + all of packet 2
    stream.copy(second, 0, cut);
    const d = new Decoder({ protocolVersion: 5 });
    const first0 = Buffer.allocUnsafeSlow(cut);
    stream.copy(first0, 0, 0, cut);
    d.push(first0);
    d.push(second);
    const [first, next] = drain(d);
    assert.ok(first?.type === 3 && next?.type === 3);
    assert.notEqual(first.payload.buffer, second.buffer, "the spanning packet was assembled");
    assert.notEqual(first.payload.buffer, first0.buffer);
    assert.deepEqual(first.payload, publish.payload);
    assert.equal(next.payload.buffer, second.buffer, "the following packet is a view of its chunk");
  });

  it("Buffer.concat is never used: only a spanning packet's own bytes are copied", (t) => {
    const concat = t.mock.method(Buffer, "concat");
    const one = encode(publish, 5);
    const d = new Decoder({ protocolVersion: 5 });
    for (let i = 0; i < one.length; i++) d.push(one.subarray(i, i + 1));
    const p = d.next();
    assert.ok(p?.type === 3);
    assert.deepEqual(p.payload, publish.payload);
    d.push(one);
    assert.ok(d.next()?.type === 3);
    assert.equal(concat.mock.callCount(), 0);
  });

  it("a large packet trickled in one byte at a time is assembled in linear time", () => {
    const big: Packet = { type: 3, dup: false, qos: 0, retain: false, topic: "t", payload: Buffer.alloc(300_000, 7) };
    const bytes = encode(big, 4);
    const d = new Decoder({ protocolVersion: 4 });
    for (let i = 0; i < bytes.length; i++) {
      d.push(bytes.subarray(i, i + 1));
      if (i < bytes.length - 1) assert.equal(d.next(), undefined);
    }
    assert.equal(d.bufferedBytes, bytes.length);
    const p = d.next();
    assert.ok(p?.type === 3);
    assert.deepEqual(p.payload, big.payload);
    assert.equal(d.bufferedBytes, 0);
  });

  it("tiny chunks mixed with large ones keep their order", () => {
    const rng = new Rng(4);
    for (let round = 0; round < 50; round++) {
      const packets = Array.from({ length: 20 }, () => randomPacket(rng, 5));
      const bytes = Buffer.concat(packets.map((p) => encode(p, 5)));
      const d = new Decoder({ protocolVersion: 5 });
      const got: Packet[] = [];
      for (let i = 0; i < bytes.length;) {
        const n = rng.bool(0.7) ? rng.range(1, 63) : rng.range(64, 3000);
        d.push(bytes.subarray(i, i + n));
        i += n;
        if (rng.bool(0.5)) got.push(...drain(d));
      }
      got.push(...drain(d));
      assert.deepEqual(
        got.map((p) => normalizePacket(p, 5)),
        packets.map((p) => normalizePacket(p, 5)),
      );
    }
  });

  it("bufferedBytes counts bytes pushed and not yet returned", () => {
    const one = encode(publish, 4);
    const d = new Decoder({ protocolVersion: 4 });
    assert.equal(d.bufferedBytes, 0);
    d.push(one.subarray(0, 3));
    d.push(one.subarray(3, 6));
    assert.equal(d.bufferedBytes, 6);
    assert.equal(d.next(), undefined);
    d.push(Buffer.concat([one.subarray(6), one.subarray(0, 4)]));
    assert.equal(d.bufferedBytes, one.length + 4);
    assert.ok(d.next() !== undefined);
    assert.equal(d.bufferedBytes, 4);
    d.push(Buffer.alloc(0));
    assert.equal(d.next(), undefined);
    assert.equal(d.bufferedBytes, 4);
  });

  it("many decoders fed interleaved byte by byte (they share one Reader) each decode their own packets", () => {
    const rng = new Rng(77);
    const v = 5 as const;
    const streams = Array.from({ length: 8 }, () => {
      const packets = packetTypesFor(v).map((type) => smallPacket(rng, v, type));
      return {
        packets,
        bytes: Buffer.concat(packets.map((p) => encode(p, v))),
        d: new Decoder({ protocolVersion: v }),
      };
    });
    const got: Packet[][] = streams.map(() => []);
    const longest = Math.max(...streams.map((s) => s.bytes.length));
    for (let i = 0; i < longest; i++) {
      streams.forEach((s, k) => {
        if (i >= s.bytes.length) return;
        s.d.push(s.bytes.subarray(i, i + 1));
        got[k]!.push(...drain(s.d));
      });
    }
    streams.forEach((s, k) => {
      assert.deepEqual(
        got[k]!.map((p) => normalizePacket(p, v)),
        s.packets.map((p) => normalizePacket(p, v)),
      );
    });
  });
});

describe("decoder string interning", () => {
  it("thousands of distinct short strings (colliding in the intern table) always decode to their own text", () => {
    const rng = new Rng(11);
    const topics = Array.from({ length: 5000 }, (_, i) => `t/${i}/${rng.int(1e6)}`);
    topics.push("x".repeat(64), "x".repeat(65), "y".repeat(63));
    const d = new Decoder({ protocolVersion: 4 });
    for (let round = 0; round < 3; round++) {
      const order = topics.map((t) => t).sort(() => rng.int(3) - 1);
      for (const topic of order) {
        d.push(encode({ type: 3, dup: false, qos: 0, retain: false, topic, payload: Buffer.alloc(0) }, 4));
        const p = d.next();
        assert.ok(p?.type === 3);
        assert.equal(p.topic, topic);
      }
    }
  });
});
