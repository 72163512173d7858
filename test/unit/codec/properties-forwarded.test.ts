// The forwarded properties' encoding (properties-encode.ts onlyForwarded / forwardedLength / writeForwarded), which
// PreparedPublish takes for a routed message's properties: the same bytes as the generic propertiesLength() /
// writeProperties(), and the generic path for anything with another key.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PacketType, PreparedPublish, encode } from "../../../src/codec/index.ts";
import type { Properties, UserProperty } from "../../../src/codec/index.ts";
import {
  forwardedLength,
  onlyForwarded,
  propertiesLength,
  writeForwarded,
  writeProperties,
} from "../../../src/codec/properties-encode.ts";
import { Rng, randomProperties, randomString, randomTopic } from "../../helpers/codec-random.ts";

const FORWARDED = ["payloadFormatIndicator", "contentType", "responseTopic", "correlationData", "userProperties"];

/** Random properties with the forwarded keys only, each present with probability 1/2 (some with none at all). */
function randomForwarded(rng: Rng): Properties {
  const p: Properties = {};
  if (rng.bool()) p.payloadFormatIndicator = rng.int(2);
  if (rng.bool()) p.contentType = randomString(rng, 12);
  if (rng.bool()) p.responseTopic = randomTopic(rng);
  if (rng.bool()) p.correlationData = rng.bytes(rng.int(40));
  if (rng.bool()) {
    p.userProperties = Array.from({ length: rng.int(4) }, (): UserProperty => [
      randomString(rng, 80),
      randomString(rng, 80),
    ]);
  }
  return p;
}

function generic(p: Properties): Buffer {
  const buf = Buffer.alloc(propertiesLength(p));
  assert.equal(writeProperties(buf, 0, p), buf.length);
  return buf;
}

function forwarded(p: Properties): Buffer {
  const buf = Buffer.alloc(forwardedLength(p));
  assert.equal(writeForwarded(buf, 0, p), buf.length);
  return buf;
}

describe("forwarded properties' encoding", () => {
  it("writes what writeProperties() writes for 2,000 random sets of forwarded properties", () => {
    const rng = new Rng(2323);
    let withUser = 0;
    for (let i = 0; i < 2000; i++) {
      const p = randomForwarded(rng);
      assert.equal(onlyForwarded(p), true);
      assert.deepEqual(forwarded(p), generic(p), JSON.stringify(p));
      if ((p.userProperties?.length ?? 0) > 0) withUser++;
    }
    assert.ok(withUser > 500, `${withUser} sets with user properties`);
  });

  it("writes a traced message's one `traceparent` user property as writeProperties() does", () => {
    const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    // The shapes a forwarded `traceparent` comes in: a literal (withTraceparent) and a copy built key by key
    // (forwardedProperties).
    const built: Properties = {};
    built.userProperties = [["traceparent", tp]];
    for (const p of [{ userProperties: [["traceparent", tp]] } satisfies Properties, built]) {
      assert.equal(onlyForwarded(p), true);
      const bytes = forwarded(p);
      assert.deepEqual(bytes, generic(p));
      assert.equal(bytes.length, 1 + 2 + 11 + 2 + 55);
      assert.equal(bytes[0], 0x26);
      assert.equal(bytes.toString("latin1", 16), tp);
    }
  });

  it("is not taken for properties with any other key, even one holding undefined", () => {
    const rng = new Rng(99);
    let others = 0;
    for (let i = 0; i < 500; i++) {
      const p = randomProperties(rng, PacketType.PUBLISH, 0.4) ?? {};
      const other = Object.keys(p).some((k) => !FORWARDED.includes(k));
      assert.equal(onlyForwarded(p), !other, JSON.stringify(p));
      if (other) others++;
    }
    assert.ok(others > 100, `${others} sets with other keys`);
    assert.equal(onlyForwarded({ userProperties: [["k", "v"]], messageExpiryInterval: undefined }), false);
    assert.equal(onlyForwarded({ userProperties: [["k", "v"]], topicAlias: 3 }), false);
    assert.equal(onlyForwarded({ reasonString: "r" }), false);
    assert.equal(onlyForwarded({}), true);
  });

  it("PreparedPublish's bytes equal encode()'s for forwarded properties and for properties with others", () => {
    const rng = new Rng(7);
    for (let i = 0; i < 400; i++) {
      const properties =
        i % 2 === 0 ? randomForwarded(rng) : { ...randomForwarded(rng), ...randomProperties(rng, PacketType.PUBLISH) };
      const msg = { topic: randomTopic(rng), payload: rng.bytes(rng.int(64)), properties };
      const { topicAlias: _a, subscriptionIdentifiers: _s, ...rest } = properties;
      const want = encode(
        { type: 3, dup: false, qos: 0, retain: false, topic: msg.topic, payload: msg.payload, properties: rest },
        5,
      );
      const prepared = new PreparedPublish(msg);
      assert.deepEqual(prepared.encode(5, { qos: 0, retain: false }), want, JSON.stringify(properties));
      assert.equal(prepared.encodedLength(5, { qos: 0, retain: false }), want.length);
    }
  });
});
