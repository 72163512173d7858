import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Decoder, PreparedPublish, encode } from "../../../src/codec/index.ts";
import type { Properties, ProtocolVersion, PublishPacket, PublishVariant, QoS } from "../../../src/codec/index.ts";
import { Rng, randomPayload, randomProperties, randomTopic } from "../../helpers/codec-random.ts";

/** The PublishPacket a PreparedPublish variant stands for. */
function equivalent(
  msg: { topic: string; payload: Buffer; properties?: Properties },
  version: ProtocolVersion,
  v: PublishVariant,
): PublishPacket {
  let properties: Properties | undefined;
  if (version === 5) {
    const { topicAlias: _a, subscriptionIdentifiers: _s, ...rest } = msg.properties ?? {};
    properties = {
      ...rest,
      topicAlias: v.topicAlias,
      messageExpiryInterval: v.messageExpiryInterval ?? msg.properties?.messageExpiryInterval,
      subscriptionIdentifiers: v.subscriptionIdentifiers === undefined ? undefined : [...v.subscriptionIdentifiers],
    };
  }
  return {
    type: 3,
    dup: v.qos > 0 && v.dup === true,
    qos: v.qos,
    retain: v.retain,
    topic: version === 5 && v.omitTopic === true ? "" : msg.topic,
    packetId: v.qos > 0 ? v.packetId : undefined,
    payload: msg.payload,
    properties,
  };
}

function randomVariant(rng: Rng): PublishVariant {
  const qos = rng.int(3) as QoS;
  const v: PublishVariant = { qos, retain: rng.bool() };
  if (qos > 0) {
    v.packetId = rng.range(1, 0xffff);
    if (rng.bool(0.3)) v.dup = true;
  }
  if (rng.bool(0.3)) {
    v.topicAlias = rng.range(1, 0xffff);
    if (rng.bool()) v.omitTopic = true;
  }
  if (rng.bool(0.3))
    v.subscriptionIdentifiers = Array.from({ length: rng.range(0, 3) }, () => rng.range(1, 268_435_455));
  if (rng.bool(0.3)) v.messageExpiryInterval = rng.int(0x100000000);
  return v;
}

describe("PreparedPublish", () => {
  it("bytes equal encode() of the equivalent PublishPacket for many random messages and variants", () => {
    const rng = new Rng(31337);
    let checked = 0;
    for (let m = 0; m < 300; m++) {
      const msg = { topic: randomTopic(rng), payload: randomPayload(rng), properties: randomProperties(rng, 3, 0.3) };
      const prepared = new PreparedPublish(msg);
      for (let k = 0; k < 20; k++) {
        const version = rng.pick([3, 4, 5] as const);
        const variant = randomVariant(rng);
        const got = prepared.encode(version, variant);
        const want = encode(equivalent(msg, version, variant), version);
        assert.deepEqual(got, want, `message ${m} variant ${JSON.stringify(variant)} v${version}`);
        // And it decodes.
        const d = new Decoder({ protocolVersion: version });
        d.push(got);
        assert.equal(d.next()?.type, 3);
        checked++;
      }
    }
    assert.equal(checked, 6000);
  });

  it("encodeHead() followed by the payload equals encode() for random messages and variants", () => {
    const rng = new Rng(4242);
    for (let m = 0; m < 200; m++) {
      const msg = { topic: randomTopic(rng), payload: randomPayload(rng), properties: randomProperties(rng, 3, 0.3) };
      const prepared = new PreparedPublish(msg);
      for (let k = 0; k < 10; k++) {
        const version = rng.pick([3, 4, 5] as const);
        const variant = randomVariant(rng);
        const head = prepared.encodeHead(version, variant);
        const whole = Buffer.concat([head, prepared.payload]);
        assert.deepEqual(whole, prepared.encode(version, variant), `message ${m} v${version}`);
        if (variant.qos === 0 && version !== 5) assert.equal(prepared.encodeHead(version, variant), head, "cached");
      }
    }
  });

  it("QoS 0 with nothing per subscriber returns the same cached Buffer, per version family and retain", () => {
    const prepared = new PreparedPublish({
      topic: "a/b",
      payload: Buffer.from("x"),
      properties: { contentType: "text/plain", messageExpiryInterval: 60 },
    });
    const v4 = prepared.encode(4, { qos: 0, retain: false });
    assert.equal(prepared.encode(4, { qos: 0, retain: false }), v4);
    assert.equal(prepared.encode(3, { qos: 0, retain: false }), v4, "3.1 and 3.1.1 share the bytes");
    const v4r = prepared.encode(4, { qos: 0, retain: true });
    assert.notEqual(v4r, v4);
    assert.equal(prepared.encode(4, { qos: 0, retain: true }), v4r);
    const v5 = prepared.encode(5, { qos: 0, retain: false });
    assert.equal(prepared.encode(5, { qos: 0, retain: false, subscriptionIdentifiers: [] }), v5);
    assert.notEqual(v5, v4);
    // Per-subscriber data means a fresh buffer.
    assert.notEqual(prepared.encode(5, { qos: 0, retain: false, topicAlias: 1 }), v5);
    assert.notEqual(prepared.encode(5, { qos: 0, retain: false, messageExpiryInterval: 59 }), v5);
    assert.notEqual(prepared.encode(4, { qos: 1, retain: false, packetId: 1 }), v4);
  });

  it("3.1 and 3.1.1 drop all properties; 5.0 keeps the message's own and the per-subscriber ones", () => {
    const prepared = new PreparedPublish({
      topic: "a/b",
      payload: Buffer.from("x"),
      properties: { contentType: "t", userProperties: [["k", "v"]] },
    });
    const v4 = prepared.encode(4, { qos: 1, retain: false, packetId: 9, topicAlias: 3, subscriptionIdentifiers: [4] });
    assert.equal(v4.toString("hex"), "320800036" + "12f62000978");
    const d = new Decoder({ protocolVersion: 5 });
    d.push(
      prepared.encode(5, {
        qos: 1,
        retain: false,
        packetId: 9,
        topicAlias: 3,
        omitTopic: true,
        subscriptionIdentifiers: [4],
      }),
    );
    const p = d.next();
    assert.ok(p?.type === 3);
    assert.equal(p.topic, "");
    assert.deepEqual(p.properties, {
      topicAlias: 3,
      subscriptionIdentifiers: [4],
      contentType: "t",
      userProperties: [["k", "v"]],
    });
  });

  it("qos > 0 without packet identifier is refused", () => {
    const prepared = new PreparedPublish({ topic: "a", payload: Buffer.alloc(0) });
    assert.throws(() => prepared.encode(4, { qos: 1, retain: false }), { name: "EncodeError" });
  });
});
