// The clustered queues' wire encoding (src/cluster/queues/wire.ts): every kind it writes field by field comes back
// deeply equal (a field added to a record and not to the codec fails here), the rare kinds go through as node:v8
// blobs, and a truncated buffer is an error rather than a wrong value.
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import {
  decodeAck,
  decodeDelivery,
  decodeReplication,
  decodeReply,
  decodeRequest,
  encodeDelivery,
  encodeReplication,
  encodeReply,
  encodeRequest,
} from "../../../src/cluster/queues/index.ts";
import type { QueueReply, QueueRequest, ReplicationFrame, StoreOp } from "../../../src/cluster/queues/index.ts";
import type { QueueDelivery } from "../../../src/queues/index.ts";
import { WireReader, WireWriter } from "../../../src/cluster/queues/wire.ts";

const props = {
  contentType: "application/json",
  correlationData: Buffer.from([1, 2, 3]),
  userProperties: [["k", "v"]] as [string, string][],
};
const dlq = { reason: "rejected", originalQueue: "jobs", originalId: "7", group: "g", deliveryCount: 3 };

const ops: StoreOp[] = [
  {
    op: "append",
    queue: "jobs",
    seq: 2 ** 40 + 1,
    record: {
      payload: Buffer.from("hello"),
      properties: undefined,
      partitionKey: undefined,
      enqueuedAt: 1_765_000_000_123,
      expiresAt: undefined,
    },
  },
  {
    op: "append",
    queue: "dlq/jobs",
    seq: 3,
    record: {
      payload: Buffer.alloc(0),
      properties: props,
      partitionKey: "order-ü-42",
      enqueuedAt: 5,
      expiresAt: 99,
      dlq,
    },
  },
  { op: "remove", queue: "jobs", seq: 9 },
  { op: "putGroup", queue: "jobs", group: "g", record: { floor: 12, createdAt: 1_765_000_000_000 } },
  { op: "deleteGroup", queue: "jobs", group: "g" },
  { op: "putPending", queue: "jobs", group: "g", seq: 4, record: { count: 2, visibleAt: 1_765_000_001_000 } },
  { op: "deletePending", queue: "jobs", group: "g", seq: 4 },
  { op: "putDone", queue: "jobs", group: "g", seq: 5 },
  { op: "deleteDone", queue: "jobs", group: "g", seq: 5 },
  { op: "drop", queue: "jobs" },
];

describe("cluster queues: wire encoding", () => {
  it("replication frames of ops (every op kind) and snapshots round-trip", () => {
    const f: ReplicationFrame = { kind: "ops", slot: 17, epoch: 123_456_789, from: 2 ** 33, ops };
    assert.deepStrictEqual(decodeReplication(encodeReplication(f)), f);
    const snap: ReplicationFrame = {
      kind: "snapshot",
      slot: 1,
      epoch: 5,
      index: 0,
      queues: [{ name: "jobs", nextSeq: 3, messages: [], groups: [] }] as never,
    };
    assert.deepStrictEqual(decodeReplication(encodeReplication(snap)), snap);
  });

  it("requests: publish (with and without its optional fields), settle, and the rare kinds", () => {
    const reqs: QueueRequest[] = [
      { kind: "publish", queue: "jobs", input: { payload: Buffer.from("x"), properties: undefined } },
      {
        kind: "publish",
        queue: "jobs",
        input: { payload: Buffer.from("y"), properties: props, partitionKey: "p", expiresAt: 77 },
      },
      {
        kind: "settle",
        queue: "jobs",
        group: "g",
        action: "ack",
        messageId: "12",
        retryAfter: undefined,
        reason: undefined,
      },
      {
        kind: "settle",
        queue: "jobs",
        group: "g",
        action: "nack",
        messageId: "12",
        retryAfter: 250,
        reason: undefined,
      },
      {
        kind: "settle",
        queue: "jobs",
        group: "g",
        action: "reject",
        messageId: "12",
        retryAfter: undefined,
        reason: "bad",
      },
      { kind: "join", queue: "jobs", group: "g", consumer: "c#1", id: "c", prefetch: 8, start: undefined },
      { kind: "leave", queue: "jobs", consumer: "c#1" },
    ];
    for (const q of reqs) assert.deepStrictEqual(decodeRequest(encodeRequest(q)), q);
  });

  it("replies: plain, publish and settle outcomes, refusals, replication acknowledgements", () => {
    const replies: QueueReply[] = [
      { ok: true },
      { ok: true, publish: { ok: true, seq: 2 ** 45, messageId: "35184372088832" } },
      { ok: true, settle: { ok: true } },
      { ok: true, publish: { ok: false, code: "QUEUE_FULL", reason: "full" } as never },
      { ok: false, code: "CLUSTER_QUEUE_NO_OWNER", message: "n2 does not own jobs" },
    ];
    for (const r of replies) assert.deepStrictEqual(decodeReply(encodeReply(r)), r);
    assert.deepStrictEqual(decodeAck(encodeReply({ ok: true, index: 42 })), { ok: true, index: 42 });
    assert.deepStrictEqual(decodeAck(encodeReply({ ok: false, reason: "fenced", epoch: 9 })), {
      ok: false,
      reason: "fenced",
      epoch: 9,
    });
    assert.deepStrictEqual(decodeAck(encodeReply({ ok: false, reason: "resync" })), { ok: false, reason: "resync" });
  });

  it("deliveries round-trip, and their payload does not share the frame's memory", () => {
    const d: QueueDelivery = {
      queue: "jobs",
      group: "g",
      seq: 8,
      messageId: "8",
      deliveryCount: 2,
      partition: 3,
      payload: Buffer.from("body"),
      properties: props,
      partitionKey: undefined,
      dlq,
      expiresAt: undefined,
    };
    const bytes = encodeDelivery(d);
    const out = decodeDelivery(bytes);
    assert.deepStrictEqual(out, d);
    bytes.fill(0);
    assert.equal(out.payload.toString(), "body");
  });

  it("a truncated buffer throws instead of decoding a wrong value", () => {
    const bytes = encodeReplication({ kind: "ops", slot: 1, epoch: 2, from: 3, ops });
    for (const cut of [1, 10, bytes.length - 1]) {
      assert.throws(() => decodeReplication(bytes.subarray(0, cut)), RangeError);
    }
  });

  it("the writer grows past its first buffer and take() starts a new one", () => {
    const w = new WireWriter(8);
    const big = Buffer.alloc(100_000, 7);
    w.str("ä".repeat(1000));
    w.bytes(big);
    w.f64(1.5);
    const first = w.take();
    w.u32(5);
    const second = w.take();
    const r = new WireReader(first);
    assert.equal(r.str(), "ä".repeat(1000));
    assert.deepStrictEqual(r.bytes(false), big);
    assert.equal(r.f64(), 1.5);
    assert.equal(r.done, true);
    assert.equal(new WireReader(second).u32(), 5);
  });
});
