// The property table drives which packets may carry which property and which may repeat:
// check every (property, packet) pair against the decoder.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  CodecError,
  CodecErrorCode,
  Decoder,
  PROPERTY,
  PROPERTY_BY_ID,
  PropertyWireType,
  WILL_PROPERTIES,
  encode,
  isPropertyAllowed,
} from "../../../src/codec/index.ts";
import type { Packet, Properties, PropertyContext, PropertyDefinition } from "../../../src/codec/index.ts";

/** A valid value of each property (ids 0x08: a topic name; booleans: 1; integers: non-zero). */
function sample(d: PropertyDefinition): Properties {
  switch (d.type) {
    case PropertyWireType.Byte:
      return { [d.name]: 1 };
    case PropertyWireType.TwoByteInteger:
    case PropertyWireType.FourByteInteger:
      return { [d.name]: 7 };
    case PropertyWireType.VariableByteInteger:
      return { [d.name]: [300] };
    case PropertyWireType.Utf8String:
      return { [d.name]: d.name === "responseTopic" ? "re/ply" : "str" };
    case PropertyWireType.BinaryData:
      return d.name === "authenticationData"
        ? { authenticationData: Buffer.from([1, 2]), authenticationMethod: "m" }
        : { [d.name]: Buffer.from([1, 2]) };
    case PropertyWireType.Utf8StringPair:
      return { userProperties: [["k", "v"]] };
  }
}

/** A packet of `context` carrying `props` (for WILL_PROPERTIES: a CONNECT with will). */
function carrier(context: PropertyContext, props: Properties): Packet {
  switch (context) {
    case 1:
      return {
        type: 1,
        protocolName: "MQTT",
        protocolVersion: 5,
        clean: true,
        keepAlive: 0,
        clientId: "c",
        properties: props,
      };
    case WILL_PROPERTIES:
      return {
        type: 1,
        protocolName: "MQTT",
        protocolVersion: 5,
        clean: true,
        keepAlive: 0,
        clientId: "c",
        will: { topic: "w", payload: Buffer.alloc(0), qos: 0, retain: false, properties: props },
      };
    case 2:
      return { type: 2, sessionPresent: false, reasonCode: 0, properties: props };
    case 3:
      return { type: 3, dup: false, qos: 0, retain: false, topic: "t", payload: Buffer.alloc(0), properties: props };
    case 4:
    case 5:
    case 6:
    case 7:
      return { type: context, packetId: 1, reasonCode: 0, properties: props };
    case 8:
      return { type: 8, packetId: 1, subscriptions: [{ topicFilter: "a", qos: 0 }], properties: props };
    case 9:
      return { type: 9, packetId: 1, reasonCodes: [0], properties: props };
    case 10:
      return { type: 10, packetId: 1, topicFilters: ["a"], properties: props };
    case 11:
      return { type: 11, packetId: 1, reasonCodes: [0], properties: props };
    case 14:
      return { type: 14, reasonCode: 0, properties: props };
    case 15:
      return { type: 15, reasonCode: 0, properties: props };
    default:
      throw new Error(`no properties in packet type ${context}`);
  }
}

const CONTEXTS: PropertyContext[] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 15, WILL_PROPERTIES];

function tryDecode(bytes: Buffer, isConnect: boolean): Packet | CodecError {
  const d = new Decoder({ protocolVersion: isConnect ? undefined : 5 });
  d.push(bytes);
  try {
    const p = d.next();
    assert.ok(p !== undefined);
    return p;
  } catch (e) {
    assert.ok(e instanceof CodecError);
    return e;
  }
}

