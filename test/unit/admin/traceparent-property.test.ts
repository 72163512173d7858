// A root trace's forwarded `traceparent` made as an encoded user property (light-span.ts traceparentPropertyOfIds)
// and its Properties read from it (traceparent.ts traceparentProperties): the bytes the codec writes for those
// Properties, and a PreparedPublish given them writes what one encoding the Properties writes.
import assert from "node:assert/strict";
import { test } from "node:test";
import { randomFillSync } from "node:crypto";
import { PreparedPublish } from "../../../src/codec/index.ts";
import { propertiesLength, writeProperties } from "../../../src/codec/properties-encode.ts";
import { traceparentOfIds, traceparentPropertyOfIds } from "../../../src/admin/light-span.ts";
import { parseTraceparent, traceparentProperties } from "../../../src/admin/traceparent.ts";

test("a traceparent property made from ids: the codec's bytes for its Properties, which name the same ids", () => {
  const ids = randomFillSync(Buffer.alloc(32 * 300));
  for (let at = 0; at < ids.length; at += 32) {
    const encoded = traceparentPropertyOfIds(ids, at);
    const properties = traceparentProperties(encoded);
    const value = traceparentOfIds(ids, at);
    assert.deepEqual(properties, { userProperties: [["traceparent", value]] });
    const want = Buffer.alloc(propertiesLength(properties));
    writeProperties(want, 0, properties);
    assert.deepEqual(encoded, want);
    const sc = parseTraceparent(value)!;
    assert.equal(sc.traceId, ids.toString("hex", at, at + 16));
    assert.equal(sc.spanId, ids.toString("hex", at + 16, at + 24));
    assert.equal(sc.traceFlags, 1);
  }
  // Each its own bytes: making later ones did not change the first (it is the message's, shared by its copies).
  const first = traceparentPropertyOfIds(ids, 0);
  const firstValue = traceparentOfIds(ids, 0);
  for (let at = 32; at < ids.length; at += 32) traceparentPropertyOfIds(ids, at);
  assert.deepEqual(traceparentProperties(first), { userProperties: [["traceparent", firstValue]] });
});

test("a PreparedPublish given the encoded property writes what it writes from the Properties", () => {
  const ids = randomFillSync(Buffer.alloc(32));
  const encoded = traceparentPropertyOfIds(ids, 0);
  const msg = { topic: "t/1", payload: Buffer.from("x".repeat(40)), properties: traceparentProperties(encoded) };
  const given = new PreparedPublish(msg, undefined, encoded);
  const own = new PreparedPublish(msg);
  for (const v of [
    { qos: 0 as const, retain: false },
    { qos: 1 as const, retain: true, packetId: 7, subscriptionIdentifiers: [3], messageExpiryInterval: 60 },
    { qos: 2 as const, retain: false, packetId: 9, topicAlias: 2, omitTopic: true },
  ]) {
    for (const version of [4, 5] as const) assert.deepEqual(given.encode(version, v), own.encode(version, v));
  }
});
