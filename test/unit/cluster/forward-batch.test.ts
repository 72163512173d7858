// Batched QoS 0 forwards (src/cluster/routing/forward-batch.ts): what one node writes the other reads back as the
// same messages, in order; the 3.x PUBLISH bytes each message carries are exactly what the subscriber's connection
// would have built; a malformed batch is refused (CLUSTER_BAD_FRAME), never half-read into a wrong message.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createMessage } from "../../../src/broker/message.ts";
import type { Message } from "../../../src/broker/index.ts";
import { PreparedPublish } from "../../../src/codec/index.ts";
import { readBatch, writeBatchEntry } from "../../../src/cluster/routing/forward-batch.ts";
import { ClusterErrorCode } from "../../../src/cluster/index.ts";
import { WireWriter } from "../../../src/cluster/transport/index.ts";
import { isWharfError } from "../../../src/util/index.ts";

function roundTrip(msgs: readonly Message[]): Message[] {
  const w = new WireWriter(16);
  for (const m of msgs) writeBatchEntry(w, m);
  const out: Message[] = [];
  readBatch(w.take(), (m) => out.push(m));
  return out;
}

const samples = (): Message[] => [
  createMessage({ topic: "a/b", payload: Buffer.from("x"), qos: 0, retain: false }, 0),
  createMessage({ topic: "sensors/ü/température", payload: Buffer.alloc(0), qos: 0, retain: true }, 0),
  createMessage({ topic: "big", payload: Buffer.alloc(20_000, 7), qos: 0, retain: false }, 0),
  {
    ...createMessage(
      {
        topic: "v5/props",
        payload: Buffer.from("p"),
        qos: 0,
        retain: false,
        properties: {
          contentType: "text/plain",
          correlationData: Buffer.from([0, 1, 2]),
          userProperties: [["k", "v"]],
        },
      },
      0,
    ),
    expiresAt: 1_765_000_000_000,
    origin: "client-1",
  },
];

test("a batch of QoS 0 messages reads back as the same messages, in order", () => {
  const msgs = samples();
  const out = roundTrip(msgs);
  assert.equal(out.length, msgs.length);
  for (let i = 0; i < msgs.length; i++) {
    const a = msgs[i]!;
    const b = out[i]!;
    assert.equal(b.topic, a.topic);
    assert.deepEqual(b.payload, a.payload);
    assert.equal(b.qos, 0);
    assert.equal(b.retain, a.retain);
    assert.deepEqual(b.properties, a.properties);
    assert.equal(b.expiresAt, a.expiresAt);
    assert.equal(b.origin, a.origin);
  }
});

test("the carried PUBLISH bytes equal what the subscriber's connection would build, for 3.1.1 and 5.0", () => {
  for (const m of roundTrip(samples())) {
    const fresh = new PreparedPublish({ topic: m.topic, payload: Buffer.from(m.payload), properties: m.properties });
    for (const version of [3, 4, 5] as const) {
      for (const retain of [false, true]) {
        assert.deepEqual(
          m.prepared!.encode(version, { qos: 0, retain }),
          fresh.encode(version, { qos: 0, retain }),
          `${m.topic} v${version} retain ${retain}`,
        );
      }
    }
    assert.deepEqual(
      m.prepared!.encode(4, { qos: 1, retain: false, packetId: 9 }),
      fresh.encode(4, {
        qos: 1,
        retain: false,
        packetId: 9,
      }),
    );
  }
});

test("a truncated or altered batch is refused with CLUSTER_BAD_FRAME", () => {
  const w = new WireWriter(16);
  for (const m of samples()) writeBatchEntry(w, m);
  const body = w.take();
  const bad = (b: Buffer): void =>
    assert.throws(
      () => readBatch(b, () => undefined),
      (e: unknown) => isWharfError(e) && e.code === ClusterErrorCode.BadFrame,
    );
  bad(body.subarray(0, body.length - 1));
  bad(body.subarray(0, 3));
  const notQos0 = Buffer.from(body);
  notQos0[5] = 0x32; // the first entry's packet type byte (flags, u32 length, then the packet)
  bad(notQos0);
});