describe("property table", () => {
  it("has all 27 MQTT 5.0 properties with their identifiers and wire types", () => {
    const defs = Object.values(PROPERTY);
    assert.equal(defs.length, 27);
    const ids = defs.map((d) => d.id).sort((a, b) => a - b);
    assert.deepEqual(
      ids,
      [
        0x01, 0x02, 0x03, 0x08, 0x09, 0x0b, 0x11, 0x12, 0x13, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1c, 0x1f, 0x21,
        0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a,
      ],
    );
    for (const d of defs) assert.equal(PROPERTY_BY_ID[d.id], d);
    assert.equal(PROPERTY.subscriptionIdentifiers.type, PropertyWireType.VariableByteInteger);
    assert.equal(PROPERTY.userProperties.type, PropertyWireType.Utf8StringPair);
    assert.equal(PROPERTY.correlationData.type, PropertyWireType.BinaryData);
    assert.equal(PROPERTY.topicAlias.type, PropertyWireType.TwoByteInteger);
    assert.equal(PROPERTY.willDelayInterval.type, PropertyWireType.FourByteInteger);
    assert.equal(PROPERTY.maximumQoS.type, PropertyWireType.Byte);
    assert.ok(isPropertyAllowed("topicAlias", 3));
    assert.ok(!isPropertyAllowed("topicAlias", 4));
    assert.ok(isPropertyAllowed("willDelayInterval", WILL_PROPERTIES));
    assert.ok(!isPropertyAllowed("willDelayInterval", 1));
  });

  for (const d of Object.values(PROPERTY)) {
    it(`${d.name} (0x${d.id.toString(16).padStart(2, "0")}) is accepted exactly in ${d.packets.join(", ")} (16 = Will); elsewhere malformed (2.2.2.2)`, () => {
      for (const context of CONTEXTS) {
        const props = sample(d);
        const bytes = encode(carrier(context, props), 5);
        const result = tryDecode(bytes, context === 1 || context === WILL_PROPERTIES);
        if (isPropertyAllowed(d.name, context)) {
          assert.ok(!(result instanceof CodecError), `${d.name} in ${context}: ${String(result)}`);
        } else {
          assert.ok(result instanceof CodecError, `${d.name} must be refused in ${context}`);
          assert.equal(result.code, CodecErrorCode.MalformedPacket, result.message);
        }
      }
    });
  }

  it("repeating a property is a protocol error except User Property, and Subscription Identifier in PUBLISH", () => {
    for (const d of Object.values(PROPERTY)) {
      for (const context of d.packets) {
        const block = propertyBytes(d);
        const twice = rebuildWithProperties(
          context,
          Buffer.concat([...(d.name === "authenticationData" ? [Buffer.from("1500016d", "hex")] : []), block, block]),
        );
        const result = tryDecode(twice, context === 1 || context === WILL_PROPERTIES);
        const repeatable = d.repeat === "always" || (d.repeat === "publish" && context === 3);
        if (repeatable) assert.ok(!(result instanceof CodecError), `${d.name} twice in ${context}: ${String(result)}`);
        else {
          assert.ok(result instanceof CodecError, `${d.name} twice in ${context}`);
          assert.equal(result.code, CodecErrorCode.ProtocolError, `${d.name} twice in ${context}: ${result.message}`);
        }
      }
    }
  });
});

/** Wire bytes (identifier + value) of the sample value of `d`. */
function propertyBytes(d: PropertyDefinition): Buffer {
  switch (d.type) {
    case PropertyWireType.Byte:
      return Buffer.from([d.id, 1]);
    case PropertyWireType.TwoByteInteger:
      return Buffer.from([d.id, 0, 7]);
    case PropertyWireType.FourByteInteger:
      return Buffer.from([d.id, 0, 0, 0, 7]);
    case PropertyWireType.VariableByteInteger:
      return Buffer.from([d.id, 0xac, 0x02]);
    case PropertyWireType.Utf8String:
      return Buffer.concat([Buffer.from([d.id, 0, 3]), Buffer.from(d.name === "responseTopic" ? "r/p" : "str")]);
    case PropertyWireType.BinaryData:
      return Buffer.from([d.id, 0, 2, 1, 2]);
    case PropertyWireType.Utf8StringPair:
      return Buffer.from([d.id, 0, 1, 0x6b, 0, 1, 0x76]);
  }
}

/** Encodes the carrier of `context` with a raw property block (marker replaced after encoding). */
function rebuildWithProperties(context: PropertyContext, block: Buffer): Buffer {
  // Encode with a marker user property, then replace the whole property block (one-byte length) by `block`.
  const marker = { userProperties: [["\u0001mark", "\u0001"]] as [string, string][] };
  const withMarker = encode(carrier(context, marker), 5);
  const markerBytes = Buffer.from([0x26, 0, 5, 1, 0x6d, 0x61, 0x72, 0x6b, 0, 1, 1]);
  const at = withMarker.indexOf(markerBytes);
  assert.ok(at > 0);
  assert.equal(withMarker[at - 1], markerBytes.length, "property length precedes the marker");
  assert.ok(block.length < 128);
  const body = Buffer.concat([
    withMarker.subarray(0, at - 1),
    Buffer.from([block.length]),
    block,
    withMarker.subarray(at + markerBytes.length),
  ]);
  // Fix the Remaining Length (the carriers are small: one byte).
  const rl = body.length - 2;
  assert.ok(rl < 128 && withMarker[1]! < 128);
  body[1] = rl;
  return body;
}
