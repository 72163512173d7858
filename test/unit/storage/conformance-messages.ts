// Conformance: message bodies — round trips, reference counting, payload and topic edge cases.
import assert from "node:assert/strict";
import { test } from "node:test";
import { StorageErrorCode } from "../../../src/storage/index.ts";
import type { Storage } from "../../../src/storage/index.ts";
import {
  PUBLISH_PROPERTIES,
  QOS1,
  allBytes,
  message,
  openFresh,
  reopen,
  storeQueued,
} from "../../helpers/storage-fixtures.ts";
import type { HarnessFactory } from "../../helpers/storage-harness.ts";

function assertConsistent(s: Storage): void {
  const r = s.verify();
  assert.equal(r.ok, true, `integrity: ${JSON.stringify(r)}`);
}

export function messageTests(name: string, factory: HarnessFactory): void {
  test(`${name}: a message round-trips exactly (properties with repeated user properties, Buffers, expiry, origin)`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    const original = message(1, {
      qos: 2,
      retain: true,
      properties: PUBLISH_PROPERTIES,
      expiresAt: 1_700_000_123_456,
      origin: "publisher-1",
    });
    const { id } = storeQueued(s, "c", original);
    await s.commit();
    const got = s.messages.get(id);
    assert.deepEqual(got, original);
    assert.ok(Buffer.isBuffer(got?.payload));
    assert.ok(Buffer.isBuffer(got?.properties?.correlationData));
    const s2 = await reopen(h, s);
    assert.deepEqual(s2.messages.get(id), original, "after reopen");
  });

  test(`${name}: binary payload with every byte value and a 1 MB payload round-trip`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    const bytes = allBytes(256 * 16);
    const big = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff;
    const a = storeQueued(s, "c", message(1, { payload: bytes })).id;
    const b = storeQueued(s, "c", message(2, { payload: big })).id;
    const empty = storeQueued(s, "c", message(3, { payload: Buffer.alloc(0) })).id;
    await s.commit();
    const s2 = await reopen(h, s);
    const ga = s2.messages.get(a);
    const gb = s2.messages.get(b); // a second read must not clobber the first one's bytes
    assert.ok(ga && gb);
    assert.equal(Buffer.compare(ga.payload, bytes), 0);
    assert.equal(Buffer.compare(gb.payload, big), 0);
    assert.equal(s2.messages.get(empty)?.payload.length, 0);
  });

  test(`${name}: unicode topics and client ids round-trip`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    const topics = ["a/ü/ß", "日本語/トピック", "emoji/😀/👩‍👩‍👧", "e\u0301/combining", " spaces / and / slashes//"];
    const ids = topics.map((topic, i) => storeQueued(s, `клиент-${i}-😀`, message(i, { topic })).id);
    await s.commit();
    const s2 = await reopen(h, s);
    topics.forEach((topic, i) => assert.equal(s2.messages.get(ids[i]!)?.topic, topic));
    const snap = s2.loadAll();
    assert.deepEqual(snap.sessions.map((x) => x.clientId).sort(), topics.map((_, i) => `клиент-${i}-😀`).sort());
  });

  test(`${name}: a message is stored once and deleted with its last reference (queues, inflight, retained)`, async (t) => {
    const { s } = await openFresh(t, factory);
    const id = s.messages.store(message(1, { payload: Buffer.alloc(1000, 1) }));
    const seqA = s.sessions.enqueue("a", id, QOS1);
    const seqB = s.sessions.enqueue("b", id, QOS1);
    s.sessions.enqueue("c", id, QOS1);
    s.retained.set("t/1", id);
    await s.commit();
    let r = s.verify();
    assert.equal(r.messages, 1, "one body for four references");
    assert.equal(r.references, 4);
    assert.equal(r.ok, true);

    s.sessions.moveToInflight("a", seqA, { packetId: 1, messageId: id, state: 1, qos: 1, retain: false });
    assert.equal(s.sessions.dequeue("b", seqB), true);
    s.sessions.delete("c");
    await s.commit();
    r = s.verify();
    assert.deepEqual([r.messages, r.references, r.ok], [1, 2, true]);
    assert.ok(s.messages.get(id));

    assert.equal(s.sessions.removeInflight("a", 1), true);
    await s.commit();
    assert.ok(s.messages.get(id), "still retained");
    assert.equal(s.retained.delete("t/1"), true);
    await s.commit();
    assert.equal(s.messages.get(id), undefined, "gone with its last reference");
    r = s.verify();
    assert.deepEqual([r.messages, r.references, r.ok], [0, 0, true]);
  });

  test(`${name}: referenced and released in one batch, a message never reaches the store`, async (t) => {
    const { s } = await openFresh(t, factory);
    const { id, seq } = storeQueued(s, "c", message(1));
    assert.equal(s.sessions.dequeue("c", seq), true);
    await s.commit();
    assert.equal(s.messages.get(id), undefined);
    assert.deepEqual(s.verify().messages, 0);
    assertConsistent(s);
  });

  test(`${name}: a message still unreferenced at commit is dropped; referencing it later is a caller error`, async (t) => {
    const { s } = await openFresh(t, factory);
    const id = s.messages.store(message(1));
    await s.commit();
    assert.equal(s.messages.get(id), undefined);
    assert.throws(() => s.sessions.enqueue("c", id, QOS1), { code: StorageErrorCode.InvalidArgument });
    assert.throws(() => s.retained.set("t", 12345), { code: StorageErrorCode.InvalidArgument });
    assert.equal(s.sessions.readQueue("c").length, 0, "the failed enqueue changed nothing");
    assertConsistent(s);
  });

  test(`${name}: message ids are not reused after reopen`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    const a = storeQueued(s, "c", message(1)).id;
    const b = storeQueued(s, "c", message(2)).id;
    await s.commit();
    const s2 = await reopen(h, s);
    const c = storeQueued(s2, "c", message(3)).id;
    assert.ok(c > a && c > b);
    await s2.commit();
    assert.equal(s2.messages.get(a)?.topic, "t/1");
    assert.equal(s2.messages.get(c)?.topic, "t/3");
  });

  test(`${name}: retained messages: set, replace (old body released), delete, long and unicode topics`, async (t) => {
    const { h, s } = await openFresh(t, factory);
    const longTopic = "long/" + "x".repeat(10_000);
    const first = s.messages.store(message(1, { topic: "r/1", retain: true }));
    s.retained.set("r/1", first);
    const second = s.messages.store(message(2, { topic: "r/1", retain: true }));
    s.retained.set("r/1", second);
    s.retained.set(longTopic, s.messages.store(message(3, { topic: longTopic, retain: true })));
    s.retained.set("r/ü/😀", s.messages.store(message(4, { topic: "r/ü/😀", retain: true })));
    s.retained.set("\u0001looks-hashed", s.messages.store(message(5, { topic: "\u0001looks-hashed" })));
    await s.commit();
    assert.equal(s.messages.get(first), undefined, "replaced retained message released");
    const s2 = await reopen(h, s);
    const snap = s2.loadAll();
    const byTopic = new Map(snap.retained.map((r) => [r.topic, snap.messages.get(r.messageId)?.topic]));
    assert.deepEqual([...byTopic.keys()].sort(), ["r/1", longTopic, "r/ü/😀", "\u0001looks-hashed"].sort());
    for (const [topic, msgTopic] of byTopic) assert.equal(msgTopic, topic);
    assert.equal(snap.messages.get(snap.retained.find((r) => r.topic === "r/1")!.messageId)?.topic, "r/1");
    assert.equal(s2.retained.delete(longTopic), true);
    assert.equal(s2.retained.delete("never-set"), false);
    await s2.commit();
    assert.equal(s2.loadAll().retained.length, 3);
    assertConsistent(s2);
  });

  test(`${name}: the store keeps its own copy: mutating inputs after a call or outputs after a read changes nothing`, async (t) => {
    const { s } = await openFresh(t, factory);
    const props = { userProperties: [["a", "1"]] as [string, string][], contentType: "x" };
    const m = message(1, { properties: props });
    const delivery = { qos: 1 as const, retain: false, subscriptionIds: [7] };
    const { id } = storeQueued(s, "c", m, delivery);
    props.userProperties[0]![1] = "changed";
    props.contentType = "changed";
    delivery.subscriptionIds.push(8);
    await s.commit();
    assert.deepEqual(s.messages.get(id)?.properties, { userProperties: [["a", "1"]], contentType: "x" });
    assert.deepEqual(s.sessions.readQueue("c")[0]?.subscriptionIds, [7]);
    const read = s.messages.get(id)!;
    read.properties!.userProperties!.push(["b", "2"]);
    read.topic = "mutated";
    assert.deepEqual(s.messages.get(id)?.properties?.userProperties, [["a", "1"]]);
    assert.equal(s.messages.get(id)?.topic, "t/1");
  });
}
