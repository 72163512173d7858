import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Decoder, encode, encodedLength } from "../../../src/codec/index.ts";
import type { Packet, ProtocolVersion } from "../../../src/codec/index.ts";
import { normalizePacket } from "../../helpers/codec-normalize.ts";
import { Rng, packetTypesFor, randomPacket } from "../../helpers/codec-random.ts";

function decodeAll(bytes: Buffer, version: ProtocolVersion, chunk = bytes.length): Packet[] {
  const d = new Decoder({ protocolVersion: version });
  const out: Packet[] = [];
  for (let i = 0; i < bytes.length; i += chunk) {
    d.push(bytes.subarray(i, i + chunk));
    let p;
    while ((p = d.next()) !== undefined) out.push(p);
  }
  assert.equal(d.bufferedBytes, 0);
  return out;
}

describe("codec round trip", () => {
  for (const version of [3, 4, 5] as const) {
    it(`random valid packets of every type survive encode/decode (MQTT level ${version})`, () => {
      const rng = new Rng(1000 + version);
      for (const type of packetTypesFor(version)) {
        for (let i = 0; i < 300; i++) {
          const p = randomPacket(rng, version, type);
          const bytes = encode(p, version);
          assert.equal(bytes.length, encodedLength(p, version));
          const [decoded, ...rest] = decodeAll(bytes, version, rng.bool() ? bytes.length : rng.range(1, 7));
          assert.equal(rest.length, 0);
          assert.deepEqual(normalizePacket(decoded!, version), normalizePacket(p, version));
          assert.deepEqual(encode(decoded!, version), bytes, "re-encoding the decoded packet gives the same bytes");
        }
      }
    });

    it(`a stream of many packets decodes in order (MQTT level ${version})`, () => {
      const rng = new Rng(77 + version);
      const packets = Array.from({ length: 500 }, () => randomPacket(rng, version));
      const bytes = Buffer.concat(packets.map((p) => encode(p, version)));
      for (const chunk of [bytes.length, 1, 3, 100, 1500]) {
        const decoded = decodeAll(bytes, version, chunk);
        assert.equal(decoded.length, packets.length);
        decoded.forEach((d, i) => assert.deepEqual(normalizePacket(d, version), normalizePacket(packets[i]!, version)));
      }
    });
  }
});
